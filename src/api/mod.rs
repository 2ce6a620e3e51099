//! The JSON API of `shared/API.md`. Handlers are thin: extract, call the
//! engine, map the result. Unknown `/api/...` routes answer 404 JSON, never
//! the HTML app shell.

mod auth;
mod error;

use axum::{
    routing::{any, get, post},
    Router,
};

pub use self::error::ApiError;
use crate::startup::AppState;

/// Paths whose requests are not user activity (see `SessionCheck`).
pub const PASSIVE_PATHS: &[&str] = &["/api/auth/me", "/api/ws"];

/// The API routes. The session check and the origin check are layered on by
/// `startup`, around these and the pages alike.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::current))
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
