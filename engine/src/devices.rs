//! A person's own devices: listing their live sessions, signing one or all
//! of the others out, and recent authentication ("sudo mode").
//!
//! Ending another of one's own sessions needs the password proved within the
//! policy's `reauth_window` (ASVS 4.0.3 V3.3.4), so someone holding a stolen
//! cookie cannot sign the real person out of their other devices. Each
//! session records when its holder last proved the password
//! (`sessions.authenticated_at`): the sign-in that opened it, a sign-in that
//! continued it, a password change, or [`Devices::reauthenticate`]. The
//! check reads it from the database at the moment of the ending, never from
//! this node's memory, so a proof given through another node counts. Ending
//! the current session (a logout) never needs it.

use std::sync::Arc;

use bouncer_wire::Reason;
use serde_json::json;

use crate::{
    change::Changes,
    clock::Clock,
    credentials::{Credentials, CredentialsError},
    ids::SessionId,
    log::Actor,
    messages,
    password::Password,
    policy::Policy,
    sessions::{Scope, Sessions},
    snapshot::{SessionSnapshot, Snapshots},
    users::{UserRecord, Users},
    view::LiveSession,
};

/// Why ending another of one's own sessions was refused.
#[derive(Debug, thiserror::Error)]
pub enum EndOwnError {
    /// The caller's session proved the password too long ago: it must do so
    /// again (`POST /api/auth/reauthenticate`) and repeat the call.
    #[error("the password must be entered again first")]
    ReauthenticationRequired,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl crate::messages::UserFacing for EndOwnError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            EndOwnError::ReauthenticationRequired => "reauthentication_required",
            EndOwnError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            EndOwnError::ReauthenticationRequired => {
                "Enter your password to sign out other devices.".to_owned()
            }
            EndOwnError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
}

/// Why a re-authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error("the password is not correct")]
    WrongPassword,
    /// Too many wrong passwords for this account from this address (the
    /// login throttle): wait this long.
    #[error("too many failed attempts")]
    TooManyAttempts(std::time::Duration),
    /// The session ended while the password was checked.
    #[error("the session ended")]
    SessionEnded,
    /// The password queue is full: retry shortly.
    #[error("the password service is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<CredentialsError> for ReauthError {
    fn from(error: CredentialsError) -> Self {
        match error {
            CredentialsError::Invalid | CredentialsError::TooLong => ReauthError::WrongPassword,
            CredentialsError::Busy => ReauthError::Busy,
            CredentialsError::TooManyAttempts(wait) => ReauthError::TooManyAttempts(wait),
            CredentialsError::Store(e) => ReauthError::Store(e),
        }
    }
}

impl crate::messages::UserFacing for ReauthError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            ReauthError::WrongPassword => "invalid_credentials",
            ReauthError::TooManyAttempts(_) => "too_many_attempts",
            ReauthError::SessionEnded => "unauthenticated",
            ReauthError::Busy => "unavailable",
            ReauthError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            ReauthError::WrongPassword => "The password is not correct.".to_owned(),
            ReauthError::TooManyAttempts(wait) => messages::too_many_attempts(*wait),
            ReauthError::SessionEnded => messages::SIGNED_OUT.to_owned(),
            ReauthError::Busy => messages::BUSY.to_owned(),
            ReauthError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
}

/// A person's own devices. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Devices {
    pub(crate) policy: Arc<Policy>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) users: Users,
    pub(crate) sessions: Sessions,
    pub(crate) credentials: Credentials,
    pub(crate) changes: Changes,
    pub(crate) snapshots: Snapshots,
}

impl Devices {
    /// The user's live sessions, newest first.
    pub async fn list(&self, user: &UserRecord) -> anyhow::Result<Vec<SessionSnapshot>> {
        let rows = self.sessions.live(Some(&user.id), i64::MAX).await?;
        self.snapshots.of_rows(rows, self.clock.now())
    }

    /// Ends one of the user's own sessions from another of them, `current`
    /// (`revoked_by_user`). `false` when it is not theirs or already ended.
    /// Ending another session needs `current` to have proved the password
    /// recently; ending `current` itself does not.
    pub async fn end_one(
        &self,
        user: &UserRecord,
        current: &SessionId,
        id: SessionId,
    ) -> Result<bool, EndOwnError> {
        if &id != current {
            self.require_recent_authentication(current).await?;
        }
        let scope = Scope::SessionOfUser {
            id,
            user_id: user.id.clone(),
        };
        Ok(self.end_own(user, &scope).await? > 0)
    }

    /// Ends every session of the user but `current` (`revoked_by_user`),
    /// once `current` has proved the password recently.
    pub async fn end_others(
        &self,
        user: &UserRecord,
        current: &SessionId,
    ) -> Result<usize, EndOwnError> {
        self.require_recent_authentication(current).await?;
        let scope = Scope::User {
            user_id: user.id.clone(),
            except: Some(current.clone()),
        };
        Ok(self.end_own(user, &scope).await?)
    }

    async fn end_own(&self, user: &UserRecord, scope: &Scope) -> anyhow::Result<usize> {
        let actor = Actor::user(user.id.clone(), user.username.to_string());
        self.changes
            .end(scope, Reason::RevokedByUser, &actor, &json!({}))
            .await
    }

    /// `Ok` when the holder of session `current` proved the password within
    /// the re-authentication window (always, with the window off). A session
    /// that is no longer live proves nothing and is refused.
    pub async fn require_recent_authentication(
        &self,
        current: &SessionId,
    ) -> Result<(), EndOwnError> {
        if self.policy.reauth_window.is_none() {
            // No query at all when the requirement is off.
            return Ok(());
        }
        match self.sessions.authenticated_at(current).await? {
            Some(at) if !self.policy.needs_reauthentication(at, self.clock.now()) => Ok(()),
            _ => Err(EndOwnError::ReauthenticationRequired),
        }
    }

    /// Re-authentication: checks the password of `current`'s user and, when
    /// right, starts its window again now. Wrong passwords count in the
    /// login throttle for this account from `ip`, as in a password change.
    pub async fn reauthenticate(
        &self,
        current: &LiveSession,
        password: &Password,
        ip: &str,
    ) -> Result<(), ReauthError> {
        let user = self
            .users
            .find_by_id(&current.user_id)
            .await?
            .ok_or(ReauthError::SessionEnded)?;
        self.credentials.verify_own(&user, password, ip).await?;
        if self
            .sessions
            .mark_authenticated(&current.id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            // The session ended between the request's check and now.
            Err(ReauthError::SessionEnded)
        }
    }
}
