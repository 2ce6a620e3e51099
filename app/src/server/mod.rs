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

/// Why a server function refused or failed, as the JSON API says it: the
/// API's code, the sentence a person reads and, for `session_ended`, the
/// reason. It is the body of the error answer, sent with the API's status
/// (401, 403, 409, 429…; see `edge::refused`), so a refusal never reads as
/// a server error to monitoring.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<bouncer_wire::Reason>,
    /// The request's id, as the API's error bodies carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Refusal {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Refusal {
            error: error.to_owned(),
            message: message.into(),
            reason: None,
            request_id: None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl leptos::server_fn::error::FromServerFnError for Refusal {
    type Encoder = JsonTextEncoding;

    /// What went wrong in the framework: on the way (the server could not
    /// be reached) or in the call's shape.
    fn from_server_fn_error(error: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match error {
            E::Request(_) | E::Response(_) => Refusal::new(
                "unreachable",
                "The server could not be reached. Check your connection and try again.",
            ),
            E::Args(why) | E::MissingArg(why) | E::Deserialization(why) => {
                // On the server this is a request the function could not
                // read: the API's 400, not the framework's 500.
                #[cfg(feature = "ssr")]
                return edge::refuse(axum::http::StatusCode::BAD_REQUEST, "bad_request", &why);
                #[cfg(not(feature = "ssr"))]
                Refusal::new("bad_request", why)
            }
            _ => Refusal::new(
                "internal",
                "Something went wrong on the server. Please try again.",
            ),
        }
    }
}

/// The signed-in user and session, or `None` when signed out.
#[server(output = JsonText)]
pub async fn current_user() -> Result<Option<Me>, Refusal> {
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
pub async fn end_notice(reason: String) -> Result<Option<SessionEndNotice>, Refusal> {
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

/// Signs in and goes to `next` when it is a path of this origin (see
/// `PublicOrigin::next_path`: never another site, never the sign-in page),
/// or `/`.
#[server(output = JsonText)]
pub async fn sign_in(
    username: String,
    password: String,
    next: Option<String>,
    replace_session: Option<String>,
) -> Result<SignInResult, Refusal> {
    use bouncer_engine::{ids::SessionId, login::SignInError, password::Password};
    use bouncer_web::{wire, Client, Credentials};

    let auth = edge::auth().await?;
    let Client(client) = edge::extract().await?;
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
            let next = auth.next_path(next.as_deref());
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
pub async fn sign_out() -> Result<(), Refusal> {
    let auth = edge::auth().await?;
    edge::set_cookie(auth.sign_out().await.map_err(edge::internal)?);
    leptos_axum::redirect("/login?reason=logged_out");
    Ok(())
}

/// The server side of every server function: the request's session from the
/// edge, its cookie, and the mapping of refusals to what a person reads.
#[cfg(feature = "ssr")]
pub(crate) mod edge {
    use axum::http::StatusCode;
    use bouncer_web::{
        error::{domain, HttpStatus},
        ApiError, Auth, Caller, SetCookie,
    };
    use bouncer_wire::ErrorBody;
    use leptos::prelude::*;

    use super::Refusal;

    /// Takes something of the request (an extractor), as a refusal when it
    /// cannot (a wiring mistake: logged).
    pub async fn extract<T>() -> Result<T, Refusal>
    where
        T: axum::extract::FromRequestParts<()> + Send,
        T::Rejection: std::fmt::Debug,
    {
        leptos_axum::extract::<T>()
            .await
            .map_err(|e| internal(anyhow::anyhow!("{e}")))
    }

    /// How the request's session stands.
    pub async fn auth() -> Result<Auth, Refusal> {
        extract::<Auth>().await
    }

    /// The signed-in person behind the request, or the API's 401 refusal
    /// (`session_ended` with the reason, when the server still knows it).
    pub async fn caller() -> Result<(Auth, Caller), Refusal> {
        let auth = auth().await?;
        match leptos_axum::extract::<Caller>().await {
            Ok(caller) => Ok((auth, caller)),
            Err(_) => Err(from_api(auth.unauthenticated())),
        }
    }

    /// The hash of the cookie the request carries (even a dead one).
    pub async fn cookie_secret() -> Result<Option<bouncer_engine::ids::SecretHash>, Refusal> {
        let headers: axum::http::HeaderMap = extract().await?;
        let auth = auth().await?;
        Ok(auth.cookie().secret_of(&headers))
    }

    /// Whether the browser posted the form itself, no script running: it
    /// asks for HTML (the test `leptos_axum::redirect` makes too).
    pub async fn posted_without_script() -> Result<bool, Refusal> {
        let headers: axum::http::HeaderMap = extract().await?;
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

    /// A domain refusal with the API's status, code and sentence (and
    /// `Retry-After` when throttled); a failure the person cannot fix is
    /// logged and told without internals.
    pub fn refused<E: HttpStatus>(error: E) -> Refusal {
        answer(domain(&error))
    }

    /// One of the edge's own refusals (signed out, not found…), as the API
    /// answers it.
    pub fn from_api(error: ApiError) -> Refusal {
        answer(error.parts())
    }

    /// A refusal of the server function's own, with the API's `status`.
    pub fn refuse(status: StatusCode, code: &str, message: &str) -> Refusal {
        let body = ErrorBody {
            error: code.to_owned(),
            message: Some(message.to_owned()),
            reason: None,
            sessions: None,
            request_id: bouncer_web::request_id::current(),
            oldest: None,
        };
        answer((status, body, None))
    }

    /// Logs the cause and gives the person a sentence without internals.
    pub fn internal(error: anyhow::Error) -> Refusal {
        answer(bouncer_web::error::internal(&error))
    }

    /// Sets the answer's status (and `Retry-After`) and gives its body.
    fn answer((status, body, wait): (StatusCode, ErrorBody, Option<u64>)) -> Refusal {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
            if let Some(wait) = wait {
                response.insert_header(axum::http::header::RETRY_AFTER, wait.into());
            }
        }
        Refusal {
            error: body.error,
            message: body.message.unwrap_or_default(),
            reason: body.reason,
            request_id: body.request_id,
        }
    }
}

/// The caller's live sessions, newest first.
#[server(output = JsonText)]
pub async fn my_sessions() -> Result<Vec<bouncer_wire::Session>, Refusal> {
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
pub async fn end_my_session(id: String) -> Result<(), Refusal> {
    use axum::http::StatusCode;
    use bouncer_engine::ids::SessionId;

    let (auth, caller) = edge::caller().await?;
    let gone = || {
        edge::refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "That session does not exist.",
        )
    };
    let id = SessionId::parse(&id).ok_or_else(gone)?;
    if id == caller.live.id {
        edge::set_cookie(auth.sign_out().await.map_err(edge::internal)?);
        leptos_axum::redirect("/login?reason=logged_out");
        return Ok(());
    }
    let devices = auth.engine().devices();
    match devices.end_one(&caller.user, &caller.live.id, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(edge::refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "That session has already ended.",
        )),
        Err(e) => Err(edge::refused(e)),
    }
}

/// Ends every other session of the caller; returns how many.
#[server(output = JsonText)]
pub async fn end_other_sessions() -> Result<usize, Refusal> {
    let (auth, caller) = edge::caller().await?;
    let devices = auth.engine().devices();
    devices
        .end_others(&caller.user, &caller.live.id)
        .await
        .map_err(edge::refused)
}

/// Whether `error` says the password must be entered again first (the
/// page then shows the password form).
pub fn needs_reauthentication(error: &Refusal) -> bool {
    error.error == "reauthentication_required"
}

/// Proves the caller's password again, so this session may sign out the
/// others for the re-authentication window. Wrong passwords count in the
/// login throttle, as in a password change.
#[server(output = JsonText)]
pub async fn reauthenticate(password: String) -> Result<(), Refusal> {
    use bouncer_engine::password::Password;
    use bouncer_web::Client;

    let (auth, caller) = edge::caller().await?;
    let Client(client) = edge::extract().await?;
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
) -> Result<usize, Refusal> {
    use bouncer_engine::password::Password;
    use bouncer_web::Client;

    if new_password != confirm_password {
        return Err(edge::refuse(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_request",
            "The new passwords do not match.",
        ));
    }
    let (auth, caller) = edge::caller().await?;
    let Client(client) = edge::extract().await?;
    let current = Password::new(current_password);
    let new = Password::new(new_password);
    let (ended, cookie) = auth
        .change_password(&caller.live, &current, &new, &client)
        .await
        .map_err(edge::refused)?;
    edge::set_cookie(cookie);
    Ok(ended)
}

/// What a person reads of a server function's refusal.
pub fn error_text(error: &Refusal) -> String {
    error.message.clone()
}
