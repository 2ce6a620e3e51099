//! Time, as the engine sees it.
//!
//! Every deadline (idle, absolute, throttles) is computed from a [`Clock`], so
//! tests can move time forward instead of sleeping for minutes. The engine never
//! calls `SystemTime::now()` itself.

use std::{
    fmt,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::sync::watch;

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Stored as a plain integer in both databases so the same SQL works everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `duration`, saturating instead of overflowing.
    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }

    /// This time minus `duration`, saturating instead of overflowing.
    pub fn minus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(millis))
    }

    /// How long after `earlier` this is; zero when it is not later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// RFC 3339 in UTC to the second, the API's timestamp format.
    pub fn to_rfc3339(self) -> String {
        let seconds = self.0.div_euclid(1000);
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    /// The same instant as an `OffsetDateTime` (for cookie expiry).
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where the engine gets "now" from.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;

    /// A receiver that changes whenever this clock jumps instead of flowing
    /// (a manual clock moved by a test), so whatever sleeps until a deadline
    /// wakes and looks again; `None` for the wall clock, whose time passes
    /// with the sleeps themselves.
    fn jumps(&self) -> Option<watch::Receiver<()>> {
        None
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// A clock that only moves when told to: for tests of timeouts and throttles.
///
/// Clones share the same time, so a test keeps one handle and gives another to
/// the server it starts.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
    /// Told of every [`ManualClock::advance`] (see [`Clock::jumps`]).
    jumped: Arc<watch::Sender<()>>,
}

impl ManualClock {
    /// A manual clock starting at the wall clock's current time.
    pub fn starting_now() -> Self {
        ManualClock {
            millis: Arc::new(AtomicI64::new(SystemClock.now().as_millis())),
            jumped: Arc::new(watch::channel(()).0),
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(millis, Ordering::SeqCst);
        self.jumped.send_replace(());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }

    fn jumps(&self) -> Option<watch::Receiver<()>> {
        Some(self.jumped.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_to_the_second() {
        let at = Timestamp::from_millis(1_795_289_896_789);
        assert_eq!(at.to_rfc3339(), "2026-11-21T19:38:16Z");
    }

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::starting_now();
        let other = clock.clone();
        let before = clock.now();
        other.advance(Duration::from_secs(90));
        assert_eq!(clock.now().since(before), Duration::from_secs(90));
        assert_eq!(before.since(clock.now()), Duration::ZERO);
    }
}
