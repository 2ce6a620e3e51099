//! Recent authentication ("sudo mode"): ending another of one's own sessions
//! needs the password proved within the policy's `reauth_window` (ASVS 4.0.3
//! V3.3.4), so someone holding a stolen cookie cannot sign the real person
//! out of their other devices.
//!
//! Each session records when its holder last proved the password
//! (`sessions.authenticated_at`): the sign-in that opened it, a sign-in that
//! continued it, a password change, or [`Engine::reauthenticate`]. The check
//! reads it from the database at the moment of the ending, never from this
//! node's memory, so a proof given through another node counts. Ending the
//! current session (a logout) never needs it.
//!
//! This module never ends a session itself; `accounts` does, after asking it.

use crate::{
    accounts::AccountError, engine::Engine, ids::SessionId, password::Password,
    registry::LiveSession,
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

impl Engine {
    /// `Ok` when the holder of session `current` proved the password within
    /// the re-authentication window (always, with the window off). A session
    /// that is no longer live proves nothing and is refused.
    pub async fn require_recent_authentication(
        &self,
        current: &SessionId,
    ) -> Result<(), EndOwnError> {
        if self.policy().reauth_window.is_none() {
            // No query at all when the requirement is off.
            return Ok(());
        }
        match self.registry().authenticated_at(current).await? {
            Some(at) if !self.policy().needs_reauthentication(at, self.now()) => Ok(()),
            _ => Err(EndOwnError::ReauthenticationRequired),
        }
    }

    /// Re-authentication: checks the password of `current`'s user and, when
    /// right, starts its window again now. Wrong passwords count in the
    /// login throttle for this account from `ip`, exactly as a wrong current
    /// password in a password change does, so a stolen session cannot be
    /// used to guess the password here either.
    pub async fn reauthenticate(
        &self,
        current: &LiveSession,
        password: &Password,
        ip: &str,
    ) -> Result<(), AccountError> {
        let user = self
            .users()
            .find_by_id(&current.user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        self.verify_own_password(&user, password, ip).await?;
        if self
            .registry()
            .mark_authenticated(&current.id, self.now())
            .await?
        {
            Ok(())
        } else {
            // The session ended between the request's check and now.
            Err(AccountError::NotFound)
        }
    }
}
