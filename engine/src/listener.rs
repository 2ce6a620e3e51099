//! The node's one `LISTEN` connection (PostgreSQL only): how a node hears, in
//! milliseconds, what other nodes and the command line commit.
//!
//! Notifications are hints, never the data. A revocation notification only
//! wakes the [`Tailer`], which reads the log past its last sequence number;
//! when the connection drops, sqlx re-establishes it (LISTEN included) and the
//! tailer is woken once more, so whatever was committed meanwhile is applied
//! then and nothing is lost. (The tailer's poll is a second safety net.)

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::{hub::Hub, ids::UserId, log::REVOCATIONS_CHANNEL, tailer::Tailer};

/// Notified when a user's list of sessions grew (a login); the payload is the
/// user id, whose account pages and the staff consoles refresh.
pub const SESSIONS_CHANNEL: &str = "bouncer_sessions";

/// Listens at `url` until `stop` is cancelled, reconnecting after failures.
pub async fn run(url: String, tailer: Tailer, hub: Hub, stop: CancellationToken) {
    loop {
        match listen(&url, &tailer, &hub, &stop).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = ?e, "The database listener failed; reconnecting"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Listens until stopped (`Ok`) or an error the listener cannot ride out.
async fn listen(
    url: &str,
    tailer: &Tailer,
    hub: &Hub,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url)
        .await
        .context("Failed to connect the database listener")?;
    listener
        .listen_all([REVOCATIONS_CHANNEL, SESSIONS_CHANNEL])
        .await
        .context("Failed to LISTEN")?;
    // Anything committed before the LISTEN took effect.
    tailer.wake();
    loop {
        let notification = tokio::select! {
            notification = listener.try_recv() => notification,
            _ = stop.cancelled() => return Ok(()),
        };
        match notification.context("The database listener lost its connection")? {
            Some(n) if n.channel() == REVOCATIONS_CHANNEL => {
                let newest = n.payload().parse::<i64>().unwrap_or(i64::MAX);
                if newest > tailer.applied_seq() {
                    tailer.wake();
                }
            }
            Some(n) => {
                if let Some(user_id) = UserId::parse(n.payload()) {
                    hub.sessions_changed(&user_id);
                }
            }
            None => {
                // Re-established (LISTEN included): read what went by meanwhile.
                tracing::warn!("The database listener reconnected; catching up");
                tailer.wake();
            }
        }
    }
}

/// Tells the other nodes, when `tx` commits, that `user_id` has a new session.
/// Nothing to do on SQLite: one process serves it.
pub async fn announce_new_session(
    tx: &mut crate::db::Tx<'_>,
    user_id: &UserId,
) -> anyhow::Result<()> {
    if crate::db::Backend::of(tx) != crate::db::Backend::Postgres {
        return Ok(());
    }
    // pg_notify returns `void`, which the `Any` driver cannot decode.
    sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2) AS n) AS notified")
        .bind(SESSIONS_CHANNEL)
        .bind(user_id.to_string())
        .execute(&mut **tx)
        .await
        .context("Failed to notify the other nodes of a new session")?;
    Ok(())
}
