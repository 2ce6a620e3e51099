//! Service tokens: made, listed and revoked by the command line, and checked
//! when a request presents one (`Authorization: Bearer`). A token is a
//! caller of the console (`console::Operator::Token`) with no session and
//! no role: it reads what staff read and does what its permissions allow
//! (see [`crate::authz::Grants`]), so a permission added later needs no new
//! code here. Tokens are not sessions: no limit counts them, no tab holds
//! them.
//!
//! A token is `bnc_` and 64 hex digits, 256 random bits from the OS. Only its
//! SHA-256 is stored, and a presented token is found by that hash. A fast
//! hash is right for a secret this long, unlike for a password: nobody can
//! try enough candidates to hit a 256-bit value, so a slow hash would only
//! cost every call its time. Finding the row by hash also means no secret is
//! ever compared with another, so there is no comparison whose timing could
//! leak it (the lookup's timing at most tells how many leading bytes of
//! *some* token's hash a candidate's hash shares, which does not help to find
//! a token). Every failure — malformed, unknown, revoked, expired — is the
//! same [`BearerError::Invalid`], so a caller learns nothing about which.

use std::{collections::BTreeSet, fmt, sync::Arc, time::Duration};

use bouncer_wire::{Permission, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    authz::Grants,
    clock::{Clock, Timestamp},
    messages,
    tokens::{InsertTokenError, InvalidTokenName, TokenName, TokenRecord, TokenStore},
};

/// What every token starts with: it tells a leaked token for what it is
/// (secret scanners look for such prefixes) and what a token is not.
pub const TOKEN_PREFIX: &str = "bnc_";

/// How many hex digits follow the prefix (32 random bytes).
const TOKEN_HEX_DIGITS: usize = 64;

/// How often a token's "last used" time is written at most: a script
/// calling in a loop costs one write a minute, not one per call.
const LAST_USED_INTERVAL: Duration = Duration::from_secs(60);

/// A token's text, shown once when it is made. `Debug` hides it.
pub struct TokenSecret(String);

impl TokenSecret {
    fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_HEX_DIGITS / 2];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TokenSecret(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
    }

    /// The token, to print once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

/// The stored form of a token: hex SHA-256 of its text.
fn hash_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `presented` has a token's form; anything else is refused before
/// any query.
fn well_formed(presented: &str) -> bool {
    presented.strip_prefix(TOKEN_PREFIX).is_some_and(|digits| {
        digits.len() == TOKEN_HEX_DIGITS
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Where a token stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

impl TokenRecord {
    /// Where the token stands at `now`.
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// A token that a request presented and that holds: the caller the console
/// sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub name: TokenName,
    pub permissions: BTreeSet<Permission>,
}

impl Grants for ServiceToken {
    fn role(&self) -> Option<Role> {
        None
    }

    fn active(&self) -> bool {
        true
    }

    fn holds(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Why a token could not be made or revoked (the command line says these).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    InvalidName(#[from] InvalidTokenName),
    /// A token with no permission could do nothing at all.
    #[error("a token needs at least one permission")]
    NoPermission,
    #[error(
        "a token named `{0}` exists and is not revoked; revoke it first or choose another name"
    )]
    NameTaken(TokenName),
    #[error("there is no token named `{0}` left to revoke")]
    NotFound(TokenName),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Why a presented token was refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// Malformed, unknown, revoked or expired: deliberately one answer.
    #[error("the token is not valid")]
    Invalid,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl messages::UserFacing for BearerError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            BearerError::Invalid => "invalid_token",
            BearerError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            BearerError::Invalid => {
                "The token is not valid: it is malformed, unknown, revoked or expired.".to_owned()
            }
            BearerError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
}

/// The service tokens. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct ServiceTokens {
    clock: Arc<dyn Clock>,
    store: TokenStore,
}

impl ServiceTokens {
    pub fn new(clock: Arc<dyn Clock>, store: TokenStore) -> Self {
        ServiceTokens { clock, store }
    }

    /// Makes a token named `name` holding `permissions`, expiring after
    /// `lifetime` (never when `None`). The secret is returned once and
    /// stored nowhere.
    pub async fn create(
        &self,
        name: &str,
        permissions: BTreeSet<Permission>,
        lifetime: Option<Duration>,
    ) -> Result<(TokenRecord, TokenSecret), TokenError> {
        let name = TokenName::parse(name)?;
        if permissions.is_empty() {
            return Err(TokenError::NoPermission);
        }
        let now = self.clock.now();
        let record = TokenRecord {
            name,
            permissions,
            created_at: now,
            expires_at: lifetime.map(|lifetime| now.plus(lifetime)),
            revoked_at: None,
            last_used_at: None,
        };
        let secret = TokenSecret::generate();
        match self.store.insert(&hash_of(secret.expose()), &record).await {
            Ok(()) => Ok((record, secret)),
            Err(InsertTokenError::NameTaken(name)) => Err(TokenError::NameTaken(name)),
            Err(InsertTokenError::Store(e)) => Err(TokenError::Store(e)),
        }
    }

    /// Every token, by name (revoked and expired ones too).
    pub async fn list(&self) -> anyhow::Result<Vec<TokenRecord>> {
        self.store.all().await
    }

    /// Revokes the token named `name`: the next request presenting it, on
    /// any node, is refused (tokens are checked against the table on every
    /// call, never cached).
    pub async fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let name = TokenName::parse(name)?;
        if self.store.revoke(&name, self.clock.now()).await? {
            Ok(())
        } else {
            Err(TokenError::NotFound(name))
        }
    }

    /// The token a request presented, if it holds (well formed, known, not
    /// revoked, not expired). Records its use, at most once a minute; a
    /// failure to record is logged, never the caller's problem.
    pub async fn authenticate(&self, presented: &str) -> Result<ServiceToken, BearerError> {
        if !well_formed(presented) {
            return Err(BearerError::Invalid);
        }
        let hash = hash_of(presented);
        let record = self
            .store
            .find_by_hash(&hash)
            .await?
            .ok_or(BearerError::Invalid)?;
        let now = self.clock.now();
        if record.status(now) != TokenStatus::Active {
            return Err(BearerError::Invalid);
        }
        let stale = record
            .last_used_at
            .is_none_or(|at| now.since(at) >= LAST_USED_INTERVAL);
        if stale {
            if let Err(e) = self.store.mark_used(&hash, now).await {
                tracing::warn!(error = ?e, token = %record.name, "Failed to record a token's use");
            }
        }
        Ok(ServiceToken {
            name: record.name,
            permissions: record.permissions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_hex_and_only_that_form_is_accepted() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(well_formed(a.expose()), "{}", a.expose());
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(format!("{a:?}"), "TokenSecret(…)");
        let digits = &a.expose()[TOKEN_PREFIX.len()..];
        for bad in [
            String::new(),
            digits.to_owned(),
            format!("bnc_{}", &digits[1..]),
            format!("bnc_{digits}0"),
            format!("BNC_{digits}"),
            format!("bnc_{}", digits.to_uppercase()),
            format!("bnc_{}g", &digits[1..]),
            format!("bnc_{}é", &digits[2..]),
        ] {
            assert!(!well_formed(&bad), "{bad:?}");
        }
        assert_eq!(hash_of(a.expose()).len(), 64);
        assert_ne!(hash_of(a.expose()), hash_of(b.expose()));
    }

    #[test]
    fn a_token_is_active_until_it_expires_or_is_revoked() {
        let at = Timestamp::from_millis;
        let mut token = TokenRecord {
            name: TokenName::parse("billing").expect("valid"),
            permissions: BTreeSet::from([Permission::RevokeUsers]),
            created_at: at(0),
            expires_at: Some(at(1_000)),
            revoked_at: None,
            last_used_at: None,
        };
        assert_eq!(token.status(at(999)), TokenStatus::Active);
        assert_eq!(token.status(at(1_000)), TokenStatus::Expired);
        token.revoked_at = Some(at(10));
        assert_eq!(token.status(at(20)), TokenStatus::Revoked);
    }
}
