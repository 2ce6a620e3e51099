//! Server functions: thin adapters that take the request's session from the
//! edge (`bouncer_web`), call one of the engine's services and map its
//! refusals to the sentences the domain errors carry. The JSON API in the
//! server crate offers the same operations to scripts.

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
    let auth = edge::auth().await?;
    let bouncer_engine::Visitor::Live(live) = auth.visitor() else {
        return Ok(None);
    };
    let user = auth.engine().user_of(live).await.map_err(edge::internal)?;
    let session = auth.engine().snapshots().of_live(live);
    Ok(user.map(|user| bouncer_web::wire::me(&user, &session)))
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
    let Ok(reason) = reason.parse::<bouncer_wire::Reason>() else {
        return Ok(None);
    };
    let auth = edge::auth().await?;
    let engine = auth.engine();
    let message = engine.policy().end_message(reason).to_owned();
    let mut displaced_by = None;
    if reason == bouncer_wire::Reason::SignedInElsewhere {
        if let Some(secret) = edge::cookie_secret().await? {
            let displacement = engine.displaced_by(&secret).await.map_err(edge::internal)?;
            displaced_by = displacement.map(|d| Displacer {
                device: d.device,
                ip: d.ip,
                at: d.at,
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
    use bouncer_engine::{ids::SessionId, login::SignInError, password::Password};
    use bouncer_web::{wire, Client, Credentials};

    let auth = edge::auth().await?;
    let Client(client) = leptos_axum::extract().await?;
    let password = Password::new(password);
    let replace = replace_session
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(SessionId::parse);
    let credentials = Credentials {
        username: &username,
        password: &password,
        replace: replace.as_ref(),
    };
    match auth.sign_in(credentials, &client).await {
        Ok((_, cookie)) => {
            edge::set_cookie(cookie);
            let next = safe_next(next.as_deref());
            // The page's script follows a redirect client-side, which reaches
            // only this app's routes; another path of the origin (the app
            // behind the same proxy) is left to the page, which loads it
            // (`LoginPage`). A form posted without a script follows it itself.
            if crate::is_app_route(&next) || edge::posted_without_script().await? {
                leptos_axum::redirect(&next);
            }
            Ok(SignInResult::SignedIn)
        }
        Err((SignInError::LimitReached(sessions), cookie)) => {
            edge::set_cookie(cookie);
            let sessions = sessions
                .iter()
                .map(|s| wire::session(s, &username, false))
                .collect();
            Ok(SignInResult::LimitReached(sessions))
        }
        Err((e, _)) => Err(edge::refused(e)),
    }
}

/// Signs out (every session of the user, with logout-everywhere on) and goes to `/login`.
#[server(output = JsonText)]
pub async fn sign_out() -> Result<(), ServerFnError> {
    let auth = edge::auth().await?;
    edge::set_cookie(auth.sign_out().await.map_err(edge::internal)?);
    leptos_axum::redirect("/login?reason=logged_out");
    Ok(())
}

/// The server side of every server function: the request's session from the
/// edge, its cookie, and the mapping of refusals to what a person reads.
#[cfg(feature = "ssr")]
pub(crate) mod edge {
    use bouncer_engine::messages::UserFacing;
    use bouncer_web::{Auth, Caller, SetCookie};
    use leptos::prelude::*;

    /// How the request's session stands.
    pub async fn auth() -> Result<Auth, ServerFnError> {
        leptos_axum::extract::<Auth>()
            .await
            .map_err(|e| internal(anyhow::anyhow!("{e}")))
    }

    /// The signed-in person behind the request, or a refusal saying they are
    /// signed out.
    pub async fn caller() -> Result<(Auth, Caller), ServerFnError> {
        let auth = auth().await?;
        let caller = leptos_axum::extract::<Caller>()
            .await
            .map_err(|_| ServerFnError::new(bouncer_engine::messages::SIGNED_OUT))?;
        Ok((auth, caller))
    }

    /// The hash of the cookie the request carries (even a dead one).
    pub async fn cookie_secret() -> Result<Option<bouncer_engine::ids::SecretHash>, ServerFnError> {
        let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
        let auth = auth().await?;
        Ok(auth.cookie().secret_of(&headers))
    }

    /// Whether the browser posted the form itself, no script running: it
    /// asks for HTML (the test `leptos_axum::redirect` makes too).
    pub async fn posted_without_script() -> Result<bool, ServerFnError> {
        let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
        Ok(headers
            .get(axum::http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html")))
    }

    /// Puts a `Set-Cookie` on the server function's response (none: nothing).
    pub fn set_cookie(cookie: impl Into<Option<SetCookie>>) {
        let (Some(SetCookie(value)), Some(response)) =
            (cookie.into(), use_context::<leptos_axum::ResponseOptions>())
        else {
            return;
        };
        response.append_header(axum::http::header::SET_COOKIE, value);
    }

    /// What a person reads for a refusal; a failure they cannot fix is
    /// logged and told without internals.
    pub fn refused<E: UserFacing>(error: E) -> ServerFnError {
        if error.code() == "internal" {
            tracing::error!(error = %error, "A server function failed");
        }
        ServerFnError::new(error.user_message())
    }

    /// Logs the cause and gives the person a sentence without internals.
    pub fn internal(error: anyhow::Error) -> ServerFnError {
        tracing::error!(error = ?error, "A server function failed");
        ServerFnError::new(bouncer_engine::messages::INTERNAL)
    }
}

/// The caller's live sessions, newest first.
#[server(output = JsonText)]
pub async fn my_sessions() -> Result<Vec<bouncer_wire::Session>, ServerFnError> {
    let (auth, caller) = edge::caller().await?;
    let sessions = auth
        .engine()
        .devices()
        .list(&caller.user)
        .await
        .map_err(edge::internal)?;
    Ok(bouncer_web::wire::own_sessions(
        &caller.user,
        &sessions,
        &caller.live.id,
    ))
}

/// Ends one of the caller's sessions; ending the current one signs out.
#[server(output = JsonText)]
pub async fn end_my_session(id: String) -> Result<(), ServerFnError> {
    use bouncer_engine::ids::SessionId;

    let (auth, caller) = edge::caller().await?;
    let id =
        SessionId::parse(&id).ok_or_else(|| ServerFnError::new("That session does not exist."))?;
    if id == caller.live.id {
        edge::set_cookie(auth.sign_out().await.map_err(edge::internal)?);
        leptos_axum::redirect("/login?reason=logged_out");
        return Ok(());
    }
    let devices = auth.engine().devices();
    match devices.end_one(&caller.user, &caller.live.id, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServerFnError::new("That session has already ended.")),
        Err(e) => Err(edge::refused(e)),
    }
}

/// Ends every other session of the caller; returns how many.
#[server(output = JsonText)]
pub async fn end_other_sessions() -> Result<usize, ServerFnError> {
    let (auth, caller) = edge::caller().await?;
    let devices = auth.engine().devices();
    devices
        .end_others(&caller.user, &caller.live.id)
        .await
        .map_err(edge::refused)
}

/// Whether `error` says the password must be entered again first (the
/// page then shows the password form). Recognised by its sentence rather
/// than a result type, so these server functions keep answering a bare
/// count (their form tests and scripts read `1`) and the bundle gains no
/// decoder.
pub fn needs_reauthentication(error: &ServerFnError) -> bool {
    matches!(error, ServerFnError::ServerError(message) if message == REAUTHENTICATION_REQUIRED)
}

/// The sentence of `EndOwnError::ReauthenticationRequired`, which the
/// browser bundle (no engine in it) must recognise; a server test checks
/// the two agree.
pub const REAUTHENTICATION_REQUIRED: &str = "Enter your password to sign out other devices.";

/// Proves the caller's password again, so this session may sign out the
/// others for the re-authentication window. Wrong passwords count in the
/// login throttle, as in a password change.
#[server(output = JsonText)]
pub async fn reauthenticate(password: String) -> Result<(), ServerFnError> {
    use bouncer_engine::password::Password;
    use bouncer_web::Client;

    let (auth, caller) = edge::caller().await?;
    let Client(client) = leptos_axum::extract().await?;
    auth.engine()
        .devices()
        .reauthenticate(&caller.live, &Password::new(password), &client.ip)
        .await
        .map_err(edge::refused)
}

/// Changes the caller's password; the other sessions end, this one goes on.
#[server(output = JsonText)]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<usize, ServerFnError> {
    use bouncer_engine::password::Password;
    use bouncer_web::Client;

    if new_password != confirm_password {
        return Err(ServerFnError::new("The new passwords do not match."));
    }
    let (auth, caller) = edge::caller().await?;
    let Client(client) = leptos_axum::extract().await?;
    let current = Password::new(current_password);
    let new = Password::new(new_password);
    let (ended, cookie) = auth
        .change_password(&caller.live, &current, &new, &client)
        .await
        .map_err(edge::refused)?;
    edge::set_cookie(cookie);
    Ok(ended)
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
