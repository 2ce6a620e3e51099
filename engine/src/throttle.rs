//! The password-guessing throttle, shared by sign-in, re-authentication and
//! password changes.
//!
//! An attempt is counted when it *starts*, not when its hash finishes: a
//! check takes an [`Attempt`] before any hashing, and the attempt counts as a
//! failure until it proves otherwise. So a burst of concurrent guesses gets
//! no further than the limits allow, however many arrive at once. Limits:
//!
//! - per account and address: a few failures per window, then that address
//!   waits for the window (the attacker's own address, never the owner's);
//! - per address, all accounts together: against password spraying;
//! - per account, all addresses together: after a few free failures, each
//!   further attempt from an address that has not signed in to the account
//!   before waits a delay that doubles with every failure — a slowdown for a
//!   distributed attacker that the owner, signing in from a known address,
//!   never meets, so it cannot be turned into a lockout;
//! - checks in flight at once, per address and per account.
//!
//! Keys are bounded: an account is the hash of its normalised name (a 2 MB
//! username costs 16 bytes here), an address its IPv4 or its IPv6 /64. The
//! state lives in caches with a capacity and an idle expiry (`moka`), so
//! memory stays bounded whatever is thrown at it; counts are per node, which
//! bounds guessing per node: what matters for the argon2 cost and the
//! accounts.

use std::{
    collections::VecDeque,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::{clock::Timestamp, sync::lock, users::Username};

/// The throttle's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures allowed per (account, address) within `window`.
    pub per_account_address: usize,
    /// Failures allowed per address, all accounts together, within `window`.
    pub per_address: usize,
    /// Failures per account, all addresses together, before the growing
    /// delay applies to addresses that have not signed in to it.
    pub per_account_free: usize,
    /// The first such delay; it doubles with each further failure.
    pub first_delay: Duration,
    /// The longest such delay.
    pub max_delay: Duration,
    /// Password checks in flight at once from one address.
    pub in_flight_per_address: usize,
    /// Password checks in flight at once for one account (from addresses
    /// that have not signed in to it).
    pub in_flight_per_account: usize,
    /// How far back failures count.
    pub window: Duration,
    /// How long an address that signed in to an account stays known to it.
    pub known_for: Duration,
    /// Keys kept per kind (accounts, addresses, pairs); the least recently
    /// used go first.
    pub capacity: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account_address: 5,
            per_address: 50,
            per_account_free: 10,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5 * 60),
            // Several people behind one address (an office, a NAT) may sign
            // in at the same moment; a flood beyond this waits a second.
            in_flight_per_address: 8,
            in_flight_per_account: 4,
            window: Duration::from_secs(15 * 60),
            known_for: Duration::from_secs(30 * 24 * 60 * 60),
            capacity: 100_000,
        }
    }
}

/// An account, by the hash of its normalised name.
type AccountKey = [u8; 16];

/// An address: the IPv4 address, or the IPv6 /64 (one host's share).
type AddressKey = [u8; 16];

/// The failures and checks in flight of one key.
#[derive(Debug, Default)]
struct Count {
    failures: VecDeque<Timestamp>,
    in_flight: usize,
    /// When the last check of an unknown address started (accounts only).
    last_start: Option<Timestamp>,
}

impl Count {
    /// Forgets failures a whole window old or older.
    fn prune(&mut self, since: Timestamp) {
        while self.failures.front().is_some_and(|t| *t <= since) {
            self.failures.pop_front();
        }
    }

    /// Failures in the window plus checks still in flight (counted as
    /// failures until they prove otherwise).
    fn pending(&self) -> usize {
        self.failures.len() + self.in_flight
    }

    /// How long until fewer than `allowed` remain in the window (at `now`).
    fn wait(&self, allowed: usize, window: Duration, now: Timestamp) -> Option<Duration> {
        if self.pending() < allowed {
            return None;
        }
        // In-flight checks end soon; otherwise the oldest failures must age out.
        let excess = self.pending() + 1 - allowed;
        let freeing = self
            .failures
            .get(excess.saturating_sub(1))
            .map_or(Duration::from_secs(1), |at| at.plus(window).since(now));
        Some(freeing.max(Duration::from_secs(1)))
    }
}

type Counts<K> = Cache<K, Arc<Mutex<Count>>>;

/// The throttle. Cheap to share (behind an `Arc`).
#[derive(Debug)]
pub struct LoginThrottle {
    limits: Limits,
    accounts: Counts<AccountKey>,
    addresses: Counts<AddressKey>,
    pairs: Counts<(AccountKey, AddressKey)>,
    /// Addresses that signed in to an account, and when.
    known: Cache<(AccountKey, AddressKey), Timestamp>,
}

fn counts<K>(limits: &Limits, idle: Duration) -> Counts<K>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(limits.capacity)
        .time_to_idle(idle)
        .build()
}

/// The bounded key of an account: the first 16 bytes of the SHA-256 of its
/// normalised name, so `Alice`, `alice` and a look-alike count together.
fn account_key(username: &str) -> AccountKey {
    let digest = Sha256::digest(Username::key_of(username).as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The bounded key of an address: an IPv6 host has a /64 to move around in,
/// so that is what counts; anything unparsable counts as one address. Also
/// the asker the password queue serves round-robin.
pub fn address_key(ip: &str) -> AddressKey {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut network = v6.octets();
                network[8..].fill(0);
                network
            }
        },
        Err(_) => [0xff; 16],
    }
}

/// A password check in progress: counted as a failure of its account and
/// address until [`Attempt::succeeded`] says otherwise. Dropped without an
/// outcome (the check could not run), it counts for nothing.
#[derive(Debug)]
pub struct Attempt {
    account: Arc<Mutex<Count>>,
    address: Arc<Mutex<Count>>,
    pair: Arc<Mutex<Count>>,
    /// Whether the account's in-flight count includes this attempt.
    counted_on_account: bool,
    keys: (AccountKey, AddressKey),
    known: Cache<(AccountKey, AddressKey), Timestamp>,
    done: bool,
}

impl Attempt {
    /// Whether the address signed in to the account before (within
    /// `known_for`): the owner at home, as far as the throttle can tell.
    pub fn known(&self) -> bool {
        !self.counted_on_account
    }

    /// The password was wrong (or the account does not exist): a failure
    /// of the address, the pair and the account alike.
    pub fn failed(mut self, now: Timestamp) {
        self.finish(Some(now));
    }

    /// The password was right: this address's failures for the account are
    /// forgiven and the address becomes known to the account.
    pub fn succeeded(mut self, now: Timestamp) {
        self.finish(None);
        lock(&self.pair).failures.clear();
        self.known.insert(self.keys, now);
    }

    /// Leaves the in-flight counts, recording a failure at `failed_at`.
    fn finish(&mut self, failed_at: Option<Timestamp>) {
        if self.done {
            return;
        }
        self.done = true;
        for (count, in_flight) in [
            (&self.address, true),
            (&self.pair, true),
            (&self.account, self.counted_on_account),
        ] {
            let mut count = lock(count);
            if in_flight {
                count.in_flight = count.in_flight.saturating_sub(1);
            }
            if let Some(at) = failed_at {
                count.failures.push_back(at);
            }
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        // The check could not run: it counts for nothing.
        self.finish(None);
    }
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        LoginThrottle {
            accounts: counts(&limits, limits.window),
            addresses: counts(&limits, limits.window),
            pairs: counts(&limits, limits.window),
            known: Cache::builder()
                .max_capacity(limits.capacity)
                .time_to_live(limits.known_for)
                .build(),
            limits,
        }
    }

    /// Starts a password check for `username` from `ip` at `now`, or says
    /// how long to wait first. The check counts from now on.
    pub fn begin(&self, username: &str, ip: &str, now: Timestamp) -> Result<Attempt, Duration> {
        let limits = &self.limits;
        let keys = (account_key(username), address_key(ip));
        let account = self.accounts.get_with(keys.0, Arc::default);
        let address = self.addresses.get_with(keys.1, Arc::default);
        let pair = self.pairs.get_with(keys, Arc::default);
        let known = self
            .known
            .get(&keys)
            .is_some_and(|at| now.since(at) < limits.known_for);
        let since = now.minus(limits.window);
        // One lock order everywhere (address, pair, account): no deadlock.
        let mut address_count = lock(&address);
        let mut pair_count = lock(&pair);
        let mut account_count = lock(&account);
        for count in [&mut *address_count, &mut *pair_count, &mut *account_count] {
            count.prune(since);
        }
        let mut waits = vec![
            pair_count.wait(limits.per_account_address, limits.window, now),
            address_count.wait(limits.per_address, limits.window, now),
            (address_count.in_flight >= limits.in_flight_per_address)
                .then_some(Duration::from_secs(1)),
        ];
        if !known {
            waits.push(
                (account_count.in_flight >= limits.in_flight_per_account)
                    .then_some(Duration::from_secs(1)),
            );
            waits.push(self.account_delay(&account_count, now));
        }
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(wait);
        }
        address_count.in_flight += 1;
        pair_count.in_flight += 1;
        if !known {
            account_count.in_flight += 1;
            account_count.last_start = Some(now);
        }
        drop((address_count, pair_count, account_count));
        Ok(Attempt {
            account,
            address,
            pair,
            counted_on_account: !known,
            keys,
            known: self.known.clone(),
            done: false,
        })
    }

    /// The growing delay an unknown address waits once the account's free
    /// failures are spent: `first_delay`, doubled per further failure (and
    /// per check in flight), capped at `max_delay`, from the last start.
    fn account_delay(&self, account: &Count, now: Timestamp) -> Option<Duration> {
        let limits = &self.limits;
        let over = account.pending().checked_sub(limits.per_account_free)?;
        let doublings = u32::try_from(over).unwrap_or(u32::MAX).min(20);
        let delay = limits
            .first_delay
            .saturating_mul(1 << doublings)
            .min(limits.max_delay);
        let ready = account.last_start.unwrap_or(now).plus(delay);
        (ready > now).then(|| ready.since(now).max(Duration::from_secs(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    fn fail(throttle: &LoginThrottle, user: &str, ip: &str, now: Timestamp) {
        throttle.begin(user, ip, now).expect("allowed").failed(now);
    }

    #[test]
    fn five_failures_lock_that_account_from_that_address_only() {
        let throttle = LoginThrottle::new(Limits::default());
        for n in 0..5 {
            fail(&throttle, "Alice", "10.0.0.1", at(n));
        }
        let wait = throttle
            .begin("alice", "10.0.0.1", at(10))
            .expect_err("throttled");
        assert_eq!(wait, Duration::from_secs(15 * 60 - 10));
        assert!(
            throttle.begin("alice", "10.0.0.2", at(10)).is_ok(),
            "another address is not locked"
        );
        assert!(
            throttle.begin("bob", "10.0.0.1", at(10)).is_ok(),
            "another account is not locked"
        );
        assert!(
            throttle.begin("alice", "10.0.0.1", at(15 * 60 + 1)).is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn concurrent_attempts_count_before_their_result() {
        let throttle = LoginThrottle::new(Limits {
            in_flight_per_address: 100,
            in_flight_per_account: 100,
            ..Limits::default()
        });
        // Five checks start at once; none has finished: the sixth waits.
        let pending: Vec<Attempt> = (0..5)
            .map(|_| throttle.begin("alice", "10.0.0.1", at(0)).expect("allowed"))
            .collect();
        assert!(throttle.begin("alice", "10.0.0.1", at(0)).is_err());
        // A check that could not run (dropped) frees its place.
        drop(pending);
        assert!(throttle.begin("alice", "10.0.0.1", at(0)).is_ok());
    }

    #[test]
    fn checks_in_flight_are_bounded_per_address_and_per_account() {
        let throttle = LoginThrottle::new(Limits {
            in_flight_per_address: 2,
            in_flight_per_account: 2,
            ..Limits::default()
        });
        let _a = throttle.begin("alice", "10.0.0.1", at(0)).expect("allowed");
        let _b = throttle.begin("bob", "10.0.0.1", at(0)).expect("allowed");
        assert!(
            throttle.begin("carol", "10.0.0.1", at(0)).is_err(),
            "per address"
        );
        let _c = throttle.begin("alice", "10.0.0.2", at(0)).expect("allowed");
        assert!(
            throttle.begin("alice", "10.0.0.3", at(0)).is_err(),
            "per account"
        );
    }

    #[test]
    fn many_addresses_against_one_account_meet_a_growing_delay_the_owner_does_not() {
        let throttle = LoginThrottle::new(Limits::default());
        // The owner signed in from home once.
        throttle
            .begin("alice", "198.51.100.7", at(0))
            .expect("allowed")
            .succeeded(at(0));
        // Ten free failures from ten addresses.
        for n in 0..10 {
            fail(&throttle, "alice", &format!("10.0.1.{n}"), at(1));
        }
        let wait = throttle
            .begin("alice", "10.0.2.1", at(1))
            .expect_err("an eleventh stranger waits");
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        // After the delay one more guess; then the delay doubles.
        fail(&throttle, "alice", "10.0.2.1", at(3));
        let wait = throttle
            .begin("alice", "10.0.2.2", at(3))
            .expect_err("the next waits twice as long");
        assert_eq!(wait, Duration::from_secs(2));
        // The owner is never slowed down by strangers.
        assert!(throttle.begin("alice", "198.51.100.7", at(3)).is_ok());
    }

    #[test]
    fn spraying_many_accounts_from_one_address_is_throttled() {
        let throttle = LoginThrottle::new(Limits {
            per_address: 10,
            ..Limits::default()
        });
        for n in 0..10 {
            fail(&throttle, &format!("user{n}"), "10.0.0.9", at(n));
        }
        assert!(throttle.begin("someone-new", "10.0.0.9", at(11)).is_err());
        assert!(throttle.begin("someone-new", "10.0.0.8", at(11)).is_ok());
    }

    #[test]
    fn success_clears_that_addresss_failures_for_the_account() {
        let throttle = LoginThrottle::new(Limits::default());
        for n in 0..4 {
            fail(&throttle, "alice", "10.0.0.1", at(n));
        }
        throttle
            .begin("alice", "10.0.0.1", at(5))
            .expect("allowed")
            .succeeded(at(5));
        fail(&throttle, "alice", "10.0.0.1", at(6));
        assert!(throttle.begin("alice", "10.0.0.1", at(7)).is_ok());
    }

    #[test]
    fn keys_are_bounded_whatever_the_input() {
        let huge = "x".repeat(2 * 1024 * 1024);
        assert_eq!(account_key(&huge).len(), 16);
        assert_eq!(account_key("Alice"), account_key("alice"));
        // An IPv6 host's whole /64 is one address; IPv4 stays itself.
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:10.0.0.1"), address_key("10.0.0.1"));
    }
}
