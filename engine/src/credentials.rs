//! Checking passwords: a sign-in's username and password, and a signed-in
//! person's own password proved again (re-authentication, a password change).
//! Both go through the same throttle, so a stolen session cannot be used to
//! guess the password any faster than the login form allows.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    password::{Password, PasswordHasher},
    throttle::LoginThrottle,
    users::{UserRecord, Users},
};

/// Why a password check failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Unknown user or wrong password: deliberately the same answer.
    #[error("the username or password is not correct")]
    Invalid,
    /// Too many failures for this account from this address: wait this long.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
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

    /// Verifies a username and password from `ip`. Unknown users cost the
    /// same time as wrong passwords and get the same error; repeated
    /// failures are refused before any hashing. A disabled account still
    /// needs its right password (so the answer reveals nothing otherwise).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        ip: &str,
    ) -> Result<UserRecord, CredentialsError> {
        if let Err(wait) = self.throttle.check(username, ip, self.clock.now()) {
            metrics::counter!(crate::measures::THROTTLED).increment(1);
            return Err(CredentialsError::TooManyAttempts(wait));
        }
        let user = self.users.find_by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        // Without a user, a dummy hash is verified: the same cost.
        let matches = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if matches => {
                self.throttle.record_success(username, ip);
                Ok(user)
            }
            _ => {
                self.throttle.record_failure(username, ip, self.clock.now());
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
