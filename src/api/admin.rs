//! `/api/admin/*`: the console's calls over JSON. Thin adapters over
//! `bouncer_engine::console`, which checks every permission rule.

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    Json,
};
use bouncer_wire::{AuditEntry, RevokeAll, RevokeUsers, Revoked, Session, User, UserList};
use serde::Deserialize;

use super::{caller::Caller, ApiError};
use crate::startup::AppState;

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
    query: Result<Query<UsersQuery>, QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let Query(query) = query?;
    let list = state
        .engine
        .console_users(
            &caller.operator(),
            &query.query,
            query.limit.unwrap_or(50),
            query.offset.unwrap_or(0),
        )
        .await?;
    Ok(Json(list))
}

/// `POST /api/admin/users` (admins): 201 User.
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<bouncer_wire::NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let Json(new) = body?;
    let user = state
        .engine
        .console_create_user(&caller.operator(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `PATCH /api/admin/users/{id}` (admins).
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<bouncer_wire::UserPatch>, JsonRejection>,
) -> Result<Json<User>, ApiError> {
    // A missing user is 404 whatever the body says.
    let Json(patch) = body?;
    Ok(Json(
        state
            .engine
            .console_update_user(&caller.operator(), &id, patch)
            .await?,
    ))
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
    query: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<Vec<Session>>, ApiError> {
    let Query(query) = query?;
    let mut sessions = state
        .engine
        .console_sessions(&caller.operator(), query.user_id.as_deref())
        .await?;
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
    state
        .engine
        .console_end_session(&caller.operator(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{id}/revoke`.
pub async fn revoke_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .engine
        .console_revoke_users(&caller.operator(), &[id])
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// `POST /api/admin/revoke`: all or nothing.
pub async fn revoke_users(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RevokeUsers>, JsonRejection>,
) -> Result<Json<Revoked>, ApiError> {
    let Json(request) = body?;
    let revoked = state
        .engine
        .console_revoke_users(&caller.operator(), &request.user_ids)
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
    let revoked = state
        .engine
        .console_revoke_all(&caller.operator(), request.include_admins)
        .await?;
    Ok(Json(Revoked { revoked }))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /api/admin/audit?limit=`: newest first.
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(query) = query?;
    Ok(Json(
        state
            .engine
            .console_audit(&caller.operator(), query.limit.unwrap_or(100))
            .await?,
    ))
}
