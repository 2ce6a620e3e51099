//! Changes to accounts: creating one, a person changing their own password,
//! an admin's edit. A change that ends sessions (a new password, a
//! deactivation) is one transaction that writes the account and ends the
//! affected sessions together, so no session outlives the change.
//!
//! The last-active-admin rule lives here because it must be checked under the
//! same locks as the change.

use std::{collections::BTreeSet, time::Duration};

use bouncer_wire::{Permission, Reason, Role};
use serde_json::json;

use crate::{
    change::Changes,
    credentials::{Credentials, CredentialsError},
    ids::UserId,
    log::{Actor, EventKind, NewEvent},
    messages,
    password::{check_strength, HashError, Password, WeakPassword, INTERNAL},
    sessions::{Scope, Sessions},
    throttle::address_key,
    users::{CreateUserError, NewUser, UserRecord, Users},
    view::LiveSession,
};

/// Why an account change failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The signed-in person's current password was wrong.
    #[error("the current password is not correct")]
    InvalidCredentials,
    /// Too many wrong passwords for this account from this address: the
    /// same throttle as sign-in. Wait this long.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error("there is no such user")]
    NotFound,
    #[error("the last active admin cannot be deactivated or demoted")]
    LastAdmin,
    /// The password queue is full: retry shortly.
    #[error("the password service is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<HashError> for AccountError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy(_) => AccountError::Busy,
            HashError::Failed(e) => AccountError::Store(e),
        }
    }
}

impl From<CredentialsError> for AccountError {
    fn from(error: CredentialsError) -> Self {
        match error {
            // A presented password too long to be anyone's is a wrong one.
            CredentialsError::Invalid | CredentialsError::TooLong => {
                AccountError::InvalidCredentials
            }
            CredentialsError::Busy => AccountError::Busy,
            CredentialsError::TooManyAttempts(wait) => AccountError::TooManyAttempts(wait),
            CredentialsError::Store(e) => AccountError::Store(e),
        }
    }
}

impl crate::messages::UserFacing for AccountError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            AccountError::InvalidCredentials => "invalid_credentials",
            AccountError::TooManyAttempts(_) => "too_many_attempts",
            AccountError::WeakPassword(_) => "weak_password",
            AccountError::NotFound => "not_found",
            AccountError::LastAdmin => "last_admin",
            AccountError::Busy => "unavailable",
            AccountError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            AccountError::InvalidCredentials => messages::WRONG_CURRENT_PASSWORD.to_owned(),
            AccountError::TooManyAttempts(wait) => messages::too_many_attempts(*wait),
            AccountError::WeakPassword(weak) => weak.user_message(),
            AccountError::NotFound => messages::NOT_FOUND.to_owned(),
            AccountError::LastAdmin => {
                "The last active admin cannot be deactivated or demoted.".to_owned()
            }
            AccountError::Busy => messages::BUSY.to_owned(),
            AccountError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
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

/// Account changes. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub(crate) users: Users,
    pub(crate) credentials: Credentials,
    pub(crate) changes: Changes,
}

impl Accounts {
    /// Creates a user, checking the password rules (`user.created`).
    pub async fn create_user(
        &self,
        new: NewUser,
        actor: &Actor,
    ) -> Result<UserRecord, CreateUserError> {
        check_strength(&new.password)?;
        let hash = self
            .credentials
            .hasher()
            .hash(&new.password, INTERNAL)
            .await
            .map_err(|e| match e {
                HashError::Busy(_) => CreateUserError::Busy,
                HashError::Failed(e) => CreateUserError::Store(e),
            })?;
        let mut change = self.changes.begin().await?;
        let now = change.now();
        let user = Users::insert_in(&mut change.tx, &new, hash, now).await?;
        change.record(user_event(EventKind::UserCreated, &user, actor));
        self.changes.commit(change).await?;
        Ok(user)
    }

    /// How many accounts exist (the demo seed only fills an empty database).
    pub async fn user_count(&self) -> anyhow::Result<i64> {
        self.users.count().await
    }

    /// Changes the caller's own password: every *other* session of the user
    /// ends (`password_changed`). The caller keeps `current`, whose cookie
    /// the edge re-issues. Returns how many sessions ended.
    ///
    /// The current password is a re-authentication, so it is throttled like a
    /// sign-in from `ip` (the request's address), and a throttled account is
    /// refused before any hashing.
    pub async fn change_own_password(
        &self,
        current: &LiveSession,
        current_password: &Password,
        new_password: &Password,
        ip: &str,
    ) -> Result<usize, AccountError> {
        let user = self
            .users
            .find_by_id(&current.user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        self.credentials
            .verify_own(&user, current_password, ip)
            .await?;
        check_strength(new_password)?;
        let hasher = self.credentials.hasher();
        let hash = hasher.hash(new_password, address_key(ip)).await?;
        let mut change = self.changes.begin().await?;
        let mut user = Users::lock_in(&mut change.tx, &user.id)
            .await?
            .ok_or(AccountError::NotFound)?;
        user.password_hash = hash;
        Users::update_in(&mut change.tx, &user).await?;
        let others = Scope::User {
            user_id: user.id.clone(),
            except: Some(current.id.clone()),
        };
        let actor = Actor::user(user.id.clone(), user.username.to_string());
        change
            .end(&others, Reason::PasswordChanged, &actor, &json!({}))
            .await?;
        change.record(user_event(EventKind::UserPasswordChanged, &user, &actor));
        Ok(self.changes.commit(change).await?)
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
            Some(password) => Some(self.credentials.hasher().hash(password, INTERNAL).await?),
            None => None,
        };
        let mut change = self.changes.begin().await?;
        let mut user = Users::lock_in(&mut change.tx, id)
            .await?
            .ok_or(AccountError::NotFound)?;
        let before = user.clone();
        let was_active_admin = user.active && user.role == Role::Admin;
        user.active = patch.active.unwrap_or(user.active);
        user.role = patch.role.unwrap_or(user.role);
        if let Some(permissions) = patch.permissions {
            user.permissions = permissions;
        }
        user.max_sessions = patch.max_sessions.unwrap_or(user.max_sessions);
        if let Some(hash) = &new_hash {
            user.password_hash = hash.clone();
        }
        if was_active_admin
            && !(user.active && user.role == Role::Admin)
            && Users::other_active_admins_in(&mut change.tx, id).await? == 0
        {
            return Err(AccountError::LastAdmin);
        }
        Users::update_in(&mut change.tx, &user).await?;
        let reason = if patch.active == Some(false) {
            Some(Reason::Deactivated)
        } else if new_hash.is_some() {
            Some(Reason::PasswordChanged)
        } else {
            None
        };
        if let Some(reason) = reason {
            let everything = Scope::User {
                user_id: id.clone(),
                except: None,
            };
            change.end(&everything, reason, actor, &json!({})).await?;
        }
        let kinds = changed(&before, &user, new_hash.is_some());
        if kinds.contains(&EventKind::UserRoleChanged) {
            // New rights, new cookie: each session gets a fresh secret at its
            // next request, and its open tabs reconnect (see the pusher).
            Sessions::owe_rotation_in(&mut change.tx, id).await?;
        }
        for kind in kinds {
            change.record(user_event(kind, &user, actor));
        }
        self.changes.commit(change).await?;
        Ok(user)
    }
}

/// What an edit from `before` to `after` changed, as events.
fn changed(before: &UserRecord, after: &UserRecord, password: bool) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    match (before.active, after.active) {
        (true, false) => kinds.push(EventKind::UserDeactivated),
        (false, true) => kinds.push(EventKind::UserReactivated),
        _ => {}
    }
    if before.role != after.role || before.permissions != after.permissions {
        kinds.push(EventKind::UserRoleChanged);
    }
    if password {
        kinds.push(EventKind::UserPasswordChanged);
    }
    kinds
}

/// An event about `user`'s account, with what it now is (never the hash).
fn user_event(kind: EventKind, user: &UserRecord, actor: &Actor) -> NewEvent {
    NewEvent {
        kind,
        user_id: user.id.clone(),
        session_id: None,
        actor: actor.clone(),
        detail: json!({
            "username": user.username.as_str(),
            "role": user.role,
            "permissions": user.permissions,
            "active": user.active,
        }),
    }
}
