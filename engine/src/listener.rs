//! The node's one `LISTEN` connection (PostgreSQL only): how a node hears, in
//! milliseconds, what other nodes and the command line commit.
//!
//! Notifications are hints, never the data. A notification only wakes the
//! [`Tailer`], which reads the event log past its last sequence number;
//! when the connection drops, sqlx re-establishes it (LISTEN included) and the
//! tailer is woken once more, so whatever was committed meanwhile is applied
//! then and nothing is lost. (The tailer's poll is a second safety net.)
//!
//! Whether the connection is up is kept in a [`ListenerState`] (the
//! readiness check and the metrics read it), and each loss is counted.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::{
    log::EVENTS_CHANNEL,
    measures::{self, ListenerState},
    tailer::Tailer,
};

/// Listens at `url` until `stop` is cancelled, reconnecting after failures;
/// `state` says whether it is listening.
pub async fn run(url: String, tailer: Tailer, state: ListenerState, stop: CancellationToken) {
    loop {
        let result = listen(&url, &tailer, &state, &stop).await;
        state.set(false);
        match result {
            Ok(()) => return,
            Err(e) => {
                metrics::counter!(measures::LISTENER_RECONNECTS).increment(1);
                tracing::warn!(error = ?e, "The database listener failed; reconnecting");
            }
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
    state: &ListenerState,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url)
        .await
        .context("Failed to connect the database listener")?;
    listener
        .listen(EVENTS_CHANNEL)
        .await
        .context("Failed to LISTEN")?;
    state.set(true);
    // Anything committed before the LISTEN took effect.
    tailer.wake();
    loop {
        let notification = tokio::select! {
            notification = listener.try_recv() => notification,
            _ = stop.cancelled() => return Ok(()),
        };
        match notification.context("The database listener lost its connection")? {
            Some(n) => {
                let newest = n.payload().parse::<i64>().unwrap_or(i64::MAX);
                if newest > tailer.applied_seq() {
                    tailer.wake();
                }
            }
            None => {
                // Re-established (LISTEN included): read what went by meanwhile.
                metrics::counter!(measures::LISTENER_RECONNECTS).increment(1);
                tracing::warn!("The database listener reconnected; catching up");
                tailer.wake();
            }
        }
    }
}
