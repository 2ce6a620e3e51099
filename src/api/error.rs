//! The API's one edge error type: every handler returns it, and it alone
//! turns failures into the JSON errors of `shared/API.md`. Internal causes
//! are logged, never shown to the client.

use axum::{
    extract::rejection::JsonRejection,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use bouncer_engine::{web::json_error, SignInError};
use bouncer_wire::ErrorBody;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("session limit reached")]
    LimitReached(Vec<bouncer_wire::Session>),
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<SignInError> for ApiError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::InvalidCredentials => ApiError::InvalidCredentials,
            SignInError::AccountDisabled => ApiError::AccountDisabled,
            // The caller converts the rows into API sessions first.
            SignInError::LimitReached(_) => ApiError::LimitReached(Vec::new()),
            SignInError::Store(e) => ApiError::Internal(e),
        }
    }
}

fn body(error: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        error: error.into(),
        message: Some(message.into()),
        reason: None,
        sessions: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(detail) => {
                json_error(StatusCode::BAD_REQUEST, body("bad_request", detail))
            }
            ApiError::InvalidCredentials => json_error(
                StatusCode::UNAUTHORIZED,
                body("invalid_credentials", "The username or password is not correct."),
            ),
            ApiError::AccountDisabled => json_error(
                StatusCode::FORBIDDEN,
                body("account_disabled", "This account is disabled."),
            ),
            ApiError::LimitReached(sessions) => json_error(
                StatusCode::CONFLICT,
                ErrorBody {
                    sessions: Some(sessions),
                    ..body(
                        "session_limit_reached",
                        "You are signed in on as many devices as your plan allows. Sign out of one to continue.",
                    )
                },
            ),
            ApiError::TooManyAttempts { retry_after_secs } => {
                let mut response = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    body("too_many_attempts", "Too many failed attempts. Please wait and try again."),
                );
                response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
                response
            }
            ApiError::NotFound => {
                json_error(StatusCode::NOT_FOUND, body("not_found", "There is nothing here."))
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "An API call failed");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body("internal", "Something went wrong on the server. Please try again."),
                )
            }
        }
    }
}
