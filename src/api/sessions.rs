//! `/api/sessions`: a user's own sessions — list, end one, end all others.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use bouncer_engine::{ids::SessionId, registry::Scope, web};
use bouncer_wire::{Reason, Revoked, Session};
use serde_json::json;
use tower_sessions::Session as Cookie;

use super::{caller::Caller, ApiError};
use crate::startup::AppState;

/// `GET /api/sessions`: the caller's live sessions, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Session>>, ApiError> {
    let engine = &state.engine;
    let sessions = engine
        .sessions_of(&caller.user.id)
        .await?
        .iter()
        .map(|s| engine.session_to_wire(s, caller.user.username.as_str(), s.id == caller.live.id))
        .collect();
    Ok(Json(sessions))
}

/// `DELETE /api/sessions/{id}`: ends one of the caller's sessions
/// (`revoked_by_user`); the current one is a logout.
pub async fn end_one(
    State(state): State<AppState>,
    cookie: Cookie,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = SessionId::parse(&id).ok_or(ApiError::NotFound)?;
    if id == caller.live.id {
        web::sign_out(
            &state.engine,
            &cookie,
            &bouncer_engine::Visitor::Live(caller.live.clone()),
        )
        .await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let scope = Scope::SessionOfUser {
        id,
        user_id: caller.user.id.clone(),
    };
    match state
        .engine
        .end(scope, Reason::RevokedByUser, &caller.actor(), json!({}))
        .await?
    {
        0 => Err(ApiError::NotFound),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `POST /api/sessions/revoke-others`.
pub async fn revoke_others(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Revoked>, ApiError> {
    let scope = Scope::User {
        user_id: caller.user.id.clone(),
        except: Some(caller.live.id.clone()),
    };
    let revoked = state
        .engine
        .end(scope, Reason::RevokedByUser, &caller.actor(), json!({}))
        .await?;
    Ok(Json(Revoked { revoked }))
}
