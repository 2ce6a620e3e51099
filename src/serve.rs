//! The HTTP server loop: hyper, with the limits an exposed server needs.
//!
//! `axum::serve` has no header-read timeout and no cap on connections, so a
//! client that opens sockets and sends half a header can hold them for as
//! long as it likes, and enough of them exhaust the process's file handles
//! and lock real people out. Here ([`Limits`]):
//!
//! - a connection must deliver a request's headers within the header
//!   timeout of opening, or of its previous request finishing (hyper's
//!   header-read timeout also bounds an idle kept-alive connection);
//! - one address (an IPv4 address, an IPv6 /64) holds at most
//!   `per_address` connections; one more is closed as soon as it is
//!   accepted, so a single client cannot take the others' places (a trusted
//!   proxy is exempt: its connections carry many clients);
//! - at most `total` are open at once; past that the loop stops accepting
//!   (new ones wait in the kernel's backlog) until one closes;
//! - a request's body must keep arriving ([`BODY_TIMEOUT`], `startup`).
//!
//! Upgraded connections (the tabs' WebSockets) leave hyper's hands at the
//! upgrade; the hub caps them separately (see [`connection_caps`]), so
//! between the two the process never runs out of file handles.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use bouncer_engine::{sync::lock, throttle::address_key};
use bouncer_web::TrustedProxies;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

/// How long a request's body may take between chunks before the request is
/// answered 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// File handles kept free for the database pool, the log and the like.
const HANDLE_RESERVE: u64 = 64;

/// How many tabs' sockets and HTTP connections may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub http: usize,
    pub tabs: usize,
}

/// The caps for `wanted` (`BOUNCER_MAX_CONNECTIONS`, each), kept together
/// under the process's file handle limit, which is raised to its hard
/// maximum first. Tabs are many and long-lived, HTTP connections few and
/// short-lived: HTTP gets at most an eighth of the room (at least 256), the
/// tabs what is left.
pub fn connection_caps(wanted: usize) -> Caps {
    let handles = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "Could not read the file handle limit");
            1024
        }
    };
    caps_within(wanted, handles)
}

fn caps_within(wanted: usize, handles: u64) -> Caps {
    let room = usize::try_from(handles.saturating_sub(HANDLE_RESERVE)).unwrap_or(usize::MAX);
    let http = wanted.min((room / 8).max(256)).min(room / 2).max(1);
    let tabs = wanted.min(room.saturating_sub(http)).max(1);
    Caps { http, tabs }
}

/// The connection limits (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Limits {
    pub total: usize,
    pub per_address: usize,
    pub header_timeout: Duration,
    /// Peers the per-address cap does not apply to.
    pub proxies: TrustedProxies,
}

/// The connections each address holds open.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<[u8; 16], usize>>);

impl PerAddress {
    /// Counts one more connection from `peer`, unless it already holds `cap`.
    fn enter(self: &Arc<Self>, peer: SocketAddr, cap: usize) -> Option<AddressSlot> {
        let key = address_key(&peer.ip().to_string());
        let mut held = lock(&self.0);
        let count = held.entry(key).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            key,
        })
    }
}

/// One connection's place in its address's count, given back on drop.
struct AddressSlot {
    counts: Arc<PerAddress>,
    key: [u8; 16],
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = lock(&self.counts.0);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `stop` completes;
/// then stops accepting and lets open connections finish their requests
/// (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.total));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)));
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot?,
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of handles or a connection reset before accept:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "Failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let address_slot = if limits.proxies.trusts(peer.ip()) {
            None
        } else if let Some(slot) = per_address.enter(peer, limits.per_address) {
            Some(slot)
        } else {
            // Closed at once: this address holds its share already.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service.map_err(|never: Infallible| never)),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is no error of ours.
            let _ = connection.await;
            drop((slot, address_slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's limit (20,000) holds 15,000 tabs and a few thousand
    /// HTTP connections; a small limit still leaves both some; neither ever
    /// passes what was asked or what the handles allow together.
    #[test]
    fn the_caps_share_the_handles_tabs_first() {
        assert_eq!(
            caps_within(50_000, 20_000),
            Caps {
                http: 2_492,
                tabs: 17_444
            }
        );
        assert_eq!(
            caps_within(100, 20_000),
            Caps {
                http: 100,
                tabs: 100
            }
        );
        assert_eq!(
            caps_within(50_000, 1_024),
            Caps {
                http: 256,
                tabs: 704
            }
        );
        for handles in [65, 100, 1_024, 20_000, 1_048_576] {
            let caps = caps_within(1_000_000, handles);
            let room = usize::try_from(handles - HANDLE_RESERVE).expect("small");
            assert!(caps.http + caps.tabs <= room.max(2), "{handles}: {caps:?}");
        }
    }
}
