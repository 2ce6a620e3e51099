//! Server functions: thin adapters that take the engine from context, call
//! it and map its errors to messages for a person. The JSON API in the server
//! crate offers the same operations to scripts.

pub mod console;

use bouncer_wire::Me;
use leptos::prelude::*;

/// Every server function's result encoding: JSON, as `server_fn`'s own
/// `Json`, but read with `serde_json::from_str`. Resources hydrate their
/// values with `from_str` too, so the browser bundle carries one JSON parser
/// per result type instead of two (`from_slice` and `from_str`).
/// Use it as `#[server(output = JsonText)]`.
pub type JsonText = leptos::server_fn::codec::Post<JsonTextEncoding>;

/// The encoding behind [`JsonText`].
#[derive(Debug)]
pub struct JsonTextEncoding;

impl leptos::server_fn::ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl leptos::server_fn::FormatType for JsonTextEncoding {
    const FORMAT_TYPE: leptos::server_fn::Format = leptos::server_fn::Format::Text;
}

impl<T: serde::Serialize> leptos::server_fn::Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<leptos::server_fn::Bytes, Self::Error> {
        serde_json::to_vec(output).map(leptos::server_fn::Bytes::from)
    }
}

impl<T: serde::de::DeserializeOwned> leptos::server_fn::Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: leptos::server_fn::Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// The signed-in user and session, or `None` when signed out.
#[server(output = JsonText)]
pub async fn current_user() -> Result<Option<Me>, ServerFnError> {
    use bouncer_engine::{Engine, SessionSnapshot, Visitor};

    let engine = use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("the engine is not in the server function context"))?;
    let Visitor::Live(live) = leptos_axum::extract::<Visitor>().await? else {
        return Ok(None);
    };
    let user = engine
        .users()
        .find_by_id(&live.user_id)
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "Failed to load the current user");
            ServerFnError::new("the server could not load your account")
        })?;
    Ok(user.map(|user| engine.me(&user, &SessionSnapshot::from(live.as_ref()))))
}

/// What the login page tells a person whose session ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionEndNotice {
    pub message: String,
    /// For `signed_in_elsewhere`: where the new sign-in came from.
    pub displaced_by: Option<Displacer>,
}

/// The sign-in that replaced a session, as shown to the displaced person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Displacer {
    pub device: String,
    /// Approximate: the host part is hidden.
    pub ip: String,
    pub at: String,
}

/// The notice for a session end `reason`; for `signed_in_elsewhere` it also
/// says, from this browser's own ended session, where the new sign-in came from.
#[server(output = JsonText)]
pub async fn end_notice(reason: String) -> Result<Option<SessionEndNotice>, ServerFnError> {
    use bouncer_engine::{
        revocation::{approximate_ip, detail_for_secret},
        web::{reason_message, secret_of, AutoLogoutMessage},
        Engine,
    };

    let Ok(reason) = reason.parse::<bouncer_wire::Reason>() else {
        return Ok(None);
    };
    let auto_logout = use_context::<AutoLogoutMessage>()
        .map(|m| m.0.to_string())
        .unwrap_or_else(|| reason.message().to_owned());
    let message = reason_message(reason, &auto_logout);
    let mut displaced_by = None;
    if reason == bouncer_wire::Reason::SignedInElsewhere {
        let engine = use_context::<Engine>().ok_or_else(|| {
            ServerFnError::new("the engine is not in the server function context")
        })?;
        let cookie: tower_sessions::Session = leptos_axum::extract().await?;
        if let Some(secret) = secret_of(&cookie) {
            let detail = detail_for_secret(engine.pool(), &secret)
                .await
                .map_err(internal)?;
            displaced_by = detail.and_then(|d| {
                Some(Displacer {
                    device: d.get("device")?.as_str()?.to_owned(),
                    ip: approximate_ip(d.get("ip")?.as_str()?),
                    at: d.get("at")?.as_str()?.to_owned(),
                })
            });
        }
    }
    Ok(Some(SessionEndNotice {
        message,
        displaced_by,
    }))
}

/// What a sign-in attempt came to, when it did not fail outright.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SignInResult {
    /// Signed in; the browser is being sent on to `next`.
    SignedIn,
    /// `refuse_new` and every slot is taken: these devices hold them. Signing
    /// in again with one of their ids as `replace_session` ends it and continues.
    LimitReached(Vec<bouncer_wire::Session>),
}

/// Signs in and goes to `next` (a local path), or `/`.
#[server(output = JsonText)]
pub async fn sign_in(
    username: String,
    password: String,
    next: Option<String>,
    replace_session: Option<String>,
) -> Result<SignInResult, ServerFnError> {
    use bouncer_engine::{
        ids::SessionId,
        password::Password,
        registry::ClientInfo,
        web::{self, CookieSignInError},
        Engine, SignInError, Visitor,
    };

    let engine = use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("the engine is not in the server function context"))?;
    let (cookie, visitor, client): (tower_sessions::Session, Visitor, ClientInfo) =
        leptos_axum::extract().await?;
    let password = Password::new(password);
    let replace = replace_session
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(SessionId::parse);
    match web::sign_in(
        &engine,
        &cookie,
        &visitor,
        &username,
        &password,
        &client,
        replace.as_ref(),
    )
    .await
    {
        Ok(_) => {
            leptos_axum::redirect(&safe_next(next.as_deref()));
            Ok(SignInResult::SignedIn)
        }
        Err(CookieSignInError::SignIn(SignInError::InvalidCredentials)) => Err(ServerFnError::new(
            "The username or password is not correct.",
        )),
        Err(CookieSignInError::SignIn(SignInError::AccountDisabled)) => {
            Err(ServerFnError::new("This account is disabled."))
        }
        Err(CookieSignInError::SignIn(SignInError::TooManyAttempts(wait))) => {
            Err(too_many_attempts(wait))
        }
        Err(CookieSignInError::SignIn(SignInError::LimitReached(rows))) => {
            let mut sessions = Vec::with_capacity(rows.len());
            for row in rows {
                let snapshot = engine.snapshot_of_row(row).map_err(internal)?;
                sessions.push(engine.session_to_wire(&snapshot, &username, false));
            }
            Ok(SignInResult::LimitReached(sessions))
        }
        Err(e) => {
            tracing::error!(error = ?e, "Sign-in failed");
            Err(ServerFnError::new(
                "Something went wrong on the server. Please try again.",
            ))
        }
    }
}

/// Signs out (every session of the user, with logout-everywhere on) and goes to `/login`.
#[server(output = JsonText)]
pub async fn sign_out() -> Result<(), ServerFnError> {
    use bouncer_engine::{web, Engine, Visitor};

    let engine = use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("the engine is not in the server function context"))?;
    let (cookie, visitor): (tower_sessions::Session, Visitor) = leptos_axum::extract().await?;
    web::sign_out(&engine, &cookie, &visitor)
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "Sign-out failed");
            ServerFnError::new("Something went wrong on the server. Please try again.")
        })?;
    leptos_axum::redirect("/login?reason=logged_out");
    Ok(())
}

/// The engine and the caller's live session and account, for server
/// functions that need a signed-in person.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<
    (
        bouncer_engine::Engine,
        std::sync::Arc<bouncer_engine::registry::LiveSession>,
        bouncer_engine::users::UserRecord,
    ),
    ServerFnError,
> {
    use bouncer_engine::{Engine, Visitor};

    let engine = use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("the engine is not in the server function context"))?;
    let Visitor::Live(live) = leptos_axum::extract::<Visitor>().await? else {
        return Err(ServerFnError::new(
            "You are signed out. Please sign in again.",
        ));
    };
    let user = engine
        .users()
        .find_by_id(&live.user_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ServerFnError::new("You are signed out. Please sign in again."))?;
    Ok((engine, live, user))
}

/// What a person is told when password checks are throttled for `wait`.
#[cfg(feature = "ssr")]
fn too_many_attempts(wait: std::time::Duration) -> ServerFnError {
    ServerFnError::new(format!(
        "Too many failed attempts. Please wait {} and try again.",
        if wait.as_secs() >= 90 {
            format!("{} minutes", wait.as_secs().div_ceil(60))
        } else {
            format!("{} seconds", wait.as_secs().max(1))
        }
    ))
}

/// Logs the cause and gives the person a sentence without internals.
#[cfg(feature = "ssr")]
fn internal(error: anyhow::Error) -> ServerFnError {
    tracing::error!(error = ?error, "A server function failed");
    ServerFnError::new("Something went wrong on the server. Please try again.")
}

/// The caller's live sessions, newest first.
#[server(output = JsonText)]
pub async fn my_sessions() -> Result<Vec<bouncer_wire::Session>, ServerFnError> {
    let (engine, live, user) = signed_in().await?;
    engine.own_sessions(&user, &live.id).await.map_err(internal)
}

/// Ends one of the caller's sessions; ending the current one signs out.
#[server(output = JsonText)]
pub async fn end_my_session(id: String) -> Result<(), ServerFnError> {
    use bouncer_engine::{ids::SessionId, web, Visitor};

    let (engine, live, user) = signed_in().await?;
    let id =
        SessionId::parse(&id).ok_or_else(|| ServerFnError::new("That session does not exist."))?;
    if id == live.id {
        let cookie: tower_sessions::Session = leptos_axum::extract().await?;
        web::sign_out(&engine, &cookie, &Visitor::Live(live))
            .await
            .map_err(internal)?;
        leptos_axum::redirect("/login?reason=logged_out");
        return Ok(());
    }
    if engine
        .end_own_session(&user, &live.id, id)
        .await
        .map_err(end_own_error)?
    {
        Ok(())
    } else {
        Err(ServerFnError::new("That session has already ended."))
    }
}

/// Ends every other session of the caller; returns how many.
#[server(output = JsonText)]
pub async fn end_other_sessions() -> Result<usize, ServerFnError> {
    let (engine, live, user) = signed_in().await?;
    engine
        .end_other_own_sessions(&user, &live.id)
        .await
        .map_err(end_own_error)
}

/// The message of the error that asks for the password before another
/// device can be signed out. The page recognises it with
/// [`needs_reauthentication`] and shows the password form. A sentence rather
/// than a result type, so these server functions keep answering a bare
/// count (their form tests and scripts read `1`) and the bundle gains no
/// decoder.
pub const REAUTHENTICATION_REQUIRED: &str = "Enter your password to sign out other devices.";

/// Whether `error` says the password must be entered again first.
pub fn needs_reauthentication(error: &ServerFnError) -> bool {
    matches!(error, ServerFnError::ServerError(message) if message == REAUTHENTICATION_REQUIRED)
}

#[cfg(feature = "ssr")]
fn end_own_error(error: bouncer_engine::reauth::EndOwnError) -> ServerFnError {
    use bouncer_engine::reauth::EndOwnError;

    match error {
        EndOwnError::ReauthenticationRequired => ServerFnError::new(REAUTHENTICATION_REQUIRED),
        EndOwnError::Store(e) => internal(e),
    }
}

/// Proves the caller's password again, so this session may sign out the
/// others for the re-authentication window. Wrong passwords count in the
/// login throttle, as in a password change.
#[server(output = JsonText)]
pub async fn reauthenticate(password: String) -> Result<(), ServerFnError> {
    use bouncer_engine::{accounts::AccountError, password::Password, registry::ClientInfo};

    let (engine, live, _) = signed_in().await?;
    let client: ClientInfo = leptos_axum::extract().await?;
    match engine
        .reauthenticate(&live, &Password::new(password), &client.ip)
        .await
    {
        Ok(()) => Ok(()),
        Err(AccountError::InvalidCredentials) => {
            Err(ServerFnError::new("The password is not correct."))
        }
        Err(AccountError::TooManyAttempts(wait)) => Err(too_many_attempts(wait)),
        Err(AccountError::NotFound) => Err(ServerFnError::new(
            "You are signed out. Please sign in again.",
        )),
        Err(AccountError::Store(e)) => Err(internal(e)),
        Err(other) => Err(internal(anyhow::Error::new(other))),
    }
}

/// Changes the caller's password; the other sessions end, this one goes on.
#[server(output = JsonText)]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<usize, ServerFnError> {
    use bouncer_engine::{accounts::AccountError, password::Password, registry::ClientInfo, web};

    if new_password != confirm_password {
        return Err(ServerFnError::new("The new passwords do not match."));
    }
    let (engine, live, _) = signed_in().await?;
    let (cookie, client): (tower_sessions::Session, ClientInfo) = leptos_axum::extract().await?;
    let current = Password::new(current_password);
    let new = Password::new(new_password);
    match web::change_password(&engine, &cookie, &live, &current, &new, &client).await {
        Ok(ended) => Ok(ended),
        Err(AccountError::InvalidCredentials) => {
            Err(ServerFnError::new("The current password is not correct."))
        }
        Err(AccountError::TooManyAttempts(wait)) => Err(too_many_attempts(wait)),
        Err(AccountError::WeakPassword(weak)) => Err(ServerFnError::new(format!(
            "Choose another password: {weak}."
        ))),
        Err(AccountError::Store(e)) => Err(internal(e)),
        Err(other) => Err(ServerFnError::new(other.to_string())),
    }
}

/// `next` if it is a local path (never another site: no open redirect), else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The text of a server function error, without the framework's prefix.
pub fn error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        _ => "The server could not be reached. Check your connection and try again.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_kept_only_when_it_is_a_local_path() {
        assert_eq!(safe_next(Some("/watch?t=1")), "/watch?t=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
