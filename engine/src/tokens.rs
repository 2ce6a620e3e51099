//! The `service_tokens` table: the tokens scripts and billing systems
//! present on the admin API. This module owns every statement on it.
//!
//! A token's text is never stored, only its SHA-256 (`token_hash`, hex),
//! which is also the key a request's token is found by. Rows are never
//! deleted: a revoked token stays, listed as revoked, and its name may be
//! given to a new one.

use std::{collections::BTreeSet, fmt};

use anyhow::Context;
use bouncer_wire::Permission;

use crate::{clock::Timestamp, db::Pool};

/// A token's name: 1 to 64 ASCII letters, digits or `_ . -`. It is shown in
/// the audit log as `token:<name>`, so it is kept plain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<Self, InvalidTokenName> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(valid) {
            Err(InvalidTokenName)
        } else {
            Ok(TokenName(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    // `pad`, so a table's `{:<24}` lines names up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A token name outside the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token name is 1 to 64 ASCII letters, digits or `_ . -`")]
pub struct InvalidTokenName;

/// A token as stored, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: TokenName,
    pub permissions: BTreeSet<Permission>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    permissions: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TokenRow {
    fn into_record(self) -> anyhow::Result<TokenRecord> {
        let permissions = self
            .permissions
            .split_whitespace()
            .map(|p| p.parse::<Permission>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("Failed to read the permissions of token {}", self.name))?;
        Ok(TokenRecord {
            name: TokenName::parse(&self.name).context("Found a token with an invalid name")?,
            permissions,
            created_at: Timestamp::from_millis(self.created_at),
            expires_at: self.expires_at.map(Timestamp::from_millis),
            revoked_at: self.revoked_at.map(Timestamp::from_millis),
            last_used_at: self.last_used_at.map(Timestamp::from_millis),
        })
    }
}

const COLUMNS: &str = "name, permissions, created_at, expires_at, revoked_at, last_used_at";

/// Why a token could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertTokenError {
    #[error("a token named `{0}` exists and is not revoked")]
    NameTaken(TokenName),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// The `service_tokens` table.
#[derive(Debug, Clone)]
pub struct TokenStore {
    pool: Pool,
}

impl TokenStore {
    pub fn new(pool: Pool) -> Self {
        TokenStore { pool }
    }

    /// Stores a new token under its hash (hex SHA-256).
    pub async fn insert(&self, hash: &str, token: &TokenRecord) -> Result<(), InsertTokenError> {
        let permissions: Vec<&str> = token.permissions.iter().map(|p| p.as_str()).collect();
        let result = sqlx::query(
            "INSERT INTO service_tokens (token_hash, name, permissions, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash)
        .bind(token.name.as_str())
        .bind(permissions.join(" "))
        .bind(token.created_at.as_millis())
        .bind(token.expires_at.map(Timestamp::as_millis))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(InsertTokenError::NameTaken(token.name.clone()))
            }
            Err(e) => Err(InsertTokenError::Store(
                anyhow::Error::new(e).context("Failed to store a token"),
            )),
        }
    }

    /// The token whose hash this is, revoked and expired ones included.
    pub async fn find_by_hash(&self, hash: &str) -> anyhow::Result<Option<TokenRecord>> {
        sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {COLUMNS} FROM service_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a token up")?
        .map(TokenRow::into_record)
        .transpose()
    }

    /// Every token, by name, the newest of a name first.
    pub async fn all(&self) -> anyhow::Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {COLUMNS} FROM service_tokens ORDER BY name, created_at DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .context("Failed to list the tokens")?
        .into_iter()
        .map(TokenRow::into_record)
        .collect()
    }

    /// Revokes the token of this name that is not revoked yet; `false` when
    /// there is none.
    pub async fn revoke(&self, name: &TokenName, at: Timestamp) -> anyhow::Result<bool> {
        let revoked = sqlx::query(
            "UPDATE service_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(at.as_millis())
        .bind(name.as_str())
        .execute(&self.pool)
        .await
        .context("Failed to revoke a token")?
        .rows_affected();
        Ok(revoked > 0)
    }

    /// Records that the token was used at `at`.
    pub async fn mark_used(&self, hash: &str, at: Timestamp) -> anyhow::Result<()> {
        sqlx::query("UPDATE service_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(at.as_millis())
            .bind(hash)
            .execute(&self.pool)
            .await
            .context("Failed to record a token's use")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_bounded() {
        assert!(TokenName::parse("billing-2026.q1_x").is_ok());
        for bad in ["", "a b", "tök", "a:b", "a/b", "x\n", &"a".repeat(65)] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
