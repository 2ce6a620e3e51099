//! The revocation log: the single truth about endings, and the tailer that
//! applies it to this node's view.
//!
//! Ending sessions is one transaction that marks the rows ended and appends
//! one log row per session; only after the commit is anyone told. The tailer
//! reads the log past the last sequence number it applied, drops those
//! sessions from the in-memory view and announces each ending on a broadcast
//! channel (the push hub listens there). Wake-ups are only hints: the same
//! process wakes it directly, and a short poll catches writers in other
//! processes (the command line), so a lost wake-up delays nothing beyond the
//! next poll and loses nothing.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use bouncer_wire::Reason;
use serde_json::Value;
use tokio::sync::{broadcast, Mutex, Notify};

use crate::{
    clock::Timestamp,
    db::{Backend, Pool, Tx},
    ids::{SessionId, UserId},
    registry::{Registry, Scope},
    sql::Sql,
};

/// Who ended a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user, or `None` for the system and the command line.
    pub id: Option<UserId>,
    /// A name for the audit log (`alice`, `system`, `command line`).
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

/// One applied ending, as announced to the push hub.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub seq: i64,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub reason: Reason,
    pub at: Timestamp,
    /// What the ended tabs should be told beyond the reason (JSON object).
    pub detail: Value,
}

/// The endings of one [`Ending`] transaction, waiting for the log.
#[derive(Debug)]
struct Pending {
    ended: Vec<(SessionId, UserId)>,
    reason: Reason,
    actor: Actor,
    detail: String,
}

/// A transaction that ends sessions. Rows are marked ended as it goes; the
/// log rows are appended as its very last step, under a lock on the log
/// table that the commit releases.
///
/// The lock is what makes the log's sequence follow commit order on
/// PostgreSQL: sequence values are handed out at insert time, so without it a
/// tailer could read seq 8 while seq 7 is still uncommitted, move past 7 and
/// never apply it. Taking it last means a transaction waiting for it holds
/// nothing the holder could need, so it cannot deadlock. On SQLite the
/// database's single write lock already gives the same order.
#[derive(Debug)]
pub struct Ending<'c> {
    /// For the transaction's other statements (a login's insert, a user edit).
    pub tx: Tx<'c>,
    now: Timestamp,
    pending: Vec<Pending>,
}

impl Ending<'static> {
    pub async fn begin(pool: &Pool, now: Timestamp) -> anyhow::Result<Self> {
        Ok(Ending {
            tx: pool
                .begin()
                .await
                .context("Failed to start a transaction")?,
            now,
            pending: Vec::new(),
        })
    }
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
        let ended = Registry::end_in(&mut self.tx, scope, reason, self.now).await?;
        let count = ended.len();
        if count > 0 {
            self.pending.push(Pending {
                ended,
                reason,
                actor: actor.clone(),
                detail: detail.to_string(),
            });
        }
        Ok(count)
    }

    /// How many sessions this transaction has ended so far.
    pub fn ended(&self) -> usize {
        self.pending.iter().map(|p| p.ended.len()).sum()
    }

    /// Appends the log and commits. Returns how many sessions ended.
    pub async fn commit(mut self) -> anyhow::Result<usize> {
        let ended = self.ended();
        if ended > 0 {
            self.append().await?;
        }
        self.tx
            .commit()
            .await
            .context("Failed to commit ended sessions")?;
        Ok(ended)
    }

    async fn append(&mut self) -> anyhow::Result<()> {
        let postgres = Backend::of(&self.tx) == Backend::Postgres;
        if postgres {
            // Readers (the tailers) are not blocked; other appenders wait.
            sqlx::query("LOCK TABLE revocations IN EXCLUSIVE MODE")
                .execute(&mut *self.tx)
                .await
                .context("Failed to lock the revocation log")?;
        }
        for pending in &self.pending {
            // One statement per reason, however many sessions: what the rows
            // share is bound once, and the sessions travel as one JSON array
            // of `[session id, user id]` that the database unpacks. Thousands
            // of binds would cost more (SQLite looks a `$N` up in time linear
            // in their number), and so would thousands of statements.
            let sessions: Vec<[&str; 2]> = pending
                .ended
                .iter()
                .map(|(session_id, user_id)| [session_id.as_str(), user_id.as_str()])
                .collect();
            let sessions =
                serde_json::to_string(&sessions).context("Failed to list the ended sessions")?;
            let mut query = Sql::new(
                "INSERT INTO revocations (session_id, user_id, reason, actor_id, actor_name, at, detail) SELECT ",
            );
            query.push(if postgres {
                "e ->> 0, e ->> 1, "
            } else {
                "json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
            });
            query.bind(pending.reason.as_str()).push(", ");
            query
                .bind(pending.actor.id.as_ref().map(UserId::to_string))
                .push(", ");
            query.bind(pending.actor.name.clone()).push(", ");
            query.bind(self.now.as_millis()).push(", ");
            query.bind(pending.detail.clone());
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
                .execute(&mut *self.tx)
                .await
                .context("Failed to append to the revocation log")?;
        }
        if postgres {
            // Delivered to every listening node when (and only if) this commits.
            // pg_notify returns `void`, which the `Any` driver cannot decode,
            // hence the count around it.
            sqlx::query(
                "SELECT COUNT(*) FROM (SELECT pg_notify($1, CAST(MAX(seq) AS TEXT)) AS n \
                 FROM revocations) AS notified",
            )
            .bind(crate::listener::REVOCATIONS_CHANNEL)
            .execute(&mut *self.tx)
            .await
            .context("Failed to notify the other nodes")?;
        }
        Ok(())
    }
}

/// One row of the audit view of the log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub actor_name: String,
    pub reason: String,
    /// The ended session's user, by name (the id if the user is gone).
    pub target_user: String,
    pub session_id: String,
    pub tabs_notified: i64,
}

/// The newest `limit` endings, newest first.
pub async fn audit(pool: &Pool, limit: i64) -> anyhow::Result<Vec<AuditRow>> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT r.at, r.actor_name, r.reason, COALESCE(u.username, r.user_id) AS target_user, \
         r.session_id, r.tabs_notified \
         FROM revocations r LEFT JOIN users u ON u.id = r.user_id ORDER BY r.seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .context("Failed to read the audit log")
}

/// The detail recorded when the session behind this cookie secret ended
/// (for `signed_in_elsewhere`: the new session's device, IP and time).
pub async fn detail_for_secret(
    pool: &Pool,
    secret: &crate::ids::SecretHash,
) -> anyhow::Result<Option<Value>> {
    let detail: Option<String> = sqlx::query_scalar(
        "SELECT r.detail FROM sessions s JOIN revocations r ON r.session_id = s.id \
         WHERE s.secret_hash = $1 AND s.ended_at IS NOT NULL ORDER BY r.seq DESC LIMIT 1",
    )
    .bind(secret.to_hex())
    .fetch_optional(pool)
    .await
    .context("Failed to read why a session ended")?;
    Ok(detail.and_then(|d| serde_json::from_str(&d).ok()))
}

/// An IP address with its host part hidden, for showing to the person who
/// was displaced: `203.0.113.x`, or the first 48 bits of an IPv6 address.
/// Takes a stored address in any `BOUNCER_IP_PRIVACY` form (a whole address,
/// a network such as `203.0.113.0/24`, or nothing).
pub fn approximate_ip(ip: &str) -> String {
    let address = ip.split('/').next().unwrap_or_default();
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => "an unknown address".to_owned(),
    }
}

/// One log row as the tailer reads it: `[seq, session_id, user_id, reason,
/// at, detail]`, an element of the JSON array one read returns.
#[derive(serde::Deserialize)]
struct LogRow(i64, String, String, String, i64, String);

/// How many log rows one read takes: a bulk ending of everyone on a large
/// node is one read and one announcement, not a dozen interleaved with the
/// pushes they cause.
const BATCH: i64 = 20_000;

/// One read of the log past `$1` (at most `$2` rows) as a single JSON array:
/// a bulk ending of thousands is one row to fetch and one string to parse,
/// not thousands of rows through the driver.
const READ_SQLITE: &str =
    "SELECT json_group_array(json_array(seq, session_id, user_id, reason, at, detail)) \
     FROM (SELECT * FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2)";
const READ_POSTGRES: &str =
    "SELECT CAST(COALESCE(json_agg(json_build_array(seq, session_id, user_id, reason, at, detail) \
     ORDER BY seq), '[]') AS TEXT) \
     FROM (SELECT * FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2) AS unread";

/// How often the log is read without a wake-up (writers in other processes).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Applies the log to this node's view, in order, exactly once per row.
#[derive(Debug, Clone)]
pub struct Tailer {
    pool: Pool,
    /// The read's SQL, which differs per backend only in its JSON functions.
    read: &'static str,
    registry: Registry,
    /// The last sequence number applied. The mutex also serialises readers, so
    /// rows are applied in order and never twice.
    applied: Arc<Mutex<i64>>,
    /// Wakes the background loop early (a same-process write, a NOTIFY).
    wake: Arc<Notify>,
    /// Every applied ending, for the push hub, a read's worth at a time (a
    /// bulk ending is a few messages, not one per session).
    events: broadcast::Sender<Arc<[Ended]>>,
}

impl Tailer {
    /// A tailer starting after the newest row already in the log: older
    /// endings are already reflected in the `sessions` rows.
    pub async fn start_at_end(pool: Pool, registry: Registry) -> anyhow::Result<Self> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM revocations")
            .fetch_one(&pool)
            .await
            .context("Failed to read the end of the revocation log")?;
        let backend = Backend::of(&*pool.acquire().await.context("Failed to connect")?);
        let (events, _) = broadcast::channel(1024);
        Ok(Tailer {
            read: match backend {
                Backend::Postgres => READ_POSTGRES,
                Backend::Sqlite => READ_SQLITE,
            },
            pool,
            registry,
            applied: Arc::new(Mutex::new(last.unwrap_or(0))),
            wake: Arc::new(Notify::new()),
            events,
        })
    }

    /// Subscribes to applied endings.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Ended]>> {
        self.events.subscribe()
    }

    /// Asks the background loop to read the log now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Reads and applies every row past the last applied one. Returns how many
    /// rows were applied.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let mut applied = self.applied.lock().await;
        let mut count = 0;
        loop {
            let rows: String = sqlx::query_scalar(self.read)
                .bind(*applied)
                .bind(BATCH)
                .fetch_one(&self.pool)
                .await
                .context("Failed to read the revocation log")?;
            let mut rows: Vec<LogRow> =
                serde_json::from_str(&rows).context("Failed to decode the revocation log")?;
            // An aggregate's order is not promised by SQL: sort here.
            rows.sort_unstable_by_key(|row| row.0);
            let batch_len = rows.len();
            let mut batch = Vec::with_capacity(batch_len);
            for row in rows {
                *applied = row.0;
                match Self::decode(row) {
                    Ok(ended) => {
                        self.registry
                            .forget(&ended.session_id, ended.reason, ended.at);
                        batch.push(ended);
                    }
                    Err(e) => {
                        tracing::error!(error = ?e, "Skipped an unreadable revocation log row")
                    }
                }
            }
            count += batch.len();
            if !batch.is_empty() {
                // No receiver (no hub yet) is not an error.
                let _ = self.events.send(batch.into());
            }
            if batch_len < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(count);
            }
        }
    }

    fn decode(row: LogRow) -> anyhow::Result<Ended> {
        let LogRow(seq, session_id, user_id, reason, at, detail) = row;
        Ok(Ended {
            seq,
            session_id: SessionId::parse(&session_id).context("empty session id")?,
            user_id: UserId::parse(&user_id).context("empty user id")?,
            reason: reason.parse()?,
            at: Timestamp::from_millis(at),
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    }

    /// The background loop: read the log on every wake-up and at least every
    /// [`POLL_INTERVAL`], until `shutdown` fires.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = ?e, "Failed to read the revocation log; retrying");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The last sequence number applied, or 0 while a read is in progress
    /// (which only means "wake anyway").
    pub fn applied_seq(&self) -> i64 {
        self.applied.try_lock().map(|seq| *seq).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::approximate_ip;

    #[test]
    fn addresses_are_shown_approximately() {
        assert_eq!(approximate_ip("203.0.113.77"), "203.0.113.x");
        assert_eq!(
            approximate_ip("2001:db8:85a3::8a2e:370:7334"),
            "2001:db8:85a3::/48"
        );
        assert_eq!(approximate_ip("unknown"), "an unknown address");
        // The forms `BOUNCER_IP_PRIVACY=truncate` and `off` store.
        assert_eq!(approximate_ip("203.0.113.0/24"), "203.0.113.x");
        assert_eq!(approximate_ip("2001:db8:85a3::/48"), "2001:db8:85a3::/48");
        assert_eq!(approximate_ip(""), "an unknown address");
    }
}
