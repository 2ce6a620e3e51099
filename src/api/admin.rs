//! `/api/admin/*`: the console's calls. Staff read; revoking needs the
//! permissions of `authz`; managing accounts needs an admin. Every rule is
//! checked here even though the UI hides what a caller may not do.

use std::collections::BTreeSet;

use axum::{
    extract::{rejection::JsonRejection, Path, Query, State},
    http::StatusCode,
    Json,
};
use bouncer_engine::{
    accounts::UserPatch,
    authz,
    ids::{SessionId, UserId},
    password::Password,
    registry::Scope,
    revocation,
    users::{NewUser, Username},
};
use bouncer_wire::{
    AdminUser, AuditEntry, Reason, RevokeAll, RevokeUsers, Revoked, Session, User, UserList,
};
use serde::Deserialize;
use serde_json::json;

use super::{caller::Caller, ApiError};
use crate::startup::AppState;

const NO_REVOKE: &str = "You do not have permission to end sessions.";
const NO_REVOKE_ADMINS: &str = "Ending an admin's sessions needs the revoke_admins permission.";

#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    query: String,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// `GET /api/admin/users?query=&limit=&offset=`.
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    caller.require_staff()?;
    let Query(query) = query?;
    let limit = i64::from(query.limit.unwrap_or(50).clamp(1, 500));
    let offset = i64::from(query.offset.unwrap_or(0));
    let (users, total) = state
        .engine
        .users()
        .search(&query.query, limit, offset)
        .await?;
    let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
    let counts = state.engine.registry().live_counts(&ids).await?;
    let users = users
        .iter()
        .map(|user| AdminUser {
            user: user.to_wire(),
            sessions: counts.get(&user.id).copied().unwrap_or(0),
            // Tabs connected to this node (one node on SQLite).
            online: state.engine.hub().user_online(&user.id),
        })
        .collect();
    Ok(Json(UserList {
        users,
        total: u64::try_from(total).unwrap_or(0),
    }))
}

/// `POST /api/admin/users` (admins): 201 User.
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<bouncer_wire::NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require_admin()?;
    let Json(new) = body?;
    let username =
        Username::parse(&new.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let user = state
        .engine
        .create_user(NewUser {
            username,
            password: Password::new(new.password),
            role: new.role,
            permissions: new.permissions.into_iter().collect::<BTreeSet<_>>(),
            max_sessions: new.max_sessions,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user.to_wire())))
}

/// `PATCH /api/admin/users/{id}` (admins).
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<bouncer_wire::UserPatch>, JsonRejection>,
) -> Result<Json<User>, ApiError> {
    caller.require_admin()?;
    let id = UserId::parse(&id).ok_or(ApiError::NotFound)?;
    let Json(patch) = body?;
    let patch = UserPatch {
        active: patch.active,
        role: patch.role,
        permissions: patch.permissions.map(|p| p.into_iter().collect()),
        max_sessions: patch.max_sessions,
        password: patch.password.map(Password::new),
    };
    let user = state
        .engine
        .update_user(&caller.actor(), &id, patch)
        .await?;
    Ok(Json(user.to_wire()))
}

#[derive(Debug, Deserialize)]
pub struct SessionsQuery {
    user_id: Option<String>,
    online: Option<bool>,
}

/// `GET /api/admin/sessions?user_id=&online=`.
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SessionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Session>>, ApiError> {
    caller.require_staff()?;
    let Query(query) = query?;
    let user_id = match query.user_id.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            UserId::parse(raw).ok_or(ApiError::BadRequest("user_id is not a user id".into()))?,
        ),
        None => None,
    };
    let engine = &state.engine;
    let mut sessions = Vec::new();
    for (row, username) in engine
        .registry()
        .live_with_usernames(user_id.as_ref(), 5000)
        .await?
    {
        let snapshot = engine.snapshot_of_row(row)?;
        sessions.push(engine.session_to_wire(&snapshot, &username, snapshot.id == caller.live.id));
    }
    if let Some(online) = query.online {
        sessions.retain(|s| (s.online_tabs > 0) == online);
    }
    Ok(Json(sessions))
}

/// `DELETE /api/admin/sessions/{id}` (`admin_revoked`).
pub async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !authz::can_revoke(&caller.user, bouncer_wire::Role::User) {
        return Err(ApiError::Forbidden(NO_REVOKE));
    }
    let id = SessionId::parse(&id).ok_or(ApiError::NotFound)?;
    let row = state
        .engine
        .registry()
        .find_live(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let owner = UserId::parse(&row.user_id).ok_or(ApiError::NotFound)?;
    let owner = state
        .engine
        .users()
        .find_by_id(&owner)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !authz::can_revoke(&caller.user, owner.role) {
        return Err(ApiError::Forbidden(NO_REVOKE_ADMINS));
    }
    match state
        .engine
        .end(
            Scope::Sessions(vec![id]),
            Reason::AdminRevoked,
            &caller.actor(),
            json!({}),
        )
        .await?
    {
        0 => Err(ApiError::NotFound),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `POST /api/admin/users/{id}/revoke`.
pub async fn revoke_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    if !authz::can_revoke(&caller.user, bouncer_wire::Role::User) {
        return Err(ApiError::Forbidden(NO_REVOKE));
    }
    let id = UserId::parse(&id).ok_or(ApiError::NotFound)?;
    let target = state
        .engine
        .users()
        .find_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !authz::can_revoke(&caller.user, target.role) {
        return Err(ApiError::Forbidden(NO_REVOKE_ADMINS));
    }
    let scope = Scope::User {
        user_id: id,
        except: None,
    };
    let revoked = state
        .engine
        .end(scope, Reason::AdminRevoked, &caller.actor(), json!({}))
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// `POST /api/admin/revoke`: all or nothing.
pub async fn revoke_users(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RevokeUsers>, JsonRejection>,
) -> Result<Json<Revoked>, ApiError> {
    if !authz::can_revoke(&caller.user, bouncer_wire::Role::User) {
        return Err(ApiError::Forbidden(NO_REVOKE));
    }
    let Json(request) = body?;
    let mut targets = Vec::with_capacity(request.user_ids.len());
    for raw in &request.user_ids {
        let id = UserId::parse(raw).ok_or(ApiError::NotFound)?;
        let target = state
            .engine
            .users()
            .find_by_id(&id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if !authz::can_revoke(&caller.user, target.role) {
            return Err(ApiError::Forbidden(NO_REVOKE_ADMINS));
        }
        targets.push(id);
    }
    let revoked = state
        .engine
        .end(
            Scope::Users(targets),
            Reason::AdminRevoked,
            &caller.actor(),
            json!({}),
        )
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// `POST /api/admin/revoke-all`: every session but the caller's own.
pub async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RevokeAll>, JsonRejection>,
) -> Result<Json<Revoked>, ApiError> {
    // An empty body means the defaults.
    let request = match body {
        Ok(Json(request)) => request,
        Err(JsonRejection::MissingJsonContentType(_)) => RevokeAll::default(),
        Err(e) => return Err(e.into()),
    };
    if !authz::can_revoke_everyone(&caller.user, request.include_admins) {
        return Err(ApiError::Forbidden(
            if authz::can_revoke(&caller.user, bouncer_wire::Role::User) {
                NO_REVOKE_ADMINS
            } else {
                NO_REVOKE
            },
        ));
    }
    let scope = Scope::Everyone {
        except: caller.live.id.clone(),
        include_admins: request.include_admins,
    };
    let revoked = state
        .engine
        .end(scope, Reason::AdminRevoked, &caller.actor(), json!({}))
        .await?;
    Ok(Json(Revoked { revoked }))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

/// The audit log's name for what happened, from the reason.
fn action_of(reason: Reason) -> &'static str {
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

/// `GET /api/admin/audit?limit=`: newest first.
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require_staff()?;
    let Query(query) = query?;
    let limit = i64::from(query.limit.unwrap_or(100).clamp(1, 1000));
    let rows = revocation::audit(state.engine.pool(), limit).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let reason: Reason = row.reason.parse().map_err(anyhow::Error::new)?;
        entries.push(AuditEntry {
            at: bouncer_engine::clock::Timestamp::from_millis(row.at).to_rfc3339(),
            actor: row.actor_name,
            action: action_of(reason).to_owned(),
            target_user: row.target_user,
            session_id: row.session_id,
            reason,
            tabs_notified: u32::try_from(row.tabs_notified).unwrap_or(0),
        });
    }
    Ok(Json(entries))
}
