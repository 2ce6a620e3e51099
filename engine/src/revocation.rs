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
use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::{broadcast, Mutex, Notify};

use crate::{
    clock::Timestamp,
    db::Pool,
    ids::{SessionId, UserId},
    registry::Registry,
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

/// Appends one log row per ended session inside the caller's transaction.
pub async fn append(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    ended: &[(SessionId, UserId)],
    reason: Reason,
    actor: &Actor,
    detail: &Value,
    now: Timestamp,
) -> anyhow::Result<()> {
    let detail = detail.to_string();
    // 6 binds per row keeps every chunk far below SQLite's parameter limit.
    for chunk in ended.chunks(1000) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO revocations (session_id, user_id, reason, actor_id, actor_name, at, detail) ",
        );
        query.push_values(chunk, |mut row, (session_id, user_id)| {
            row.push_bind(session_id.to_string())
                .push_bind(user_id.to_string())
                .push_bind(reason.as_str())
                .push_bind(actor.id.as_ref().map(|id| id.to_string()))
                .push_bind(actor.name.clone())
                .push_bind(now.as_millis())
                .push_bind(detail.clone());
        });
        query
            .build()
            .execute(&mut **tx)
            .await
            .context("Failed to append to the revocation log")?;
    }
    Ok(())
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
pub fn approximate_ip(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
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

#[derive(sqlx::FromRow)]
struct LogRow {
    seq: i64,
    session_id: String,
    user_id: String,
    reason: String,
    at: i64,
    detail: String,
}

/// How many log rows one read takes; a bulk ending is applied in batches.
const BATCH: i64 = 2000;

/// How often the log is read without a wake-up (writers in other processes).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Applies the log to this node's view, in order, exactly once per row.
#[derive(Debug, Clone)]
pub struct Tailer {
    pool: Pool,
    registry: Registry,
    /// The last sequence number applied. The mutex also serialises readers, so
    /// rows are applied in order and never twice.
    applied: Arc<Mutex<i64>>,
    /// Wakes the background loop early (a same-process write, a NOTIFY).
    wake: Arc<Notify>,
    /// Every applied ending, for the push hub.
    events: broadcast::Sender<Ended>,
}

impl Tailer {
    /// A tailer starting after the newest row already in the log: older
    /// endings are already reflected in the `sessions` rows.
    pub async fn start_at_end(pool: Pool, registry: Registry) -> anyhow::Result<Self> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM revocations")
            .fetch_one(&pool)
            .await
            .context("Failed to read the end of the revocation log")?;
        let (events, _) = broadcast::channel(4096);
        Ok(Tailer {
            pool,
            registry,
            applied: Arc::new(Mutex::new(last.unwrap_or(0))),
            wake: Arc::new(Notify::new()),
            events,
        })
    }

    /// Subscribes to applied endings.
    pub fn subscribe(&self) -> broadcast::Receiver<Ended> {
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
            let rows = sqlx::query_as::<_, LogRow>(
                "SELECT seq, session_id, user_id, reason, at, detail FROM revocations \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(*applied)
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await
            .context("Failed to read the revocation log")?;
            let batch_len = rows.len();
            for row in rows {
                *applied = row.seq;
                match Self::decode(row) {
                    Ok(ended) => {
                        self.registry
                            .forget(&ended.session_id, ended.reason, ended.at);
                        // No receiver (no hub yet) is not an error.
                        let _ = self.events.send(ended);
                        count += 1;
                    }
                    Err(e) => {
                        tracing::error!(error = ?e, "Skipped an unreadable revocation log row")
                    }
                }
            }
            if batch_len < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(count);
            }
        }
    }

    fn decode(row: LogRow) -> anyhow::Result<Ended> {
        Ok(Ended {
            seq: row.seq,
            session_id: SessionId::parse(&row.session_id).context("empty session id")?,
            user_id: UserId::parse(&row.user_id).context("empty user id")?,
            reason: row.reason.parse()?,
            at: Timestamp::from_millis(row.at),
            detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
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
    }
}
