//! `GET /api/ws`: one WebSocket per tab. The upgrade is where the socket is
//! authorised (origin, then a live session); after that the engine's hub
//! feeds it and [`serve_tab`] speaks the protocol: `hello` first, then
//! whatever the engine pushes, and the tab's `activity` messages in.
//!
//! [`serve_tab`] is written over any `Sink`/`Stream` of axum messages, so it
//! runs the same on a real socket and on channels in tests. Nothing a client
//! sends can end or extend another session: the only message understood is
//! `activity`, and it applies to this socket's own session.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::ws::{
        rejection::WebSocketUpgradeRejection, CloseFrame, Message, Utf8Bytes, WebSocketUpgrade,
    },
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use bouncer_engine::{
    authz,
    hub::Push,
    inbox::{self, TryRecvError},
    measures,
    view::LiveSession,
    Engine,
};
use bouncer_wire::{
    ClientMessage, ServerMessage, CLOSE_SESSION_ENDED, CLOSE_TOO_BIG, MAX_CLIENT_FRAME,
};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use crate::{
    error::ApiError,
    extract::{Auth, Caller},
    wire,
};

/// Small buffers: an idle tab must cost kilobytes, not tungstenite's 128 KiB
/// defaults. The read buffer is allocated up front for every socket, and a
/// tab only ever sends `activity` (a few dozen bytes) and pongs, so 256
/// bytes (a client frame of up to `MAX_CLIENT_FRAME` grows it while read). Outgoing frames wait in
/// the write buffer only until the socket loop flushes, which it does after
/// every batch of queued pushes (an ending's message and close leave in one
/// write).
const READ_BUFFER: usize = 256;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// How often an otherwise quiet socket is pinged: well inside the idle
/// timeouts of load balancers and proxies (nginx closes after 60 s), and it
/// finds dead peers.
const HEARTBEAT: Duration = Duration::from_secs(25);

/// Who is on the other end of the socket.
#[derive(Debug, Clone)]
pub struct TabOwner {
    pub live: Arc<LiveSession>,
    pub username: String,
    /// Staff consoles also get `sessions_changed` for everyone.
    pub staff: bool,
}

/// The upgrade handler: mount it at `GET /api/ws` behind the session layer.
/// The tab's socket runs in no span: a span lives as long as the socket,
/// and with the request's span it keeps alive it cost every idle tab about
/// 0.3 KB in the log's registry (BENCHMARKS.md row 2: 7.5 → 7.2 KB); what
/// the socket logs names its session.
pub async fn upgrade(
    auth: Auth,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Cross-site WebSocket hijacking: a browser always sends Origin here.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = origin.to_str().is_ok_and(|o| auth.0.edge.origin.matches(o));
        if !ours {
            return ApiError::CrossOrigin.into_response();
        }
    }
    let caller = match caller {
        Ok(caller) => caller,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    let owner = TabOwner {
        staff: authz::is_staff(&caller.user),
        username: caller.user.username.to_string(),
        live: caller.live,
    };
    let engine = auth.engine().clone();
    let edge = Arc::clone(&auth.0.edge);
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            async move {
                if let Some(closed) = serve_tab(engine, owner, sink, stream).await {
                    edge.reaper.retire(closed);
                }
            }
        })
}

/// A message's JSON text.
fn json(message: &ServerMessage) -> String {
    // Cannot fail: every field is a string, a number or a JSON value.
    serde_json::to_string(message).unwrap_or_else(|e| {
        tracing::error!(error = %e, "Failed to serialise a server message");
        r#"{"type":"error","error":"internal"}"#.to_owned()
    })
}

/// The frame of a message the engine pushes, encoded once for all the tabs
/// it goes to.
fn frame(outgoing: &bouncer_engine::hub::Outgoing) -> Utf8Bytes {
    let bytes = outgoing.frame(|message| Bytes::from(json(&wire::server_message(message))));
    // The bytes are the JSON text encoded above, so always UTF-8.
    Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

async fn send_json<S>(sink: &mut S, message: &ServerMessage) -> bool
where
    S: Sink<Message> + Unpin,
{
    sink.send(Message::Text(json(message).into())).await.is_ok()
}

/// Sends a close frame; whether it was written.
async fn close<S>(sink: &mut S, code: u16, reason: &str) -> bool
where
    S: Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    sink.send(Message::Close(Some(frame))).await.is_ok()
}

/// Serves one tab until its session ends, the client leaves, or the hub drops it.
/// When this side closed the socket (a close frame written: the session
/// ended, the node is stopping…) the socket is handed back, for the caller
/// to free once the burst of pushes that closed it is written (see
/// [`crate::reaper::Reaper`]); otherwise it is freed here.
pub async fn serve_tab<Tx, Rx>(
    engine: Engine,
    owner: TabOwner,
    mut sink: Tx,
    mut stream: Rx,
) -> Option<(Tx, Rx)>
where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let live = owner.live;
    let tabs = engine.tabs();
    let mut tab = tabs.connect(&live, owner.staff);
    if let Some(ended) = tabs.ended_message(&live) {
        send_json(&mut sink, &wire::server_message(&ended)).await;
        close(&mut sink, CLOSE_SESSION_ENDED, "session ended").await;
        return None;
    }
    let session = wire::session(&engine.snapshots().of_live(&live), &owner.username, true);
    let hello = ServerMessage::Hello {
        session: Box::new(session),
    };
    if !send_json(&mut sink, &hello).await {
        return None;
    }
    tab.announce_online();
    let pushes = tab.pushes()?;
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return None;
                }
            }
            push = pushes.recv() => {
                // Boxed, like `receive`: a tab spends its life waiting, and
                // inline the write's state would sit in every idle tab's task.
                match Box::pin(deliver(&engine, &mut sink, pushes, push)).await {
                    Delivered::Open => {}
                    Delivered::Closed => {
                        // The tab leaves the hub now; the socket waits.
                        drop(tab);
                        return Some((sink, stream));
                    }
                    Delivered::Failed => return None,
                }
            }
            frame = stream.next() => {
                if !Box::pin(receive(&engine, &live, &mut sink, frame)).await {
                    return None;
                }
            }
        }
    }
}

/// How a [`deliver`] left the socket.
enum Delivered {
    /// Written; the tab goes on.
    Open,
    /// A close frame was written: this side is done with the socket.
    Closed,
    /// The socket failed.
    Failed,
}

/// Writes `push` and everything else already queued in one write: an ending
/// is a message and a close, so a bulk ending costs one write per tab, not
/// two. Once an ending's frame is written, the push's latency is recorded
/// (`measures::PUSH_LATENCY`).
async fn deliver<S>(
    engine: &Engine,
    sink: &mut S,
    pushes: &mut inbox::Receiver<Push>,
    mut push: Option<Push>,
) -> Delivered
where
    S: Sink<Message> + Unpin,
{
    let mut ended_at = None;
    let delivered = loop {
        match push {
            Some(Push::Message(message)) => {
                if sink.feed(Message::Text(frame(&message))).await.is_err() {
                    return Delivered::Failed;
                }
                ended_at = ended_at.or(message.ended_at());
            }
            Some(Push::Close(code, reason)) => break closed(close(sink, code, reason).await),
            // The hub dropped this tab (its queue was stuck): let the browser
            // reconnect and resync.
            None => break closed(close(sink, 1013, "try again").await),
        }
        push = match pushes.try_recv() {
            Ok(next) => Some(next),
            Err(TryRecvError::Empty) => match sink.flush().await {
                Ok(()) => break Delivered::Open,
                Err(_) => return Delivered::Failed,
            },
            Err(TryRecvError::Disconnected) => None,
        };
    };
    if let Some(at) = ended_at.filter(|_| matches!(delivered, Delivered::Closed)) {
        let latency = engine.now().since(at);
        metrics::histogram!(measures::PUSH_LATENCY).record(measures::seconds(latency));
    }
    delivered
}

fn closed(written: bool) -> Delivered {
    if written {
        Delivered::Closed
    } else {
        Delivered::Failed
    }
}

/// Handles one frame from the tab. `false` once the socket is done.
async fn receive<S>(
    engine: &Engine,
    live: &Arc<LiveSession>,
    sink: &mut S,
    frame: Option<Result<Message, axum::Error>>,
) -> bool
where
    S: Sink<Message> + Unpin,
{
    let bad_message = ServerMessage::Error {
        error: "bad_message".into(),
    };
    match frame {
        None | Some(Ok(Message::Close(_))) => false,
        Some(Ok(Message::Text(text))) if text.len() <= MAX_CLIENT_FRAME => {
            match ClientMessage::parse(text.as_str()) {
                Some(ClientMessage::Activity) => {
                    // A session past its deadline ends here instead; the push
                    // then closes this socket. Boxed: the call may end the
                    // session (database work with a large future), and inline
                    // it would sit in every idle tab's task for the tab's life.
                    if let Err(e) = Box::pin(engine.tabs().record_activity(live)).await {
                        tracing::warn!(error = ?e, session = %live.id, "Failed to record a tab's activity");
                    }
                    true
                }
                None => send_json(sink, &bad_message).await,
            }
        }
        Some(Ok(Message::Binary(bytes))) if bytes.len() <= MAX_CLIENT_FRAME => {
            send_json(sink, &bad_message).await
        }
        Some(Ok(Message::Text(_) | Message::Binary(_))) => {
            close(sink, CLOSE_TOO_BIG, "message too big").await;
            false
        }
        // Pings are answered by the socket itself and are not activity.
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
        Some(Err(e)) => {
            // tungstenite refuses an oversized frame as a read error and
            // leaves the close to us.
            if e.to_string().contains("too long") {
                close(sink, CLOSE_TOO_BIG, "message too big").await;
            }
            false
        }
    }
}
