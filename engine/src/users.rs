//! Users: accounts, roles, permissions and their passwords.
//!
//! Owns the `users` table. It never decides anything about sessions; ending
//! sessions when an account changes is the registry's job, called by the
//! service that makes the change.

use std::{collections::BTreeSet, fmt};

use anyhow::Context;
use bouncer_wire::{Permission, Role};

use crate::{clock::Timestamp, db::Pool, ids::UserId, password::Password};

/// A user as stored. Not `Serialize`: the API's shape is [`bouncer_wire::User`],
/// and the password hash must never leave the server.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub username: Username,
    /// The argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    /// Explicit permissions; admins hold every permission implicitly (see [`UserRecord::can`]).
    pub permissions: BTreeSet<Permission>,
    pub active: bool,
    /// Overrides the server-wide session limit when set (0 = no limit).
    pub max_sessions: Option<u32>,
    pub created_at: Timestamp,
}

impl fmt::Debug for UserRecord {
    // The hash is left out on purpose: it must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("permissions", &self.permissions)
            .field("active", &self.active)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// Whether the user holds `permission`, explicitly or as an admin.
    pub fn can(&self, permission: Permission) -> bool {
        self.role == Role::Admin || self.permissions.contains(&permission)
    }

    /// The API's User object.
    pub fn to_wire(&self) -> bouncer_wire::User {
        bouncer_wire::User {
            id: self.id.to_string(),
            username: self.username.to_string(),
            role: self.role,
            permissions: self.permissions.iter().copied().collect(),
            active: self.active,
            max_sessions: self.max_sessions,
            created_at: self.created_at.to_rfc3339(),
        }
    }
}

/// A valid username: 1 to 64 characters of letters, digits, `_ . - @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidUsername> {
        let trimmed = raw.trim();
        let valid_chars = trimmed
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'));
        if trimmed.is_empty() || trimmed.chars().count() > 64 || !valid_chars {
            Err(InvalidUsername)
        } else {
            Ok(Username(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username outside the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a username is 1 to 64 letters, digits or `_ . - @`")]
pub struct InvalidUsername;

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password: Password,
    pub role: Role,
    pub permissions: BTreeSet<Permission>,
    pub max_sessions: Option<u32>,
}

/// Why creating a user failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the username `{0}` is taken")]
    UsernameTaken(Username),
    #[error(transparent)]
    WeakPassword(#[from] crate::password::WeakPassword),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    role: String,
    permissions: String,
    /// 0 or 1: see [`USER_COLUMNS`].
    active: i64,
    max_sessions: Option<i64>,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_record(self) -> anyhow::Result<UserRecord> {
        let permissions = self
            .permissions
            .split_whitespace()
            .map(|p| p.parse::<Permission>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("Failed to read the permissions of user {}", self.id))?;
        Ok(UserRecord {
            id: UserId::parse(&self.id).context("Found a user with an empty id")?,
            username: Username(self.username),
            password_hash: self.password_hash,
            role: self.role.parse().map_err(anyhow::Error::msg)?,
            permissions,
            active: self.active != 0,
            max_sessions: self.max_sessions.and_then(|n| u32::try_from(n).ok()),
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

/// The `users` columns, with `active` read as an integer: sqlx's `Any` driver
/// cannot decode SQLite's BOOLEAN, and 0/1 reads the same on both backends.
pub(crate) const USER_COLUMNS: &str = "id, username, password_hash, role, permissions, \
     CASE WHEN active THEN 1 ELSE 0 END AS active, max_sessions, created_at";

pub(crate) fn permissions_column(permissions: &BTreeSet<Permission>) -> String {
    permissions
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `users` table.
#[derive(Debug, Clone)]
pub struct Users {
    pool: Pool,
}

impl Users {
    pub fn new(pool: Pool) -> Self {
        Users { pool }
    }

    /// Inserts a user whose password is already hashed.
    pub async fn insert(
        &self,
        new: &NewUser,
        password_hash: String,
        now: Timestamp,
    ) -> Result<UserRecord, CreateUserError> {
        let record = UserRecord {
            id: UserId::generate(),
            username: new.username.clone(),
            password_hash,
            role: new.role,
            permissions: new.permissions.clone(),
            active: true,
            max_sessions: new.max_sessions,
            created_at: now,
        };
        let result = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, permissions, active, max_sessions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(record.id.as_str())
        .bind(record.username.as_str())
        .bind(&record.password_hash)
        .bind(record.role.as_str())
        .bind(permissions_column(&record.permissions))
        .bind(record.active)
        .bind(record.max_sessions.map(i64::from))
        .bind(record.created_at.as_millis())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(record),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CreateUserError::UsernameTaken(new.username.clone()))
            }
            Err(e) => Err(CreateUserError::Store(
                anyhow::Error::new(e).context("Failed to insert a user"),
            )),
        }
    }

    pub async fn find_by_username(&self, username: &str) -> anyhow::Result<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username.trim())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a user up by name")?
        .map(UserRow::into_record)
        .transpose()
    }

    pub async fn find_by_id(&self, id: &UserId) -> anyhow::Result<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .context("Failed to look a user up by id")?
            .map(UserRow::into_record)
            .transpose()
    }

    /// Every user, by name.
    pub async fn all(&self) -> anyhow::Result<Vec<UserRecord>> {
        sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await
        .context("Failed to list users")?
        .into_iter()
        .map(UserRow::into_record)
        .collect()
    }

    /// Users whose name contains `query`, by name, one page of them, and the
    /// total number of matches.
    pub async fn search(
        &self,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> anyhow::Result<(Vec<UserRecord>, i64)> {
        // `query` is matched literally: LIKE's wildcards are escaped.
        let pattern = format!(
            "%{}%",
            query
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE LOWER(username) LIKE LOWER($1) ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_one(&self.pool)
        .await
        .context("Failed to count users")?;
        let users = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE LOWER(username) LIKE LOWER($1) ESCAPE '\\' ORDER BY username LIMIT $2 OFFSET $3"
        ))
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .context("Failed to search users")?
        .into_iter()
        .map(UserRow::into_record)
        .collect::<anyhow::Result<_>>()?;
        Ok((users, total))
    }

    /// How many users exist (the demo seed only fills an empty database).
    pub async fn count(&self) -> anyhow::Result<i64> {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .context("Failed to count users")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_restricted() {
        assert_eq!(
            Username::parse("  alice ").map(|u| u.to_string()),
            Ok("alice".into())
        );
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("first.last@example").is_ok());
    }
}
