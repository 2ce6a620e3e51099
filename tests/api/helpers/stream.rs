//! `GET /api/admin/events/stream` read as a Server-Sent Events client
//! would: one message per blank-line-separated block, comments (the
//! heartbeat) skipped, each `data:` read as the API's Event, exactly.

use std::time::Duration;

use bouncer_wire::Event;
use reqwest::{header, Method, StatusCode};

use super::{
    answer::{exact, Answer},
    browser::{send, Browser},
};

/// One message of the stream.
#[derive(Debug)]
pub struct Message {
    /// The `id:` field.
    pub id: String,
    /// The `event:` field.
    pub event: String,
    pub data: Event,
}

/// An open stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl Browser {
    /// Opens the stream, resuming after `last_event_id` (the raw header)
    /// when given; the refusal's answer when it is refused.
    pub async fn event_stream(
        &self,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, Answer<()>> {
        let mut request = self.request(Method::GET, &format!("/api/admin/events/stream?{query}"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = send(request).await;
        if response.status() != StatusCode::OK {
            return Err(Answer::read(response).await);
        }
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII");
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }
}

impl EventStream {
    /// The next message; `None` when the server closed the stream, a panic
    /// when nothing came `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Message> {
        tokio::time::timeout(within, self.read())
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    /// Whether the server closes the stream `within` (after any messages
    /// still on the way, which are returned).
    pub async fn closes(&mut self, within: Duration) -> Vec<Message> {
        let mut rest = Vec::new();
        while let Some(message) = self.next(within).await {
            rest.push(message);
        }
        rest
    }

    async fn read(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(message) = parse(&block) {
                    return Some(message);
                }
                continue;
            }
            let chunk = self.response.chunk().await.expect("the stream reads")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

/// A block's message, `None` for a comment-only block (a heartbeat).
fn parse(block: &str) -> Option<Message> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data = Some(exact::<Event>(value.trim()));
        }
    }
    Some(Message {
        id: id?,
        event: event?,
        data: data?,
    })
}
