//! Who may do what: the permission rules of `API.md`, as pure functions.
//!
//! The HTTP layer asks these before calling the engine, and the UI asks the
//! same functions to decide what to show, so the two never disagree. They
//! read a [`Grants`] — a stored user, the in-memory identity of a live
//! session, a service token — so one rule serves every kind of caller, and
//! a new permission needs no new code path. Nothing here touches the
//! database.

use bouncer_wire::{Permission, Role};

use crate::users::UserRecord;

/// What a caller holds, as the rules read it.
pub trait Grants {
    /// The role, or `None` for a service token: a token reads what staff
    /// read and does what its permissions allow, and never manages users.
    fn role(&self) -> Option<Role>;

    /// Whether the party may act at all (a deactivated account may not).
    fn active(&self) -> bool;

    /// Whether it holds `permission`, explicitly or (admins) implicitly.
    fn holds(&self, permission: Permission) -> bool;
}

impl Grants for UserRecord {
    fn role(&self) -> Option<Role> {
        Some(self.role)
    }

    fn active(&self) -> bool {
        self.active
    }

    fn holds(&self, permission: Permission) -> bool {
        self.can(permission)
    }
}

/// Whether `actor` has at least `role` (`user` < `staff` < `admin`): what a
/// reverse proxy asks for with `?role=` (a token has no role).
pub fn has_role(actor: &(impl Grants + ?Sized), role: Role) -> bool {
    let rank = |role: Role| match role {
        Role::User => 0,
        Role::Staff => 1,
        Role::Admin => 2,
    };
    actor.active() && actor.role().is_some_and(|held| rank(held) >= rank(role))
}

/// Whether `actor` reaches the admin console and its read-only calls.
pub fn is_staff(actor: &(impl Grants + ?Sized)) -> bool {
    actor.active() && actor.role() != Some(Role::User)
}

/// Whether `actor` may create and change accounts (admins only).
pub fn can_manage_users(actor: &(impl Grants + ?Sized)) -> bool {
    actor.active() && actor.role() == Some(Role::Admin)
}

/// Whether `actor` may end sessions of a user whose role is `target`:
/// `revoke_users` for users and staff, `revoke_admins` for admins (admins hold
/// both implicitly).
pub fn can_revoke(actor: &(impl Grants + ?Sized), target: Role) -> bool {
    if !is_staff(actor) || !actor.holds(Permission::RevokeUsers) {
        return false;
    }
    target != Role::Admin || actor.holds(Permission::RevokeAdmins)
}

/// Whether `actor` holds `permission` as a member of staff (admins hold
/// every one implicitly): `read_events` follows the event log.
pub fn holds(actor: &(impl Grants + ?Sized), permission: Permission) -> bool {
    is_staff(actor) && actor.holds(permission)
}

/// Whether `actor` may end every session of everyone (`include_admins` too).
pub fn can_revoke_everyone(actor: &(impl Grants + ?Sized), include_admins: bool) -> bool {
    can_revoke(actor, Role::User) && (!include_admins || can_revoke(actor, Role::Admin))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{clock::Timestamp, ids::UserId, users::Username};

    fn user(role: Role, permissions: &[Permission]) -> UserRecord {
        UserRecord {
            id: UserId::generate(),
            username: Username::parse("someone").expect("valid"),
            password_hash: String::new(),
            role,
            permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
            active: true,
            max_sessions: None,
            created_at: Timestamp::from_millis(0),
        }
    }

    /// The matrix of API.md: actor × target role → may revoke.
    #[test]
    fn the_revoke_matrix() {
        use Permission::*;
        let cases: &[(Role, &[Permission], [bool; 3])] = &[
            // actor role, permissions, [user, staff, admin] targets
            (Role::User, &[], [false, false, false]),
            (
                Role::User,
                &[RevokeUsers, RevokeAdmins],
                [false, false, false],
            ),
            (Role::Staff, &[], [false, false, false]),
            (Role::Staff, &[RevokeUsers], [true, true, false]),
            (
                Role::Staff,
                &[RevokeUsers, RevokeAdmins],
                [true, true, true],
            ),
            // revoke_admins alone does not give revoke_users.
            (Role::Staff, &[RevokeAdmins], [false, false, false]),
            (Role::Admin, &[], [true, true, true]),
        ];
        for (role, permissions, expected) in cases {
            let actor = user(*role, permissions);
            let got =
                [Role::User, Role::Staff, Role::Admin].map(|target| can_revoke(&actor, target));
            assert_eq!(&got, expected, "{role:?} with {permissions:?}");
        }
    }

    #[test]
    fn everyone_needs_revoke_admins_only_when_admins_are_included() {
        let sam = user(Role::Staff, &[Permission::RevokeUsers]);
        assert!(can_revoke_everyone(&sam, false));
        assert!(!can_revoke_everyone(&sam, true));
        assert!(can_revoke_everyone(&user(Role::Admin, &[]), true));
    }

    #[test]
    fn only_active_admins_manage_users_and_inactive_staff_do_nothing() {
        assert!(can_manage_users(&user(Role::Admin, &[])));
        assert!(!can_manage_users(&user(
            Role::Staff,
            &[Permission::RevokeUsers, Permission::RevokeAdmins]
        )));
        let mut retired = user(Role::Admin, &[]);
        retired.active = false;
        assert!(!can_manage_users(&retired));
        assert!(!can_revoke(&retired, Role::User));
        assert!(!is_staff(&user(Role::User, &[])));
    }

    /// A service token: staff's reads, its own permissions, never users.
    #[test]
    fn a_token_does_what_its_permissions_say_and_never_manages_users() {
        use crate::{service_tokens::ServiceToken, tokens::TokenName};
        let token = |permissions: &[Permission]| ServiceToken {
            name: TokenName::parse("billing").expect("valid"),
            permissions: permissions.iter().copied().collect(),
        };
        let billing = token(&[Permission::RevokeUsers]);
        assert!(is_staff(&billing));
        assert!(can_revoke(&billing, Role::Staff));
        assert!(!can_revoke(&billing, Role::Admin));
        assert!(!can_manage_users(&billing));
        assert!(!has_role(&billing, Role::User), "a token has no role");
        let both = token(&[Permission::RevokeUsers, Permission::RevokeAdmins]);
        assert!(can_revoke_everyone(&both, true));
        assert!(!can_revoke(&token(&[Permission::RevokeAdmins]), Role::User));
    }

    #[test]
    fn roles_are_ordered_user_staff_admin() {
        let cases = [
            (Role::User, [true, false, false]),
            (Role::Staff, [true, true, false]),
            (Role::Admin, [true, true, true]),
        ];
        for (held, expected) in cases {
            let actor = user(held, &[]);
            let got = [Role::User, Role::Staff, Role::Admin].map(|needed| has_role(&actor, needed));
            assert_eq!(got, expected, "{held:?}");
        }
        let mut retired = user(Role::Admin, &[]);
        retired.active = false;
        assert!(!has_role(&retired, Role::User));
    }

    #[test]
    fn reading_events_needs_staff_with_the_permission_or_an_admin() {
        use Permission::ReadEvents;
        assert!(holds(&user(Role::Staff, &[ReadEvents]), ReadEvents));
        assert!(holds(&user(Role::Admin, &[]), ReadEvents));
        assert!(!holds(
            &user(Role::Staff, &[Permission::RevokeUsers]),
            ReadEvents
        ));
        // A plain user holding it (by an old edit) still reaches nothing.
        assert!(!holds(&user(Role::User, &[ReadEvents]), ReadEvents));
    }
}
