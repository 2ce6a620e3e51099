//! A request id on every request: [`RequestIdLayer`] takes the one a
//! trusted proxy sent in `X-Request-Id` (so the balancer's log and ours
//! share it) or makes one, runs the request inside a `request` span that
//! carries it — so every log line of the request names it — answers it in
//! the `X-Request-Id` response header, and lends it to [`current`] for the
//! error bodies ([`crate::ApiError`]).
//!
//! It runs on every request, so the steady state makes the id from a counter
//! (no randomness, no lock) and allocates only the response header's bytes.
//! A client's own `X-Request-Id` is ignored: it would let anyone plant an id
//! of their choosing in the operator's logs.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use axum::{
    extract::{ConnectInfo, Request},
    http::{HeaderName, HeaderValue},
    response::Response,
};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::instrument::{Instrument, Instrumented};

use crate::forwarded::TrustedProxies;

/// The header, in both directions.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a proxy; nginx's `$request_id` is 32.
const MAX_GIVEN: usize = 128;

/// One request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Made here: printed as 16 hex digits.
    Made(u64),
    /// From a trusted proxy, checked to be short plain text.
    Given(HeaderValue),
}

impl RequestId {
    fn header_value(&self) -> HeaderValue {
        match &self.0 {
            Repr::Made(n) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let digits: [u8; 16] =
                    std::array::from_fn(|i| HEX[((n >> (60 - 4 * i)) & 0xf) as usize]);
                // Hex digits are always a valid header value.
                HeaderValue::from_bytes(&digits).unwrap_or_else(|_| HeaderValue::from_static("0"))
            }
            Repr::Given(value) => value.clone(),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Made(n) => write!(f, "{n:016x}"),
            // Checked to be ASCII when taken.
            Repr::Given(value) => f.write_str(value.to_str().unwrap_or_default()),
        }
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being served by this task, if any (as text, for
/// an error body).
pub fn current() -> Option<String> {
    CURRENT.try_with(ToString::to_string).ok()
}

/// Whether a proxy's id is one to keep: 1 to [`MAX_GIVEN`] characters of
/// letters, digits and `-_.:/+=` (UUIDs, hex, base64), nothing a log reader
/// could mistake for structure.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_GIVEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b))
}

/// Where ids come from.
#[derive(Debug)]
struct Ids {
    proxies: TrustedProxies,
    /// Random per process, so two nodes' ids do not collide.
    key: u64,
    next: AtomicU64,
}

impl Ids {
    fn for_request(&self, request: &Request) -> RequestId {
        if let Some(given) = request.headers().get(&X_REQUEST_ID) {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip());
            if peer.is_some_and(|peer| self.proxies.trusts(peer)) && acceptable(given) {
                return RequestId(Repr::Given(given.clone()));
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId(Repr::Made(mix(self.key.wrapping_add(n))))
    }
}

/// SplitMix64's finaliser: a bijection, so distinct counters give distinct
/// ids, which do not show how many requests a node has served.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The layer: put it outermost, so the id covers everything the request does.
#[derive(Debug, Clone)]
pub struct RequestIdLayer {
    ids: Arc<Ids>,
}

impl RequestIdLayer {
    /// Ids taken from `proxies`' `X-Request-Id`, else made here.
    pub fn new(proxies: TrustedProxies) -> Self {
        RequestIdLayer {
            ids: Arc::new(Ids {
                proxies,
                key: rand::random(),
                next: AtomicU64::new(0),
            }),
        }
    }
}

/// [`RequestIdLayer`] around the service `S`.
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    layer: RequestIdLayer,
    inner: S,
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let layer = self.clone();
        RequestIdService { layer, inner }
    }
}

impl<S> Service<Request> for RequestIdService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = self.layer.ids.for_request(&request);
        let span = tracing::info_span!("request", id = %id);
        // What the inner service does before its future (a refusal made in
        // `call`) already runs with the id.
        let future = span.in_scope(|| CURRENT.sync_scope(id.clone(), || self.inner.call(request)));
        ResponseFuture {
            header: Some(id.header_value()),
            future: CURRENT.scope(id, future).instrument(span),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response, in the request's span and with its id, given
    /// the `X-Request-Id` header.
    pub struct ResponseFuture<F> {
        #[pin]
        future: Instrumented<TaskLocalFuture<RequestId, F>>,
        header: Option<HeaderValue>,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.future.poll(cx));
        if let Some(value) = this.header.take() {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_differ_and_proxies_ids_are_checked() {
        let ids = Ids {
            proxies: TrustedProxies::parse("127.0.0.1").expect("valid"),
            key: 7,
            next: AtomicU64::new(0),
        };
        let request = |header: Option<&'static str>, peer: [u8; 4]| {
            let mut request = Request::new(axum::body::Body::empty());
            if let Some(value) = header {
                let value = HeaderValue::from_static(value);
                request.headers_mut().insert(X_REQUEST_ID.clone(), value);
            }
            let peer = SocketAddr::from((peer, 4000));
            request.extensions_mut().insert(ConnectInfo(peer));
            ids.for_request(&request).to_string()
        };
        let made: std::collections::HashSet<String> =
            (0..1000).map(|_| request(None, [127, 0, 0, 1])).collect();
        assert_eq!(made.len(), 1000);
        assert!(made.iter().all(|id| id.len() == 16));
        assert_eq!(request(Some("abc-123"), [127, 0, 0, 1]), "abc-123");
        let forged = request(Some("abc-123"), [127, 0, 0, 2]);
        assert_ne!(forged, "abc-123", "an untrusted client's id is not taken");
        for bad in ["a b", "a\"b", "{\"x\":1}", ""] {
            assert_ne!(request(Some(bad), [127, 0, 0, 1]), bad);
        }
        let long: &'static str = "x".repeat(MAX_GIVEN + 1).leak();
        assert_eq!(request(Some(long), [127, 0, 0, 1]).len(), 16);
    }
}
