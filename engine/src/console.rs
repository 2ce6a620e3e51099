//! The operator's operations: list users and sessions, end sessions, manage
//! accounts, read the audit log — each checking `authz` first. The JSON API
//! (for a signed-in person or a service token), the console's server
//! functions and the command line all call these, so the rules live in one
//! place.

use std::sync::Arc;

use bouncer_wire::{Permission, Reason, Role};
use serde_json::json;

use crate::{
    accounts::{AccountError, Accounts, UserPatch},
    authz::{self, Grants},
    change::Changes,
    clock::{Clock, Timestamp},
    hub::Hub,
    ids::{SessionId, UserId},
    log::{Actor, AuditFilter, EventLog},
    messages,
    service_tokens::ServiceToken,
    sessions::{Scope, Sessions},
    snapshot::{SessionSnapshot, Snapshots},
    users::{CreateUserError, NewUser, UserRecord, Users},
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

impl crate::messages::UserFacing for ConsoleError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            ConsoleError::Forbidden(_) => "forbidden",
            ConsoleError::NotFound => "not_found",
            ConsoleError::Invalid(_) => "bad_request",
            ConsoleError::Account(e) => e.code(),
            ConsoleError::CreateUser(e) => e.code(),
            ConsoleError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            ConsoleError::Forbidden(why) => (*why).to_owned(),
            ConsoleError::NotFound => "That user or session no longer exists.".to_owned(),
            ConsoleError::Invalid(why) => why.clone(),
            ConsoleError::Account(e) => e.user_message(),
            ConsoleError::CreateUser(e) => e.user_message(),
            ConsoleError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
}

const NOT_STAFF: &str = "This needs a staff or admin account.";
const NOT_ADMIN: &str = "Only admins can manage users.";
const NO_REVOKE: &str = "You do not have permission to end sessions.";
const NO_REVOKE_ADMINS: &str = "Ending an admin's sessions needs the revoke_admins permission.";

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Operator<'a> {
    /// A signed-in person, from their own session (staff or admin for
    /// anything to be allowed).
    Person {
        user: &'a UserRecord,
        session: &'a SessionId,
    },
    /// A service token (`Authorization: Bearer`): it has no session of its
    /// own, reads what staff read and does what its permissions allow. The
    /// log names it `token:<name>`.
    Token(&'a ServiceToken),
    /// The `bouncer` command line, run by whoever holds the server's
    /// configuration and database: allowed everything.
    CommandLine,
}

impl Operator<'_> {
    fn actor(&self) -> Actor {
        match self {
            Operator::Person { user, .. } => {
                Actor::user(user.id.clone(), user.username.to_string())
            }
            Operator::Token(token) => Actor {
                id: None,
                name: format!("token:{}", token.name),
            },
            Operator::CommandLine => Actor::command_line(),
        }
    }

    /// The operator's own session, never ended by their bulk endings (and
    /// the one whose ending closes their event stream).
    pub(crate) fn own_session(&self) -> Option<&SessionId> {
        match self {
            Operator::Person { session, .. } => Some(session),
            Operator::Token(_) | Operator::CommandLine => None,
        }
    }

    /// What the operator holds, for the rules; the command line holds
    /// everything and is never asked.
    fn grants(&self) -> Option<&dyn Grants> {
        match self {
            Operator::Person { user, .. } => Some(*user),
            Operator::Token(token) => Some(*token),
            Operator::CommandLine => None,
        }
    }

    fn allowed(
        &self,
        rule: impl FnOnce(&dyn Grants) -> bool,
        why: &'static str,
    ) -> Result<(), ConsoleError> {
        match self.grants() {
            Some(grants) if !rule(grants) => Err(ConsoleError::Forbidden(why)),
            _ => Ok(()),
        }
    }

    /// The person acting, if a person is.
    pub(crate) fn person(&self) -> Option<&UserRecord> {
        match self {
            Operator::Person { user, .. } => Some(user),
            Operator::Token(_) | Operator::CommandLine => None,
        }
    }

    /// Requires `permission` (admins hold every one; the command line is
    /// allowed everything).
    pub(crate) fn require_permission(
        &self,
        permission: Permission,
        why: &'static str,
    ) -> Result<(), ConsoleError> {
        self.allowed(|user| authz::holds(user, permission), why)
    }

    fn require_staff(&self) -> Result<(), ConsoleError> {
        self.allowed(|g| authz::is_staff(g), NOT_STAFF)
    }

    pub(crate) fn require_admin(&self) -> Result<(), ConsoleError> {
        self.allowed(|g| authz::can_manage_users(g), NOT_ADMIN)
    }

    fn require_revoke(&self, target: Role) -> Result<(), ConsoleError> {
        self.allowed(|g| authz::can_revoke(g, Role::User), NO_REVOKE)?;
        self.allowed(|g| authz::can_revoke(g, target), NO_REVOKE_ADMINS)
    }
}

/// A user as the console lists them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: UserRecord,
    /// Live sessions.
    pub sessions: u32,
    /// Whether a tab of theirs is connected to this node.
    pub online: bool,
}

/// A session as the console lists it, with its user's name.
#[derive(Debug, Clone)]
pub struct SessionListing {
    pub session: SessionSnapshot,
    pub username: String,
}

/// One ending in the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub reason: Reason,
    /// The ended session's user, by name (the id if the user is gone).
    pub target_user: String,
    pub session_id: String,
    pub tabs_notified: u32,
}

/// The console. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Console {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) users: Users,
    pub(crate) sessions: Sessions,
    pub(crate) log: EventLog,
    pub(crate) hub: Hub,
    pub(crate) changes: Changes,
    pub(crate) accounts: Accounts,
    pub(crate) snapshots: Snapshots,
}

impl Console {
    async fn target_user(&self, raw: &str) -> Result<UserRecord, ConsoleError> {
        let id = UserId::parse(raw).ok_or(ConsoleError::NotFound)?;
        self.users
            .find_by_id(&id)
            .await?
            .ok_or(ConsoleError::NotFound)
    }

    /// A user by name (the command line names users).
    pub async fn user_named(
        &self,
        op: &Operator<'_>,
        name: &str,
    ) -> Result<UserRecord, ConsoleError> {
        op.require_staff()?;
        self.users
            .find_by_username(name)
            .await?
            .ok_or(ConsoleError::NotFound)
    }

    /// Users whose name contains `query`, a page of them, with session
    /// counts, and how many match in all.
    pub async fn users(
        &self,
        op: &Operator<'_>,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<UserSummary>, u64), ConsoleError> {
        op.require_staff()?;
        let limit = i64::from(limit.clamp(1, 500));
        let (users, total) = self.users.search(query, limit, i64::from(offset)).await?;
        let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
        // Counted as listed: sessions past a deadline are not live.
        let rows = self.sessions.live_of_users(&ids).await?;
        let mut counts = std::collections::HashMap::<UserId, u32>::new();
        for session in self.snapshots.of_rows(rows, self.clock.now())? {
            *counts.entry(session.user_id).or_default() += 1;
        }
        let summaries = users
            .into_iter()
            .map(|user| UserSummary {
                sessions: counts.get(&user.id).copied().unwrap_or(0),
                online: self.hub.user_online(&user.id),
                user,
            })
            .collect();
        Ok((summaries, u64::try_from(total).unwrap_or(0)))
    }

    /// Live sessions, newest first: one user's, or everyone's.
    pub async fn sessions(
        &self,
        op: &Operator<'_>,
        user_id: Option<&str>,
    ) -> Result<Vec<SessionListing>, ConsoleError> {
        op.require_staff()?;
        let user_id = match user_id.filter(|s| !s.is_empty()) {
            Some(raw) => Some(
                UserId::parse(raw)
                    .ok_or_else(|| ConsoleError::Invalid("user_id is not a user id".into()))?,
            ),
            None => None,
        };
        let rows = self.sessions.live(user_id.as_ref(), 5000).await?;
        let snapshots = self.snapshots.of_rows(rows, self.clock.now())?;
        let ids: Vec<UserId> = snapshots.iter().map(|s| s.user_id.clone()).collect();
        let names = self.users.names_of(&ids).await?;
        Ok(snapshots
            .into_iter()
            .map(|session| SessionListing {
                username: names
                    .get(&session.user_id)
                    .cloned()
                    .unwrap_or_else(|| session.user_id.to_string()),
                session,
            })
            .collect())
    }

    /// Ends one session (`admin_revoked`).
    pub async fn end_session(&self, op: &Operator<'_>, id: &str) -> Result<(), ConsoleError> {
        op.require_revoke(Role::User)?;
        let id = SessionId::parse(id).ok_or(ConsoleError::NotFound)?;
        let row = self
            .sessions
            .find_live(&id)
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let owner = self.target_user(&row.user_id).await?;
        op.require_revoke(owner.role)?;
        match self.end(op, Scope::Sessions(vec![id])).await? {
            0 => Err(ConsoleError::NotFound),
            _ => Ok(()),
        }
    }

    /// Ends every session of these users, all or nothing.
    pub async fn revoke_users(
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
        self.end(op, Scope::Users(targets)).await
    }

    /// Ends every session but the operator's own; admins' only when asked.
    pub async fn revoke_all(
        &self,
        op: &Operator<'_>,
        include_admins: bool,
    ) -> Result<usize, ConsoleError> {
        op.require_revoke(if include_admins {
            Role::Admin
        } else {
            Role::User
        })?;
        let sparing = if include_admins {
            Vec::new()
        } else {
            self.users.admin_ids().await?
        };
        // The command line has no session of its own: an id no session has.
        let except = op
            .own_session()
            .cloned()
            .unwrap_or_else(SessionId::generate);
        self.end(op, Scope::Everyone { except, sparing }).await
    }

    async fn end(&self, op: &Operator<'_>, scope: Scope) -> Result<usize, ConsoleError> {
        Ok(self
            .changes
            .end(&scope, Reason::AdminRevoked, &op.actor(), &json!({}))
            .await?)
    }

    /// Creates a user (admins).
    pub async fn create_user(
        &self,
        op: &Operator<'_>,
        new: NewUser,
    ) -> Result<UserRecord, ConsoleError> {
        op.require_admin()?;
        Ok(self.accounts.create_user(new, &op.actor()).await?)
    }

    /// Edits a user (admins); see [`Accounts::update_user`].
    pub async fn update_user(
        &self,
        op: &Operator<'_>,
        id: &str,
        patch: UserPatch,
    ) -> Result<UserRecord, ConsoleError> {
        op.require_admin()?;
        let id = UserId::parse(id).ok_or(ConsoleError::NotFound)?;
        Ok(self.accounts.update_user(&op.actor(), &id, patch).await?)
    }

    /// The newest `limit` endings, newest first; those whose actor or user
    /// has `user` in their name, and those of `reason`, when given.
    pub async fn audit(
        &self,
        op: &Operator<'_>,
        limit: u32,
        user: &str,
        reason: Option<Reason>,
    ) -> Result<Vec<AuditEntry>, ConsoleError> {
        op.require_staff()?;
        let mut filter = AuditFilter {
            reason,
            ..AuditFilter::default()
        };
        if !user.trim().is_empty() {
            // The ended sessions' users whose names match: at most a page's
            // worth of them is plenty for a filter a person types.
            let (users, _) = self.users.search(user, 1000, 0).await?;
            filter.users = users.into_iter().map(|u| u.id).collect();
            filter.name = Some(user.to_owned());
        }
        let rows = self
            .log
            .audit(i64::from(limit.clamp(1, 1000)), &filter)
            .await?;
        let ids: Vec<UserId> = rows
            .iter()
            .filter_map(|r| UserId::parse(&r.user_id))
            .collect();
        let names = self.users.names_of(&ids).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let target_user = UserId::parse(&row.user_id)
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| row.user_id.clone());
            entries.push(AuditEntry {
                at: Timestamp::from_millis(row.at),
                actor: row.actor_name,
                reason: row.reason.parse().map_err(anyhow::Error::new)?,
                target_user,
                session_id: row.session_id,
                tabs_notified: u32::try_from(row.tabs_notified).unwrap_or(0),
            });
        }
        Ok(entries)
    }
}
