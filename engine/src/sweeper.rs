//! The sweeper: ends the sessions that ran out of time without a request or
//! a tab noticing (no tab is connected anywhere), and deletes tombstones and
//! log rows past the retention period.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Timestamp},
    log::EventLog,
    policy::Policy,
    sessions::{SessionRow, Sessions},
    timeouts::{TimedOut, Timeouts},
    view::View,
};

/// How often the sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The sweeper. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub(crate) policy: Arc<Policy>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sessions: Sessions,
    pub(crate) log: EventLog,
    pub(crate) view: View,
    pub(crate) timeouts: Timeouts,
}

impl Sweeper {
    /// One sweep.
    pub async fn sweep(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let policy = &self.policy;
        // Stored activity may lag memory (on any node) by one write interval.
        let grace = policy.last_seen_write_interval;
        let idle_before = policy.idle_timeout.map(|t| now.minus(t).minus(grace));
        let created_before = policy.absolute_timeout.map(|t| now.minus(t));
        let mut timed_out = TimedOut::default();
        for row in self
            .sessions
            .expired_candidates(idle_before, created_before)
            .await?
        {
            let (id, created_at, last_activity_at) = self.freshest(&row)?;
            if let Some(reason) = policy.expired(created_at, last_activity_at, now) {
                timed_out.add(id, reason);
            }
        }
        let ended = self.timeouts.end(timed_out).await?;
        if ended > 0 {
            tracing::info!(ended, "Ended timed-out sessions");
        }
        let before = now.minus(policy.tombstone_retention);
        self.sessions.delete_tombstones(before).await?;
        self.log.delete_before(before).await?;
        self.view.prune(before, now);
        Ok(())
    }

    /// A row's id and timestamps, with this node's fresher activity where it
    /// holds the session.
    fn freshest(
        &self,
        row: &SessionRow,
    ) -> anyhow::Result<(crate::ids::SessionId, Timestamp, Timestamp)> {
        let id = row.session_id()?;
        let stored = Timestamp::from_millis(row.last_activity_at);
        let last_activity_at = self
            .view
            .by_id(&id)
            .map_or(stored, |live| live.last_activity_at().max(stored));
        Ok((id, Timestamp::from_millis(row.created_at), last_activity_at))
    }

    /// The background loop: a sweep now and every [`SWEEP_INTERVAL`], until
    /// `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = ?e, "The session sweep failed; retrying later");
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
}
