//! The operator's operations: list users and sessions, end sessions, manage
//! accounts, read the audit log — each checking `authz` first. The JSON API
//! and the console's server functions both call these, so the rules live in
//! one place.

use std::collections::BTreeSet;

use bouncer_wire::{AdminUser, AuditEntry, Reason, Role, Session, User, UserList};
use serde_json::json;

use crate::{
    accounts::{AccountError, UserPatch},
    authz,
    clock::Timestamp,
    ids::{SessionId, UserId},
    password::Password,
    registry::Scope,
    revocation::{self, Actor},
    users::{CreateUserError, NewUser, UserRecord, Username},
    Engine,
};

/// Why an operator's call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("there is no such user or session")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    CreateUser(#[from] CreateUserError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

const NOT_STAFF: &str = "This needs a staff or admin account.";
const NOT_ADMIN: &str = "Only admins can manage users.";
const NO_REVOKE: &str = "You do not have permission to end sessions.";
const NO_REVOKE_ADMINS: &str = "Ending an admin's sessions needs the revoke_admins permission.";

/// The acting operator: their account and their own session.
#[derive(Debug, Clone)]
pub struct Operator<'a> {
    pub user: &'a UserRecord,
    pub session: &'a SessionId,
}

impl Operator<'_> {
    fn actor(&self) -> Actor {
        Actor::user(self.user.id.clone(), self.user.username.to_string())
    }

    fn require_staff(&self) -> Result<(), ConsoleError> {
        authz::is_staff(self.user)
            .then_some(())
            .ok_or(ConsoleError::Forbidden(NOT_STAFF))
    }

    fn require_admin(&self) -> Result<(), ConsoleError> {
        authz::can_manage_users(self.user)
            .then_some(())
            .ok_or(ConsoleError::Forbidden(NOT_ADMIN))
    }

    fn require_revoke(&self, target: Role) -> Result<(), ConsoleError> {
        if !authz::can_revoke(self.user, Role::User) {
            Err(ConsoleError::Forbidden(NO_REVOKE))
        } else if !authz::can_revoke(self.user, target) {
            Err(ConsoleError::Forbidden(NO_REVOKE_ADMINS))
        } else {
            Ok(())
        }
    }
}

/// The audit log's name for what happened, from the reason.
pub fn action_of(reason: Reason) -> &'static str {
    match reason {
        Reason::SignedInElsewhere => "replaced_by_new_login",
        Reason::LoggedOutElsewhere => "logout_everywhere",
        Reason::RevokedByUser => "user_revoke",
        Reason::AdminRevoked => "admin_revoke",
        Reason::PasswordChanged => "password_change",
        Reason::Deactivated => "deactivate",
        Reason::IdleTimeout | Reason::AbsoluteTimeout => "timeout",
        Reason::LoggedOut => "logout",
    }
}

impl Engine {
    async fn target_user(&self, raw: &str) -> Result<UserRecord, ConsoleError> {
        let id = UserId::parse(raw).ok_or(ConsoleError::NotFound)?;
        self.users()
            .find_by_id(&id)
            .await?
            .ok_or(ConsoleError::NotFound)
    }

    /// Users whose name contains `query`, a page of them, with session counts.
    pub async fn console_users(
        &self,
        op: &Operator<'_>,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<UserList, ConsoleError> {
        op.require_staff()?;
        let limit = i64::from(limit.clamp(1, 500));
        let (users, total) = self.users().search(query, limit, i64::from(offset)).await?;
        let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
        let counts = self.registry().live_counts(&ids).await?;
        let users = users
            .iter()
            .map(|user| AdminUser {
                user: user.to_wire(),
                sessions: counts.get(&user.id).copied().unwrap_or(0),
                // Tabs connected to this node (one node on SQLite).
                online: self.hub().user_online(&user.id),
            })
            .collect();
        Ok(UserList {
            users,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// Live sessions, newest first: one user's, or everyone's.
    pub async fn console_sessions(
        &self,
        op: &Operator<'_>,
        user_id: Option<&str>,
    ) -> Result<Vec<Session>, ConsoleError> {
        op.require_staff()?;
        let user_id = match user_id.filter(|s| !s.is_empty()) {
            Some(raw) => Some(
                UserId::parse(raw)
                    .ok_or_else(|| ConsoleError::Invalid("user_id is not a user id".into()))?,
            ),
            None => None,
        };
        let mut sessions = Vec::new();
        for (row, username) in self
            .registry()
            .live_with_usernames(user_id.as_ref(), 5000)
            .await?
        {
            let snapshot = self.snapshot_of_row(row)?;
            sessions.push(self.session_to_wire(&snapshot, &username, &snapshot.id == op.session));
        }
        Ok(sessions)
    }

    /// Ends one session (`admin_revoked`).
    pub async fn console_end_session(
        &self,
        op: &Operator<'_>,
        id: &str,
    ) -> Result<(), ConsoleError> {
        op.require_revoke(Role::User)?;
        let id = SessionId::parse(id).ok_or(ConsoleError::NotFound)?;
        let row = self
            .registry()
            .find_live(&id)
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let owner = self.target_user(&row.user_id).await?;
        op.require_revoke(owner.role)?;
        match self
            .end(
                Scope::Sessions(vec![id]),
                Reason::AdminRevoked,
                &op.actor(),
                json!({}),
            )
            .await?
        {
            0 => Err(ConsoleError::NotFound),
            _ => Ok(()),
        }
    }

    /// Ends every session of these users, all or nothing.
    pub async fn console_revoke_users(
        &self,
        op: &Operator<'_>,
        user_ids: &[String],
    ) -> Result<usize, ConsoleError> {
        op.require_revoke(Role::User)?;
        let mut targets = Vec::with_capacity(user_ids.len());
        for raw in user_ids {
            let target = self.target_user(raw).await?;
            op.require_revoke(target.role)?;
            targets.push(target.id);
        }
        Ok(self
            .end(
                Scope::Users(targets),
                Reason::AdminRevoked,
                &op.actor(),
                json!({}),
            )
            .await?)
    }

    /// Ends every session but the operator's own; admins' only when asked.
    pub async fn console_revoke_all(
        &self,
        op: &Operator<'_>,
        include_admins: bool,
    ) -> Result<usize, ConsoleError> {
        op.require_revoke(if include_admins {
            Role::Admin
        } else {
            Role::User
        })?;
        let scope = Scope::Everyone {
            except: op.session.clone(),
            include_admins,
        };
        Ok(self
            .end(scope, Reason::AdminRevoked, &op.actor(), json!({}))
            .await?)
    }

    /// Creates a user (admins).
    pub async fn console_create_user(
        &self,
        op: &Operator<'_>,
        new: bouncer_wire::NewUser,
    ) -> Result<User, ConsoleError> {
        op.require_admin()?;
        let username =
            Username::parse(&new.username).map_err(|e| ConsoleError::Invalid(e.to_string()))?;
        let user = self
            .create_user(NewUser {
                username,
                password: Password::new(new.password),
                role: new.role,
                permissions: new.permissions.into_iter().collect::<BTreeSet<_>>(),
                max_sessions: new.max_sessions,
            })
            .await?;
        Ok(user.to_wire())
    }

    /// Edits a user (admins); see [`Engine::update_user`].
    pub async fn console_update_user(
        &self,
        op: &Operator<'_>,
        id: &str,
        patch: bouncer_wire::UserPatch,
    ) -> Result<User, ConsoleError> {
        op.require_admin()?;
        let id = UserId::parse(id).ok_or(ConsoleError::NotFound)?;
        let patch = UserPatch {
            active: patch.active,
            role: patch.role,
            permissions: patch.permissions.map(|p| p.into_iter().collect()),
            max_sessions: patch.max_sessions,
            password: patch.password.map(Password::new),
        };
        Ok(self.update_user(&op.actor(), &id, patch).await?.to_wire())
    }

    /// The newest `limit` endings, newest first.
    pub async fn console_audit(
        &self,
        op: &Operator<'_>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ConsoleError> {
        op.require_staff()?;
        let rows = revocation::audit(self.pool(), i64::from(limit.clamp(1, 1000))).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let reason: Reason = row.reason.parse().map_err(anyhow::Error::new)?;
            entries.push(AuditEntry {
                at: Timestamp::from_millis(row.at).to_rfc3339(),
                actor: row.actor_name,
                action: action_of(reason).to_owned(),
                target_user: row.target_user,
                session_id: row.session_id,
                reason,
                tabs_notified: u32::try_from(row.tabs_notified).unwrap_or(0),
            });
        }
        Ok(entries)
    }
}
