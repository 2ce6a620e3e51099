//! `/api/admin/*`: the console's calls over JSON, for a signed-in person or
//! a service token (`bouncer_web::AdminCaller`). Thin adapters over
//! `bouncer_engine::console`, which checks every permission rule.

use axum::{
    extract::{rejection::JsonRejection, Path},
    http::StatusCode,
};
use bouncer_web::{wire, AdminCaller, ApiError, Auth, Json, Query};
use bouncer_wire::{AuditEntry, RevokeAll, RevokeUsers, Revoked, Session, User, UserList};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    query: String,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// `GET /api/admin/users?query=&limit=&offset=`.
pub async fn list_users(
    auth: Auth,
    caller: AdminCaller,
    Query(query): Query<UsersQuery>,
) -> Result<axum::Json<UserList>, ApiError> {
    let (users, total) = auth
        .engine()
        .console()
        .users(
            &caller.operator(),
            &query.query,
            query.limit.unwrap_or(50),
            query.offset.unwrap_or(0),
        )
        .await?;
    let users = users.iter().map(wire::admin_user).collect();
    Ok(axum::Json(UserList { users, total }))
}

/// `POST /api/admin/users` (admins): 201 User.
pub async fn create_user(
    auth: Auth,
    caller: AdminCaller,
    Json(new): Json<bouncer_wire::NewUser>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    let console = auth.engine().console();
    let user = console
        .create_user(&caller.operator(), wire::new_user(new)?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(wire::user(&user))))
}

/// `PATCH /api/admin/users/{id}` (admins).
pub async fn update_user(
    auth: Auth,
    caller: AdminCaller,
    Path(id): Path<String>,
    Json(patch): Json<bouncer_wire::UserPatch>,
) -> Result<axum::Json<User>, ApiError> {
    let console = auth.engine().console();
    let user = console
        .update_user(&caller.operator(), &id, wire::user_patch(patch))
        .await?;
    Ok(axum::Json(wire::user(&user)))
}

#[derive(Debug, Deserialize)]
pub struct SessionsQuery {
    user_id: Option<String>,
    online: Option<bool>,
}

/// `GET /api/admin/sessions?user_id=&online=`.
pub async fn list_sessions(
    auth: Auth,
    caller: AdminCaller,
    Query(query): Query<SessionsQuery>,
) -> Result<axum::Json<Vec<Session>>, ApiError> {
    let console = auth.engine().console();
    let listings = console
        .sessions(&caller.operator(), query.user_id.as_deref())
        .await?;
    let sessions = listings
        .iter()
        .filter(|l| {
            query
                .online
                .is_none_or(|online| (l.session.online_tabs > 0) == online)
        })
        .map(|l| wire::listed_session(l, caller.session()))
        .collect();
    Ok(axum::Json(sessions))
}

/// `DELETE /api/admin/sessions/{id}` (`admin_revoked`).
pub async fn end_session(
    auth: Auth,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let console = auth.engine().console();
    console.end_session(&caller.operator(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{id}/revoke`.
pub async fn revoke_user(
    auth: Auth,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<Revoked>, ApiError> {
    let console = auth.engine().console();
    let revoked = console.revoke_users(&caller.operator(), &[id]).await?;
    Ok(axum::Json(Revoked { revoked }))
}

/// `POST /api/admin/revoke`: all or nothing.
pub async fn revoke_users(
    auth: Auth,
    caller: AdminCaller,
    Json(request): Json<RevokeUsers>,
) -> Result<axum::Json<Revoked>, ApiError> {
    let console = auth.engine().console();
    let revoked = console
        .revoke_users(&caller.operator(), &request.user_ids)
        .await?;
    Ok(axum::Json(Revoked { revoked }))
}

/// `POST /api/admin/revoke-all`: every session but the caller's own.
pub async fn revoke_all(
    auth: Auth,
    caller: AdminCaller,
    body: Result<axum::Json<RevokeAll>, JsonRejection>,
) -> Result<axum::Json<Revoked>, ApiError> {
    // An empty body means the defaults.
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(JsonRejection::MissingJsonContentType(_)) => RevokeAll::default(),
        Err(e) => return Err(e.into()),
    };
    let console = auth.engine().console();
    let revoked = console
        .revoke_all(&caller.operator(), request.include_admins)
        .await?;
    Ok(axum::Json(Revoked { revoked }))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
    /// Part of the actor's or the ended session's user's name.
    #[serde(default)]
    user: String,
    reason: Option<bouncer_wire::Reason>,
}

/// `GET /api/admin/audit?limit=&user=&reason=`: newest first.
pub async fn audit(
    auth: Auth,
    caller: AdminCaller,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    let console = auth.engine().console();
    let entries = console
        .audit(
            &caller.operator(),
            query.limit.unwrap_or(100),
            &query.user,
            query.reason,
        )
        .await?;
    Ok(axum::Json(entries.iter().map(wire::audit_entry).collect()))
}
