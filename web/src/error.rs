//! The API's one edge error type: handlers return it, and it alone turns
//! failures into the JSON errors of `shared/API.md`. The domain errors say
//! their own code and sentence (`code()`, `user_message()`); this module adds
//! only the HTTP status. Internal causes are logged, never shown.
//!
//! Also the API's body and query extractors, whose rejections are this
//! type's 400, never axum's plain-text ones.

use axum::{
    extract::{
        rejection::JsonRejection, rejection::QueryRejection, FromRequest, FromRequestParts, Request,
    },
    http::{header, request::Parts, StatusCode},
    response::{IntoResponse, Response},
};
use bouncer_engine::{
    accounts::AccountError,
    console::ConsoleError,
    devices::{EndOwnError, ReauthError},
    feed::FeedError,
    login::SignInError,
    messages::{self, UserFacing},
    service_tokens::BearerError,
    users::CreateUserError,
};
use bouncer_wire::{ErrorBody, Reason};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A write from another site (see `origin`).
    #[error("cross-origin request")]
    CrossOrigin,
    /// Signed out, or the session ended (with the reason and its sentence
    /// when the server still knows why).
    #[error("unauthenticated")]
    Unauthenticated(Option<(Reason, String)>),
    #[error(transparent)]
    SignIn(SignInError),
    /// `refuse_new`: the sessions holding the slots, as the API shows them.
    #[error("session limit reached")]
    LimitReached(Vec<bouncer_wire::Session>),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    EndOwn(#[from] EndOwnError),
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    CreateUser(#[from] CreateUserError),
    /// A service token that does not hold (or an `Authorization` header
    /// that is no token at all).
    #[error(transparent)]
    Bearer(#[from] BearerError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("not found")]
    NotFound,
    /// The route exists, not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than this route takes (the limit, in bytes).
    #[error("payload too large")]
    TooLarge(usize),
    /// The database cannot answer right now.
    #[error("unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<SignInError> for ApiError {
    fn from(error: SignInError) -> Self {
        ApiError::SignIn(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            // A body without a length that grew past the limit while read.
            ApiError::TooLarge(0)
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Whole seconds, rounded up: never tell a client to retry too early.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn body(error: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        error: error.into(),
        message: Some(message.into()),
        reason: None,
        sessions: None,
        request_id: crate::request_id::current(),
        oldest: None,
    }
}

/// How the edge answers a domain error: refused with a status (and, when
/// throttled or busy, how long to wait), or failed on the server's side.
#[derive(Debug)]
pub enum Outcome<'a> {
    Refused(StatusCode, Option<Duration>),
    Failed(&'a anyhow::Error),
}

/// The one thing the edge adds to a domain error: its HTTP status. The code
/// and the sentence are the error's own (`UserFacing`).
pub trait HttpStatus: UserFacing {
    fn outcome(&self) -> Outcome<'_>;
}

use Outcome::{Failed, Refused};
use StatusCode as S;

/// Throttled, with the wait the throttle gave.
fn throttled<'a>(wait: &Duration) -> Outcome<'a> {
    Refused(S::TOO_MANY_REQUESTS, Some(*wait))
}

/// The password queue is full: a second later it may not be.
fn busy<'a>() -> Outcome<'a> {
    Refused(S::SERVICE_UNAVAILABLE, Some(Duration::from_secs(1)))
}

impl HttpStatus for SignInError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            SignInError::InvalidCredentials => Refused(S::UNAUTHORIZED, None),
            SignInError::AccountDisabled => Refused(S::FORBIDDEN, None),
            SignInError::TooManyAttempts(wait) => throttled(wait),
            SignInError::LimitReached(_) => Refused(S::CONFLICT, None),
            SignInError::TooLong => Refused(S::BAD_REQUEST, None),
            SignInError::Busy => busy(),
            SignInError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for AccountError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            // A signed-in person's wrong password: the session itself is fine.
            AccountError::InvalidCredentials => Refused(S::FORBIDDEN, None),
            AccountError::TooManyAttempts(wait) => throttled(wait),
            AccountError::WeakPassword(_) => Refused(S::BAD_REQUEST, None),
            AccountError::NotFound => Refused(S::NOT_FOUND, None),
            AccountError::LastAdmin => Refused(S::CONFLICT, None),
            AccountError::Busy => busy(),
            AccountError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for EndOwnError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            EndOwnError::ReauthenticationRequired => Refused(S::FORBIDDEN, None),
            EndOwnError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for ReauthError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            ReauthError::WrongPassword => Refused(S::FORBIDDEN, None),
            ReauthError::TooManyAttempts(wait) => throttled(wait),
            ReauthError::SessionEnded => Refused(S::UNAUTHORIZED, None),
            ReauthError::Busy => busy(),
            ReauthError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for CreateUserError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            CreateUserError::UsernameTaken(_) => Refused(S::CONFLICT, None),
            CreateUserError::WeakPassword(_) => Refused(S::BAD_REQUEST, None),
            CreateUserError::Busy => busy(),
            CreateUserError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for ConsoleError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            ConsoleError::Forbidden(_) => Refused(S::FORBIDDEN, None),
            ConsoleError::NotFound => Refused(S::NOT_FOUND, None),
            ConsoleError::Invalid(_) => Refused(S::BAD_REQUEST, None),
            ConsoleError::Account(e) => e.outcome(),
            ConsoleError::CreateUser(e) => e.outcome(),
            ConsoleError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for BearerError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            BearerError::Invalid => Refused(S::UNAUTHORIZED, None),
            BearerError::Store(e) => Failed(e),
        }
    }
}

impl HttpStatus for FeedError {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            FeedError::Console(e) => e.outcome(),
            FeedError::Gone { .. } => Refused(S::GONE, None),
            FeedError::Invalid(_) => Refused(S::BAD_REQUEST, None),
            FeedError::Store(e) => Failed(e),
        }
    }
}

/// A domain error's status, body and wait in whole seconds: what the API
/// answers, and what the pages' server functions answer too.
pub fn domain<E: HttpStatus>(error: &E) -> (StatusCode, ErrorBody, Option<u64>) {
    match error.outcome() {
        Refused(status, wait) => (
            status,
            body(error.code(), error.user_message()),
            wait.map(retry_after),
        ),
        Failed(cause) => internal(cause),
    }
}

/// Logs the cause; the client learns nothing of it.
pub fn internal(cause: &anyhow::Error) -> (StatusCode, ErrorBody, Option<u64>) {
    tracing::error!(error = ?cause, "An API call failed");
    (
        S::INTERNAL_SERVER_ERROR,
        body("internal", messages::INTERNAL),
        None,
    )
}

impl ApiError {
    /// The status, the body, and how long to wait for a throttled call.
    pub fn parts(self) -> (StatusCode, ErrorBody, Option<u64>) {
        let plain = |status, code: &str, message: &str| (status, body(code, message), None);
        match self {
            ApiError::BadRequest(detail) => plain(S::BAD_REQUEST, "bad_request", &detail),
            ApiError::CrossOrigin => plain(
                S::FORBIDDEN,
                "cross_origin",
                "This request came from another site and was refused.",
            ),
            ApiError::Unauthenticated(Some((reason, message))) => (
                S::UNAUTHORIZED,
                ErrorBody {
                    reason: Some(reason),
                    ..body("session_ended", message)
                },
                None,
            ),
            ApiError::Unauthenticated(None) => {
                plain(S::UNAUTHORIZED, "unauthenticated", "Please sign in.")
            }
            ApiError::LimitReached(sessions) => {
                let (status, body, wait) = domain(&SignInError::LimitReached(Vec::new()));
                let sessions = Some(sessions);
                (status, ErrorBody { sessions, ..body }, wait)
            }
            ApiError::SignIn(error) => domain(&error),
            ApiError::Account(error) => domain(&error),
            ApiError::EndOwn(error) => domain(&error),
            ApiError::Reauth(error) => domain(&error),
            ApiError::Console(error) => domain(&error),
            ApiError::CreateUser(error) => domain(&error),
            ApiError::NotFound => plain(S::NOT_FOUND, "not_found", messages::NOT_FOUND),
            ApiError::MethodNotAllowed => plain(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This address does not take that method.",
            ),
            ApiError::TooLarge(limit) => {
                let message = match limit {
                    0 => "The request body is too large.".to_owned(),
                    limit => format!("The request body is larger than {limit} bytes."),
                };
                plain(S::PAYLOAD_TOO_LARGE, "payload_too_large", &message)
            }
            ApiError::Bearer(error) => domain(&error),
            ApiError::Feed(FeedError::Console(error)) => ApiError::Console(error).parts(),
            ApiError::Feed(error) => {
                let (status, body, wait) = domain(&error);
                let oldest = match &error {
                    FeedError::Gone { oldest, .. } => Some(*oldest),
                    _ => None,
                };
                (status, ErrorBody { oldest, ..body }, wait)
            }
            ApiError::Unavailable => plain(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The server cannot check sessions right now. Please retry.",
            ),
            ApiError::Internal(cause) => internal(&cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // RFC 6750: a refused bearer token says so, and says nothing more.
        let bearer = matches!(self, ApiError::Bearer(BearerError::Invalid));
        let (status, body, wait) = self.parts();
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(wait) = wait {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
        }
        if bearer {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// The API's JSON body extractor: a malformed body is the API's 400
/// `bad_request` with what was wrong, as JSON.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Json(value))
    }
}

/// The API's query-string extractor, with the same 400.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}
