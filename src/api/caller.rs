//! [`Caller`]: the signed-in user behind a request, loaded once per call that
//! needs to know who they are (roles, permissions). The session check itself
//! stays in memory; only these handlers read the user row.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts, response::Response};
use bouncer_engine::{
    console::Operator,
    registry::LiveSession,
    users::UserRecord,
    web::{self, Authenticated},
    Visitor,
};

use super::ApiError;
use crate::startup::AppState;

/// The live session and its user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub live: Arc<LiveSession>,
    pub user: UserRecord,
}

impl Caller {
    /// The caller as the console's operations take them.
    pub fn operator(&self) -> Operator<'_> {
        Operator {
            user: &self.user,
            session: &self.live.id,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(live) = Authenticated::from_request_parts(parts, state).await?;
        match state.engine.users().find_by_id(&live.user_id).await {
            Ok(Some(user)) => Ok(Caller { live, user }),
            // The account is gone: as good as signed out.
            Ok(None) => Err(web::unauthenticated(&Visitor::Anonymous, "")),
            Err(e) => Err(axum::response::IntoResponse::into_response(
                ApiError::Internal(e),
            )),
        }
    }
}
