//! [`SessionLayer`]: the one `tower` layer every checked route sits behind.
//! For each request it
//!
//! 1. refuses a cross-site write (see [`crate::origin`]) with 403
//!    `cross_origin`, before anything else runs;
//! 2. reads the session cookie and asks the engine how that session stands —
//!    from memory, with no await, in the steady state;
//! 3. puts the answer in the request's extensions for the extractors
//!    ([`crate::Auth`], [`crate::Authenticated`], …);
//! 4. gives a cookie owed a fresh secret (its user's rights changed) that
//!    secret, in the response's `Set-Cookie`.
//!
//! It is written by hand rather than with `from_fn` because it runs on every
//! request: the common case allocates no boxed future and clones no inner
//! service beyond tower's readiness swap.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method},
    response::{IntoResponse, Response},
};
use bouncer_engine::{ids::SecretHash, Engine, Visitor};
use http_body_util::Limited;
use tower::{Layer, Service};

use crate::{
    cookie::SessionCookie, error::ApiError, forwarded::TrustedProxies, origin::PublicOrigin,
};

/// What the layer and the extractors behind it share.
#[derive(Debug)]
pub struct Edge {
    pub engine: Engine,
    pub cookie: SessionCookie,
    pub origin: PublicOrigin,
    /// Paths whose requests are not user activity (`GET /api/auth/me`, the
    /// WebSocket upgrade): they neither extend the idle deadline nor count
    /// as the person being there.
    pub passive_paths: &'static [&'static str],
    /// The proxies whose forwarding headers name the client (none unless
    /// set with [`Edge::trusting`]).
    pub proxies: TrustedProxies,
    /// Where tabs' closed sockets wait to be freed (see `socket`).
    pub reaper: crate::reaper::Reaper,
}

impl Edge {
    /// The edge for `engine` on `origin`, with the cookie the policy implies.
    pub fn new(
        engine: Engine,
        origin: PublicOrigin,
        passive_paths: &'static [&'static str],
    ) -> Self {
        let cookie = SessionCookie::new(origin.is_https(), engine.policy().absolute_timeout);
        Edge {
            engine,
            cookie,
            origin,
            passive_paths,
            proxies: TrustedProxies::default(),
            reaper: crate::reaper::Reaper::default(),
        }
    }

    /// The same edge, believing `proxies` about the client's address.
    pub fn trusting(self, proxies: TrustedProxies) -> Self {
        Edge { proxies, ..self }
    }
}

/// The check's answer for one request, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestSession {
    pub visitor: Visitor,
    /// Whether the request carried a session cookie at all (one the engine
    /// may not know): a sign-out or a refused sign-in then removes it.
    pub had_cookie: bool,
    pub edge: Arc<Edge>,
}

/// The layer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    edge: Arc<Edge>,
}

impl SessionLayer {
    pub fn new(edge: Arc<Edge>) -> Self {
        SessionLayer { edge }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            edge: Arc::clone(&self.edge),
        }
    }
}

/// The layer's service around `S`.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    edge: Arc<Edge>,
}

/// The largest body a request may have: every form and JSON call of the
/// API and the pages is small; an operator's bulk calls may list many users.
pub const BODY_LIMIT: usize = 16 * 1024;
/// The largest body of an admin call (`/api/admin/...`).
pub const ADMIN_BODY_LIMIT: usize = 1024 * 1024;

/// Refuses a body declared larger than the route's limit before anything
/// reads it, and bounds one without a declared length as it is read, so a
/// 2 MB field costs nothing but its refusal.
fn limit_body(request: &mut Request) -> Result<(), ApiError> {
    let limit = if request.uri().path().starts_with("/api/admin/") {
        ADMIN_BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|value| value.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    match declared {
        Some(Some(length)) if length > limit as u64 => Err(ApiError::TooLarge(limit)),
        Some(Some(_)) => Ok(()),
        Some(None) => Err(ApiError::BadRequest(
            "Content-Length is not a number".into(),
        )),
        None => {
            if request.headers().contains_key(header::TRANSFER_ENCODING) {
                let body = std::mem::take(request.body_mut());
                *request.body_mut() = Body::new(Limited::new(body, limit));
            }
            Ok(())
        }
    }
}

/// Whether a request passes the cross-site rule. A header that is not
/// visible ASCII is refused, not ignored: a browser never sends one, and
/// treating it as absent would let it pass.
fn same_site(edge: &Edge, method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let text = |name| headers.get(name).map(|v| v.to_str().ok());
    match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(None), _) | (None, Some(None)) => false,
        (origin, referer) => {
            crate::origin::allowed(&edge.origin, method, origin.flatten(), referer.flatten())
        }
    }
}

impl<S> Service<Request> for SessionService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let edge = &self.edge;
        if !same_site(edge, request.method(), request.headers()) {
            return ResponseFuture::ready(ApiError::CrossOrigin.into_response());
        }
        if let Err(refused) = limit_body(&mut request) {
            return ResponseFuture::ready(refused.into_response());
        }
        let Some(secret) = edge.cookie.secret_of(request.headers()) else {
            return self.pass(request, Visitor::Anonymous, false);
        };
        let activity = !edge.passive_paths.contains(&request.uri().path());
        let cached = edge.engine.check_cached(&secret, activity);
        if let Some(visitor) = cached.as_ref().filter(|v| !owes_rotation(v)) {
            return self.pass(request, visitor.clone(), true);
        }
        // A secret this node has not seen, a session past a deadline, or a
        // cookie owed a fresh secret: the database is needed.
        let edge = Arc::clone(edge);
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        ResponseFuture::Slow {
            future: Box::pin(async move {
                let visitor = match cached {
                    Some(visitor) => visitor,
                    None => match edge.engine.check(&secret, activity).await {
                        Ok(visitor) => visitor,
                        Err(e) => {
                            tracing::error!(error = ?e, "The session check failed");
                            return ApiError::Unavailable.into_response();
                        }
                    },
                };
                let fresh = rotate(&edge, &visitor, &secret).await;
                request.extensions_mut().insert(RequestSession {
                    visitor,
                    had_cookie: true,
                    edge,
                });
                let mut response = match inner.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if let Some(cookie) = fresh {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
                response
            }),
        }
    }
}

/// Whether the visitor's cookie is owed a fresh secret (their rights changed).
fn owes_rotation(visitor: &Visitor) -> bool {
    visitor.live().is_some_and(|live| live.wants_rotation())
}

/// Gives the visitor's cookie the fresh secret it is owed, if it is owed
/// one: the `Set-Cookie` for the response. A failure leaves the old secret
/// working (the request goes on; the next one tries again).
async fn rotate(edge: &Edge, visitor: &Visitor, old: &SecretHash) -> Option<HeaderValue> {
    let live = visitor.live().filter(|live| live.wants_rotation())?;
    let minted = edge.cookie.mint();
    match edge.engine.login().rotate(live, old, &minted.secret).await {
        Ok(true) => Some(edge.cookie.set(&minted, live.created_at, edge.engine.now())),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = ?e, session = %live.id, "Failed to rotate a session's cookie");
            None
        }
    }
}

impl<S> SessionService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    fn pass(
        &mut self,
        mut request: Request,
        visitor: Visitor,
        had_cookie: bool,
    ) -> ResponseFuture<S::Future> {
        let edge = Arc::clone(&self.edge);
        request.extensions_mut().insert(RequestSession {
            visitor,
            had_cookie,
            edge,
        });
        ResponseFuture::Inner {
            future: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The layer's response: the inner service's own future in the steady
    /// state, a boxed one only when the check had to wait for the database.
    #[project = Projected]
    pub enum ResponseFuture<F> {
        Inner { #[pin] future: F },
        Slow { future: Pin<Box<dyn Future<Output = Response> + Send>> },
        Ready { response: Option<Response> },
    }
}

impl<F> ResponseFuture<F> {
    fn ready(response: Response) -> Self {
        ResponseFuture::Ready {
            response: Some(response),
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Inner { future } => future.poll(cx),
            Projected::Slow { future } => future.as_mut().poll(cx).map(Ok),
            Projected::Ready { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("a response polled twice")).into_response()
                })))
            }
        }
    }
}
