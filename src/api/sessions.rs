//! `/api/sessions`: a user's own sessions — list, end one, end all others.
//! Ending another session needs the password proved recently (403
//! `reauthentication_required`, see `bouncer_engine::reauth`); ending the
//! current one is a logout and never does.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use bouncer_engine::{ids::SessionId, web, Visitor};
use bouncer_wire::{Revoked, Session};
use tower_sessions::Session as Cookie;

use super::{caller::Caller, ApiError};
use crate::startup::AppState;

/// `GET /api/sessions`: the caller's live sessions, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(
        state
            .engine
            .own_sessions(&caller.user, &caller.live.id)
            .await?,
    ))
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
        web::sign_out(&state.engine, &cookie, &Visitor::Live(caller.live.clone())).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    if state
        .engine
        .end_own_session(&caller.user, &caller.live.id, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /api/sessions/revoke-others`: 403 `reauthentication_required`
/// when the caller proved the password too long ago.
pub async fn revoke_others(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .engine
        .end_other_own_sessions(&caller.user, &caller.live.id)
        .await?;
    Ok(Json(Revoked { revoked }))
}
