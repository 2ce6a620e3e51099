//! Webhook delivery: every event of the log to every endpoint that wants it,
//! at least once, in sequence order per endpoint, from exactly one node.
//!
//! - **One node.** The node holding the `webhooks` lease ([`Leases`])
//!   delivers; the others wait and take it over when it expires (a node
//!   killed or cut off) or is released (a node stopping). The holder renews
//!   it in a task of its own and stops delivering the moment a renewal
//!   fails.
//! - **In order, at least once.** Each endpoint has a task that sends one
//!   event at a time and moves on only after a 2xx; its cursor is written
//!   to the database at least every [`FLUSH_EVERY`], so a node taking over
//!   resumes at most that far back: a repeat, with the same `webhook-id`.
//!   A failed event is retried with growing, jittered backoff (capped at
//!   [`MAX_BACKOFF`], or longer when the receiver asks with `Retry-After`)
//!   and never skipped; after [`FAILING_AFTER`] of failures the endpoint is
//!   marked failing. Endpoints do not wait for each other.
//! - **Promptly.** A task sleeps until the tailer announces a read of the
//!   log (an event committed on any node), with a slow poll as a safety net.
//!
//! The engine knows no HTTP: the request, its body and its signature are a
//! [`Transport`]'s (the server's implementation signs per Standard Webhooks
//! and refuses private addresses).

use std::{collections::HashMap, fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use rand::Rng;
use tokio::{sync::broadcast::error::TryRecvError, task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Timestamp},
    leases::Leases,
    log::{Event, EventLog},
    tailer::Tailer,
    webhooks::{Endpoint, Failure, Webhooks},
};

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Anything else: another status (a redirect included), a timeout, a
    /// refused address, a broken connection.
    Failed {
        error: String,
        /// The receiver's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
}

/// Sends one event to one endpoint, once.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    fn send<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;
}

/// The lease's name.
pub const LEASE: &str = "webhooks";
/// How long a lease lasts without renewal: how long the other nodes wait
/// for a holder that stopped without releasing it (killed).
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often the holder renews it, and how often the others ask for it.
const LEASE_RENEW: Duration = Duration::from_millis(750);
/// How often the endpoints are listed again (added and removed by the
/// command line, which wakes nobody).
const REFRESH: Duration = Duration::from_secs(1);
/// The poll behind the tailer's announcements.
const POLL: Duration = Duration::from_secs(1);
/// Events read from the log at a time, per endpoint.
const READ_BATCH: i64 = 500;
/// How far behind the database's cursor may be: a node taking over repeats
/// at most this much.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// The first retry's delay; each next one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest delay between two attempts (unless the receiver asks for
/// more): retries never stop, but slow to one an hour.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long an event may keep failing before the endpoint is marked failing.
pub const FAILING_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before attempt `failures + 1`, jittered by ±20 % so that
/// endpoints failing together do not retry together.
pub fn backoff(failures: u32) -> Duration {
    let doubling = FIRST_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let delay = doubling.min(MAX_BACKOFF);
    delay.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// A name for this process as a lease holder: its process id (for people
/// reading the table) and 64 random bits (for uniqueness).
pub(crate) fn node_name() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill(&mut bytes);
    format!("pid{}-{}", std::process::id(), hex::encode(bytes))
}

/// The delivery loop's parts. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub(crate) webhooks: Webhooks,
    pub(crate) leases: Leases,
    pub(crate) log: EventLog,
    pub(crate) tailer: Tailer,
    pub(crate) clock: Arc<dyn Clock>,
    /// This node's name as a lease holder (random per process).
    pub(crate) node: String,
}

impl Delivery {
    /// Delivers while this node holds the lease, until `stop` is cancelled;
    /// then gives the lease up.
    pub async fn run(self, transport: Arc<dyn Transport>, stop: CancellationToken) {
        loop {
            match self.leases.take(LEASE, &self.node, LEASE_TTL).await {
                Ok(true) => {
                    tracing::info!(node = %self.node, "Delivering webhooks");
                    self.deliver_while_held(&transport, &stop).await;
                    tracing::info!(node = %self.node, "Stopped delivering webhooks");
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = ?e, "Failed to ask for the webhook lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(LEASE_RENEW) => {}
                _ = stop.cancelled() => break,
            }
        }
        if let Err(e) = self.leases.release(LEASE, &self.node).await {
            tracing::warn!(error = ?e, "Failed to release the webhook lease");
        }
    }

    /// Runs a task per endpoint until the lease is lost or `stop`.
    async fn deliver_while_held(&self, transport: &Arc<dyn Transport>, stop: &CancellationToken) {
        let held = stop.child_token();
        let renewer = tokio::spawn(self.clone().renew(held.clone()));
        let mut tasks: HashMap<String, (CancellationToken, JoinHandle<()>)> = HashMap::new();
        while !held.is_cancelled() {
            match self.webhooks.list().await {
                Ok(endpoints) => {
                    tasks.retain(|id, (cancel, task)| {
                        let keep = endpoints.iter().any(|e| &e.id == id) && !task.is_finished();
                        if !keep {
                            cancel.cancel();
                        }
                        keep
                    });
                    for endpoint in endpoints {
                        if tasks.contains_key(&endpoint.id) {
                            continue;
                        }
                        let cancel = held.child_token();
                        let task = tokio::spawn(self.clone().deliver_to(
                            endpoint.clone(),
                            Arc::clone(transport),
                            cancel.clone(),
                        ));
                        tasks.insert(endpoint.id, (cancel, task));
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "Failed to list the webhooks"),
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = held.cancelled() => {}
            }
        }
        for (_, (cancel, task)) in tasks {
            cancel.cancel();
            let _ = task.await;
        }
        renewer.abort();
    }

    /// Renews the lease until it cannot, then cancels `held`.
    async fn renew(self, held: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(LEASE_RENEW) => {}
                _ = held.cancelled() => return,
            }
            match self.leases.take(LEASE, &self.node, LEASE_TTL).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("Another node took the webhook lease");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "Failed to renew the webhook lease");
                    break;
                }
            }
        }
        held.cancel();
    }

    /// Delivers to one endpoint, in order, until `stop`.
    async fn deliver_to(
        self,
        endpoint: Endpoint,
        transport: Arc<dyn Transport>,
        stop: CancellationToken,
    ) {
        let mut wake = self.tailer.subscribe();
        let mut progress = Progress::of(&endpoint);
        while !stop.is_cancelled() {
            let (events, last, _) = match self.log.read_after(progress.cursor, READ_BATCH).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = ?e, webhook = %endpoint.id, "Failed to read the log");
                    if sleep_or_stop(POLL, &stop).await {
                        break;
                    }
                    continue;
                }
            };
            if last == progress.cursor {
                self.flush(&endpoint, &mut progress).await;
                tokio::select! {
                    _ = wake.recv() => {
                        // One read covers every announcement queued so far.
                        while !matches!(wake.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
                    }
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.cancelled() => break,
                }
                continue;
            }
            for event in &events {
                if endpoint.wants(event.kind)
                    && !self
                        .attempt_until_delivered(
                            &endpoint,
                            event,
                            &*transport,
                            &mut progress,
                            &stop,
                        )
                        .await
                {
                    self.flush(&endpoint, &mut progress).await;
                    return;
                }
                progress.cursor = event.seq;
                if progress.flushed.elapsed() >= FLUSH_EVERY {
                    self.flush(&endpoint, &mut progress).await;
                }
            }
            // Rows past the last readable one (unreadable, logged) are passed over.
            progress.cursor = last;
        }
        self.flush(&endpoint, &mut progress).await;
    }

    /// Sends `event` until it is delivered (true) or `stop` (false).
    async fn attempt_until_delivered(
        &self,
        endpoint: &Endpoint,
        event: &Event,
        transport: &dyn Transport,
        progress: &mut Progress,
        stop: &CancellationToken,
    ) -> bool {
        loop {
            let outcome = tokio::select! {
                outcome = transport.send(endpoint, event) => outcome,
                _ = stop.cancelled() => return false,
            };
            let (error, retry_after) = match outcome {
                Outcome::Delivered => {
                    let now = self.clock.now();
                    progress.delivered_at = Some(now);
                    if progress.failure.take().is_some() {
                        // Say at once that it recovered.
                        progress.cursor = event.seq;
                        self.flush(endpoint, progress).await;
                    }
                    return true;
                }
                Outcome::Failed { error, retry_after } => (error, retry_after),
            };
            let now = self.clock.now();
            let failure = progress.failure.get_or_insert(Failure {
                delivered_seq: progress.cursor,
                attempts: 0,
                since: now,
                failing: false,
                error: String::new(),
            });
            failure.delivered_seq = progress.cursor;
            failure.attempts = failure.attempts.saturating_add(1);
            failure.failing = now.since(failure.since) >= FAILING_AFTER;
            failure.error = error;
            tracing::warn!(
                webhook = %endpoint.id, seq = event.seq, attempts = failure.attempts,
                error = %failure.error, "A webhook delivery failed; retrying"
            );
            if let Err(e) = self.webhooks.failed(&endpoint.id, failure).await {
                tracing::warn!(error = ?e, "Failed to record a webhook failure");
            }
            let delay =
                backoff(failure.attempts).max(retry_after.unwrap_or_default().min(MAX_BACKOFF));
            if sleep_or_stop(delay, stop).await {
                return false;
            }
        }
    }

    /// Writes the cursor if it moved.
    async fn flush(&self, endpoint: &Endpoint, progress: &mut Progress) {
        progress.flushed = Instant::now();
        if progress.cursor == progress.persisted || progress.failure.is_some() {
            return;
        }
        match self
            .webhooks
            .advance(&endpoint.id, progress.cursor, progress.delivered_at)
            .await
        {
            Ok(()) => progress.persisted = progress.cursor,
            Err(e) => {
                tracing::warn!(error = ?e, webhook = %endpoint.id, "Failed to save webhook progress")
            }
        }
    }
}

/// One endpoint's delivery, as its task knows it.
#[derive(Debug)]
struct Progress {
    /// Every event up to here is delivered or passed over.
    cursor: i64,
    /// The cursor as the database has it.
    persisted: i64,
    flushed: Instant,
    delivered_at: Option<Timestamp>,
    /// The run of failures at the event after the cursor, if any.
    failure: Option<Failure>,
}

impl Progress {
    fn of(endpoint: &Endpoint) -> Self {
        Progress {
            cursor: endpoint.delivered_seq,
            persisted: endpoint.delivered_seq,
            flushed: Instant::now(),
            delivered_at: None,
            // A failure recorded by the node before carries on: its start
            // still counts towards FAILING_AFTER.
            failure: endpoint.failing_since.map(|since| Failure {
                delivered_seq: endpoint.delivered_seq,
                attempts: endpoint.attempts,
                since,
                failing: endpoint.failing,
                error: endpoint.last_error.clone().unwrap_or_default(),
            }),
        }
    }
}

/// Sleeps for `delay`; true when `stop` came first.
async fn sleep_or_stop(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_the_cap() {
        let within = |failures, expected: Duration| {
            let delay = backoff(failures);
            assert!(
                delay >= expected.mul_f64(0.8) && delay <= expected.mul_f64(1.2),
                "{failures}: {delay:?} vs {expected:?}"
            );
        };
        within(1, Duration::from_millis(500));
        within(2, Duration::from_secs(1));
        within(5, Duration::from_secs(8));
        within(40, MAX_BACKOFF);
        within(u32::MAX, MAX_BACKOFF);
        // The schedule spans more than a day before the failing mark.
        let total: Duration = (1..=40).map(|n| backoff(n).mul_f64(1.0)).sum();
        assert!(total > FAILING_AFTER, "{total:?}");
    }
}
