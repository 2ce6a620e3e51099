//! Changes the event log records: one transaction writes the tables (marks
//! `sessions` rows ended, inserts a session, edits an account) and, as its
//! very last step, appends the log's rows for them; only after the commit is
//! anyone told. [`Changes`] then has the tailer apply the log to this node's
//! view *before* returning, so the very next request here is refused.
//!
//! Every ending in the engine goes through here — a login replacing the
//! oldest session, a logout, an admin's revoke, a password change, a
//! deactivation, a timeout — and so does every other event other systems
//! follow (a session started, an account created or changed).

use std::sync::Arc;

use anyhow::Context;
use bouncer_wire::Reason;
use serde_json::Value;

use crate::{
    clock::{Clock, Timestamp},
    db::{Pool, Tx},
    ids::{SessionId, UserId},
    log::{Actor, Append, Event, EventKind, EventLog, NewEvent},
    measures,
    sessions::{Scope, Sessions},
    tailer::Tailer,
};

/// The endings of one reason, waiting for the log.
#[derive(Debug)]
struct Pending {
    ended: Vec<(SessionId, UserId)>,
    reason: Reason,
    actor: Actor,
    /// The tabs' detail, as stored (a JSON object's text) and as read.
    detail: String,
    detail_value: Value,
}

/// A transaction that ends sessions and records events. Rows are marked
/// ended as it goes; the log rows are appended when it commits (see
/// [`EventLog::append_in`]).
#[derive(Debug)]
pub struct Change<'c> {
    /// For the transaction's other statements (a login's insert, a user edit).
    pub tx: Tx<'c>,
    now: Timestamp,
    pending: Vec<Pending>,
    events: Vec<NewEvent>,
}

impl Change<'_> {
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
            let detail = if detail.is_object() {
                detail.clone()
            } else {
                Value::Object(serde_json::Map::new())
            };
            self.pending.push(Pending {
                ended,
                reason,
                actor: actor.clone(),
                detail: detail.to_string(),
                detail_value: detail,
            });
        }
        Ok(count)
    }

    /// Records `event` in the log when this transaction commits.
    pub fn record(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// How many sessions this transaction has ended so far.
    pub fn ended(&self) -> usize {
        self.pending.iter().map(|p| p.ended.len()).sum()
    }

    /// The endings by reason, and how many log rows the commit appends.
    fn summary(&self) -> Vec<(Reason, usize)> {
        let mut reasons: Vec<(Reason, usize)> = Vec::new();
        for pending in &self.pending {
            match reasons
                .iter_mut()
                .find(|(reason, _)| *reason == pending.reason)
            {
                Some((_, count)) => *count += pending.ended.len(),
                None => reasons.push((pending.reason, pending.ended.len())),
            }
        }
        reasons
    }

    /// Appends the log rows and commits. Returns the rows as the tailer
    /// would read them back (none when there were none).
    async fn commit(self) -> anyhow::Result<Option<Written>> {
        let Change {
            mut tx,
            now,
            pending,
            events,
        } = self;
        let rows = pending.iter().map(|p| p.ended.len()).sum::<usize>() + events.len();
        let mut last_seq = None;
        if rows > 0 {
            let appends: Vec<Append<'_>> = pending
                .iter()
                .map(|pending| Append {
                    ended: &pending.ended,
                    reason: pending.reason,
                    actor: &pending.actor,
                    detail: &pending.detail,
                    at: now,
                })
                .collect();
            last_seq = Some(EventLog::append_in(&mut tx, &appends, &events, now).await?);
        }
        tx.commit()
            .await
            .context("Failed to commit ended sessions")?;
        Ok(last_seq.map(|last| {
            let first = last - i64::try_from(rows).unwrap_or(i64::MAX) + 1;
            Written {
                first,
                last,
                events: written(now, pending, events, first),
            }
        }))
    }
}

/// Starts, commits and applies changes. Cheap to clone.
/// The log rows a committed change appended: `first..=last`.
#[derive(Debug)]
struct Written {
    first: i64,
    last: i64,
    events: Vec<Event>,
}

/// The log rows a change appends, as the tailer would read them back,
/// numbered from `first_seq` in the order `EventLog::append_in` appends
/// them: the events, then each reason's endings. (The rows of one append
/// are consecutive: appends are serialised, by the table lock on
/// PostgreSQL and by the single writer on SQLite.)
fn written(
    at: Timestamp,
    pending: Vec<Pending>,
    events: Vec<NewEvent>,
    first_seq: i64,
) -> Vec<Event> {
    let events = events.into_iter().map(|event| Event {
        seq: 0,
        kind: event.kind,
        user_id: event.user_id,
        session_id: event.session_id,
        reason: None,
        actor_id: event.actor.id,
        actor_name: event.actor.name,
        at,
        detail: event.detail,
    });
    let endings = pending.into_iter().flat_map(|pending| {
        let Pending {
            ended,
            reason,
            actor,
            detail_value,
            ..
        } = pending;
        ended.into_iter().map(move |(session_id, user_id)| Event {
            seq: 0,
            kind: EventKind::SessionEnded,
            user_id,
            session_id: Some(session_id),
            reason: Some(reason),
            actor_id: actor.id.clone(),
            actor_name: actor.name.clone(),
            at,
            detail: detail_value.clone(),
        })
    });
    events
        .chain(endings)
        .zip(first_seq..)
        .map(|(event, seq)| Event { seq, ..event })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Changes {
    pool: Pool,
    clock: Arc<dyn Clock>,
    tailer: Tailer,
}

impl Changes {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>, tailer: Tailer) -> Self {
        Changes {
            pool,
            clock,
            tailer,
        }
    }

    /// Starts a transaction that may end sessions and record events.
    pub async fn begin(&self) -> anyhow::Result<Change<'static>> {
        Ok(Change {
            tx: self
                .pool
                .begin()
                .await
                .context("Failed to start a transaction")?,
            now: self.clock.now(),
            pending: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Commits `change` and applies the log to this node's view, so the very
    /// next request here is refused. Returns how many sessions ended.
    ///
    /// Endings are counted by reason (`measures::SESSIONS_ENDED`) and
    /// logged with their sequence numbers, in the span of whatever asked
    /// (a request's id): every node's pusher logs the same numbers when it
    /// tells its tabs.
    pub async fn commit(&self, change: Change<'_>) -> anyhow::Result<usize> {
        let reasons = change.summary();
        let ended = change.ended();
        let Some(Written {
            first: first_seq,
            last: last_seq,
            events,
        }) = change.commit().await?
        else {
            return Ok(ended);
        };
        if ended > 0 {
            for (reason, count) in &reasons {
                metrics::counter!(measures::SESSIONS_ENDED, "reason" => reason.as_str())
                    .increment(*count as u64);
            }
            let reasons: Vec<String> = reasons
                .iter()
                .map(|(reason, count)| format!("{reason}:{count}"))
                .collect();
            tracing::info!(first_seq, last_seq, ended, reasons = %reasons.join(","), "Sessions ended");
        } else {
            tracing::debug!(first_seq, last_seq, "Events recorded");
        }
        // What was written is known: applied from memory, not read back.
        self.tailer
            .apply_committed(first_seq, last_seq, events)
            .await?;
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
        let mut change = self.begin().await?;
        change.end(scope, reason, actor, detail).await?;
        self.commit(change).await
    }
}
