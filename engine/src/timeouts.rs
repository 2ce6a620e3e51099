//! Idle and absolute timeouts: deciding that a session ran out of time and
//! ending it with the right reason.
//!
//! A deadline is a pure function of the session's timestamps (`policy`), so
//! any node can compute it. But this node's copy of "last activity" may lag:
//! the person may be active through another node, whose writes reach the
//! database at most one write interval late. So a session is never ended for
//! idleness on this node's copy alone: its stored activity is read first.

use std::sync::Arc;

use bouncer_wire::Reason;
use serde_json::json;

use crate::{
    change::{Change, Changes},
    clock::Timestamp,
    ids::SessionId,
    log::Actor,
    policy::Policy,
    sessions::{Scope, Sessions},
    view::{LiveSession, View},
};

/// Sessions found past a deadline, by which deadline.
#[derive(Debug, Default)]
pub struct TimedOut {
    idle: Vec<SessionId>,
    absolute: Vec<SessionId>,
}

impl TimedOut {
    pub fn add(&mut self, id: SessionId, reason: Reason) {
        match reason {
            Reason::AbsoluteTimeout => self.absolute.push(id),
            _ => self.idle.push(id),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.idle.is_empty() && self.absolute.is_empty()
    }

    /// Ends them inside `change`, each with its own reason.
    pub async fn end_in(self, change: &mut Change<'_>) -> anyhow::Result<()> {
        let system = Actor::system();
        for (reason, ids) in [
            (Reason::IdleTimeout, self.idle),
            (Reason::AbsoluteTimeout, self.absolute),
        ] {
            if !ids.is_empty() {
                change
                    .end(&Scope::Sessions(ids), reason, &system, &json!({}))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Ends sessions that ran out of time. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Timeouts {
    policy: Arc<Policy>,
    sessions: Sessions,
    view: View,
    changes: Changes,
}

impl Timeouts {
    pub fn new(policy: Arc<Policy>, sessions: Sessions, view: View, changes: Changes) -> Self {
        Timeouts {
            policy,
            sessions,
            view,
            changes,
        }
    }

    /// Reads the stored activity of these sessions into this node's copies.
    pub async fn refresh(&self, ids: &[SessionId]) -> anyhow::Result<()> {
        if !ids.is_empty() {
            let rows = self.sessions.activity_of(ids).await?;
            self.view.absorb_activity(&rows);
        }
        Ok(())
    }

    /// Whether this node's copy of `live` is past a deadline at `now` (the
    /// database may still say otherwise; see [`Timeouts::expired_after_refresh`]).
    pub fn past_deadline(&self, live: &LiveSession, now: Timestamp) -> bool {
        self.policy
            .expired(live.created_at, live.last_activity_at(), now)
            .is_some()
    }

    /// Whether `live` is past a deadline at `now`, asking the database before
    /// saying yes: the person may have been active on another node.
    pub async fn expired_after_refresh(
        &self,
        live: &LiveSession,
        now: Timestamp,
    ) -> anyhow::Result<Option<Reason>> {
        if !self.past_deadline(live, now) {
            return Ok(None);
        }
        self.refresh(std::slice::from_ref(&live.id)).await?;
        Ok(self
            .policy
            .expired(live.created_at, live.last_activity_at(), now))
    }

    /// Ends `live` if it is past a deadline at `now` (after a refresh), and
    /// says why it ended.
    pub async fn end_if_expired(
        &self,
        live: &LiveSession,
        now: Timestamp,
    ) -> anyhow::Result<Option<Reason>> {
        let reason = self.expired_after_refresh(live, now).await?;
        if let Some(reason) = reason {
            let mut timed_out = TimedOut::default();
            timed_out.add(live.id.clone(), reason);
            self.end(timed_out).await?;
        }
        Ok(reason)
    }

    /// Ends timed-out sessions in one transaction, then applies the log.
    pub async fn end(&self, timed_out: TimedOut) -> anyhow::Result<usize> {
        if timed_out.is_empty() {
            return Ok(0);
        }
        let mut change = self.changes.begin().await?;
        timed_out.end_in(&mut change).await?;
        self.changes.commit(change).await
    }
}
