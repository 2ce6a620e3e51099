//! Browser tabs as WebSocket clients: thousands of them, spread over several
//! loopback source addresses (each has ~28k ephemeral ports).

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::{
    net::{TcpSocket, TcpStream},
    sync::{oneshot, watch},
};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, protocol::WebSocketConfig, Message},
    WebSocketStream,
};

/// How a tab's session ended, as the tab heard it.
#[derive(Debug, Clone)]
pub struct Told {
    pub at: Instant,
    pub reason: String,
}

/// One connected tab: its ending, once it hears of it, and when the server
/// closed the connection after it. The tab keeps its socket open until it is
/// dropped, so a benchmark's own teardown of thousands of sockets happens
/// after it has read its figures, not in the middle of the server's push.
pub struct Tab {
    told: watch::Receiver<Option<Told>>,
    closed: watch::Receiver<Option<Instant>>,
    /// Dropped with the tab: the socket is closed then.
    _release: oneshot::Sender<()>,
}

impl Tab {
    /// Waits up to `wait` for the ending.
    pub async fn told(&mut self, wait: Duration) -> Option<Told> {
        let result = tokio::time::timeout(wait, self.told.wait_for(Option::is_some)).await;
        match result {
            Ok(Ok(told)) => told.clone(),
            _ => None,
        }
    }

    /// Waits up to `wait` for the server to close the connection (after an
    /// ending); when it did.
    pub async fn closed(&mut self, wait: Duration) -> Option<Instant> {
        let result = tokio::time::timeout(wait, self.closed.wait_for(Option::is_some)).await;
        result.ok().and_then(|closed| *closed.ok()?)
    }
}

/// Connects one tab per cookie to the server on `port`, `parallel` at a time,
/// from `sources` loopback addresses (127.0.0.2 and up). Each tab has had its
/// `hello` when this returns.
pub async fn connect_all(
    port: u16,
    cookies: &[String],
    sources: u8,
    parallel: usize,
) -> anyhow::Result<Vec<Tab>> {
    stream::iter(cookies.iter().enumerate())
        .map(|(i, cookie)| connect(port, cookie.clone(), source_address(i, sources)))
        .buffered(parallel)
        .try_collect()
        .await
}

/// A tab's open WebSocket.
pub type Socket = WebSocketStream<TcpStream>;

/// How a WebSocket upgrade went.
pub enum Upgrade {
    /// The socket is open; nothing has been read from it yet.
    Open(Box<Socket>),
    /// The server answered the upgrade with this status instead (401: the
    /// session is not live).
    Refused(u16),
}

/// The loopback address the `index`th client connects from: one of
/// `sources` addresses from 127.0.0.2 up, each with its own ephemeral ports.
pub fn source_address(index: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (index % usize::from(sources.max(1))) as u8)
}

/// Opens `GET /api/ws` on the server at `port` with `cookie`, from `source`.
/// A network failure is an error; an HTTP answer instead of the upgrade is
/// [`Upgrade::Refused`].
pub async fn open(port: u16, cookie: &str, source: Ipv4Addr) -> anyhow::Result<Upgrade> {
    use tokio_tungstenite::tungstenite::Error;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("connect from {source}"))?;
    let mut request = format!("ws://127.0.0.1:{port}/api/ws").into_client_request()?;
    request.headers_mut().insert("cookie", cookie.parse()?);
    // A browser-sized read buffer: tungstenite's default (128 KiB) is zeroed
    // on every read, which made the load generator, not the server, the
    // bottleneck when thousands of tabs are told at once.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((socket, _)) => Ok(Upgrade::Open(Box::new(socket))),
        Err(Error::Http(response)) => Ok(Upgrade::Refused(response.status().as_u16())),
        Err(e) => Err(anyhow::Error::new(e).context("the WebSocket upgrade")),
    }
}

async fn connect(port: u16, cookie: String, source: Ipv4Addr) -> anyhow::Result<Tab> {
    let mut socket = match open(port, &cookie, source).await? {
        Upgrade::Open(socket) => socket,
        Upgrade::Refused(status) => bail!("the WebSocket upgrade answered {status}"),
    };
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("\"hello\"") => {}
        other => bail!("expected hello, got {other:?}"),
    }
    let (sender, told) = watch::channel(None);
    let (closer, closed) = watch::channel(None);
    let (release, released) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut ended = false;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let at = Instant::now();
            if let Some(reason) = ending_reason(text.as_str()) {
                let _ = sender.send(Some(Told { at, reason }));
                ended = true;
                break;
            }
        }
        if ended {
            // Read on to the server's close (the close frame, then the end
            // of the stream), without closing this side.
            while let Some(Ok(_)) = socket.next().await {}
            let _ = closer.send(Some(Instant::now()));
        }
        let _ = released.await;
        drop(socket);
    });
    Ok(Tab {
        told,
        closed,
        _release: release,
    })
}

/// The reason of a `session_ended` message, read without building a JSON
/// tree (thousands arrive at once; the generator shares the server's cores).
fn ending_reason(text: &str) -> Option<String> {
    if !text.contains(r#""type":"session_ended""#) {
        return None;
    }
    let after = text.split_once(r#""reason":""#)?.1;
    Some(after.split('"').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reason_is_read_from_an_ending_only() {
        let ended =
            r#"{"type":"session_ended","reason":"admin_revoked","message":"x","detail":{}}"#;
        assert_eq!(
            super::ending_reason(ended).as_deref(),
            Some("admin_revoked")
        );
        assert_eq!(super::ending_reason(r#"{"type":"sessions_changed"}"#), None);
    }
}
