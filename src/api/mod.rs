//! The JSON API of `shared/API.md`. Handlers are thin: extract, call one of
//! the engine's services, convert the answer (`bouncer_web::wire`). Unknown
//! `/api/...` routes answer 404 JSON, never the HTML app shell.

mod admin;
mod auth;
mod events;
pub mod forward;
mod sessions;

use axum::{
    routing::{any, delete, get, patch, post},
    Router,
};
use bouncer_web::{socket, ApiError};

/// Paths whose requests are not user activity (see `bouncer_web::Edge`):
/// the tab's own checks, a reverse proxy's (`/api/auth/verify`, asked
/// before every request of the app it guards, whatever the person does)
/// and the event stream (a script reading it is not a person).
pub const PASSIVE_PATHS: &[&str] = &[
    "/api/auth/me",
    "/api/ws",
    "/api/auth/verify",
    "/api/admin/events/stream",
];

/// The API routes, for any router state: the handlers take what they need
/// from what the session layer (origin and session check, put around these
/// and the pages alike by `startup`) left in the request.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::current))
        .route("/api/auth/password", post(auth::change_password))
        .route("/api/auth/activity", post(auth::activity))
        .route("/api/auth/reauthenticate", post(auth::reauthenticate))
        .route("/api/auth/verify", get(forward::verify))
        .route("/api/ws", get(socket::upgrade))
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/revoke-others", post(sessions::revoke_others))
        .route("/api/sessions/{id}", delete(sessions::end_one))
        .route(
            "/api/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route("/api/admin/users/{id}", patch(admin::update_user))
        .route("/api/admin/users/{id}/revoke", post(admin::revoke_user))
        .route("/api/admin/sessions", get(admin::list_sessions))
        .route("/api/admin/sessions/{id}", delete(admin::end_session))
        .route("/api/admin/revoke", post(admin::revoke_users))
        .route("/api/admin/revoke-all", post(admin::revoke_all))
        .route("/api/admin/audit", get(admin::audit))
        .route("/api/admin/events", get(events::page))
        .route("/api/admin/events/stream", get(events::stream))
        .route("/api/admin/events/status", get(events::status))
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known `/api` route with another method: JSON too, never a bare 405.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
