//! Who a live session belongs to — the user's name, role and permissions —
//! held in memory beside the session, so the request path can say who the
//! user is (forward authentication's headers, its role and permission
//! checks) without reading the `users` table.
//!
//! It is kept true the way the rest of the view is: by the event log, never
//! by expiry guesses. Every event that changes an account (`user.role_changed`,
//! `user.deactivated`, `user.reactivated`, `user.password_changed`) carries
//! the account's state after the change in its detail, and the tailer gives
//! each to the view as it applies the log, on every node, before the change's
//! `commit` returns on the node that made it. An identity read from the
//! database (a session this node loads) never overwrites one the log has
//! already set, so a read that raced a change cannot bring back the old role.
//! This module touches no database.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock,
    },
};

use anyhow::Context;
use bouncer_wire::{Permission, Role};
use serde_json::Value;

use crate::{
    authz::Grants,
    log::{Event, EventKind},
    sync,
    users::{UserRecord, Username},
};

/// A user as the request path needs them: never the password hash, never
/// anything that changes on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: Username,
    pub role: Role,
    /// Explicit permissions; admins hold every permission implicitly.
    pub permissions: BTreeSet<Permission>,
    /// Always true for a live session's user (a deactivation ends every
    /// session in the same transaction), kept so the rules can say so.
    pub active: bool,
}

impl Identity {
    /// The identity of a stored user.
    pub fn of(user: &UserRecord) -> Self {
        Identity {
            username: user.username.clone(),
            role: user.role,
            permissions: user.permissions.clone(),
            active: user.active,
        }
    }

    /// The account's state after `event`, if the event changed an account:
    /// `None` for events that do not (sessions started and ended, and
    /// `user.created`, which no session can predate), an error for a detail
    /// this version cannot read.
    pub fn after(event: &Event) -> Option<anyhow::Result<Self>> {
        match event.kind {
            EventKind::UserRoleChanged
            | EventKind::UserDeactivated
            | EventKind::UserReactivated
            | EventKind::UserPasswordChanged => Some(Self::from_detail(&event.detail)),
            EventKind::SessionStarted
            | EventKind::SessionEnded
            | EventKind::SessionRotated
            | EventKind::UserCreated => None,
        }
    }

    /// Reads `accounts::user_event`'s detail.
    fn from_detail(detail: &Value) -> anyhow::Result<Self> {
        let text = |field: &str| {
            detail
                .get(field)
                .and_then(Value::as_str)
                .with_context(|| format!("An account event without `{field}`"))
        };
        let permissions = detail
            .get("permissions")
            .and_then(Value::as_array)
            .context("An account event without `permissions`")?
            .iter()
            .map(|p| {
                p.as_str()
                    .context("A permission that is not a string")?
                    .parse::<Permission>()
                    .map_err(anyhow::Error::msg)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Identity {
            username: Username::parse(text("username")?)?,
            role: text("role")?.parse().map_err(anyhow::Error::msg)?,
            permissions,
            active: detail
                .get("active")
                .and_then(Value::as_bool)
                .context("An account event without `active`")?,
        })
    }
}

impl Grants for Identity {
    fn role(&self) -> Option<Role> {
        Some(self.role)
    }

    fn active(&self) -> bool {
        self.active
    }

    fn holds(&self, permission: Permission) -> bool {
        self.role == Role::Admin || self.permissions.contains(&permission)
    }
}

/// One user's identity, shared by all of that user's live sessions on this
/// node, so an event updates them all at once.
#[derive(Debug)]
pub struct Account {
    identity: RwLock<Arc<Identity>>,
    /// Set whenever the identity is set; the view's pruning clears it and
    /// drops an account only when it stayed clear for a whole sweep, so an
    /// account the log just changed outlives any load that raced it.
    touched: AtomicBool,
}

impl Account {
    pub fn new(identity: Identity) -> Self {
        Account {
            identity: RwLock::new(Arc::new(identity)),
            touched: AtomicBool::new(true),
        }
    }

    /// The identity as of the last event this node applied (or the load).
    pub fn identity(&self) -> Arc<Identity> {
        Arc::clone(&sync::read(&self.identity))
    }

    /// Takes in the state an event recorded.
    pub(crate) fn set(&self, identity: Identity) {
        *sync::write(&self.identity) = Arc::new(identity);
        self.touched.store(true, Ordering::Release);
    }

    /// Whether the account was set since the last call (which clears it).
    pub(crate) fn take_touched(&self) -> bool {
        self.touched.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{clock::Timestamp, ids::UserId};

    fn event(kind: EventKind, detail: Value) -> Event {
        Event {
            seq: 1,
            kind,
            user_id: UserId::generate(),
            session_id: None,
            reason: None,
            actor_id: None,
            actor_name: "root".into(),
            at: Timestamp::from_millis(0),
            detail,
        }
    }

    #[test]
    fn account_events_carry_the_state_after_the_change() {
        let detail = json!({
            "username": "sam", "role": "staff", "permissions": ["revoke_users"], "active": true,
        });
        let after = Identity::after(&event(EventKind::UserRoleChanged, detail))
            .expect("an account event")
            .expect("readable");
        assert_eq!(after.username.as_str(), "sam");
        assert_eq!(after.role, Role::Staff);
        assert!(after.holds(Permission::RevokeUsers));
        assert!(!after.holds(Permission::RevokeAdmins));
        for kind in [
            EventKind::SessionStarted,
            EventKind::SessionEnded,
            EventKind::SessionRotated,
            EventKind::UserCreated,
        ] {
            assert!(Identity::after(&event(kind, json!({}))).is_none(), "{kind}");
        }
    }

    #[test]
    fn an_unreadable_detail_is_an_error_not_a_guess() {
        for detail in [
            json!({}),
            json!({"username": "sam", "role": "captain", "permissions": [], "active": true}),
            json!({"username": "sam", "role": "user", "permissions": ["fly"], "active": true}),
            json!({"username": "sam", "role": "user", "permissions": [], "active": "yes"}),
        ] {
            let read = Identity::after(&event(EventKind::UserRoleChanged, detail.clone()));
            assert!(matches!(read, Some(Err(_))), "{detail}");
        }
    }

    #[test]
    fn admins_hold_every_permission() {
        let admin = Identity {
            username: Username::parse("root").expect("valid"),
            role: Role::Admin,
            permissions: BTreeSet::new(),
            active: true,
        };
        assert!(admin.holds(Permission::RevokeAdmins));
        let account = Account::new(admin.clone());
        assert!(account.take_touched());
        assert!(!account.take_touched());
        account.set(Identity {
            role: Role::Staff,
            ..admin
        });
        assert!(account.take_touched());
        assert_eq!(account.identity().role, Role::Staff);
    }
}
