//! The event log, the `events` table: append-only, in commit order, one row
//! per event. It is the single truth about endings (`session.ended`, one row
//! per ended session) and the durable feed other systems follow: sessions
//! started, accounts created, deactivated, reactivated, their role or
//! permissions or password changed. This module owns every statement on it.
//!
//! Rows are appended only by a [`crate::change::Change`] transaction, as its
//! last step; the tailer reads them back in order; the audit view, the "why
//! did my session end" detail, the feed and the sweep's deletion of old rows
//! read or trim them. Nothing ever updates a row's meaning: only the count of
//! tabs told is added afterwards.

use std::{fmt, str::FromStr};

use anyhow::Context;
use bouncer_wire::Reason;
use serde_json::Value;

use crate::{
    clock::Timestamp,
    db::{Backend, Pool, Tx},
    ids::{SessionId, UserId},
    privacy::IpPrivacy,
    sql::{contains_pattern, Sql},
};

/// Who did what an event records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user, or `None` for the system, a service token and the
    /// command line.
    pub id: Option<UserId>,
    /// A name for the audit log and the feed (`alice`, `system`, `command
    /// line`, `token:billing`).
    pub name: String,
}

impl Actor {
    pub fn user(id: UserId, name: impl Into<String>) -> Self {
        Actor {
            id: Some(id),
            name: name.into(),
        }
    }

    /// Timeouts and other endings nobody asked for.
    pub fn system() -> Self {
        Actor {
            id: None,
            name: "system".to_owned(),
        }
    }

    /// The `bouncer` command line.
    pub fn command_line() -> Self {
        Actor {
            id: None,
            name: "command line".to_owned(),
        }
    }
}

/// What an event says happened. The names are the API's event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    SessionStarted,
    SessionEnded,
    /// The session's cookie got a new secret (its holder signed in again,
    /// changed the password, or their rights changed): every node drops the
    /// secret it held, so the old cookie dies everywhere, not only on the
    /// node that made the new one.
    SessionRotated,
    UserCreated,
    UserDeactivated,
    UserReactivated,
    /// The role or the permissions changed.
    UserRoleChanged,
    UserPasswordChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::SessionStarted,
        EventKind::SessionEnded,
        EventKind::SessionRotated,
        EventKind::UserCreated,
        EventKind::UserDeactivated,
        EventKind::UserReactivated,
        EventKind::UserRoleChanged,
        EventKind::UserPasswordChanged,
    ];

    /// Whether other systems see it (the feed, the stream, webhooks); the
    /// others are the nodes' own business.
    pub fn is_public(self) -> bool {
        self != EventKind::SessionRotated
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "session.started",
            EventKind::SessionEnded => "session.ended",
            EventKind::SessionRotated => "session.rotated",
            EventKind::UserCreated => "user.created",
            EventKind::UserDeactivated => "user.deactivated",
            EventKind::UserReactivated => "user.reactivated",
            EventKind::UserRoleChanged => "user.role_changed",
            EventKind::UserPasswordChanged => "user.password_changed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .with_context(|| format!("unknown event type `{s}`"))
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The global sequence number: the feed's cursor.
    pub seq: i64,
    pub kind: EventKind,
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    /// `session.ended` only.
    pub reason: Option<Reason>,
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub at: Timestamp,
    /// The type's own fields (a JSON object).
    pub detail: Value,
}

/// A `session.ended` event, as the view and the tabs need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub seq: i64,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub reason: Reason,
    pub at: Timestamp,
    /// What the ended tabs should be told beyond the reason (a JSON object,
    /// e.g. the new device for `signed_in_elsewhere`).
    pub detail: Value,
}

impl Event {
    /// The ending this event records, if it is one.
    pub fn ended(&self) -> Option<Ended> {
        Some(Ended {
            seq: self.seq,
            session_id: self.session_id.clone()?,
            user_id: self.user_id.clone(),
            reason: self
                .reason
                .filter(|_| self.kind == EventKind::SessionEnded)?,
            at: self.at,
            detail: self.detail.clone(),
        })
    }
}

/// The endings of one reason in one transaction, to append.
#[derive(Debug)]
pub struct Append<'a> {
    pub ended: &'a [(SessionId, UserId)],
    pub reason: Reason,
    pub actor: &'a Actor,
    /// The detail as JSON text.
    pub detail: &'a str,
    /// When the transaction ended them.
    pub at: Timestamp,
}

/// An event other than an ending, to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    pub actor: Actor,
    /// The type's own fields (a JSON object).
    pub detail: Value,
}

/// Which endings the audit view shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub reason: Option<Reason>,
    /// Part of a name: the actor's, or (with `users`, the ids of the users
    /// whose names contain it) the ended session's user.
    pub name: Option<String>,
    pub users: Vec<UserId>,
}

/// One row of the audit view of the log (its endings).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub actor_name: String,
    pub reason: String,
    pub user_id: String,
    pub session_id: String,
    pub tabs_notified: i64,
}

/// One log row as a read returns it: `[seq, type, user_id, session_id,
/// reason, actor_id, actor_name, at, detail]`, an element of the JSON array
/// one read returns.
#[derive(serde::Deserialize)]
struct LogRow(
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    String,
);

impl LogRow {
    fn decode(self) -> anyhow::Result<Event> {
        let LogRow(seq, kind, user_id, session_id, reason, actor_id, actor_name, at, detail) = self;
        Ok(Event {
            seq,
            kind: kind.parse()?,
            user_id: UserId::parse(&user_id).context("empty user id")?,
            session_id: session_id.as_deref().and_then(SessionId::parse),
            reason: reason.as_deref().map(str::parse).transpose()?,
            actor_id: actor_id.as_deref().and_then(UserId::parse),
            actor_name,
            at: Timestamp::from_millis(at),
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    }
}

/// One read of the log past `$1` (at most `$2` rows) as a single JSON array:
/// a bulk ending of thousands is one row to fetch and one string to parse,
/// not thousands of rows through the driver.
const READ_SQLITE: &str = "SELECT json_group_array(json_array(seq, type, user_id, session_id, \
     reason, actor_id, actor_name, at, detail)) \
     FROM (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2)";
const READ_POSTGRES: &str = "SELECT CAST(COALESCE(json_agg(json_build_array(seq, type, user_id, \
     session_id, reason, actor_id, actor_name, at, detail) ORDER BY seq), '[]') AS TEXT) \
     FROM (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) AS unread";

/// The notification channel of appends (PostgreSQL): the payload is the
/// newest sequence number, so a node already past it skips the read.
pub const EVENTS_CHANNEL: &str = "bouncer_events";

/// The `events` table.
#[derive(Debug, Clone)]
pub struct EventLog {
    pool: Pool,
    /// The read's SQL, which differs per backend only in its JSON functions.
    read: &'static str,
}

impl EventLog {
    pub fn new(pool: Pool, backend: Backend) -> Self {
        EventLog {
            pool,
            read: match backend {
                Backend::Postgres => READ_POSTGRES,
                Backend::Sqlite => READ_SQLITE,
            },
        }
    }

    /// The newest sequence number in the log (0 when empty).
    pub async fn last_seq(&self) -> anyhow::Result<i64> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(&self.pool)
            .await
            .context("Failed to read the end of the event log")?;
        Ok(last.unwrap_or(0))
    }

    /// The oldest sequence number still kept (past retention rows are gone),
    /// or `None` when the log is empty.
    pub async fn first_seq(&self) -> anyhow::Result<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(seq) FROM events")
            .fetch_one(&self.pool)
            .await
            .context("Failed to read the start of the event log")
    }

    /// Appends `endings` and `events` inside `tx`, as the transaction's last
    /// statements, under a lock on the log that the commit releases. Returns
    /// the sequence number of the last row appended: the rows of one
    /// transaction are numbered in a run ending there, the same on every
    /// node, so the logs of two nodes can be matched by it.
    ///
    /// The lock is what makes the log's sequence follow commit order on
    /// PostgreSQL: sequence values are handed out at insert time, so without
    /// it a tailer could read seq 8 while seq 7 is still uncommitted, move
    /// past 7 and never apply it. Taking it last means a transaction waiting
    /// for it holds nothing the holder could need, so it cannot deadlock. On
    /// SQLite the database's single write lock already gives the same order.
    /// On PostgreSQL the other nodes are notified when (and only if) `tx`
    /// commits.
    pub async fn append_in(
        tx: &mut Tx<'_>,
        endings: &[Append<'_>],
        events: &[NewEvent],
        at: Timestamp,
    ) -> anyhow::Result<i64> {
        let postgres = Backend::of(tx) == Backend::Postgres;
        if postgres {
            // Readers (the tailers, the feed) are not blocked; other appenders wait.
            sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
                .execute(&mut **tx)
                .await
                .context("Failed to lock the event log")?;
        }
        for event in events {
            append_event(tx, event, at).await?;
        }
        for ending in endings {
            append_endings(tx, ending, postgres).await?;
        }
        // On PostgreSQL the same statement notifies the other nodes.
        // pg_notify returns `void`, which the `Any` driver cannot decode,
        // hence the count around it.
        let last: Option<i64> = if postgres {
            sqlx::query_scalar(
                "SELECT (SELECT MAX(seq) FROM events) AS last, \
                 (SELECT COUNT(*) FROM (SELECT pg_notify($1, CAST(MAX(seq) AS TEXT)) AS n \
                 FROM events) AS notified) AS sent",
            )
            .bind(EVENTS_CHANNEL)
            .fetch_one(&mut **tx)
            .await
            .context("Failed to notify the other nodes")?
        } else {
            sqlx::query_scalar("SELECT MAX(seq) FROM events")
                .fetch_one(&mut **tx)
                .await
                .context("Failed to read the end of the event log")?
        };
        Ok(last.unwrap_or(0))
    }

    /// Up to `limit` events past `after`, in sequence order. Unreadable rows
    /// are logged and skipped; the second value is the last sequence number
    /// read (readable or not) and the third how many rows were read.
    pub async fn read_after(
        &self,
        after: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<Event>, i64, usize)> {
        let rows: String = sqlx::query_scalar(self.read)
            .bind(after)
            .bind(limit)
            .fetch_one(&self.pool)
            .await
            .context("Failed to read the event log")?;
        let mut rows: Vec<LogRow> =
            serde_json::from_str(&rows).context("Failed to decode the event log")?;
        // An aggregate's order is not promised by SQL: sort here.
        rows.sort_unstable_by_key(|row| row.0);
        let read = rows.len();
        let mut last = after;
        let mut events = Vec::with_capacity(read);
        for row in rows {
            last = row.0;
            match row.decode() {
                Ok(event) => events.push(event),
                Err(e) => tracing::error!(error = ?e, "Skipped an unreadable event log row"),
            }
        }
        Ok((events, last, read))
    }

    /// The newest `limit` endings that pass `filter`, newest first.
    pub async fn audit(&self, limit: i64, filter: &AuditFilter) -> anyhow::Result<Vec<AuditRow>> {
        let mut query = Sql::new(
            "SELECT at, actor_name, reason, user_id, session_id, tabs_notified \
             FROM events WHERE type = 'session.ended'",
        );
        if let Some(reason) = filter.reason {
            query.push(" AND reason = ").bind(reason.as_str());
        }
        if let Some(name) = &filter.name {
            query
                .push(" AND (LOWER(actor_name) LIKE LOWER(")
                .bind(contains_pattern(name))
                .push(") ESCAPE '\\'");
            if !filter.users.is_empty() {
                query
                    .push(" OR user_id IN ")
                    .bind_list(filter.users.iter().map(UserId::to_string));
            }
            query.push(")");
        }
        query.push(" ORDER BY seq DESC LIMIT ").bind(limit);
        query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to read the audit log")
    }

    /// The detail recorded when session `id` ended (for
    /// `signed_in_elsewhere`: the new session's device, IP and time).
    pub async fn detail_of(&self, id: &SessionId) -> anyhow::Result<Option<Value>> {
        let detail: Option<String> = sqlx::query_scalar(
            "SELECT detail FROM events WHERE session_id = $1 AND type = 'session.ended' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read why a session ended")?;
        Ok(detail.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// Adds how many tabs were told to the rows of these sequence numbers.
    pub async fn add_tabs_told(&self, told: &[(i64, usize)]) -> anyhow::Result<()> {
        // Small chunks: a CASE is tried branch by branch for every row.
        for chunk in told.chunks(100) {
            let mut query = Sql::new("UPDATE events SET tabs_notified = tabs_notified + CASE seq");
            for (seq, count) in chunk {
                query.push(" WHEN ").bind(*seq).push(" THEN ");
                query.bind(i64::try_from(*count).unwrap_or(i64::MAX));
            }
            query
                .push(" ELSE 0 END WHERE seq IN ")
                .bind_list(chunk.iter().map(|(seq, _)| *seq));
            query
                .query()
                .execute(&self.pool)
                .await
                .context("Failed to record how many tabs were told")?;
        }
        Ok(())
    }

    /// Deletes rows older than `before` (past the retention period).
    pub async fn delete_before(&self, before: Timestamp) -> anyhow::Result<u64> {
        Ok(sqlx::query("DELETE FROM events WHERE at < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await
            .context("Failed to delete old event log rows")?
            .rows_affected())
    }

    /// Rewrites the addresses in details (`signed_in_elsewhere` endings,
    /// `session.started`) stored under a looser privacy setting than
    /// `setting`. Returns how many rows changed.
    pub async fn apply_privacy(&self, setting: IpPrivacy) -> anyhow::Result<u64> {
        if setting == IpPrivacy::Full {
            return Ok(0);
        }
        let details: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, detail FROM events \
             WHERE reason = 'signed_in_elsewhere' OR type = 'session.started'",
        )
        .fetch_all(&self.pool)
        .await
        .context("Failed to read the log's details")?;
        let mut changed = 0;
        for (seq, detail) in details {
            let Ok(mut value) = serde_json::from_str::<Value>(&detail) else {
                continue;
            };
            let Some(ip) = value.get("ip").and_then(|ip| ip.as_str()) else {
                continue;
            };
            if setting.holds(ip) {
                continue;
            }
            value["ip"] = setting.stored(ip).into();
            sqlx::query("UPDATE events SET detail = $1 WHERE seq = $2")
                .bind(value.to_string())
                .bind(seq)
                .execute(&self.pool)
                .await
                .context("Failed to rewrite a log detail")?;
            changed += 1;
        }
        Ok(changed)
    }
}

async fn append_event(tx: &mut Tx<'_>, event: &NewEvent, at: Timestamp) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO events (type, user_id, session_id, actor_id, actor_name, at, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.kind.as_str())
    .bind(event.user_id.as_str())
    .bind(event.session_id.as_ref().map(SessionId::to_string))
    .bind(event.actor.id.as_ref().map(UserId::to_string))
    .bind(&event.actor.name)
    .bind(at.as_millis())
    .bind(event.detail.to_string())
    .execute(&mut **tx)
    .await
    .with_context(|| format!("Failed to append a {} event", event.kind))?;
    Ok(())
}

/// One statement per reason, however many sessions: what the rows share is
/// bound once, and the sessions travel as one JSON array of `[session id,
/// user id]` that the database unpacks. Thousands of binds would cost more
/// (SQLite looks a `$N` up in time linear in their number), and so would
/// thousands of statements.
async fn append_endings(
    tx: &mut Tx<'_>,
    append: &Append<'_>,
    postgres: bool,
) -> anyhow::Result<()> {
    let sessions: Vec<[&str; 2]> = append
        .ended
        .iter()
        .map(|(session_id, user_id)| [session_id.as_str(), user_id.as_str()])
        .collect();
    let sessions = serde_json::to_string(&sessions).context("Failed to list the ended sessions")?;
    let mut query = Sql::new(
        "INSERT INTO events (type, session_id, user_id, reason, actor_id, actor_name, at, detail) \
         SELECT 'session.ended', ",
    );
    query.push(if postgres {
        "e ->> 0, e ->> 1, "
    } else {
        "json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    });
    query.bind(append.reason.as_str()).push(", ");
    query
        .bind(append.actor.id.as_ref().map(UserId::to_string))
        .push(", ");
    query.bind(append.actor.name.clone()).push(", ");
    query.bind(append.at.as_millis()).push(", ");
    query.bind(append.detail.to_owned());
    if postgres {
        query
            .push(" FROM json_array_elements(CAST(")
            .bind(sessions)
            .push(" AS json)) WITH ORDINALITY AS ended (e, n) ORDER BY n");
    } else {
        query
            .push(" FROM json_each(")
            .bind(sessions)
            .push(") ORDER BY key");
    }
    query
        .query()
        .execute(&mut **tx)
        .await
        .context("Failed to append to the event log")?;
    Ok(())
}
