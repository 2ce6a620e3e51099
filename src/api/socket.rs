//! `GET /api/ws`: one WebSocket per tab. The upgrade is where the socket is
//! authorised (origin, then a live session); after that the engine's socket
//! loop and the hub take over.

use axum::{
    extract::{ws::WebSocketUpgrade, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bouncer_engine::{
    authz,
    socket::{serve_tab, TabOwner},
    web::json_error,
};
use bouncer_wire::{ErrorBody, MAX_CLIENT_FRAME};
use futures_util::StreamExt;

use super::{caller::Caller, ApiError};
use crate::startup::AppState;

/// Small buffers: an idle tab must cost kilobytes, not tungstenite's 128 KiB
/// defaults. The read buffer is allocated (and zeroed) up front for every
/// socket, and a tab only ever sends `activity`, so 1 KiB (a client frame of
/// up to `MAX_CLIENT_FRAME` is read in a few chunks). Outgoing frames wait in
/// the write buffer only until the socket loop flushes, which it does after
/// every batch of queued pushes (an ending's message and close leave in one
/// write).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 64 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Caller, Response>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // Cross-site WebSocket hijacking: a browser always sends Origin here.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = origin
            .to_str()
            .is_ok_and(|o| state.settings.public_origin.matches(o));
        if !ours {
            return json_error(
                StatusCode::FORBIDDEN,
                ErrorBody {
                    error: "cross_origin".into(),
                    message: Some(
                        "This socket was opened from another site and was refused.".into(),
                    ),
                    reason: None,
                    sessions: None,
                },
            );
        }
    }
    let caller = match caller {
        Ok(caller) => caller,
        Err(rejection) => return rejection,
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
    let engine = state.engine.clone();
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            serve_tab(engine, owner, sink, stream).await;
        })
}
