//! One tab's WebSocket: `hello` first, then whatever the hub pushes, and the
//! tab's `activity` messages in. Written over any `Sink`/`Stream` of axum
//! messages, so it runs the same on a real socket and on channels in tests.
//!
//! Nothing a client sends can end or extend another session: the only message
//! understood is `activity`, and it applies to this socket's own session.

use std::{sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message};
use bouncer_wire::{
    ClientMessage, ServerMessage, CLOSE_SESSION_ENDED, CLOSE_TOO_BIG, MAX_CLIENT_FRAME,
};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::{hub::Push, registry::LiveSession, web::reason_message, Engine, SessionSnapshot};

/// Announces `sessions_changed` once the tab is online and again after it has
/// left, so device lists show online tabs live. Declared before the tab's
/// registration so it drops after it (the count is then already lower).
struct OnlineAnnouncer {
    engine: Engine,
    user_id: crate::ids::UserId,
    armed: bool,
}

impl OnlineAnnouncer {
    fn arm(&mut self) {
        self.armed = true;
        self.engine.hub().sessions_changed(&self.user_id);
    }
}

impl Drop for OnlineAnnouncer {
    fn drop(&mut self) {
        if self.armed {
            self.engine.hub().sessions_changed(&self.user_id);
        }
    }
}

/// Who is on the other end of the socket.
#[derive(Debug, Clone)]
pub struct TabOwner {
    pub live: Arc<LiveSession>,
    pub username: String,
    /// Staff consoles also get `sessions_changed` for everyone.
    pub staff: bool,
}

/// How often an otherwise quiet socket is pinged: well inside the idle
/// timeouts of load balancers and proxies (nginx closes after 60 s), and it
/// finds dead peers.
const HEARTBEAT: Duration = Duration::from_secs(25);

async fn send_json<S>(sink: &mut S, message: &ServerMessage) -> bool
where
    S: Sink<Message> + Unpin,
{
    match serde_json::to_string(message) {
        Ok(text) => sink.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

async fn close<S>(sink: &mut S, code: u16, reason: &str)
where
    S: Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// Serves one tab until its session ends, the client leaves, or the hub drops it.
pub async fn serve_tab<Tx, Rx>(engine: Engine, owner: TabOwner, mut sink: Tx, mut stream: Rx)
where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let live = owner.live;
    // Register before saying hello, then look again: an ending applied between
    // the upgrade's check and the registration must not be missed.
    let mut announcer = OnlineAnnouncer {
        engine: engine.clone(),
        user_id: live.user_id.clone(),
        armed: false,
    };
    let mut tab = engine
        .hub()
        .register(live.id.clone(), live.user_id.clone(), owner.staff);
    if let Some(reason) = engine.ended_reason(&live.id) {
        let message = ServerMessage::SessionEnded {
            reason,
            message: reason_message(reason, &engine.policy().auto_logout_message),
            detail: serde_json::json!({}),
        };
        send_json(&mut sink, &message).await;
        close(&mut sink, CLOSE_SESSION_ENDED, "session ended").await;
        return;
    }
    let session =
        engine.session_to_wire(&SessionSnapshot::from(live.as_ref()), &owner.username, true);
    if !send_json(
        &mut sink,
        &ServerMessage::Hello {
            session: Box::new(session),
        },
    )
    .await
    {
        return;
    }
    announcer.arm();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            push = tab.receiver.recv() => {
                // Everything already queued goes out in one write: an ending
                // is a message and a close, so a bulk ending costs one write
                // per tab, not two.
                let mut push = push;
                loop {
                    match push {
                        Some(Push::Message(message)) => {
                            if sink.feed(Message::Text(message.text())).await.is_err() {
                                return;
                            }
                        }
                        Some(Push::Close(code, reason)) => {
                            close(&mut sink, code, reason).await;
                            return;
                        }
                        // The hub dropped this tab (its queue was stuck): let
                        // the browser reconnect and resync.
                        None => {
                            close(&mut sink, 1013, "try again").await;
                            return;
                        }
                    }
                    push = match tab.receiver.try_recv() {
                        Ok(next) => Some(next),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                    };
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            frame = stream.next() => match frame {
                None | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => {
                    if text.len() > MAX_CLIENT_FRAME {
                        close(&mut sink, CLOSE_TOO_BIG, "message too big").await;
                        return;
                    }
                    match ClientMessage::parse(text.as_str()) {
                        Some(ClientMessage::Activity) => {
                            // A session past its deadline ends here instead;
                            // the push then closes this socket.
                            // Boxed: the call may end the session (database
                            // work with a large future), and inline it would
                            // sit in every idle tab's task for the tab's life.
                            if let Err(e) = Box::pin(engine.record_activity(&live)).await {
                                tracing::warn!(error = ?e, session = %live.id, "Failed to record a tab's activity");
                            }
                        }
                        None => {
                            let error = ServerMessage::Error { error: "bad_message".into() };
                            if !send_json(&mut sink, &error).await {
                                return;
                            }
                        }
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if bytes.len() > MAX_CLIENT_FRAME {
                        close(&mut sink, CLOSE_TOO_BIG, "message too big").await;
                        return;
                    }
                    let error = ServerMessage::Error { error: "bad_message".into() };
                    if !send_json(&mut sink, &error).await {
                        return;
                    }
                }
                // Pings are answered by the socket itself and are not activity.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(e)) => {
                    // tungstenite refuses an oversized frame as a read error
                    // and leaves the close to us.
                    if e.to_string().contains("too long") {
                        close(&mut sink, CLOSE_TOO_BIG, "message too big").await;
                    }
                    return;
                }
            },
        }
    }
}
