//! Password hashing: argon2id with OWASP's parameters, off the async runtime.
//!
//! Hashing is deliberately slow and memory-hungry (19 MiB each), so it runs in
//! `spawn_blocking` and at most `limit` hashes run at once: a login flood
//! queues instead of exhausting memory or starving the runtime.
//!
//! Verification (every login) reuses one argon2 work area per permit instead
//! of allocating 19 MiB each time. Freed, those areas would not go back to
//! the system: glibc raises its mmap threshold after the first one, so later
//! ones land in the heaps of whichever threads ran them, and a flood left the
//! process hundreds of MB larger (BENCHMARKS.md, login flood). Reused, the
//! memory is at most `limit` areas, whatever the flood.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use std::sync::Mutex;

use tokio::sync::{OnceCell, Semaphore};

/// The smallest password length accepted for new passwords.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The largest; longer input is refused before it reaches argon2.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A password as typed. Never printed: its `Debug` is redacted.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(raw: impl Into<String>) -> Self {
        Password(raw.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_LEN} characters long")]
    TooLong,
}

impl WeakPassword {
    /// The sentence a person reads.
    pub fn user_message(&self) -> String {
        format!("Choose another password: {self}.")
    }
}

/// Checks the rules for a new password (length only, as NIST SP 800-63B advises).
pub fn check_strength(password: &Password) -> Result<(), WeakPassword> {
    let len = password.expose().chars().count();
    if len < MIN_PASSWORD_LEN {
        Err(WeakPassword::TooShort)
    } else if len > MAX_PASSWORD_LEN {
        Err(WeakPassword::TooLong)
    } else {
        Ok(())
    }
}

/// Password hashes waiting for a permit, counted by the hasher.
#[derive(Debug, Clone, Default)]
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    /// Counts one waiter until the guard drops (the permit came, or the
    /// wait was abandoned).
    fn enter(&self) -> WaitingGuard<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(&self.0)
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// See [`Waiting::enter`].
#[derive(Debug)]
struct WaitingGuard<'a>(&'a AtomicUsize);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hashes and verifies passwords with a bound on concurrent work.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    /// One permit per hash allowed to run at once.
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so "unknown user" takes as long as "wrong password".
    dummy: Arc<OnceCell<String>>,
    /// Argon2 work areas not in use; one is taken per running verification,
    /// so there are never more than permits.
    work_areas: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Hashes waiting for a permit (the metrics' queue depth).
    waiting: Waiting,
    /// The number of permits, to tell how many are in use.
    limit: usize,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    /// A hasher allowing `limit` hashes at once (at least one).
    pub fn new(limit: usize) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            dummy: Arc::new(OnceCell::new()),
            work_areas: Arc::default(),
            waiting: Waiting::default(),
            limit: limit.max(1),
        }
    }

    /// Hashes waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.waiting.count()
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    /// A permit to hash, counted as waiting until it comes.
    async fn permit(&self) -> anyhow::Result<tokio::sync::SemaphorePermit<'_>> {
        let _waiting = self.waiting.enter();
        self.permits
            .acquire()
            .await
            .context("Failed to acquire a hashing permit")
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.permit().await?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("Failed to hash a password: {e}"))
        })
        .await
        .context("The password hashing task failed")?
    }

    /// Whether `password` matches the stored PHC `hash`. With `None` (no such
    /// user) it spends the same time on a dummy hash and answers `false`.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> anyhow::Result<bool> {
        let (hash, real) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let _permit = self.permit().await?;
        let password = password.clone();
        let work_areas = Arc::clone(&self.work_areas);
        let matches = tokio::task::spawn_blocking(move || {
            let mut area = lock(&work_areas).pop().unwrap_or_default();
            let matches = verify_in(&password, &hash, &mut area);
            lock(&work_areas).push(area);
            matches
        })
        .await
        .context("The password verification task failed")??;
        Ok(real && matches)
    }

    async fn dummy_hash(&self) -> anyhow::Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let mut random = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
                self.hash(&Password::new(hex::encode(random))).await
            })
            .await
            .cloned()
    }
}

/// Verifies `password` against the PHC string `hash`, computing in `area`
/// (grown to the hash's memory cost if it is smaller). The comparison is
/// constant-time (`Output`'s equality).
fn verify_in(password: &Password, hash: &str, area: &mut Vec<Block>) -> anyhow::Result<bool> {
    let invalid = |e: argon2::password_hash::Error| {
        anyhow::anyhow!("Failed to read a stored password hash: {e}")
    };
    let parsed = PasswordHash::new(hash).map_err(invalid)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(invalid)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(invalid)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("A stored password hash lacks its salt or output");
    };
    let mut salt_bytes = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(invalid)?;
    if area.len() < params.block_count() {
        area.resize(params.block_count(), Block::default());
    }
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut output,
            &mut area[..],
        )
        .map_err(|e| anyhow::anyhow!("Failed to verify a password: {e}"))?;
    let computed = argon2::password_hash::Output::new(&output).map_err(invalid)?;
    Ok(computed == expected)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A list of buffers stays usable whatever panicked while holding it.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_waiter_counts_until_its_guard_drops() {
        let waiting = Waiting::default();
        let first = waiting.enter();
        let second = waiting.enter();
        assert_eq!(waiting.count(), 2);
        drop(first);
        assert_eq!(waiting.count(), 1);
        drop(second);
        assert_eq!(waiting.count(), 0);
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher
            .hash(&Password::new("correct horse"))
            .await
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher
            .verify(&Password::new("correct horse"), Some(&hash))
            .await
            .expect("verifies"));
        assert!(!hasher
            .verify(&Password::new("wrong horse"), Some(&hash))
            .await
            .expect("verifies"));
        assert!(!hasher
            .verify(&Password::new("correct horse"), None)
            .await
            .expect("verifies"));
    }

    #[tokio::test]
    async fn no_hash_starts_while_every_permit_is_taken() {
        let hasher = PasswordHasher::new(2);
        // Stand in for two hashes already running: the bound is reached.
        let running = Arc::clone(&hasher.permits)
            .acquire_many_owned(2)
            .await
            .expect("the semaphore is open");
        let password = Password::new("correct horse");
        let mut waiting = Box::pin(hasher.hash(&password));
        // One argon2 hash takes well under a second; two seconds without an
        // answer means the hash is queued behind the permits, not running.
        assert!(
            tokio::time::timeout(Duration::from_secs(2), &mut waiting)
                .await
                .is_err(),
            "a hash ran beyond the bound"
        );
        drop(running);
        let hash = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the hash runs once a permit is free")
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            PasswordHasher::new(0).permits.available_permits(),
            1,
            "a zero bound still lets one hash run"
        );
    }

    #[tokio::test]
    async fn verification_reuses_its_work_area_for_any_stored_parameters() {
        let hasher = PasswordHasher::new(1);
        // A hash made elsewhere with other costs (an older setting, say).
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(4 * 1024, 1, 1, Some(24)).expect("valid params");
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"small cost", &salt)
            .expect("hashes")
            .to_string();
        let ours = hasher
            .hash(&Password::new("our cost"))
            .await
            .expect("hashes");
        for _ in 0..2 {
            for (password, hash, right) in [
                ("small cost", &small, true),
                ("our cost", &ours, true),
                ("small cost", &ours, false),
                ("our cost", &small, false),
            ] {
                let verified = hasher.verify(&Password::new(password), Some(hash)).await;
                assert_eq!(
                    verified.expect("verifies"),
                    right,
                    "{password} against {hash}"
                );
            }
        }
        // One permit, so one area, grown to the largest cost seen.
        let areas: Vec<usize> = lock(&hasher.work_areas).iter().map(Vec::len).collect();
        assert_eq!(areas, [19 * 1024]);
        let x = Password::new("x");
        let broken = hasher.verify(&x, Some("$argon2id$v=19$m=8,t=1,p=1$")).await;
        assert!(
            broken.is_err(),
            "a damaged stored hash is an error, not a match"
        );
    }

    #[test]
    fn strength_is_about_length() {
        assert_eq!(
            check_strength(&Password::new("short")),
            Err(WeakPassword::TooShort)
        );
        assert_eq!(check_strength(&Password::new("long enough")), Ok(()));
        assert_eq!(
            check_strength(&Password::new("x".repeat(2000))),
            Err(WeakPassword::TooLong)
        );
        assert_eq!(format!("{:?}", Password::new("secret")), "Password(***)");
    }
}
