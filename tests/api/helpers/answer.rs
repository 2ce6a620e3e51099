//! An API answer read into `bouncer-wire` types: the status, the headers,
//! and either the success body or the API's error body.

use std::fmt::Debug;

use bouncer_wire::{ErrorBody, Reason};
use reqwest::{header, header::HeaderMap, StatusCode};
use serde::{de::DeserializeOwned, Serialize};

use super::cookies::session_set_cookie;

/// What an endpoint answered.
#[derive(Debug)]
pub struct Answer<T> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The success body (`()` for an empty one), or the error body.
    pub body: Result<T, ErrorBody>,
}

impl<T: DeserializeOwned + Serialize + Debug> Answer<T> {
    /// Reads a response: a success body as `T`, anything else as the API's
    /// error body. A body that is neither panics: every answer of the API is
    /// one of its wire types, exactly (see [`exact`]).
    pub async fn read(response: reqwest::Response) -> Answer<T> {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if status.is_success() {
            Ok(exact(&text))
        } else {
            Err(exact(&text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }
}

impl<T: Debug> Answer<T> {
    /// The body of a success; panics with the refusal otherwise.
    pub fn expect(self, what: &str) -> T {
        match self.body {
            Ok(body) => body,
            Err(refusal) => panic!("{what}: refused with {}: {refusal:?}", self.status),
        }
    }

    /// The error body of a refusal; panics if it succeeded.
    pub fn refusal(self) -> ErrorBody {
        match self.body {
            Ok(body) => panic!("expected a refusal, got {}: {body:?}", self.status),
            Err(refusal) => refusal,
        }
    }

    /// The session cookie's `Set-Cookie` header, if the answer has one.
    pub fn set_cookie(&self) -> Option<String> {
        session_set_cookie(&self.headers)
    }

    /// Why the session ended, if this is a refusal that says so.
    pub fn reason(&self) -> Option<Reason> {
        self.body.as_ref().err().and_then(|refusal| refusal.reason)
    }

    /// The error code, if this is a refusal.
    pub fn error(&self) -> Option<&str> {
        self.body
            .as_ref()
            .err()
            .map(|refusal| refusal.error.as_str())
    }
}

/// `text` as a `T`, checked to hold nothing `T` does not: read back into
/// JSON, it must be the same value. So a typed answer is as strict as
/// comparing the whole JSON object (a field the type does not know, such as
/// a leaked secret, fails the test). An empty body is JSON `null`, which is
/// what `()` reads.
pub fn exact<T: DeserializeOwned + Serialize>(text: &str) -> T {
    let text = if text.is_empty() { "null" } else { text };
    let json: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let typed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("not a {} ({e}): {text}", std::any::type_name::<T>()));
    assert_eq!(
        serde_json::to_value(&typed).expect("serialises"),
        json,
        "the answer holds more than a {}",
        std::any::type_name::<T>()
    );
    typed
}

/// Asserts a throttled answer: 429 `too_many_attempts` with a `Retry-After`
/// of whole seconds within the throttle's 15-minute window. Returns them.
pub fn assert_throttled<T: Debug>(answer: Answer<T>) -> u64 {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: u64 = answer.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_eq!(answer.refusal().error, "too_many_attempts");
    retry_after
}
