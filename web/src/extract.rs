//! Handler arguments, read from what [`crate::SessionLayer`] put in the
//! request. A route outside the layer gets a 500 naming the missing layer
//! (a wiring mistake), never a silent "signed out".

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use bouncer_engine::{sessions::ClientInfo, users::UserRecord, view::LiveSession, Engine, Visitor};

use crate::{error::ApiError, layer::RequestSession};

fn request_session(parts: &Parts) -> Result<&RequestSession, ApiError> {
    parts.extensions.get::<RequestSession>().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "No session in the request: is `SessionLayer` layered on this route?"
        ))
    })
}

/// How the request's session stands (any visitor, signed in or not), with
/// the engine and the cookie to act on it: sign-in, sign-out and password
/// changes are methods on it (see `auth`).
#[derive(Debug, Clone)]
pub struct Auth(pub(crate) RequestSession);

impl Auth {
    pub fn visitor(&self) -> &Visitor {
        &self.0.visitor
    }

    pub fn engine(&self) -> &Engine {
        &self.0.edge.engine
    }

    /// Where to go after signing in (see [`crate::PublicOrigin::next_path`]).
    pub fn next_path(&self, next: Option<&str>) -> String {
        self.0.edge.origin.next_path(next)
    }

    /// The origin browsers use (`BOUNCER_PUBLIC_ORIGIN`).
    pub fn public_origin(&self) -> &crate::PublicOrigin {
        &self.0.edge.origin
    }

    /// The session cookie's name and flags.
    pub fn cookie(&self) -> &crate::cookie::SessionCookie {
        &self.0.edge.cookie
    }

    /// The 401 for a request that needed a live session and has none.
    pub fn unauthenticated(&self) -> ApiError {
        match &self.0.visitor {
            Visitor::Ended(reason) => ApiError::Unauthenticated(Some((
                *reason,
                self.engine().policy().end_message(*reason).to_owned(),
            ))),
            _ => ApiError::Unauthenticated(None),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        request_session(parts).map(|session| Auth(session.clone()))
    }
}

/// A live session, or the API's 401 (`session_ended` with the reason when
/// the server still knows it, else `unauthenticated`).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<LiveSession>);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, state).await?;
        match auth.visitor() {
            Visitor::Live(live) => Ok(Authenticated(Arc::clone(live))),
            _ => Err(auth.unauthenticated()),
        }
    }
}

/// A live session and its account, loaded once for calls that need to know
/// who the caller is (roles, permissions). The check itself stays in memory;
/// only these calls read the user row.
#[derive(Debug, Clone)]
pub struct Caller {
    pub live: Arc<LiveSession>,
    pub user: UserRecord,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let Visitor::Live(live) = auth.visitor() else {
            return Err(auth.unauthenticated());
        };
        match auth.engine().user_of(live).await? {
            Some(user) => Ok(Caller {
                live: Arc::clone(live),
                user,
            }),
            // The account is gone: as good as signed out.
            None => Err(ApiError::Unauthenticated(None)),
        }
    }
}

impl Caller {
    /// The caller as the console's operations take them.
    pub fn operator(&self) -> bouncer_engine::console::Operator<'_> {
        bouncer_engine::console::Operator::Person {
            user: &self.user,
            session: &self.live.id,
        }
    }
}

/// The client's address and `User-Agent`. The address is the TCP peer's
/// (`ConnectInfo`), or, when that peer is one of the edge's trusted proxies,
/// the one its forwarding header names ([`crate::forwarded`]). It is worked
/// out here, when a handler asks, so a request that never asks costs
/// nothing; outside the session layer no proxy is trusted.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let proxies = parts
            .extensions
            .get::<RequestSession>()
            .map(|session| &session.edge.proxies);
        let ip = match (peer, proxies) {
            (Some(peer), Some(proxies)) => proxies.client_address(peer, &parts.headers).to_string(),
            (Some(peer), None) => peer.to_canonical().to_string(),
            (None, _) => "unknown".to_owned(),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}
