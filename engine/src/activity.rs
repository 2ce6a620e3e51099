//! Writing "last seen" and "last activity" behind the request path.
//!
//! Every request touches its session's in-memory timestamps; writing each
//! touch would put a database write on every request. A session's stored
//! timestamps are written at most once per write interval (see
//! [`LiveSession::touch`]), plus one owed write at the end of the interval
//! for the touches held back, so other nodes — which read activity from the
//! database — see it at most one interval late.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    sessions::Sessions,
    sync::lock,
    view::{LiveSession, Owed, Persist},
};

/// How often the owed writes are looked at.
pub const WRITE_BEHIND_TICK: Duration = Duration::from_millis(200);

/// The write-behind of session activity. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct ActivityWriter {
    sessions: Sessions,
    clock: Arc<dyn Clock>,
    interval: Duration,
    /// Sessions owing a throttled write (see [`Persist::Later`]).
    owed: Arc<Mutex<Vec<Arc<LiveSession>>>>,
}

impl ActivityWriter {
    /// `interval` is the policy's `last_seen_write_interval`.
    pub fn new(sessions: Sessions, clock: Arc<dyn Clock>, interval: Duration) -> Self {
        ActivityWriter {
            sessions,
            clock,
            interval,
            owed: Arc::default(),
        }
    }

    /// Records a request (and user activity when `activity`) on `live` now,
    /// and writes it as the throttle says: an immediate write goes off the
    /// request path (a slow write must not delay the answer); a held-back
    /// one waits for [`ActivityWriter::flush`].
    pub fn touch(&self, live: &Arc<LiveSession>, activity: bool) {
        match live.touch(self.clock.now(), activity, self.interval) {
            Persist::Now => {
                let writer = self.clone();
                let live = Arc::clone(live);
                tokio::spawn(async move { writer.write(&live).await });
            }
            Persist::Later => lock(&self.owed).push(Arc::clone(live)),
            Persist::No => {}
        }
    }

    async fn write(&self, live: &LiveSession) {
        if let Err(e) = self
            .sessions
            .record_activity(&live.id, live.last_seen_at(), live.last_activity_at())
            .await
        {
            tracing::warn!(error = ?e, session = %live.id, "Failed to persist last-seen");
        }
    }

    /// Makes the held-back writes whose interval has passed (all of them when
    /// `all`, at shutdown).
    pub async fn flush(&self, all: bool) {
        let now = self.clock.now();
        let interval = if all { Duration::ZERO } else { self.interval };
        let mut due = Vec::new();
        lock(&self.owed).retain(|live| match live.owed_write(now, interval) {
            Owed::Due => {
                due.push(Arc::clone(live));
                false
            }
            Owed::NotYet => true,
            Owed::Settled => false,
        });
        if due.is_empty() {
            return;
        }
        let activity: Vec<_> = due
            .iter()
            .map(|live| {
                (
                    live.id.clone(),
                    live.last_seen_at(),
                    live.last_activity_at(),
                )
            })
            .collect();
        if let Err(e) = self.sessions.record_activities(&activity).await {
            tracing::warn!(error = ?e, sessions = activity.len(), "Failed to persist last-seen");
        }
    }

    /// The background loop: flushes every [`WRITE_BEHIND_TICK`], and
    /// everything still owed when `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(WRITE_BEHIND_TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush(false).await,
                _ = stop.cancelled() => {
                    self.flush(true).await;
                    return;
                }
            }
        }
    }
}
