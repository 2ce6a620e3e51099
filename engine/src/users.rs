//! Users: accounts, roles, permissions and their passwords.
//!
//! Owns the `users` table: every statement on it is here. It never decides
//! anything about sessions; ending sessions when an account changes is done
//! by the service that makes the change, in the same transaction.

use std::{collections::BTreeSet, fmt};

use anyhow::Context;
use bouncer_wire::{Permission, Role};

use unicode_normalization::UnicodeNormalization;
use unicode_security::{skeleton, MixedScript};

use crate::{
    clock::Timestamp,
    db::{Pool, Tx},
    ids::UserId,
    password::Password,
    sql::{contains_pattern, Sql},
};

/// A user as stored. Not `Serialize`: the API's shape is `bouncer_wire::User`,
/// built at the edge, and the password hash must never leave the server.
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
}

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The longest username, in bytes: anything longer is refused before it is
/// looked at any further (a 2 MB "username" costs a length check).
pub const MAX_USERNAME_BYTES: usize = 256;

/// A valid username: 1 to 64 characters of letters, digits, `_ . - @`, in
/// Unicode's compatibility form (NFKC), from a single script — so no name
/// can pass for another by mixing look-alike letters of two alphabets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidUsername> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > MAX_USERNAME_BYTES {
            return Err(InvalidUsername);
        }
        let normal: String = trimmed.nfkc().collect();
        let valid_chars = normal
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'));
        if normal.chars().count() > MAX_USERNAME_CHARS || !valid_chars || !normal.is_single_script()
        {
            Err(InvalidUsername)
        } else {
            Ok(Username(normal))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What makes two usernames the same: see [`Username::key_of`].
    pub fn key(&self) -> String {
        Self::key_of(&self.0)
    }

    /// The key a name is unique and found by: normalised (NFKC), case-folded
    /// and reduced to its confusable skeleton (Unicode TS #39), so `Alice`,
    /// `alice` and `аlice` (with a Cyrillic `а`) are one name. `raw` must be
    /// short (callers check [`MAX_USERNAME_BYTES`] first).
    pub fn key_of(raw: &str) -> String {
        let folded: String = raw.trim().nfkc().flat_map(char::to_lowercase).collect();
        skeleton(&folded).flat_map(char::to_lowercase).collect()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username outside the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a username is 1 to 64 letters, digits or `_ . - @`, all from one alphabet")]
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
    /// The password queue is full: retry shortly.
    #[error("the password service is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl crate::messages::UserFacing for CreateUserError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            CreateUserError::UsernameTaken(_) => "username_taken",
            CreateUserError::WeakPassword(_) => "weak_password",
            CreateUserError::Busy => "unavailable",
            CreateUserError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            CreateUserError::UsernameTaken(_) => "That username is already taken.".to_owned(),
            CreateUserError::WeakPassword(weak) => weak.user_message(),
            CreateUserError::Busy => crate::messages::BUSY.to_owned(),
            CreateUserError::Store(_) => crate::messages::INTERNAL.to_owned(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
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
    fn into_record(self) -> anyhow::Result<UserRecord> {
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
const USER_COLUMNS: &str = "id, username, password_hash, role, permissions, \
     CASE WHEN active THEN 1 ELSE 0 END AS active, max_sessions, created_at";

fn permissions_column(permissions: &BTreeSet<Permission>) -> String {
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
        let mut tx = self
            .pool
            .begin()
            .await
            .context("Failed to start a transaction")?;
        let record = Self::insert_in(&mut tx, new, password_hash, now).await?;
        tx.commit().await.context("Failed to commit a new user")?;
        Ok(record)
    }

    /// Inserts a user whose password is already hashed, inside `tx`.
    pub async fn insert_in(
        tx: &mut Tx<'_>,
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
            "INSERT INTO users (id, username, username_key, password_hash, role, permissions, active, max_sessions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(record.id.as_str())
        .bind(record.username.as_str())
        .bind(record.username.key())
        .bind(&record.password_hash)
        .bind(record.role.as_str())
        .bind(permissions_column(&record.permissions))
        .bind(record.active)
        .bind(record.max_sessions.map(i64::from))
        .bind(record.created_at.as_millis())
        .execute(&mut **tx)
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

    /// The user whose name is `username` by its key (see
    /// [`Username::key_of`]); a name too long to be one matches nobody.
    pub async fn find_by_username(&self, username: &str) -> anyhow::Result<Option<UserRecord>> {
        if username.len() > MAX_USERNAME_BYTES {
            return Ok(None);
        }
        // Rows from before keys existed, left without one (see
        // `fill_missing_keys`), are still found by their exact name.
        sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE username_key = $1 OR (username_key IS NULL AND username = $2)"
        ))
        .bind(Username::key_of(username))
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
        let pattern = contains_pattern(query);
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

    /// The names of these users, by id (a user that is gone is left out).
    pub async fn names_of(
        &self,
        ids: &[UserId],
    ) -> anyhow::Result<std::collections::HashMap<UserId, String>> {
        let mut names = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut query = Sql::new("SELECT id, username FROM users WHERE id IN ");
            query.bind_list(chunk.iter().map(UserId::to_string));
            let rows: Vec<(String, String)> = query
                .query_as()
                .fetch_all(&self.pool)
                .await
                .context("Failed to read usernames")?;
            names.extend(
                rows.into_iter()
                    .filter_map(|(id, name)| Some((UserId::parse(&id)?, name))),
            );
        }
        Ok(names)
    }

    /// The ids of the active admins.
    pub async fn admin_ids(&self) -> anyhow::Result<Vec<UserId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' AND active = TRUE")
                .fetch_all(&self.pool)
                .await
                .context("Failed to list the admins")?;
        Ok(ids.iter().filter_map(|id| UserId::parse(id)).collect())
    }

    /// Takes the user's row lock inside `tx` if the account is active (see
    /// [`Users::lock_in`]). `false` when it is not (or does not exist).
    pub async fn lock_if_active(tx: &mut Tx<'_>, id: &UserId) -> anyhow::Result<bool> {
        let locked = sqlx::query(
            "UPDATE users SET lock_version = lock_version + 1 WHERE id = $1 AND active = TRUE",
        )
        .bind(id.as_str())
        .execute(&mut **tx)
        .await
        .context("Failed to lock the user")?
        .rows_affected();
        Ok(locked == 1)
    }

    /// Takes the user's row lock inside `tx` and reads the row under it.
    /// Writing the row first is what takes the lock (a row lock on
    /// PostgreSQL, the write lock on SQLite): every change that must be
    /// serialised per user (a login counting live sessions, an edit) starts so.
    pub async fn lock_in(tx: &mut Tx<'_>, id: &UserId) -> anyhow::Result<Option<UserRecord>> {
        let locked = sqlx::query("UPDATE users SET lock_version = lock_version + 1 WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut **tx)
            .await
            .context("Failed to lock a user")?
            .rows_affected();
        if locked == 0 {
            return Ok(None);
        }
        sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&mut **tx)
            .await
            .context("Failed to read a locked user")?
            .into_record()
            .map(Some)
    }

    /// How many active admins there are besides `id`, counted under a lock
    /// on every active admin's row: two admins demoting each other at once
    /// cannot both succeed.
    pub async fn other_active_admins_in(tx: &mut Tx<'_>, id: &UserId) -> anyhow::Result<i64> {
        sqlx::query(
            "UPDATE users SET lock_version = lock_version + 1 WHERE role = 'admin' AND active = TRUE",
        )
        .execute(&mut **tx)
        .await
        .context("Failed to lock the admins")?;
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = TRUE AND id <> $1",
        )
        .bind(id.as_str())
        .fetch_one(&mut **tx)
        .await
        .context("Failed to count admins")
    }

    /// Writes every editable field of `user` inside `tx`.
    pub async fn update_in(tx: &mut Tx<'_>, user: &UserRecord) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE users SET active = $1, role = $2, permissions = $3, max_sessions = $4, password_hash = $5 WHERE id = $6",
        )
        .bind(user.active)
        .bind(user.role.as_str())
        .bind(permissions_column(&user.permissions))
        .bind(user.max_sessions.map(i64::from))
        .bind(&user.password_hash)
        .bind(user.id.as_str())
        .execute(&mut **tx)
        .await
        .context("Failed to update a user")?;
        Ok(())
    }

    /// Gives every user created before usernames had keys its key. Two such
    /// users whose names now share a key (`Alice` and `alice`) keep going
    /// under their exact names: the later one is left without a key, logged,
    /// for an operator to rename. Returns how many keys were written.
    pub async fn fill_missing_keys(&self) -> anyhow::Result<u64> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, username FROM users WHERE username_key IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .context("Failed to read users without a key")?;
        let mut filled = 0;
        for (id, username) in rows {
            let written = sqlx::query("UPDATE users SET username_key = $1 WHERE id = $2")
                .bind(Username::key_of(&username))
                .bind(&id)
                .execute(&self.pool)
                .await;
            match written {
                Ok(_) => filled += 1,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => tracing::warn!(
                    user = %id,
                    "A username looks the same as another's; rename one of them"
                ),
                Err(e) => return Err(anyhow::Error::new(e).context("Failed to key a username")),
            }
        }
        Ok(filled)
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
        assert!(Username::parse(&"a".repeat(2 * 1024 * 1024)).is_err());
        assert!(Username::parse("alice\n").is_ok(), "trimmed");
        assert!(Username::parse("al\u{0}ice").is_err());
    }

    #[test]
    fn names_that_look_alike_share_a_key_and_mixed_scripts_are_refused() {
        let key = |name: &str| Username::key_of(name);
        assert_eq!(key("Alice"), key("alice"));
        assert_eq!(key("ＡＬＩＣＥ"), key("alice"), "fullwidth letters");
        assert_eq!(key("аlice"), key("alice"), "a Cyrillic а");
        assert_eq!(key("сосоа"), key("cocoa"), "all Cyrillic look-alikes");
        assert_ne!(key("alice"), key("alicia"));
        assert!(
            Username::parse("аlice").is_err(),
            "Cyrillic and Latin mixed"
        );
        assert!(Username::parse("сосоа").is_ok(), "one script is a name");
        assert!(Username::parse("müller").is_ok());
        assert!(Username::parse("山田").is_ok());
        assert_eq!(
            Username::parse("ＡＬＩＣＥ").map(|u| u.to_string()),
            Ok("ALICE".into()),
            "stored in compatibility form"
        );
    }
}
