//! What the engine reports through the `metrics` facade: every metric's
//! name (the dashboard in `docs/` and the alerts in `docs/DEPLOYMENT.md`
//! use these), their descriptions, and [`Gauges`], which reads the levels
//! (tabs, sessions, queues, pool) when they are scraped rather than on
//! every change.
//!
//! Events are counted where they happen (`change`, `login`, `credentials`,
//! `listener`, `tailer`, and the edge's socket for push latency). Without
//! an installed recorder (the default: `BOUNCER_METRICS_ADDR` unset, the
//! command line, the tests) every call here is a no-op. The engine never
//! installs a recorder or serves anything: the server does.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use tokio::time::Instant;

use crate::{db::Pool, hub::Hub, view::View};

/// Sockets of tabs open on this node (gauge).
pub const TABS_CONNECTED: &str = "bouncer_tabs_connected";
/// Live sessions this node holds in memory: those it has served since it
/// started, not every session in the database (gauge).
pub const LIVE_SESSIONS: &str = "bouncer_live_sessions";
/// Sessions ended by transactions this node committed, by `reason`. The
/// command line's endings are counted by nobody (counter).
pub const SESSIONS_ENDED: &str = "bouncer_sessions_ended_total";
/// From an ending's timestamp (taken as its transaction starts, a few
/// statements before the commit, on whichever node) to its frame written to
/// a tab's socket here, one sample per tab; millisecond resolution, and
/// across nodes only as good as their clocks' agreement (histogram).
pub const PUSH_LATENCY: &str = "bouncer_push_latency_seconds";
/// From an event's timestamp to this node's tailer applying it, one sample
/// per read of the log, for the oldest event read (histogram).
pub const TAILER_LAG: &str = "bouncer_tailer_lag_seconds";
/// How long ago the tailer last read the log successfully; it reads at
/// least every 250 ms, so more than a second means it is stuck (gauge).
pub const TAILER_LAST_READ: &str = "bouncer_tailer_last_read_age_seconds";
/// 1 while the PostgreSQL `LISTEN` connection is up, else 0; absent on
/// SQLite (gauge).
pub const LISTENER_UP: &str = "bouncer_listener_up";
/// Times the `LISTEN` connection was lost and made again (counter).
pub const LISTENER_RECONNECTS: &str = "bouncer_listener_reconnects_total";
/// Sign-ins by `outcome`: `signed_in`, `invalid_credentials`,
/// `account_disabled`, `throttled`, `limit_reached`, `too_long`, `busy`
/// (the password queue was full), `error` (counter).
pub const LOGINS: &str = "bouncer_logins_total";
/// Password checks refused by the throttle before any hashing: sign-ins,
/// password changes and re-authentications (counter).
pub const THROTTLED: &str = "bouncer_throttled_attempts_total";
/// Password hashes waiting for a permit (gauge).
pub const HASH_QUEUE: &str = "bouncer_password_hash_queue";
/// Password hashes running now, at most one per core (gauge).
pub const HASHES_RUNNING: &str = "bouncer_password_hashes_running";
/// Database connections of this node's pool, by `state`: `idle` or
/// `in_use` (gauge).
pub const POOL_CONNECTIONS: &str = "bouncer_db_pool_connections";
/// The most connections the pool opens (gauge).
pub const POOL_MAX: &str = "bouncer_db_pool_max_connections";

/// Every metric above, for the checks that the dashboard and the guide name
/// only these.
pub const ALL: &[&str] = &[
    TABS_CONNECTED,
    LIVE_SESSIONS,
    SESSIONS_ENDED,
    PUSH_LATENCY,
    TAILER_LAG,
    TAILER_LAST_READ,
    LISTENER_UP,
    LISTENER_RECONNECTS,
    LOGINS,
    THROTTLED,
    HASH_QUEUE,
    HASHES_RUNNING,
    POOL_CONNECTIONS,
    POOL_MAX,
];

/// The hook for webhook deliveries (issue 19): the deliverer sets this gauge
/// to the number of deliveries waiting (`metrics::gauge!(WEBHOOK_BACKLOG)`)
/// and describes it in [`describe`]. Nothing else sets it, and the dashboard
/// gets its panel with the deliverer.
pub const WEBHOOK_BACKLOG: &str = "bouncer_webhook_backlog";

/// The histograms' bucket bounds, in seconds: a push is expected within
/// milliseconds (BENCHMARKS.md rows 1 and 6), the alerts look at 100 ms and
/// a second.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Registers every metric's description and unit with the installed
/// recorder (the exporter's `# HELP` lines).
pub fn describe() {
    describe_gauge!(
        TABS_CONNECTED,
        Unit::Count,
        "Sockets of tabs open on this node."
    );
    describe_gauge!(
        LIVE_SESSIONS,
        Unit::Count,
        "Live sessions this node holds in memory."
    );
    describe_counter!(
        SESSIONS_ENDED,
        Unit::Count,
        "Sessions ended by transactions this node committed, by reason."
    );
    describe_histogram!(
        PUSH_LATENCY,
        Unit::Seconds,
        "From an ending's timestamp to its frame written to a tab's socket here."
    );
    describe_histogram!(
        TAILER_LAG,
        Unit::Seconds,
        "From an event's timestamp to this node applying it (oldest of each read)."
    );
    describe_gauge!(
        TAILER_LAST_READ,
        Unit::Seconds,
        "How long ago the tailer last read the event log."
    );
    describe_gauge!(
        LISTENER_UP,
        Unit::Count,
        "1 while the PostgreSQL LISTEN connection is up."
    );
    describe_counter!(
        LISTENER_RECONNECTS,
        Unit::Count,
        "Times the LISTEN connection was lost and made again."
    );
    describe_counter!(LOGINS, Unit::Count, "Sign-ins by outcome.");
    describe_counter!(
        THROTTLED,
        Unit::Count,
        "Password checks refused by the throttle."
    );
    describe_gauge!(
        HASH_QUEUE,
        Unit::Count,
        "Password hashes waiting for a permit."
    );
    describe_gauge!(HASHES_RUNNING, Unit::Count, "Password hashes running.");
    describe_gauge!(
        POOL_CONNECTIONS,
        Unit::Count,
        "Database connections of the pool, by state."
    );
    describe_gauge!(
        POOL_MAX,
        Unit::Count,
        "The most connections the pool opens."
    );
}

/// A duration as a histogram sample, in seconds.
pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Whether the node's `LISTEN` connection is up, shared by the listener
/// (which sets it) and the readiness check. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ListenerState(Arc<AtomicBool>);

impl ListenerState {
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// When the tailer last read the log, shared by the tailer and [`Gauges`].
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct LastRead {
    since: Instant,
    /// Milliseconds after `since` of the last successful read.
    at: Arc<AtomicU64>,
}

impl Default for LastRead {
    fn default() -> Self {
        LastRead {
            since: Instant::now(),
            at: Arc::default(),
        }
    }
}

impl LastRead {
    /// Records a successful read now.
    pub fn now(&self) {
        let elapsed = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at.store(elapsed, Ordering::Relaxed);
    }

    /// How long ago the last successful read was (since the start if none).
    pub fn age(&self) -> Duration {
        let at = Duration::from_millis(self.at.load(Ordering::Relaxed));
        self.since.elapsed().saturating_sub(at)
    }
}

/// The levels read at each scrape.
#[derive(Debug, Clone)]
pub struct Gauges {
    pub(crate) hub: Hub,
    pub(crate) view: View,
    pub(crate) pool: Pool,
    /// `None` on SQLite, where there is no `LISTEN` connection.
    pub(crate) listener: Option<ListenerState>,
    pub(crate) last_read: LastRead,
    pub(crate) hashes: crate::password::PasswordHasher,
}

impl Gauges {
    /// Sets every gauge to its level now.
    pub fn record(&self) {
        gauge!(TABS_CONNECTED).set(self.hub.open_sockets() as f64);
        gauge!(LIVE_SESSIONS).set(self.view.live_count() as f64);
        gauge!(TAILER_LAST_READ).set(seconds(self.last_read.age()));
        if let Some(listener) = &self.listener {
            gauge!(LISTENER_UP).set(if listener.is_up() { 1.0 } else { 0.0 });
        }
        gauge!(HASH_QUEUE).set(self.hashes.waiting() as f64);
        gauge!(HASHES_RUNNING).set(self.hashes.running() as f64);
        let size = self.pool.size() as f64;
        let idle = self.pool.num_idle() as f64;
        gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle);
        gauge!(POOL_CONNECTIONS, "state" => "in_use").set((size - idle).max(0.0));
        gauge!(POOL_MAX).set(f64::from(self.pool.options().get_max_connections()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_last_read_ages_until_the_next() {
        let last = LastRead::default();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(last.age(), Duration::from_secs(3));
        last.now();
        assert_eq!(last.age(), Duration::ZERO);
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(last.age(), Duration::from_millis(400));
    }
}
