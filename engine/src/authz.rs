//! Who may do what: the permission rules of `API.md`, as pure functions.
//!
//! The HTTP layer asks these before calling the engine, and the UI asks the
//! same functions to decide what to show, so the two never disagree. Nothing
//! here touches the database.

use bouncer_wire::{Permission, Role};

use crate::users::UserRecord;

/// Whether `actor` reaches the admin console and its read-only calls.
pub fn is_staff(actor: &UserRecord) -> bool {
    actor.active && matches!(actor.role, Role::Staff | Role::Admin)
}

/// Whether `actor` may create and change accounts (admins only).
pub fn can_manage_users(actor: &UserRecord) -> bool {
    actor.active && actor.role == Role::Admin
}

/// Whether `actor` may end sessions of a user whose role is `target`:
/// `revoke_users` for users and staff, `revoke_admins` for admins (admins hold
/// both implicitly).
pub fn can_revoke(actor: &UserRecord, target: Role) -> bool {
    if !is_staff(actor) || !actor.can(Permission::RevokeUsers) {
        return false;
    }
    target != Role::Admin || actor.can(Permission::RevokeAdmins)
}

/// Whether `actor` holds `permission` as a member of staff (admins hold
/// every one implicitly): `read_events` follows the event log.
pub fn holds(actor: &UserRecord, permission: Permission) -> bool {
    is_staff(actor) && actor.can(permission)
}

/// Whether `actor` may end every session of everyone (`include_admins` too).
pub fn can_revoke_everyone(actor: &UserRecord, include_admins: bool) -> bool {
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
