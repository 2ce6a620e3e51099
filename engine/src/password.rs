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

use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use tokio::sync::OnceCell;

use crate::hash_queue::{Asker, Busy, HashQueue, Lane};

/// How many hashes may wait per one running: with argon2 at tens of
/// milliseconds of a core, a person behind a full queue waits well under a
/// second.
pub const QUEUE_PER_PERMIT: usize = 16;

/// The asker of hashes nobody outside asked for (the dummy hash, an
/// operator's new user): one place in the round-robin like any address.
pub const INTERNAL: Asker = [0xfe; 16];

/// The smallest password length accepted for new passwords, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The largest password, in bytes (new or presented); longer input is
/// refused before it reaches the throttle or argon2.
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

    /// Longer than any password can be ([`MAX_PASSWORD_LEN`] bytes).
    pub fn too_long(&self) -> bool {
        self.0.len() > MAX_PASSWORD_LEN
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
    #[error("the password must be at most {MAX_PASSWORD_LEN} bytes long")]
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
    if password.too_long() {
        Err(WeakPassword::TooLong)
    } else if password.expose().chars().count() < MIN_PASSWORD_LEN {
        Err(WeakPassword::TooShort)
    } else {
        Ok(())
    }
}

/// Why a hash or a verification did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many waiting: come back later (the API's 503).
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Hashes and verifies passwords with a bound on concurrent work.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    /// Where hashes wait for one of the few that run at once (see
    /// `hash_queue`).
    queue: HashQueue,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so "unknown user" takes as long as "wrong password".
    dummy: Arc<OnceCell<String>>,
    /// Argon2 work areas not in use; one is taken per running verification,
    /// so there are never more than permits.
    work_areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    /// A hasher allowing `limit` hashes at once (at least one), with at most
    /// [`QUEUE_PER_PERMIT`] times that many waiting.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        PasswordHasher {
            queue: HashQueue::new(limit, limit * QUEUE_PER_PERMIT),
            dummy: Arc::new(OnceCell::new()),
            work_areas: Arc::default(),
        }
    }

    /// Hashes waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.queue.waiting()
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        self.queue.running()
    }

    /// Hashes a new password into a PHC string, queued as `asker`.
    pub async fn hash(&self, password: &Password, asker: Asker) -> Result<String, HashError> {
        let _slot = self.queue.slot(asker, Lane::Open).await?;
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
        .map_err(HashError::Failed)
    }

    /// Whether `password` matches the stored PHC `hash`, queued as `asker`
    /// in `lane`. With `None` (no such user) it spends the same time on a
    /// dummy hash and answers `false`.
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<&str>,
        (asker, lane): (Asker, Lane),
    ) -> Result<bool, HashError> {
        let (hash, real) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let _slot = self.queue.slot(asker, lane).await?;
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

    async fn dummy_hash(&self) -> Result<String, HashError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut random = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
                self.hash(&Password::new(hex::encode(random)), INTERNAL)
                    .await
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

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher
            .hash(&Password::new("correct horse"), INTERNAL)
            .await
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let verify = |password: &'static str, hash: Option<String>| {
            let hasher = hasher.clone();
            async move {
                hasher
                    .verify(
                        &Password::new(password),
                        hash.as_deref(),
                        (INTERNAL, Lane::Open),
                    )
                    .await
                    .expect("verifies")
            }
        };
        assert!(verify("correct horse", Some(hash.clone())).await);
        assert!(!verify("wrong horse", Some(hash)).await);
        assert!(!verify("correct horse", None).await);
    }

    #[tokio::test]
    async fn no_hash_starts_while_every_slot_is_taken() {
        let hasher = PasswordHasher::new(2);
        // Stand in for two hashes already running: the bound is reached.
        let running = (
            hasher
                .queue
                .slot(INTERNAL, Lane::Open)
                .await
                .expect("a slot"),
            hasher
                .queue
                .slot(INTERNAL, Lane::Open)
                .await
                .expect("a slot"),
        );
        let password = Password::new("correct horse");
        let mut waiting = Box::pin(hasher.hash(&password, [1; 16]));
        // One argon2 hash takes well under a second; two seconds without an
        // answer means the hash is queued behind the slots, not running.
        assert!(
            tokio::time::timeout(Duration::from_secs(2), &mut waiting)
                .await
                .is_err(),
            "a hash ran beyond the bound"
        );
        assert_eq!((hasher.running(), hasher.waiting()), (2, 1));
        drop(running);
        let hash = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the hash runs once a slot is free")
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
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
            .hash(&Password::new("our cost"), INTERNAL)
            .await
            .expect("hashes");
        for _ in 0..2 {
            for (password, hash, right) in [
                ("small cost", &small, true),
                ("our cost", &ours, true),
                ("small cost", &ours, false),
                ("our cost", &small, false),
            ] {
                let verified = hasher
                    .verify(&Password::new(password), Some(hash), (INTERNAL, Lane::Open))
                    .await;
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
        let broken = hasher
            .verify(
                &x,
                Some("$argon2id$v=19$m=8,t=1,p=1$"),
                (INTERNAL, Lane::Open),
            )
            .await;
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
        // The limit is in bytes: 400 four-byte characters are too long.
        assert_eq!(
            check_strength(&Password::new("😀".repeat(400))),
            Err(WeakPassword::TooLong)
        );
        assert_eq!(format!("{:?}", Password::new("secret")), "Password(***)");
    }
}
