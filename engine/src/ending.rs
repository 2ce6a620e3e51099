//! Ending sessions: one transaction marks the `sessions` rows ended and, as
//! its very last step, appends their log rows; only after the commit is
//! anyone told. [`Endings`] then has the tailer apply the log to this node's
//! view *before* returning, so the very next request here is refused.
//!
//! Every ending in the engine goes through here: a login replacing the
//! oldest session, a logout, an admin's revoke, a password change, a
//! deactivation, a timeout.

use std::sync::Arc;

use anyhow::Context;
use bouncer_wire::Reason;
use serde_json::Value;

use crate::{
    clock::{Clock, Timestamp},
    db::{Pool, Tx},
    ids::{SessionId, UserId},
    log::{Actor, Append, RevocationLog},
    sessions::{Scope, Sessions},
    tailer::Tailer,
};

/// The endings of one reason, waiting for the log.
#[derive(Debug)]
struct Pending {
    ended: Vec<(SessionId, UserId)>,
    reason: Reason,
    actor: Actor,
    detail: String,
}

/// A transaction that ends sessions. Rows are marked ended as it goes; the
/// log rows are appended when it commits (see [`RevocationLog::append_in`]).
#[derive(Debug)]
pub struct Ending<'c> {
    /// For the transaction's other statements (a login's insert, a user edit).
    pub tx: Tx<'c>,
    now: Timestamp,
    pending: Vec<Pending>,
}

impl Ending<'_> {
    /// "Now" for this transaction's endings.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Marks the sessions chosen by `scope` ended; returns how many were live.
    pub async fn end(
        &mut self,
        scope: &Scope,
        reason: Reason,
        actor: &Actor,
        detail: &Value,
    ) -> anyhow::Result<usize> {
        let ended = Sessions::end_in(&mut self.tx, scope, reason, self.now).await?;
        let count = ended.len();
        if count > 0 {
            self.pending.push(Pending {
                ended,
                reason,
                actor: actor.clone(),
                detail: if detail.is_object() {
                    detail.to_string()
                } else {
                    "{}".to_owned()
                },
            });
        }
        Ok(count)
    }

    /// How many sessions this transaction has ended so far.
    pub fn ended(&self) -> usize {
        self.pending.iter().map(|p| p.ended.len()).sum()
    }

    /// Appends the log and commits. Returns how many sessions ended.
    async fn commit(mut self) -> anyhow::Result<usize> {
        let ended = self.ended();
        if ended > 0 {
            let appends: Vec<Append<'_>> = self
                .pending
                .iter()
                .map(|pending| Append {
                    ended: &pending.ended,
                    reason: pending.reason,
                    actor: &pending.actor,
                    detail: &pending.detail,
                    at: self.now,
                })
                .collect();
            RevocationLog::append_in(&mut self.tx, &appends).await?;
        }
        self.tx
            .commit()
            .await
            .context("Failed to commit ended sessions")?;
        Ok(ended)
    }
}

/// Starts, commits and applies endings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endings {
    pool: Pool,
    clock: Arc<dyn Clock>,
    tailer: Tailer,
}

impl Endings {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>, tailer: Tailer) -> Self {
        Endings {
            pool,
            clock,
            tailer,
        }
    }

    /// Starts a transaction that may end sessions.
    pub async fn begin(&self) -> anyhow::Result<Ending<'static>> {
        Ok(Ending {
            tx: self
                .pool
                .begin()
                .await
                .context("Failed to start a transaction")?,
            now: self.clock.now(),
            pending: Vec::new(),
        })
    }

    /// Commits `ending` and applies the log to this node's view, so the very
    /// next request here is refused. Returns how many sessions ended.
    pub async fn commit(&self, ending: Ending<'_>) -> anyhow::Result<usize> {
        let ended = ending.commit().await?;
        if ended > 0 {
            self.tailer.catch_up().await?;
        }
        Ok(ended)
    }

    /// Ends the sessions chosen by `scope` in a transaction of their own.
    /// Returns how many were live.
    pub async fn end(
        &self,
        scope: &Scope,
        reason: Reason,
        actor: &Actor,
        detail: &Value,
    ) -> anyhow::Result<usize> {
        let mut ending = self.begin().await?;
        ending.end(scope, reason, actor, detail).await?;
        self.commit(ending).await
    }
}
