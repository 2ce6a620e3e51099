//! `/api/sessions`: a user's own sessions — list, end one, end all others.
//! Ending another session needs the password proved recently (403
//! `reauthentication_required`, see `bouncer_engine::devices`); ending the
//! current one is a logout and never does.

use axum::{
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use bouncer_engine::ids::SessionId;
use bouncer_web::{wire, ApiError, Auth, Caller};
use bouncer_wire::{Revoked, Session};

/// `GET /api/sessions`: the caller's live sessions, newest first.
pub async fn list(auth: Auth, caller: Caller) -> Result<axum::Json<Vec<Session>>, ApiError> {
    let sessions = auth.engine().devices().list(&caller.user).await?;
    Ok(axum::Json(wire::own_sessions(
        &caller.user,
        &sessions,
        &caller.live.id,
    )))
}

/// `DELETE /api/sessions/{id}`: ends one of the caller's sessions
/// (`revoked_by_user`); the current one is a logout.
pub async fn end_one(
    auth: Auth,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SessionId::parse(&id).ok_or(ApiError::NotFound)?;
    if id == caller.live.id {
        let cookie = auth.sign_out().await?;
        return Ok((cookie, StatusCode::NO_CONTENT).into_response());
    }
    let devices = auth.engine().devices();
    if devices.end_one(&caller.user, &caller.live.id, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /api/sessions/revoke-others`: 403 `reauthentication_required`
/// when the caller proved the password too long ago.
pub async fn revoke_others(auth: Auth, caller: Caller) -> Result<axum::Json<Revoked>, ApiError> {
    let devices = auth.engine().devices();
    let revoked = devices.end_others(&caller.user, &caller.live.id).await?;
    Ok(axum::Json(Revoked { revoked }))
}
