//! Login throttling: repeated failures for one username from one address, or
//! many failures from one address across usernames, are refused for a while
//! with the time to wait.
//!
//! Keys are (username, IP) — so an attacker elsewhere cannot lock the real
//! person out of their own device — and the IP alone, against password
//! spraying. Counts live in memory on each node; that bounds guessing per
//! node, which is what matters for the argon2 cost and the accounts.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use crate::clock::Timestamp;

/// The throttle's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures allowed per (username, IP) within `window`.
    pub per_account: usize,
    /// Failures allowed per IP, all usernames together, within `window`.
    pub per_address: usize,
    /// How far back failures count.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Bounds memory: past this many keys the oldest-looking ones are dropped.
const MAX_KEYS: usize = 100_000;

/// Failure counts per key.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: Limits,
    failures: Mutex<HashMap<String, VecDeque<Timestamp>>>,
}

fn account_key(username: &str, ip: &str) -> String {
    format!("u:{}|{ip}", username.trim().to_lowercase())
}

fn address_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        LoginThrottle {
            limits,
            failures: Mutex::default(),
        }
    }

    /// `Err(wait)` when a login for `username` from `ip` must be refused now.
    pub fn check(&self, username: &str, ip: &str, now: Timestamp) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let since = now.minus(self.limits.window);
        let mut wait = Duration::ZERO;
        for (key, allowed) in [
            (account_key(username, ip), self.limits.per_account),
            (address_key(ip), self.limits.per_address),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| *t < since) {
                    times.pop_front();
                }
                if times.len() >= allowed {
                    // Wait until enough old failures leave the window.
                    let freeing = times[times.len() - allowed];
                    wait = wait.max(freeing.plus(self.limits.window).since(now));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    /// Records a failed login.
    pub fn record_failure(&self, username: &str, ip: &str, now: Timestamp) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS {
            let since = now.minus(self.limits.window);
            failures.retain(|_, times| times.back().is_some_and(|t| *t >= since));
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for key in [account_key(username, ip), address_key(ip)] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears that account's failures from that address.
    pub fn record_success(&self, username: &str, ip: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&account_key(username, ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn five_failures_lock_that_account_from_that_address_only() {
        let throttle = LoginThrottle::new(Limits::default());
        for n in 0..5 {
            assert!(throttle.check("alice", "10.0.0.1", at(n)).is_ok());
            throttle.record_failure("Alice", "10.0.0.1", at(n));
        }
        let wait = throttle
            .check("alice", "10.0.0.1", at(10))
            .expect_err("throttled");
        assert_eq!(wait, Duration::from_secs(15 * 60 - 10));
        assert!(
            throttle.check("alice", "10.0.0.2", at(10)).is_ok(),
            "another address is not locked"
        );
        assert!(
            throttle.check("bob", "10.0.0.1", at(10)).is_ok(),
            "another account is not locked"
        );
        assert!(
            throttle.check("alice", "10.0.0.1", at(15 * 60 + 1)).is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn spraying_many_accounts_from_one_address_is_throttled() {
        let throttle = LoginThrottle::new(Limits {
            per_account: 5,
            per_address: 10,
            window: Duration::from_secs(60),
        });
        for n in 0..10 {
            throttle.record_failure(&format!("user{n}"), "10.0.0.9", at(0));
        }
        assert!(throttle.check("someone-new", "10.0.0.9", at(1)).is_err());
        assert!(throttle.check("someone-new", "10.0.0.8", at(1)).is_ok());
    }

    #[test]
    fn success_clears_the_account_failures() {
        let throttle = LoginThrottle::new(Limits::default());
        for n in 0..4 {
            throttle.record_failure("alice", "10.0.0.1", at(n));
        }
        throttle.record_success("alice", "10.0.0.1");
        throttle.record_failure("alice", "10.0.0.1", at(5));
        assert!(throttle.check("alice", "10.0.0.1", at(6)).is_ok());
    }
}
