//! `/api/admin/events*`: the event feed, its live stream (Server-Sent
//! Events) and its status. Thin adapters over `bouncer_engine::feed`,
//! which checks `read_events` through the caller's `Operator`.

use std::{convert::Infallible, time::Duration};

use axum::{
    http::HeaderMap,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use bouncer_engine::feed::DEFAULT_PAGE;
use bouncer_web::{wire, ApiError, Auth, Caller, Query};
use bouncer_wire::{EventPage, EventStatus};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;

/// Events a stream holds for a slow reader before it waits.
const STREAM_BUFFER: usize = 256;
/// How long a stream waits for a reader that takes nothing before it drops
/// the connection (the reader resumes with `Last-Event-ID`).
const SLOW_READER: Duration = Duration::from_secs(10);
/// A comment line this often keeps proxies from closing a quiet stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/admin/events?after=&limit=`.
pub async fn page(
    auth: Auth,
    caller: Caller,
    Query(query): Query<FeedQuery>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let (events, next) = auth
        .engine()
        .feed()
        .page(
            &caller.operator(),
            query.after,
            query.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    let events = events.iter().filter_map(wire::event).collect();
    Ok(axum::Json(EventPage { events, next }))
}

/// `GET /api/admin/events/status`: the log's extent and the webhooks'.
pub async fn status(auth: Auth, caller: Caller) -> Result<axum::Json<EventStatus>, ApiError> {
    let status = auth.engine().feed().status(&caller.operator()).await?;
    Ok(axum::Json(wire::event_status(&status)))
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    after: Option<i64>,
}

/// `GET /api/admin/events/stream`: the feed as Server-Sent Events, each
/// `id:` its `seq`, `event:` its type, `data:` the Event object. Resumes
/// after `Last-Event-ID` (or `?after=`), else starts at the newest event.
pub async fn stream(
    auth: Auth,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("Last-Event-ID must be an event's seq".to_owned())
                })?,
        ),
        None => query.after,
    };
    let mut following = auth
        .engine()
        .feed()
        .follow(&caller.operator(), after)
        .await?;
    let (events, mut received) = mpsc::channel::<SseEvent>(STREAM_BUFFER);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = following.next() => next,
                // The reader went away while nothing happened.
                () = events.closed() => return,
            };
            let batch = match next {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = ?e, "An event stream failed; closing it");
                    return;
                }
            };
            for event in &batch {
                let Some(data) = wire::event(event) else {
                    continue;
                };
                let message = SseEvent::default()
                    .id(event.seq.to_string())
                    .event(event.kind.as_str())
                    .json_data(data);
                let Ok(message) = message else { continue };
                // Bounded: a reader this slow is dropped, not buffered for.
                match tokio::time::timeout(SLOW_READER, events.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::info!("Dropped an event stream whose reader fell behind");
                        return;
                    }
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| received.poll_recv(cx).map(|m| m.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}
