//! A browser tab's WebSocket (`GET /api/ws`) as a test client, reading the
//! server's messages as `bouncer_wire::ServerMessage`s.

use std::time::Duration;

use bouncer_wire::{ErrorBody, Reason, ServerMessage, Session, CLOSE_SESSION_ENDED};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

use super::{answer::exact, app::TestApp, browser::Browser};

/// What the tests wait for a message by default.
pub const WAIT: Duration = Duration::from_secs(2);

/// An open socket of one tab.
pub struct Tab {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// A `session_ended` message.
#[derive(Debug)]
pub struct Ended {
    pub reason: Reason,
    pub message: String,
    /// For `signed_in_elsewhere`: the new session's `device`, `ip` and `at`
    /// (free-form in the contract, so JSON).
    pub detail: serde_json::Value,
}

impl Tab {
    /// Opens `/api/ws` on the server at `address` (`http://host:port`) with
    /// this `Cookie` and `Origin`, if given.
    pub async fn connect(
        address: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Tab, tungstenite::Error> {
        let mut request = format!("{}/api/ws", address.replacen("http", "ws", 1))
            .into_client_request()
            .expect("a valid request");
        for (name, value) in [("cookie", cookie), ("origin", origin)] {
            if let Some(value) = value {
                request
                    .headers_mut()
                    .insert(name, value.parse().expect("a header value"));
            }
        }
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(socket, _)| Tab { socket })
    }

    /// The next message within `wait` (pings and pongs skipped); `None` on
    /// a close or a timeout.
    pub async fn next_message(&mut self, wait: Duration) -> Option<ServerMessage> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => return Some(exact(text.as_str())),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// The next message other than the announcements a tab hears beside
    /// its own session's events: `sessions_changed` (tabs coming online) and
    /// `new_sign_in` (another device of the user signed in).
    pub async fn next_event(&mut self, wait: Duration) -> Option<ServerMessage> {
        loop {
            match self.next_message(wait).await? {
                message if is_announcement(&message) => continue,
                event => return Some(event),
            }
        }
    }

    /// Reads the `hello` that must come first, and returns its session.
    pub async fn hello(&mut self, wait: Duration) -> Session {
        match self.next_message(wait).await {
            Some(ServerMessage::Hello { session }) => *session,
            other => panic!("hello comes first, not {other:?}"),
        }
    }

    /// Reads past any other message to a `session_ended` (each within
    /// `wait`), then expects the 4001 close.
    pub async fn ended(&mut self, wait: Duration) -> Ended {
        loop {
            let message = self
                .next_event(wait)
                .await
                .expect("a session_ended message");
            if let ServerMessage::SessionEnded {
                reason,
                message,
                detail,
            } = message
            {
                assert_eq!(
                    self.close_code(wait).await,
                    Some(CLOSE_SESSION_ENDED),
                    "closed with 4001"
                );
                return Ended {
                    reason,
                    message,
                    detail,
                };
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Sends a frame as the browser would (or would not).
    pub async fn send(&mut self, message: Message) {
        self.socket.send(message).await.expect("sent");
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::Text(text.into())).await;
    }
}

/// The status of an upgrade: 101 when the socket opened, else the refusal's.
pub fn upgrade_status(result: &Result<Tab, tungstenite::Error>) -> u16 {
    match result {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// The API error body of a refused upgrade.
pub fn upgrade_refusal(result: &Result<Tab, tungstenite::Error>) -> ErrorBody {
    match result {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            exact(std::str::from_utf8(body).expect("UTF-8"))
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the socket opened"),
    }
}

impl TestApp {
    /// Opens `/api/ws` on this server with this `Cookie` (and `Origin`, if given).
    pub async fn connect(
        &self,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Tab, tungstenite::Error> {
        Tab::connect(&self.address, cookie, origin).await
    }
}

impl Browser {
    /// Opens a tab of this browser's session, from its server's own origin,
    /// and reads the `hello`; returns the tab and the session it names.
    pub async fn open_tab(&self) -> (Tab, Session) {
        let mut tab = Tab::connect(self.address(), Some(&self.cookie()), Some(self.address()))
            .await
            .expect("the socket opens");
        let session = tab.hello(WAIT).await;
        (tab, session)
    }
}

/// Whether `message` only announces something about the user's other
/// sessions (see [`Tab::next_event`]).
pub fn is_announcement(message: &ServerMessage) -> bool {
    matches!(
        message,
        ServerMessage::SessionsChanged | ServerMessage::NewSignIn { .. }
    )
}
