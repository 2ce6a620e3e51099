//! The engine's seam with axum: the cookie, the request-path check as a
//! middleware, extractors for handlers, and sign-in/sign-out against the
//! cookie. Any axum app can mount these; nothing here knows Leptos.
//!
//! Architecture invariant: the cookie carries nothing but tower-sessions'
//! opaque random id. The engine hashes it on arrival and never stores it.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use bouncer_wire::{ErrorBody, Reason};
use tower_sessions::{
    cookie::SameSite, session::Expiry, Session, SessionManagerLayer, SessionStore,
};

use crate::{
    engine::{Engine, SignInError, Visitor},
    ids::{SecretHash, SessionId},
    password::Password,
    registry::{ClientInfo, LiveSession},
    revocation::Actor,
    users::UserRecord,
};

/// The session cookie's name on an http origin (local development).
pub const SESSION_COOKIE: &str = "bouncer_session";

/// The session cookie's name on an https origin. Browsers accept a `__Host-`
/// cookie only with `Secure`, `Path=/` and no `Domain`, so no sibling
/// subdomain and no plain-http page can set or shadow it (ASVS V3.4.4). They
/// refuse such a cookie without `Secure`, which is why http origins keep
/// [`SESSION_COOKIE`].
pub const SECURE_SESSION_COOKIE: &str = "__Host-bouncer_session";

/// The session cookie's name: [`SECURE_SESSION_COOKIE`] when `secure`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The tower-sessions layer with the cookie flags of the API: `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, no `Domain` (the cookie goes back to this host
/// only), and `Secure` with the `__Host-` name when the public origin is https.
pub fn session_layer<S: SessionStore + Clone>(store: S, secure: bool) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_name(session_cookie_name(secure))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_secure(secure)
}

/// Puts `Secure` on the `Set-Cookie` that deletes an https session cookie, as
/// a response map layered just outside [`session_layer`] (a no-op on http).
/// tower-sessions builds that removal from the request's cookie, which has a
/// name and a value only, and browsers refuse any `__Host-` cookie without
/// `Secure`: without this a browser would keep the dead id after logout.
pub async fn secure_cookie_removal(mut response: Response) -> Response {
    let prefix = format!("{SECURE_SESSION_COOKIE}=");
    let lacks_secure = |value: &HeaderValue| {
        value.to_str().is_ok_and(|text| {
            text.starts_with(&prefix)
                && !text
                    .split(';')
                    .skip(1)
                    .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
        })
    };
    let headers = response.headers_mut();
    if !headers.get_all(header::SET_COOKIE).iter().any(lacks_secure) {
        return response;
    }
    let values: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| match value.to_str() {
            Ok(text) if lacks_secure(value) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or_else(|_| value.clone())
            }
            _ => value.clone(),
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in values {
        headers.append(header::SET_COOKIE, value);
    }
    response
}

/// A JSON error response in the API's shape.
pub fn json_error(status: StatusCode, body: ErrorBody) -> Response {
    (status, Json(body)).into_response()
}

/// The 401 for a request whose session ended (with the reason) or that has none.
pub fn unauthenticated(visitor: &Visitor, auto_logout_message: &str) -> Response {
    let body = match visitor {
        Visitor::Ended(reason) => ErrorBody {
            error: "session_ended".into(),
            message: Some(reason_message(*reason, auto_logout_message)),
            reason: Some(*reason),
            sessions: None,
        },
        _ => ErrorBody {
            error: "unauthenticated".into(),
            message: Some("Please sign in.".into()),
            reason: None,
            sessions: None,
        },
    };
    json_error(StatusCode::UNAUTHORIZED, body)
}

/// The sentence shown for `reason`: timeouts use the operator's message.
pub fn reason_message(reason: Reason, auto_logout_message: &str) -> String {
    if reason.is_timeout() {
        auto_logout_message.to_owned()
    } else {
        reason.message().to_owned()
    }
}

/// The state of the check middleware.
#[derive(Debug, Clone)]
pub struct SessionCheck {
    pub engine: Engine,
    /// Paths whose requests are not user activity (`GET /api/auth/me`, the
    /// WebSocket upgrade): they neither extend the idle deadline nor count as
    /// the person being there.
    pub passive_paths: Arc<[&'static str]>,
    /// Shown for `idle_timeout` and `absolute_timeout`.
    pub auto_logout_message: Arc<str>,
}

/// The secret hash of the cookie a request carries, if any.
pub fn secret_of(session: &Session) -> Option<SecretHash> {
    session
        .id()
        .map(|id| SecretHash::of_secret(&id.to_string()))
}

/// The request-path check, as a middleware: every request behind it gets a
/// [`Visitor`] in its extensions. Must sit inside the [`session_layer`].
pub async fn check_session(
    State(check): State<SessionCheck>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let visitor = match secret_of(&session) {
        None => Visitor::Anonymous,
        Some(secret) => {
            let activity = !check.passive_paths.contains(&request.uri().path());
            match check.engine.check(&secret, activity).await {
                Ok(visitor) => visitor,
                Err(e) => {
                    tracing::error!(error = ?e, "The session check failed");
                    return json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorBody {
                            error: "unavailable".into(),
                            message: Some(
                                "The server cannot check sessions right now. Please retry.".into(),
                            ),
                            reason: None,
                            sessions: None,
                        },
                    );
                }
            }
        }
    };
    request.extensions_mut().insert(visitor);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            tracing::error!("No Visitor in the request: is `check_session` layered on this route?");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the session check middleware is missing",
            )
                .into_response()
        })
    }
}

/// A handler argument that demands a live session; otherwise the API's 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<LiveSession>);

/// Carries the auto-logout message to the [`Authenticated`] rejection.
#[derive(Debug, Clone)]
pub struct AutoLogoutMessage(pub Arc<str>);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Visitor::from_request_parts(parts, state).await? {
            Visitor::Live(live) => Ok(Authenticated(live)),
            other => {
                let message = parts
                    .extensions
                    .get::<AutoLogoutMessage>()
                    .map(|m| m.0.to_string())
                    .unwrap_or_else(|| Reason::IdleTimeout.message().to_owned());
                Err(unauthenticated(&other, &message))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    /// The peer address (from `ConnectInfo`) and the `User-Agent` header.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(ClientInfo { ip, user_agent })
    }
}

/// Why signing in through the cookie failed.
#[derive(Debug, thiserror::Error)]
pub enum CookieSignInError {
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error("the session cookie could not be issued")]
    Cookie(#[from] tower_sessions::session::Error),
}

/// Signs in with a username and password and binds the result to the
/// request's cookie, always under a fresh cookie id (no fixation).
/// `replace_choice` names one of the user's sessions to end when the
/// `refuse_new` limit would otherwise refuse the login.
///
/// A browser already signed in as the same user keeps its session (same public
/// id; it is not a new device and replaces nobody). A browser signed in as
/// someone else is logged out of that session first.
pub async fn sign_in(
    engine: &Engine,
    cookie: &Session,
    visitor: &Visitor,
    username: &str,
    password: &Password,
    client: &ClientInfo,
    replace_choice: Option<&SessionId>,
) -> Result<(UserRecord, Arc<LiveSession>), CookieSignInError> {
    let user = engine.authenticate(username, password, &client.ip).await?;
    if let Visitor::Live(live) = visitor {
        if live.user_id == user.id {
            let secret = reissue(engine, cookie, &live.id, live.created_at).await?;
            if engine
                .continue_session(live, secret)
                .await
                .map_err(SignInError::Store)?
            {
                return Ok((user, Arc::clone(live)));
            }
        } else {
            let actor = Actor::user(live.user_id.clone(), "sign-in as another user");
            engine
                .end(
                    crate::registry::Scope::Sessions(vec![live.id.clone()]),
                    Reason::LoggedOut,
                    &actor,
                    serde_json::json!({}),
                )
                .await
                .map_err(SignInError::Store)?;
        }
    }
    let id = SessionId::generate();
    let secret = reissue(engine, cookie, &id, engine.now()).await?;
    match engine
        .open_session(&user, id, secret, client, replace_choice)
        .await
    {
        Ok(live) => Ok((user, live)),
        Err(e) => {
            // The refused session must not keep a cookie.
            cookie.flush().await?;
            Err(e.into())
        }
    }
}

/// Gives the cookie a fresh random id for session `id` and returns its hash.
async fn reissue(
    engine: &Engine,
    cookie: &Session,
    id: &SessionId,
    created_at: crate::clock::Timestamp,
) -> Result<SecretHash, CookieSignInError> {
    cookie.cycle_id().await?;
    cookie.insert("sid", id.as_str()).await?;
    // The cookie lives as long as the session may (the absolute timeout), so
    // closing the browser does not sign the person out of a remembered device.
    let lifetime = engine
        .policy()
        .absolute_timeout
        .unwrap_or(std::time::Duration::from_secs(400 * 24 * 60 * 60));
    cookie.set_expiry(Some(Expiry::AtDateTime(
        created_at.plus(lifetime).to_offset_date_time(),
    )));
    cookie.save().await?;
    secret_of(cookie).ok_or_else(|| {
        CookieSignInError::SignIn(SignInError::Store(anyhow::anyhow!(
            "the cookie has no id after saving"
        )))
    })
}

/// Changes the caller's password (see [`Engine::change_own_password`]) and
/// keeps this session signed in under a fresh cookie id. `client` is the
/// request's, whose address the re-authentication throttle counts.
pub async fn change_password(
    engine: &Engine,
    cookie: &Session,
    live: &Arc<LiveSession>,
    current: &Password,
    new: &Password,
    client: &ClientInfo,
) -> Result<usize, crate::accounts::AccountError> {
    let ended = engine
        .change_own_password(live, current, new, &client.ip)
        .await?;
    let secret = reissue(engine, cookie, &live.id, live.created_at)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to re-issue the session cookie: {e}"))?;
    engine.continue_session(live, secret).await?;
    Ok(ended)
}

/// Logs the request's session out (see [`Engine::sign_out`]) and clears the
/// cookie. Harmless without a live session.
pub async fn sign_out(engine: &Engine, cookie: &Session, visitor: &Visitor) -> anyhow::Result<()> {
    if let Visitor::Live(live) = visitor {
        let actor = Actor::user(live.user_id.clone(), "self");
        engine.sign_out(live, &actor).await?;
    }
    cookie
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("Failed to clear the session cookie: {e}"))?;
    Ok(())
}
