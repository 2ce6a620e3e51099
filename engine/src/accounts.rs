//! Changes to accounts that end sessions: a password change, deactivation,
//! an admin's edit. Each is one transaction that writes the account and ends
//! the affected sessions together, so no session outlives the change.
//!
//! The last-active-admin rule lives here because it must be checked under the
//! same locks as the change.

use std::{collections::BTreeSet, time::Duration};

use anyhow::Context;
use bouncer_wire::{Permission, Reason, Role};
use serde_json::json;

use crate::{
    engine::Engine,
    ids::UserId,
    password::{check_strength, Password, WeakPassword},
    reauth::EndOwnError,
    registry::{LiveSession, Scope},
    revocation::Actor,
    users::{permissions_column, UserRecord, UserRow, USER_COLUMNS},
};

/// Why an account change failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the current password is not correct")]
    InvalidCredentials,
    /// Too many wrong passwords for this account from this address: the
    /// same throttle as sign-in, so a stolen session cannot be used to guess
    /// the password through the re-authentication check. Wait this long.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error("there is no such user")]
    NotFound,
    #[error("the last active admin cannot be deactivated or demoted")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// An admin's edit of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub active: Option<bool>,
    pub role: Option<Role>,
    pub permissions: Option<BTreeSet<Permission>>,
    /// `Some(None)` resets to the server-wide limit.
    pub max_sessions: Option<Option<u32>>,
    pub password: Option<Password>,
}

async fn lock_user(tx: &mut crate::db::Tx<'_>, id: &UserId) -> anyhow::Result<Option<UserRecord>> {
    // Writing the row first takes the lock (see `Engine::open_session`).
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

impl Engine {
    /// The user's live sessions as the API shows them, newest first, with
    /// `current` marking the caller's.
    pub async fn own_sessions(
        &self,
        user: &UserRecord,
        current: &crate::ids::SessionId,
    ) -> anyhow::Result<Vec<bouncer_wire::Session>> {
        let sessions = self.sessions_of(&user.id).await?;
        Ok(sessions
            .iter()
            .map(|s| self.session_to_wire(s, user.username.as_str(), &s.id == current))
            .collect())
    }

    /// Ends one of the user's own sessions from another of them, `current`
    /// (`revoked_by_user`). `false` when it is not theirs or already ended.
    /// Ending another session needs `current` to have proved the password
    /// recently (see [`crate::reauth`]); ending `current` itself does not.
    pub async fn end_own_session(
        &self,
        user: &UserRecord,
        current: &crate::ids::SessionId,
        id: crate::ids::SessionId,
    ) -> Result<bool, EndOwnError> {
        if &id != current {
            self.require_recent_authentication(current).await?;
        }
        let actor = Actor::user(user.id.clone(), user.username.to_string());
        let scope = Scope::SessionOfUser {
            id,
            user_id: user.id.clone(),
        };
        Ok(self
            .end(scope, Reason::RevokedByUser, &actor, json!({}))
            .await?
            > 0)
    }

    /// Ends every session of the user but `current` (`revoked_by_user`),
    /// once `current` has proved the password recently (see [`crate::reauth`]).
    pub async fn end_other_own_sessions(
        &self,
        user: &UserRecord,
        current: &crate::ids::SessionId,
    ) -> Result<usize, EndOwnError> {
        self.require_recent_authentication(current).await?;
        let actor = Actor::user(user.id.clone(), user.username.to_string());
        let scope = Scope::User {
            user_id: user.id.clone(),
            except: Some(current.clone()),
        };
        Ok(self
            .end(scope, Reason::RevokedByUser, &actor, json!({}))
            .await?)
    }

    /// Checks a signed-in person's own password (a re-authentication), under
    /// the login throttle: a throttled account is refused before any
    /// hashing, and a wrong password counts as a failed login of this
    /// account from `ip` (the request's address).
    pub(crate) async fn verify_own_password(
        &self,
        user: &UserRecord,
        password: &Password,
        ip: &str,
    ) -> Result<(), AccountError> {
        let username = user.username.as_str();
        self.throttle()
            .check(username, ip, self.now())
            .map_err(AccountError::TooManyAttempts)?;
        if !self
            .hasher()
            .verify(password, Some(&user.password_hash))
            .await?
        {
            self.throttle().record_failure(username, ip, self.now());
            return Err(AccountError::InvalidCredentials);
        }
        self.throttle().record_success(username, ip);
        Ok(())
    }

    /// Changes the caller's own password: every *other* session of the user
    /// ends (`password_changed`). The caller keeps `current`; its cookie is
    /// re-issued by the web layer. Returns how many sessions ended.
    ///
    /// The current password is a re-authentication, so it is throttled like a
    /// sign-in: wrong ones count as failed logins of this account from `ip`
    /// (the request's address), and a throttled account is refused before
    /// any hashing.
    pub async fn change_own_password(
        &self,
        current: &LiveSession,
        current_password: &Password,
        new_password: &Password,
        ip: &str,
    ) -> Result<usize, AccountError> {
        let user = self
            .users()
            .find_by_id(&current.user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        self.verify_own_password(&user, current_password, ip)
            .await?;
        check_strength(new_password)?;
        let hash = self.hasher().hash(new_password).await?;
        let mut ending = self.begin_ending().await?;
        lock_user(&mut ending.tx, &user.id)
            .await?
            .ok_or(AccountError::NotFound)?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(user.id.as_str())
            .execute(&mut *ending.tx)
            .await
            .context("Failed to store a new password")?;
        let others = Scope::User {
            user_id: user.id.clone(),
            except: Some(current.id.clone()),
        };
        let actor = Actor::user(user.id.clone(), user.username.to_string());
        ending
            .end(&others, Reason::PasswordChanged, &actor, &json!({}))
            .await?;
        Ok(self.commit_ending(ending).await?)
    }

    /// Applies an admin's edit. Deactivation ends every session of the user
    /// (`deactivated`); a new password ends every session (`password_changed`).
    /// The last active admin can be neither deactivated nor demoted.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &UserId,
        patch: UserPatch,
    ) -> Result<UserRecord, AccountError> {
        if let Some(password) = &patch.password {
            check_strength(password)?;
        }
        // Hash before taking any lock: it is the slow part.
        let new_hash = match &patch.password {
            Some(password) => Some(self.hasher().hash(password).await?),
            None => None,
        };
        let mut ending = self.begin_ending().await?;
        let mut user = lock_user(&mut ending.tx, id)
            .await?
            .ok_or(AccountError::NotFound)?;
        let was_active_admin = user.active && user.role == Role::Admin;
        if let Some(active) = patch.active {
            user.active = active;
        }
        if let Some(role) = patch.role {
            user.role = role;
        }
        if let Some(permissions) = patch.permissions {
            user.permissions = permissions;
        }
        if let Some(max_sessions) = patch.max_sessions {
            user.max_sessions = max_sessions;
        }
        if let Some(hash) = &new_hash {
            user.password_hash = hash.clone();
        }
        if was_active_admin && !(user.active && user.role == Role::Admin) {
            // Lock every active admin's row, then count: two admins demoting
            // each other at once cannot both succeed.
            sqlx::query("UPDATE users SET lock_version = lock_version + 1 WHERE role = 'admin' AND active = TRUE")
                .execute(&mut *ending.tx)
                .await
                .context("Failed to lock the admins")?;
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = TRUE AND id <> $1",
            )
            .bind(id.as_str())
            .fetch_one(&mut *ending.tx)
            .await
            .context("Failed to count admins")?;
            if others == 0 {
                return Err(AccountError::LastAdmin);
            }
        }
        sqlx::query(
            "UPDATE users SET active = $1, role = $2, permissions = $3, max_sessions = $4, password_hash = $5 WHERE id = $6",
        )
        .bind(user.active)
        .bind(user.role.as_str())
        .bind(permissions_column(&user.permissions))
        .bind(user.max_sessions.map(i64::from))
        .bind(&user.password_hash)
        .bind(id.as_str())
        .execute(&mut *ending.tx)
        .await
        .context("Failed to update a user")?;
        let everything = Scope::User {
            user_id: id.clone(),
            except: None,
        };
        let reason = if patch.active == Some(false) {
            Some(Reason::Deactivated)
        } else if new_hash.is_some() {
            Some(Reason::PasswordChanged)
        } else {
            None
        };
        if let Some(reason) = reason {
            ending.end(&everything, reason, actor, &json!({})).await?;
        }
        self.commit_ending(ending).await?;
        Ok(user)
    }
}
