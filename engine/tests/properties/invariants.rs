//! The four invariants, checked after every operation against the engine's
//! in-memory view (its answers to `Engine::check`, its registry) and against
//! the database, read directly:
//!
//! 1. No user ever holds more live sessions than their limit.
//! 2. A cookie secret once refused never validates again (the book is kept
//!    on every check, in [`World::check`]); every ended or replaced secret is
//!    refused, with the reason the session ended.
//! 3. Every ended session has exactly one `session.ended` log row with a non-empty
//!    reason, and its `sessions` row says ended, with the same reason and time.
//! 4. A session the model holds live and inside its deadlines validates: no
//!    spurious endings.
//! 5. Every live session in the view carries its user's identity as the
//!    `users` table holds it (name, role, permissions, active): what
//!    forward authentication answers from memory is never stale.
//!
//! The model is compared too: the set of live sessions, each ending's reason,
//! what was forgotten after the retention.

use std::collections::{BTreeMap, BTreeSet};

use bouncer_engine::{clock::Timestamp, db::Pool, ids::SessionId, view::Lookup};
use bouncer_wire::Reason;

use crate::{
    harness::{seen, World},
    model::{Model, Seen, State},
    scenario::USERS,
};

/// A `sessions` row, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

/// A `session.ended` row of the event log, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct LogRow {
    pub session_id: String,
    pub user_id: String,
    pub reason: String,
    pub actor_name: String,
    pub at: i64,
}

/// A `users` row, as stored (`active` as 0/1, which both backends read).
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub role: String,
    pub permissions: String,
    pub active: i64,
}

/// The three tables, read after an operation.
#[derive(Debug)]
pub struct Stored {
    pub sessions: BTreeMap<String, SessionRow>,
    pub log: Vec<LogRow>,
    pub users: BTreeMap<String, UserRow>,
}

impl Stored {
    pub async fn read(pool: &Pool) -> anyhow::Result<Self> {
        let sessions: Vec<SessionRow> =
            sqlx::query_as("SELECT id, user_id, ended_at, end_reason FROM sessions")
                .fetch_all(pool)
                .await?;
        let log = sqlx::query_as(
            "SELECT session_id, user_id, reason, actor_name, at FROM events \
             WHERE type = 'session.ended' ORDER BY seq",
        )
        .fetch_all(pool)
        .await?;
        let users: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, role, permissions, \
             CASE WHEN active THEN 1 ELSE 0 END AS active FROM users",
        )
        .fetch_all(pool)
        .await?;
        Ok(Stored {
            sessions: sessions.into_iter().map(|s| (s.id.clone(), s)).collect(),
            log,
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
        })
    }

    /// How the session ended, if its row says it did.
    pub fn ending(&self, id: &SessionId) -> Option<(Reason, Timestamp)> {
        let row = self.sessions.get(id.as_str())?;
        let reason = row.end_reason.as_deref()?.parse().ok()?;
        Some((reason, Timestamp::from_millis(row.ended_at?)))
    }

    fn log_of(&self, id: &str) -> Vec<&LogRow> {
        self.log.iter().filter(|row| row.session_id == id).collect()
    }
}

/// Checks every invariant; the first violation is the error.
pub async fn check(world: &mut World, model: &Model, stored: &Stored) -> Result<(), String> {
    session_limits(world, model, stored)?;
    log_and_rows(stored)?;
    model_matches_the_database(world, model, stored)?;
    identities(world, model, stored)?;
    secrets(world, model).await
}

/// Invariant 1, in the database and in the in-memory view.
fn session_limits(world: &World, model: &Model, stored: &Stored) -> Result<(), String> {
    for user in 0..USERS {
        let Some(limit) = model.limit(user) else {
            continue;
        };
        let id = world.users[user].id.as_str();
        let in_database = stored
            .sessions
            .values()
            .filter(|row| row.user_id == id && row.ended_at.is_none())
            .count();
        // Every secret ever issued, as the view answers it without a query.
        let in_view: BTreeSet<SessionId> = model
            .sessions
            .iter()
            .flat_map(|s| &s.secrets)
            .filter_map(
                |secret| match world.engine.view().lookup(secret, world.now()) {
                    Some(Lookup::Live(live)) if live.user_id.as_str() == id => {
                        Some(live.id.clone())
                    }
                    _ => None,
                },
            )
            .collect();
        if in_database > limit || in_view.len() > limit {
            return Err(format!(
                "invariant 1: user {user} (limit {limit}) holds {in_database} live sessions in the database, {} in the view",
                in_view.len()
            ));
        }
    }
    Ok(())
}

/// Invariant 5: the view's identities are the stored accounts.
fn identities(world: &World, model: &Model, stored: &Stored) -> Result<(), String> {
    for secret in model.sessions.iter().flat_map(|s| &s.secrets) {
        let Some(Lookup::Live(live)) = world.engine.view().lookup(secret, world.now()) else {
            continue;
        };
        let identity = live.identity();
        let held = (
            identity.username.as_str(),
            identity.role.as_str(),
            identity
                .permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            identity.active,
        );
        let row = stored
            .users
            .get(live.user_id.as_str())
            .ok_or_else(|| format!("invariant 5: session {} has no user row", live.id))?;
        let stored = (
            row.username.as_str(),
            row.role.as_str(),
            row.permissions.clone(),
            row.active != 0,
        );
        if held != stored {
            return Err(format!(
                "invariant 5: session {} carries {held:?}, its user is {stored:?}",
                live.id
            ));
        }
    }
    Ok(())
}

/// Invariant 3, on the database alone: ended rows and log rows pair up.
fn log_and_rows(stored: &Stored) -> Result<(), String> {
    for row in stored.sessions.values() {
        let log = stored.log_of(&row.id);
        match (row.ended_at, row.end_reason.as_deref()) {
            (None, None) if log.is_empty() => {}
            (None, None) => {
                return Err(format!(
                    "invariant 3: live session {} has a log row: {log:?}",
                    row.id
                ))
            }
            (Some(at), Some(reason)) => {
                let [entry] = log.as_slice() else {
                    return Err(format!(
                        "invariant 3: ended session {} has {} log rows, not one",
                        row.id,
                        log.len()
                    ));
                };
                if reason.parse::<Reason>().is_err()
                    || entry.reason != reason
                    || entry.at != at
                    || entry.user_id != row.user_id
                    || entry.actor_name.trim().is_empty()
                {
                    return Err(format!(
                        "invariant 3: session {} ended with {reason:?} at {at}, its log row says {entry:?}",
                        row.id
                    ));
                }
            }
            (ended_at, reason) => {
                return Err(format!(
                    "invariant 3: session {} has ended_at {ended_at:?} but end_reason {reason:?}",
                    row.id
                ))
            }
        }
    }
    if let Some(orphan) = stored
        .log
        .iter()
        .find(|entry| !stored.sessions.contains_key(&entry.session_id))
    {
        return Err(format!(
            "invariant 3: a log row names no stored session: {orphan:?}"
        ));
    }
    Ok(())
}

/// The model against the database and the view: the same live sessions, the
/// same reasons, nothing left of what was forgotten.
fn model_matches_the_database(world: &World, model: &Model, stored: &Stored) -> Result<(), String> {
    let known: BTreeSet<&str> = model.sessions.iter().map(|s| s.id.as_str()).collect();
    if let Some(stranger) = stored
        .sessions
        .keys()
        .find(|id| !known.contains(id.as_str()))
    {
        return Err(format!(
            "the database holds a session the model never saw: {stranger}"
        ));
    }
    let view = world.engine.view();
    for (s, session) in model.sessions.iter().enumerate() {
        let row = stored.sessions.get(session.id.as_str());
        let applied = view.ended_reason(&session.id);
        let fine = match session.state {
            State::Live => {
                row.is_some_and(|row| row.ended_at.is_none())
                    && applied.is_none()
                    && view.by_id(&session.id).is_some()
            }
            State::Ended { reason, at } => {
                stored.ending(&session.id) == Some((reason, at)) && applied == Some(reason)
            }
            State::Forgotten => {
                row.is_none() && stored.log_of(session.id.as_str()).is_empty() && applied.is_none()
            }
        };
        if !fine {
            return Err(format!(
                "session #{s}: the model says {:?}; the database row is {row:?} and the view applied {applied:?}",
                session.state
            ));
        }
    }
    Ok(())
}

/// Invariants 2 and 4: every secret ever issued is asked to the engine's
/// check, except the current secret of an expired session not ended yet
/// (asking would end it, and the model lets whatever looks first do that).
async fn secrets(world: &mut World, model: &Model) -> Result<(), String> {
    for (s, session) in model.sessions.iter().enumerate() {
        let current = session.secrets.len() - 1;
        for (k, secret) in session.secrets.iter().enumerate() {
            let expected = match session.state {
                State::Live if k == current => match model.expired(s) {
                    Some(_) => continue,
                    None => Seen::Live(session.id.clone()),
                },
                State::Ended { reason, .. } if k == current => Seen::Ended(reason),
                // Replaced secrets and forgotten sessions match nothing.
                _ => Seen::Anonymous,
            };
            let visitor = world
                .check(*secret, false)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let got = seen(&visitor);
            if got != expected {
                let which = if matches!(expected, Seen::Live(_)) {
                    "invariant 4"
                } else {
                    "invariant 2"
                };
                return Err(format!(
                    "{which}: secret {k} of session #{s} ({:?}) checks as {got:?}, expected {expected:?}",
                    session.state
                ));
            }
        }
    }
    Ok(())
}
