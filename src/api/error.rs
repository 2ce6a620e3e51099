//! The API's one edge error type: every handler returns it, and it alone
//! turns failures into the JSON errors of `shared/API.md`. Internal causes
//! are logged, never shown to the client.

use axum::{
    extract::rejection::{JsonRejection, QueryRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use bouncer_engine::{
    accounts::AccountError, console::ConsoleError, reauth::EndOwnError, users::CreateUserError,
    web::json_error, SignInError,
};
use bouncer_wire::ErrorBody;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A wrong current password on a signed-in call (403, not 401: the
    /// session itself is fine).
    #[error("wrong current password")]
    WrongPassword,
    /// Ending another of the caller's sessions needs the password proved
    /// recently (`POST /api/auth/reauthenticate`); 403, the session is fine.
    #[error("reauthentication required")]
    ReauthenticationRequired,
    #[error("weak password: {0}")]
    WeakPassword(String),
    #[error("account disabled")]
    AccountDisabled,
    #[error("session limit reached")]
    LimitReached(Vec<bouncer_wire::Session>),
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("username taken")]
    UsernameTaken,
    #[error("last admin")]
    LastAdmin,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The 429 for a throttled password check that may be retried after `wait`.
    fn too_many_attempts(wait: std::time::Duration) -> Self {
        ApiError::TooManyAttempts {
            // Whole seconds, rounded up: never tell a client to retry too early.
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
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

impl From<SignInError> for ApiError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::InvalidCredentials => ApiError::InvalidCredentials,
            SignInError::AccountDisabled => ApiError::AccountDisabled,
            SignInError::TooManyAttempts(wait) => ApiError::too_many_attempts(wait),
            // The caller converts the rows into API sessions first.
            SignInError::LimitReached(_) => ApiError::LimitReached(Vec::new()),
            SignInError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidCredentials => ApiError::WrongPassword,
            AccountError::TooManyAttempts(wait) => ApiError::too_many_attempts(wait),
            AccountError::WeakPassword(weak) => ApiError::WeakPassword(weak.to_string()),
            AccountError::NotFound => ApiError::NotFound,
            AccountError::LastAdmin => ApiError::LastAdmin,
            AccountError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<EndOwnError> for ApiError {
    fn from(error: EndOwnError) -> Self {
        match error {
            EndOwnError::ReauthenticationRequired => ApiError::ReauthenticationRequired,
            EndOwnError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<ConsoleError> for ApiError {
    fn from(error: ConsoleError) -> Self {
        match error {
            ConsoleError::Forbidden(why) => ApiError::Forbidden(why),
            ConsoleError::NotFound => ApiError::NotFound,
            ConsoleError::Invalid(why) => ApiError::BadRequest(why),
            ConsoleError::Account(e) => e.into(),
            ConsoleError::CreateUser(e) => e.into(),
            ConsoleError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<CreateUserError> for ApiError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::UsernameTaken(_) => ApiError::UsernameTaken,
            CreateUserError::WeakPassword(weak) => ApiError::WeakPassword(weak.to_string()),
            CreateUserError::Store(e) => ApiError::Internal(e),
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
        let (status, body) = match self {
            ApiError::BadRequest(detail) => (StatusCode::BAD_REQUEST, body("bad_request", detail)),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                body("invalid_credentials", "The username or password is not correct."),
            ),
            ApiError::WrongPassword => (
                StatusCode::FORBIDDEN,
                body("invalid_credentials", "The current password is not correct."),
            ),
            ApiError::ReauthenticationRequired => (
                StatusCode::FORBIDDEN,
                body(
                    "reauthentication_required",
                    "Enter your password to sign out other devices.",
                ),
            ),
            ApiError::WeakPassword(why) => {
                (StatusCode::BAD_REQUEST, body("weak_password", format!("Choose another password: {why}.")))
            }
            ApiError::AccountDisabled => {
                (StatusCode::FORBIDDEN, body("account_disabled", "This account is disabled."))
            }
            ApiError::LimitReached(sessions) => (
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
                return response;
            }
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, body("forbidden", why)),
            ApiError::NotFound => (StatusCode::NOT_FOUND, body("not_found", "There is nothing here.")),
            ApiError::UsernameTaken => {
                (StatusCode::CONFLICT, body("username_taken", "That username is already taken."))
            }
            ApiError::LastAdmin => (
                StatusCode::CONFLICT,
                body("last_admin", "The last active admin cannot be deactivated or demoted."),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "An API call failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body("internal", "Something went wrong on the server. Please try again."),
                )
            }
        };
        json_error(status, body)
    }
}
