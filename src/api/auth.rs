//! `/api/auth/*`: login, logout, who am I, password change and
//! re-authentication.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use bouncer_engine::{ids::SessionId, login::SignInError, password::Password};
use bouncer_web::{wire, ApiError, Auth, Authenticated, Caller, Client, Credentials, Json};
use bouncer_wire::{LoginRequest, Me, PasswordChange, Reauthenticate};

/// `POST /api/auth/login`.
#[tracing::instrument(skip_all, fields(username))]
pub async fn login(
    auth: Auth,
    Client(client): Client,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    tracing::Span::current().record("username", request.username.as_str());
    let password = Password::new(request.password);
    let replace = request
        .replace_session
        .as_deref()
        .and_then(SessionId::parse);
    let credentials = Credentials {
        username: &request.username,
        password: &password,
        replace: replace.as_ref(),
    };
    match auth.sign_in(credentials, &client).await {
        Ok((signed_in, cookie)) => {
            let session = auth.engine().snapshots().of_live(&signed_in.session);
            Ok((cookie, axum::Json(wire::me(&signed_in.user, &session))).into_response())
        }
        Err((SignInError::LimitReached(sessions), cookie)) => {
            let sessions = sessions
                .iter()
                .map(|s| wire::session(s, &request.username, false))
                .collect();
            Ok((cookie, ApiError::LimitReached(sessions)).into_response())
        }
        Err((e, cookie)) => Ok((cookie, ApiError::from(e)).into_response()),
    }
}

/// `POST /api/auth/logout`: 204, harmless when not signed in.
pub async fn logout(auth: Auth) -> Result<(Option<bouncer_web::SetCookie>, StatusCode), ApiError> {
    Ok((auth.sign_out().await?, StatusCode::NO_CONTENT))
}

/// `POST /api/auth/password`: the other sessions end, this one continues
/// under a new cookie secret. Wrong current passwords are throttled like
/// failed sign-ins (429 `too_many_attempts` with `Retry-After`).
pub async fn change_password(
    auth: Auth,
    Authenticated(live): Authenticated,
    Client(client): Client,
    Json(request): Json<PasswordChange>,
) -> Result<(bouncer_web::SetCookie, StatusCode), ApiError> {
    let current = Password::new(request.current_password);
    let new = Password::new(request.new_password);
    let (_, cookie) = auth.change_password(&live, &current, &new, &client).await?;
    Ok((cookie, StatusCode::NO_CONTENT))
}

/// `POST /api/auth/reauthenticate`: the password, proved again, lets this
/// session end the user's other sessions for the re-authentication window.
/// A wrong one is 403 `invalid_credentials` and counts in the login throttle
/// (429 `too_many_attempts` with `Retry-After`), as in a password change.
#[tracing::instrument(skip_all)]
pub async fn reauthenticate(
    auth: Auth,
    Authenticated(live): Authenticated,
    Client(client): Client,
    Json(request): Json<Reauthenticate>,
) -> Result<StatusCode, ApiError> {
    auth.engine()
        .devices()
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
pub async fn current(auth: Auth, caller: Caller) -> axum::Json<Me> {
    let session = auth.engine().snapshots().of_live(&caller.live);
    axum::Json(wire::me(&caller.user, &session))
}
