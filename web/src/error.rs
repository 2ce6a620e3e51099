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
    users::CreateUserError,
};
use bouncer_wire::{ErrorBody, Reason};
use serde::de::DeserializeOwned;

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
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("not found")]
    NotFound,
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
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Whole seconds, rounded up: never tell a client to retry too early.
fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn body(error: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        error: error.into(),
        message: Some(message.into()),
        reason: None,
        sessions: None,
        oldest: None,
    }
}

impl ApiError {
    /// The status, the body, and how long to wait for a throttled call.
    fn parts(self) -> (StatusCode, ErrorBody, Option<u64>) {
        use StatusCode as S;
        let domain = |status, code: &str, message: String| (status, body(code, message), None);
        match self {
            ApiError::BadRequest(detail) => domain(S::BAD_REQUEST, "bad_request", detail),
            ApiError::CrossOrigin => domain(
                S::FORBIDDEN,
                "cross_origin",
                "This request came from another site and was refused.".into(),
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
                domain(S::UNAUTHORIZED, "unauthenticated", "Please sign in.".into())
            }
            ApiError::LimitReached(sessions) => {
                let error = SignInError::LimitReached(Vec::new());
                (
                    S::CONFLICT,
                    ErrorBody {
                        sessions: Some(sessions),
                        ..body(error.code(), error.user_message())
                    },
                    None,
                )
            }
            ApiError::SignIn(error) => {
                let status = match &error {
                    SignInError::InvalidCredentials => S::UNAUTHORIZED,
                    SignInError::AccountDisabled => S::FORBIDDEN,
                    SignInError::TooManyAttempts(_) => S::TOO_MANY_REQUESTS,
                    SignInError::LimitReached(_) => S::CONFLICT,
                    SignInError::Store(e) => return ApiError::internal(e),
                };
                let wait = match &error {
                    SignInError::TooManyAttempts(wait) => Some(retry_after(*wait)),
                    _ => None,
                };
                (status, body(error.code(), error.user_message()), wait)
            }
            ApiError::Account(error) => {
                let (status, wait) = match &error {
                    AccountError::InvalidCredentials => (S::FORBIDDEN, None),
                    AccountError::TooManyAttempts(wait) => {
                        (S::TOO_MANY_REQUESTS, Some(retry_after(*wait)))
                    }
                    AccountError::WeakPassword(_) => (S::BAD_REQUEST, None),
                    AccountError::NotFound => (S::NOT_FOUND, None),
                    AccountError::LastAdmin => (S::CONFLICT, None),
                    AccountError::Store(e) => return ApiError::internal(e),
                };
                (status, body(error.code(), error.user_message()), wait)
            }
            ApiError::EndOwn(error) => match &error {
                EndOwnError::ReauthenticationRequired => {
                    domain(S::FORBIDDEN, error.code(), error.user_message())
                }
                EndOwnError::Store(e) => ApiError::internal(e),
            },
            ApiError::Reauth(error) => {
                let (status, wait) = match &error {
                    ReauthError::WrongPassword => (S::FORBIDDEN, None),
                    ReauthError::TooManyAttempts(wait) => {
                        (S::TOO_MANY_REQUESTS, Some(retry_after(*wait)))
                    }
                    ReauthError::SessionEnded => (S::UNAUTHORIZED, None),
                    ReauthError::Store(e) => return ApiError::internal(e),
                };
                (status, body(error.code(), error.user_message()), wait)
            }
            ApiError::Console(ConsoleError::Account(error)) => ApiError::Account(error).parts(),
            ApiError::Console(ConsoleError::CreateUser(error)) => {
                ApiError::CreateUser(error).parts()
            }
            ApiError::Console(error) => {
                let status = match &error {
                    ConsoleError::Forbidden(_) => S::FORBIDDEN,
                    ConsoleError::NotFound => S::NOT_FOUND,
                    ConsoleError::Invalid(_) => S::BAD_REQUEST,
                    ConsoleError::Store(e) => return ApiError::internal(e),
                    ConsoleError::Account(_) | ConsoleError::CreateUser(_) => S::BAD_REQUEST,
                };
                domain(status, error.code(), error.user_message())
            }
            ApiError::CreateUser(error) => {
                let status = match &error {
                    CreateUserError::UsernameTaken(_) => S::CONFLICT,
                    CreateUserError::WeakPassword(_) => S::BAD_REQUEST,
                    CreateUserError::Store(e) => return ApiError::internal(e),
                };
                domain(status, error.code(), error.user_message())
            }
            ApiError::Feed(FeedError::Console(error)) => ApiError::Console(error).parts(),
            ApiError::Feed(FeedError::Store(e)) => ApiError::internal(&e),
            ApiError::Feed(error) => {
                let (status, oldest) = match &error {
                    FeedError::Gone { oldest, .. } => (S::GONE, Some(*oldest)),
                    _ => (S::BAD_REQUEST, None),
                };
                (
                    status,
                    ErrorBody {
                        oldest,
                        ..body(error.code(), error.user_message())
                    },
                    None,
                )
            }
            ApiError::NotFound => domain(S::NOT_FOUND, "not_found", messages::NOT_FOUND.into()),
            ApiError::Unavailable => domain(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The server cannot check sessions right now. Please retry.".into(),
            ),
            ApiError::Internal(cause) => ApiError::internal(&cause),
        }
    }

    /// Logs the cause; the client learns nothing of it.
    fn internal(cause: &anyhow::Error) -> (StatusCode, ErrorBody, Option<u64>) {
        tracing::error!(error = ?cause, "An API call failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            body("internal", messages::INTERNAL),
            None,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, wait) = self.parts();
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(wait) = wait {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
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
