//! Checking passwords: a sign-in's username and password, and a signed-in
//! person's own password proved again (re-authentication, a password change).
//! Both go through the same throttle, so a stolen session cannot be used to
//! guess the password any faster than the login form allows.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    hash_queue::Lane,
    password::{HashError, Password, PasswordHasher},
    throttle::{address_key, LoginThrottle},
    users::{UserRecord, Users, MAX_USERNAME_BYTES},
};

/// Why a password check failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Unknown user or wrong password: deliberately the same answer.
    #[error("the username or password is not correct")]
    Invalid,
    /// Longer than any username or password can be: refused before anything.
    #[error("the username or password is too long")]
    TooLong,
    /// The throttle says wait this long (see `throttle`).
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    /// The password queue is full (see `hash_queue`): retry shortly.
    #[error("the password service is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<HashError> for CredentialsError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy(_) => CredentialsError::Busy,
            HashError::Failed(e) => CredentialsError::Store(e),
        }
    }
}

/// The password checks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Credentials {
    clock: Arc<dyn Clock>,
    users: Users,
    hasher: PasswordHasher,
    throttle: Arc<LoginThrottle>,
}

impl Credentials {
    pub fn new(
        clock: Arc<dyn Clock>,
        users: Users,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
    ) -> Self {
        Credentials {
            clock,
            users,
            hasher,
            throttle,
        }
    }

    /// The hasher, for services that store new passwords.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Verifies a username and password from `ip`. Input longer than any
    /// name or password is refused before anything else; then the attempt
    /// is counted by the throttle *before* any hashing (so concurrent
    /// guesses count too), and waits its turn in the fair password queue.
    /// Unknown users cost the same time as wrong passwords and get the same
    /// error. A disabled account still needs its right password (so the
    /// answer reveals nothing otherwise).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        ip: &str,
    ) -> Result<UserRecord, CredentialsError> {
        if username.len() > MAX_USERNAME_BYTES || password.too_long() {
            return Err(CredentialsError::TooLong);
        }
        let attempt = self
            .throttle
            .begin(username, ip, self.clock.now())
            .map_err(|wait| {
                metrics::counter!(crate::measures::THROTTLED).increment(1);
                CredentialsError::TooManyAttempts(wait)
            })?;
        let user = self.users.find_by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        // Without a user, a dummy hash is verified: the same cost. A check
        // that never ran (a busy queue) drops its attempt: it counts for nothing.
        let lane = if attempt.known() {
            Lane::Known
        } else {
            Lane::Open
        };
        let matches = self
            .hasher
            .verify(password, hash, (address_key(ip), lane))
            .await?;
        match user {
            Some(user) if matches => {
                attempt.succeeded(self.clock.now());
                Ok(user)
            }
            _ => {
                attempt.failed(self.clock.now());
                Err(CredentialsError::Invalid)
            }
        }
    }

    /// Checks a signed-in person's own password from `ip`, under the same
    /// throttle as sign-in.
    pub async fn verify_own(
        &self,
        user: &UserRecord,
        password: &Password,
        ip: &str,
    ) -> Result<(), CredentialsError> {
        self.authenticate(user.username.as_str(), password, ip)
            .await
            .map(|_| ())
    }
}
