//! `/api/auth/*`: login, logout, who am I, password change and
//! re-authentication.

use axum::{
    extract::{rejection::JsonRejection, State},
    http::StatusCode,
    Json,
};
use bouncer_engine::{
    ids::SessionId,
    password::Password,
    registry::ClientInfo,
    web::{self, Authenticated, CookieSignInError},
    SessionSnapshot, SignInError, Visitor,
};
use bouncer_wire::{LoginRequest, Me, PasswordChange, Reauthenticate};
use tower_sessions::Session;

use super::ApiError;
use crate::startup::AppState;

/// `POST /api/auth/login`.
#[tracing::instrument(skip_all, fields(username))]
pub async fn login(
    State(state): State<AppState>,
    cookie: Session,
    visitor: Visitor,
    client: ClientInfo,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<Me>, ApiError> {
    let Json(request) = body?;
    tracing::Span::current().record("username", request.username.as_str());
    let engine = &state.engine;
    let password = Password::new(request.password);
    let replace = request
        .replace_session
        .as_deref()
        .and_then(SessionId::parse);
    match web::sign_in(
        engine,
        &cookie,
        &visitor,
        &request.username,
        &password,
        &client,
        replace.as_ref(),
    )
    .await
    {
        Ok((user, live)) => Ok(Json(
            engine.me(&user, &SessionSnapshot::from(live.as_ref())),
        )),
        Err(CookieSignInError::SignIn(SignInError::LimitReached(rows))) => {
            let mut sessions = Vec::with_capacity(rows.len());
            for row in rows {
                let snapshot = engine.snapshot_of_row(row)?;
                sessions.push(engine.session_to_wire(&snapshot, &request.username, false));
            }
            Err(ApiError::LimitReached(sessions))
        }
        Err(CookieSignInError::SignIn(e)) => Err(e.into()),
        Err(CookieSignInError::Cookie(e)) => Err(anyhow::Error::new(e)
            .context("Failed to issue the session cookie")
            .into()),
    }
}

/// `POST /api/auth/logout`: 204, harmless when not signed in.
pub async fn logout(
    State(state): State<AppState>,
    cookie: Session,
    visitor: Visitor,
) -> Result<StatusCode, ApiError> {
    web::sign_out(&state.engine, &cookie, &visitor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/password`: the other sessions end, this one continues
/// under a new cookie id. Wrong current passwords are throttled like failed
/// sign-ins (429 `too_many_attempts` with `Retry-After`).
pub async fn change_password(
    State(state): State<AppState>,
    cookie: Session,
    Authenticated(live): Authenticated,
    client: ClientInfo,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    web::change_password(
        &state.engine,
        &cookie,
        &live,
        &Password::new(request.current_password),
        &Password::new(request.new_password),
        &client,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/reauthenticate`: the password, proved again, lets this
/// session end the user's other sessions for the re-authentication window.
/// A wrong one is 403 `invalid_credentials` and counts in the login throttle
/// (429 `too_many_attempts` with `Retry-After`), as in a password change.
#[tracing::instrument(skip_all)]
pub async fn reauthenticate(
    State(state): State<AppState>,
    Authenticated(live): Authenticated,
    client: ClientInfo,
    body: Result<Json<Reauthenticate>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state
        .engine
        .reauthenticate(&live, &Password::new(request.password), &client.ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/activity`: the session check already counted this request
/// as user activity; answering is all that is left.
pub async fn activity(Authenticated(_): Authenticated) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `GET /api/auth/me`: not user activity (the tab's watcher calls it).
pub async fn current(
    State(state): State<AppState>,
    Authenticated(live): Authenticated,
) -> Result<Json<Me>, ApiError> {
    let user = state
        .engine
        .users()
        .find_by_id(&live.user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("The user of live session {} is missing", live.id))?;
    Ok(Json(
        state
            .engine
            .me(&user, &SessionSnapshot::from(live.as_ref())),
    ))
}
