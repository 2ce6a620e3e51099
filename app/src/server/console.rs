//! The admin console's server functions: thin adapters over
//! `bouncer_engine::console`, which checks every permission.

use bouncer_wire::{AuditEntry, Session, UserList};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the caller may do in the console; the page shows only that (the
/// server still checks every call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub staff: bool,
    pub revoke_users: bool,
    pub revoke_admins: bool,
    pub manage_users: bool,
}

impl Capabilities {
    /// Whether the caller may end sessions of a user with this role.
    pub fn can_revoke(&self, role: bouncer_wire::Role) -> bool {
        self.revoke_users && (role != bouncer_wire::Role::Admin || self.revoke_admins)
    }
}

/// Runs a console operation as the signed-in operator: `$console` is the
/// engine's console and `$op` the caller as its operator.
#[cfg(feature = "ssr")]
macro_rules! as_operator {
    (|$console:ident, $op:ident| $body:expr) => {{
        let (auth, caller) = super::edge::caller().await?;
        let $console = auth.engine().console();
        let $op = caller.operator();
        $body.await.map_err(super::edge::refused)
    }};
}

#[server(output = super::JsonText)]
pub async fn my_capabilities() -> Result<Capabilities, super::Refusal> {
    use bouncer_engine::authz;
    use bouncer_wire::Role;

    let (_, caller) = super::edge::caller().await?;
    let user = &caller.user;
    Ok(Capabilities {
        staff: authz::is_staff(user),
        revoke_users: authz::can_revoke(user, Role::User),
        revoke_admins: authz::can_revoke(user, Role::Admin),
        manage_users: authz::can_manage_users(user),
    })
}

#[server(output = super::JsonText)]
pub async fn console_users(query: String, offset: u32) -> Result<UserList, super::Refusal> {
    let (users, total) = as_operator!(|console, op| console.users(&op, &query, PAGE_SIZE, offset))?;
    let users = users.iter().map(bouncer_web::wire::admin_user).collect();
    Ok(UserList { users, total })
}

/// Users per page in the console.
pub const PAGE_SIZE: u32 = 20;

#[server(output = super::JsonText)]
pub async fn console_user_sessions(user_id: String) -> Result<Vec<Session>, super::Refusal> {
    let listings = as_operator!(|console, op| console.sessions(&op, Some(&user_id)))?;
    Ok(listings
        .iter()
        .map(|l| bouncer_web::wire::listed_session(l, None))
        .collect())
}

#[server(output = super::JsonText)]
pub async fn console_end_session(id: String) -> Result<(), super::Refusal> {
    as_operator!(|console, op| console.end_session(&op, &id))
}

/// Ends every session of the users (comma-separated ids), all or nothing.
#[server(output = super::JsonText)]
pub async fn console_revoke_users(user_ids: String) -> Result<usize, super::Refusal> {
    let ids: Vec<String> = user_ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    as_operator!(|console, op| console.revoke_users(&op, &ids))
}

#[server(output = super::JsonText)]
pub async fn console_revoke_all(include_admins: bool) -> Result<usize, super::Refusal> {
    as_operator!(|console, op| console.revoke_all(&op, include_admins))
}

/// A form field the console's forms can send wrong (the API's 400).
#[cfg(feature = "ssr")]
fn bad_request(why: String) -> super::Refusal {
    super::edge::refuse(axum::http::StatusCode::BAD_REQUEST, "bad_request", &why)
}

/// A session limit as typed in the console: empty is the server default.
pub fn parse_max_sessions(raw: &str) -> Result<Option<u32>, String> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse::<u32>()
            .map(Some)
            .map_err(|_| "The session limit is a whole number (0 for no limit).".to_owned()),
    }
}

/// Applies an edit to a user as the signed-in operator.
#[cfg(feature = "ssr")]
async fn patch_user(user_id: String, patch: bouncer_wire::UserPatch) -> Result<(), super::Refusal> {
    let patch = bouncer_web::wire::user_patch(patch);
    as_operator!(|console, op| async {
        console.update_user(&op, &user_id, patch).await.map(|_| ())
    })
}

#[server(output = super::JsonText)]
pub async fn console_set_active(user_id: String, active: bool) -> Result<(), super::Refusal> {
    patch_user(
        user_id,
        bouncer_wire::UserPatch {
            active: Some(active),
            ..Default::default()
        },
    )
    .await
}

/// Sets a user's session limit; an empty value returns them to the default.
#[server(output = super::JsonText)]
pub async fn console_set_max_sessions(
    user_id: String,
    max_sessions: String,
) -> Result<(), super::Refusal> {
    let max = parse_max_sessions(&max_sessions).map_err(bad_request)?;
    patch_user(
        user_id,
        bouncer_wire::UserPatch {
            max_sessions: Some(max),
            ..Default::default()
        },
    )
    .await
}

/// Creates a user from the console's form.
#[server(output = super::JsonText)]
pub async fn console_create_user(
    username: String,
    password: String,
    role: String,
    revoke_users: Option<String>,
    revoke_admins: Option<String>,
    max_sessions: String,
) -> Result<String, super::Refusal> {
    use bouncer_wire::Permission;

    let role = role.parse::<bouncer_wire::Role>().map_err(bad_request)?;
    let max_sessions = parse_max_sessions(&max_sessions).map_err(bad_request)?;
    let mut permissions = Vec::new();
    if revoke_users.is_some() {
        permissions.push(Permission::RevokeUsers);
    }
    if revoke_admins.is_some() {
        permissions.push(Permission::RevokeAdmins);
    }
    let new = bouncer_wire::NewUser {
        username,
        password,
        role,
        permissions,
        max_sessions,
    };
    let new = bouncer_web::wire::new_user(new).map_err(super::edge::refused)?;
    as_operator!(|console, op| async {
        console
            .create_user(&op, new)
            .await
            .map(|user| user.username.to_string())
    })
}

/// The newest 50 endings whose actor or user has `user` in their name, of
/// `reason` (empty: any).
#[server(output = super::JsonText)]
pub async fn console_audit(
    user: String,
    reason: String,
) -> Result<Vec<AuditEntry>, super::Refusal> {
    // An unknown reason filters nothing out rather than failing.
    let reason = reason.parse::<bouncer_wire::Reason>().ok();
    let entries = as_operator!(|console, op| console.audit(&op, 50, &user, reason))?;
    Ok(entries.iter().map(bouncer_web::wire::audit_entry).collect())
}

#[cfg(test)]
mod tests {
    use super::parse_max_sessions;

    #[test]
    fn a_typed_session_limit_is_a_whole_number_or_empty() {
        assert_eq!(parse_max_sessions(" "), Ok(None));
        assert_eq!(parse_max_sessions("0"), Ok(Some(0)));
        assert_eq!(parse_max_sessions(" 3 "), Ok(Some(3)));
        assert!(parse_max_sessions("-1").is_err());
        assert!(parse_max_sessions("two").is_err());
    }
}
