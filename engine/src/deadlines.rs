//! The deadline clock: for the sessions with tabs on this node, warn ahead of
//! the idle deadline and end the session when a deadline passes, with no
//! request needed.
//!
//! Sessions are kept in order of when they next need a look (their warning
//! time, their absolute deadline, or a re-read while warned), so a pass
//! touches only what is due and the loop sleeps until the earliest one: an
//! idle node with thousands of tabs does nothing at all. An entry may come
//! due early — activity only ever moves an idle deadline later, and nobody
//! reschedules on every request — in which case it is simply looked at and
//! put back at its new time.
//!
//! A session about to be warned or ended has its activity re-read from the
//! database first (see [`crate::timeouts`]); once warned it is re-read every
//! [`WARNED_REFRESH`], so activity on another node takes the warning down
//! here too.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Timestamp},
    hub::{Hub, TabMessage},
    ids::SessionId,
    policy::Policy,
    sync::lock,
    timeouts::{TimedOut, Timeouts},
    view::{LiveSession, View},
};

/// How often a warned session's activity is re-read from the database.
const WARNED_REFRESH: Duration = Duration::from_secs(1);

/// The longest the loop sleeps without looking: a safety net for a wall
/// clock that steps (the sleeps run on the monotonic clock).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// When each watched session next needs a look, in both directions.
#[derive(Debug, Default)]
struct Schedule {
    due: BTreeSet<(Timestamp, SessionId)>,
    at: HashMap<SessionId, Timestamp>,
}

impl Schedule {
    /// Puts `id` at `at`, replacing any later entry. Says whether it became
    /// the earliest.
    fn put(&mut self, id: &SessionId, at: Timestamp) -> bool {
        if let Some(old) = self.at.get(id).copied() {
            if old <= at {
                return false;
            }
            self.due.remove(&(old, id.clone()));
        }
        self.at.insert(id.clone(), at);
        self.due.insert((at, id.clone()));
        self.due.first().is_some_and(|(first, _)| *first == at)
    }

    /// Takes every entry due at `now`.
    fn take_due(&mut self, now: Timestamp) -> Vec<SessionId> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.due.pop_first() {
                self.at.remove(&id);
                due.push(id);
            }
        }
        due
    }

    fn next(&self) -> Option<Timestamp> {
        self.due.first().map(|(at, _)| *at)
    }
}

/// Where a session stands against its deadlines at some instant.
enum Standing {
    Expired(bouncer_wire::Reason),
    /// Inside the warning window before this idle deadline.
    Warn(Timestamp),
    /// Not yet in the window (the idle deadline, if there is one).
    Fine(Option<Timestamp>),
}

/// The deadline clock. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Deadlines {
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    hub: Hub,
    view: View,
    timeouts: Timeouts,
    schedule: Arc<Mutex<Schedule>>,
    /// Wakes the loop when an entry becomes the earliest.
    wake: Arc<Notify>,
}

impl Deadlines {
    pub fn new(
        policy: Arc<Policy>,
        clock: Arc<dyn Clock>,
        hub: Hub,
        view: View,
        timeouts: Timeouts,
    ) -> Self {
        Deadlines {
            policy,
            clock,
            hub,
            view,
            timeouts,
            schedule: Arc::default(),
            wake: Arc::default(),
        }
    }

    /// Starts watching a session that has a tab on this node (once is
    /// enough for all its tabs; it is dropped when its last tab leaves).
    pub fn watch(&self, live: &LiveSession) {
        let now = self.clock.now();
        let at = match self.standing(live, now) {
            Standing::Fine(_) => self.next_look(live, now),
            _ => now,
        };
        if lock(&self.schedule).put(&live.id, at) {
            self.wake.notify_one();
        }
    }

    /// Where `live` stands at `now`, by this node's copy of its timestamps.
    fn standing(&self, live: &LiveSession, now: Timestamp) -> Standing {
        let policy = &self.policy;
        if let Some(reason) = policy.expired(live.created_at, live.last_activity_at(), now) {
            return Standing::Expired(reason);
        }
        match policy
            .deadlines(live.created_at, live.last_activity_at())
            .idle
        {
            Some(idle)
                if !policy.idle_warning.is_zero() && now >= idle.minus(policy.idle_warning) =>
            {
                Standing::Warn(idle)
            }
            idle => Standing::Fine(idle),
        }
    }

    /// When a session that is fine at `now` next needs a look: its warning
    /// time or its absolute deadline, whichever comes first (an idle deadline
    /// without a warning counts as its own warning time).
    fn next_look(&self, live: &LiveSession, now: Timestamp) -> Timestamp {
        let deadlines = self
            .policy
            .deadlines(live.created_at, live.last_activity_at());
        let warn = deadlines
            .idle
            .map(|idle| idle.minus(self.policy.idle_warning));
        [warn, deadlines.absolute]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Timestamp::from_millis(i64::MAX))
            .max(now)
    }

    /// One pass: every session due now is looked at, warned, told of an
    /// extension, or ended, and put back at its next time.
    pub async fn check_due(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let due = lock(&self.schedule).take_due(now);
        // Sessions with no tab left here, or no longer live, leave the schedule.
        let watched: Vec<(Arc<LiveSession>, Option<Timestamp>)> = due
            .iter()
            .filter_map(|id| Some((self.view.by_id(id)?, self.hub.warned_for(id)?)))
            .collect();
        let stale: Vec<SessionId> = watched
            .iter()
            .filter(|(live, _)| !matches!(self.standing(live, now), Standing::Fine(_)))
            .map(|(live, _)| live.id.clone())
            .collect();
        if let Err(e) = self.timeouts.refresh(&stale).await {
            self.retry(&watched, now);
            return Err(e);
        }
        let mut expired = TimedOut::default();
        let mut ending = Vec::new();
        for (live, warned_for) in &watched {
            let next = match self.standing(live, now) {
                Standing::Expired(reason) => {
                    expired.add(live.id.clone(), reason);
                    ending.push((Arc::clone(live), *warned_for));
                    continue;
                }
                Standing::Warn(idle) => {
                    if *warned_for != Some(idle) {
                        self.hub.mark_warned(&live.id, Some(idle));
                        let warning = TabMessage::IdleWarning {
                            idle_expires_at: idle,
                            seconds_left: idle.since(now).as_secs(),
                        };
                        self.hub.send_to_session(&live.id, warning);
                    }
                    now.plus(WARNED_REFRESH).min(idle)
                }
                Standing::Fine(idle) => {
                    // Activity elsewhere moved the deadline out of the window.
                    if let (Some(idle), Some(_)) = (idle, warned_for) {
                        self.hub.extended(&live.id, idle, now);
                    }
                    self.next_look(live, now)
                }
            };
            lock(&self.schedule).put(&live.id, next);
        }
        if let Err(e) = self.timeouts.end(expired).await {
            self.retry(&ending, now);
            return Err(e);
        }
        Ok(())
    }

    /// Puts sessions back for another look soon, after a failed pass.
    fn retry(&self, watched: &[(Arc<LiveSession>, Option<Timestamp>)], now: Timestamp) {
        let mut schedule = lock(&self.schedule);
        for (live, _) in watched {
            schedule.put(&live.id, now.plus(WARNED_REFRESH));
        }
    }

    /// The background loop: a pass whenever the earliest entry is due, an
    /// earlier one arrives, or the clock jumps; until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut jumps = self.clock.jumps();
        loop {
            if let Err(e) = self.check_due().await {
                tracing::warn!(error = ?e, "Failed to end timed-out sessions");
            }
            let now = self.clock.now();
            let sleep = lock(&self.schedule)
                .next()
                .map_or(MAX_SLEEP, |at| at.since(now).min(MAX_SLEEP));
            let jumped = async {
                let changed = match jumps.as_mut() {
                    Some(jumps) => jumps.changed().await.is_ok(),
                    None => false,
                };
                if !changed {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
                _ = jumped => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// How many sessions are watched (for tests and metrics).
    pub fn watched(&self) -> usize {
        lock(&self.schedule).at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_keeps_the_earliest_time_per_session_in_order() {
        let mut schedule = Schedule::default();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let at = Timestamp::from_millis;
        assert!(schedule.put(&a, at(50)));
        assert!(!schedule.put(&b, at(70)));
        // A later time for a watched session changes nothing.
        assert!(!schedule.put(&a, at(90)));
        assert!(schedule.put(&b, at(10)));
        assert_eq!(schedule.next(), Some(at(10)));
        assert_eq!(schedule.take_due(at(49)), vec![b]);
        assert_eq!(schedule.take_due(at(49)), Vec::<SessionId>::new());
        assert_eq!(schedule.take_due(at(50)), vec![a]);
        assert_eq!((schedule.next(), schedule.at.len()), (None, 0));
    }
}
