//! [`SessionLayer`]: the one `tower` layer every checked route sits behind.
//! For each request it
//!
//! 1. refuses a cross-site write (see [`crate::origin`]) with 403
//!    `cross_origin`, before anything else runs;
//! 2. reads the session cookie and asks the engine how that session stands —
//!    from memory, with no await, in the steady state;
//! 3. puts the answer in the request's extensions for the extractors
//!    ([`crate::Auth`], [`crate::Authenticated`], …).
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
    extract::Request,
    http::{header, HeaderMap, Method},
    response::{IntoResponse, Response},
};
use bouncer_engine::{Engine, Visitor};
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
        let Some(secret) = edge.cookie.secret_of(request.headers()) else {
            return self.pass(request, Visitor::Anonymous, false);
        };
        let activity = !edge.passive_paths.contains(&request.uri().path());
        if let Some(visitor) = edge.engine.check_cached(&secret, activity) {
            return self.pass(request, visitor, true);
        }
        // A secret this node has not seen, or a session past a deadline:
        // the check needs the database.
        let edge = Arc::clone(edge);
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        ResponseFuture::Slow {
            future: Box::pin(async move {
                match edge.engine.check(&secret, activity).await {
                    Ok(visitor) => {
                        request.extensions_mut().insert(RequestSession {
                            visitor,
                            had_cookie: true,
                            edge,
                        });
                        match inner.call(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = ?e, "The session check failed");
                        ApiError::Unavailable.into_response()
                    }
                }
            }),
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
