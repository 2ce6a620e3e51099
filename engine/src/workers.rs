//! The engine's background work, as one value the application owns: the
//! tailer, the pusher, the deadline clock, the activity write-behind, the
//! sweeper, (on PostgreSQL) the `LISTEN` connection and, when the
//! application gives a transport, the webhook delivery. Each is a loop that
//! sleeps until it has something to do; [`Workers::stop`] cancels them all
//! and waits until each has finished its last duty (the owed activity
//! writes, the tab counts).

use std::sync::Arc;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    activity::ActivityWriter,
    deadlines::Deadlines,
    delivery::{Delivery, Transport},
    listener,
    measures::ListenerState,
    pusher::Pusher,
    sweeper::Sweeper,
    tailer::Tailer,
};

/// The loops a [`Workers`] runs.
#[derive(Debug)]
pub struct Loops {
    pub tailer: Tailer,
    pub pusher: Pusher,
    pub deadlines: Deadlines,
    pub activity: ActivityWriter,
    pub sweeper: Sweeper,
    /// The database to `LISTEN` on, when several nodes share PostgreSQL.
    pub listen_url: Option<String>,
    /// Whether that `LISTEN` connection is up, for the readiness check.
    pub listener_state: ListenerState,
    /// The webhook delivery and what sends its requests; `None` delivers
    /// none (an app that mounts the engine without an HTTP client).
    pub delivery: Option<(Delivery, Arc<dyn Transport>)>,
}

/// The running background loops.
#[derive(Debug)]
pub struct Workers {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Workers {
    /// Starts every loop.
    pub fn start(loops: Loops) -> Self {
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        // Subscribed before anything runs, so no ending goes by unseen.
        let endings = loops.tailer.subscribe();
        tracker.spawn(loops.pusher.run(endings, stop.clone()));
        if let Some(url) = loops.listen_url {
            tracker.spawn(listener::run(
                url,
                loops.tailer.clone(),
                loops.listener_state,
                stop.clone(),
            ));
        }
        tracker.spawn(loops.tailer.run(stop.clone()));
        tracker.spawn(loops.deadlines.run(stop.clone()));
        tracker.spawn(loops.activity.run(stop.clone()));
        tracker.spawn(loops.sweeper.run(stop.clone()));
        if let Some((delivery, transport)) = loops.delivery {
            tracker.spawn(delivery.run(transport, stop.clone()));
        }
        tracker.close();
        Workers { stop, tracker }
    }

    /// Stops every loop and waits for them to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tracker.wait().await;
    }
}
