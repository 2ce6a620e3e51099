//! The tailer: applies the event log to this node's view, in order, exactly
//! once per row — endings leave the view, account changes update the
//! identities its sessions carry — and announces each read's events to
//! whoever acts on them (the pusher tells the tabs).
//!
//! Wake-ups are only hints: the same process wakes it directly after a
//! commit, PostgreSQL's `NOTIFY` wakes it for other nodes (`listener`), and a
//! short poll catches writers in other processes (the command line on
//! SQLite). A lost wake-up delays nothing beyond the next poll and loses
//! nothing, because the log, not the wake-up, carries the endings.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tokio::sync::{broadcast, Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    identity::Identity,
    log::{Ended, Event, EventKind, EventLog},
    measures::{self, LastRead},
    users::Users,
    view::View,
};

/// One read's worth of the log, as announced: its endings (already applied
/// to the view) and its other events.
#[derive(Debug, Default)]
pub struct Batch {
    pub ended: Vec<Ended>,
    pub others: Vec<Event>,
}

/// How many log rows one read takes: a bulk ending of everyone on a large
/// node is one read and one announcement, not a dozen interleaved with the
/// pushes they cause.
const BATCH: i64 = 20_000;

/// How often the log is read without a wake-up (writers in other processes).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The tailer. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Tailer {
    log: EventLog,
    view: View,
    /// Read only for an account event whose detail this version cannot read.
    users: Users,
    /// The last sequence number applied. The mutex also serialises readers, so
    /// rows are applied in order and never twice.
    applied: Arc<Mutex<i64>>,
    /// Wakes the background loop early (a same-process write, a NOTIFY).
    wake: Arc<Notify>,
    /// Every event applied, a read's worth at a time (a bulk ending is a
    /// few messages, not one per session).
    events: broadcast::Sender<Arc<Batch>>,
    /// For the lag: events carry the clock's timestamps.
    clock: Arc<dyn Clock>,
    /// When the log was last read (the metrics' staleness gauge).
    last_read: LastRead,
}

impl Tailer {
    /// A tailer starting after the newest row already in the log: older
    /// endings are already reflected in the `sessions` rows.
    pub async fn start_at_end(
        log: EventLog,
        view: View,
        users: Users,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let last = log.last_seq().await?;
        let (events, _) = broadcast::channel(1024);
        Ok(Tailer {
            log,
            view,
            users,
            applied: Arc::new(Mutex::new(last)),
            wake: Arc::new(Notify::new()),
            events,
            clock,
            last_read: LastRead::default(),
        })
    }

    /// When the log was last read.
    pub fn last_read(&self) -> LastRead {
        self.last_read.clone()
    }

    /// Subscribes to applied events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.events.subscribe()
    }

    /// Asks the background loop to read the log now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Reads and applies every row past the last applied one. Returns how many
    /// rows were applied. Each read with rows is logged (at debug) with its
    /// sequence numbers, which are the same on every node: with the commit's
    /// and the push's lines they follow one ending across nodes.
    #[tracing::instrument(name = "tail", level = "debug", skip_all)]
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let mut applied = self.applied.lock().await;
        let mut count = 0;
        loop {
            let after = *applied;
            let (events, last, read) = self.log.read_after(after, BATCH).await?;
            self.last_read.now();
            *applied = last;
            if let Some(oldest) = events.first() {
                let lag = self.clock.now().since(oldest.at);
                metrics::histogram!(measures::TAILER_LAG).record(measures::seconds(lag));
                tracing::debug!(
                    first_seq = after + 1,
                    last_seq = last,
                    read,
                    ?lag,
                    "Applied the event log"
                );
            }
            count += self.apply(events).await;
            if read < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(count);
            }
        }
    }

    /// Applies a change this node just committed, the log's rows
    /// `first..=last`, from what it wrote rather than by reading them back:
    /// at 15,000 endings the read-back was a large part of the time before
    /// the first tab could be told. Only when the rows before them are all
    /// applied, to keep the log's order; otherwise they are read like any.
    pub async fn apply_committed(
        &self,
        first: i64,
        last: i64,
        events: Vec<Event>,
    ) -> anyhow::Result<usize> {
        let mut applied = self.applied.lock().await;
        if *applied >= last {
            return Ok(0);
        }
        if *applied + 1 != first {
            drop(applied);
            return self.catch_up().await;
        }
        *applied = last;
        Ok(self.apply(events).await)
    }

    /// Applies events in order (the caller holds `applied`): endings leave
    /// the view, account events update it, and the batch goes to the
    /// subscribers (the pusher). Returns how many were applied.
    async fn apply(&self, events: Vec<Event>) -> usize {
        {
            let mut batch = Batch::default();
            for event in events {
                match event.ended() {
                    Some(ended) => {
                        self.view.forget(&ended.session_id, ended.reason, ended.at);
                        batch.ended.push(ended);
                    }
                    None => {
                        match (event.kind, &event.session_id) {
                            (EventKind::UserRoleChanged, _) => {
                                self.view.owe_rotation(&event.user_id);
                            }
                            (EventKind::SessionRotated, Some(id)) => {
                                let grace = event.detail.get("grace_ms").and_then(Value::as_u64);
                                let grace = Duration::from_millis(grace.unwrap_or(0));
                                self.view.secret_replaced(id, event.at.plus(grace));
                            }
                            _ => {}
                        }
                        self.apply_account(&event).await;
                        batch.others.push(event);
                    }
                }
            }
            let applied_now = batch.ended.len() + batch.others.len();
            if applied_now > 0 {
                // No receiver (nobody pushing yet) is not an error.
                let _ = self.events.send(Arc::new(batch));
            }
            applied_now
        }
    }

    /// Gives the view the account's state after an account event. A detail
    /// this version cannot read is not guessed at: the account is read from
    /// the `users` table instead (it is at least as new as the event). It
    /// never fails the read it is part of: the rows after it must still be
    /// applied.
    async fn apply_account(&self, event: &Event) {
        let identity = match Identity::after(event) {
            None => return,
            Some(Ok(identity)) => identity,
            Some(Err(e)) => {
                tracing::error!(error = ?e, seq = event.seq, "An unreadable account event; reading the account");
                match self.users.find_by_id(&event.user_id).await {
                    Ok(Some(user)) => Identity::of(&user),
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(error = ?e, user = %event.user_id, "Failed to read a changed account: its sessions here keep the identity they had");
                        return;
                    }
                }
            }
        };
        self.view.account_changed(&event.user_id, identity);
    }

    /// The background loop: read the log on every wake-up and at least every
    /// [`POLL_INTERVAL`], until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = ?e, "Failed to read the event log; retrying");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// The last sequence number applied, or 0 while a read is in progress
    /// (which only means "wake anyway").
    pub fn applied_seq(&self) -> i64 {
        self.applied.try_lock().map(|seq| *seq).unwrap_or(0)
    }
}
