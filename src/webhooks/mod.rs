//! Webhook requests: the engine's [`Transport`], built on reqwest. Each
//! request carries one event (the API's Event object, as the feed shows
//! it), signed per the Standard Webhooks specification (`webhook-id` =
//! the event's id, `webhook-timestamp` = the attempt's time,
//! `webhook-signature`), over kept-alive connections, with a connect and
//! a total timeout, never following a redirect, never through a proxy
//! from the environment, and — unless the endpoint allows it — never to a
//! non-public address ([`target`]).
//!
//! The engine decides what to send when, and retries; this module only
//! sends.

pub mod signature;
pub mod target;

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use bouncer_engine::{
    delivery::{Outcome, Transport},
    log::Event,
    webhooks::Endpoint,
};
use bouncer_web::wire;
use reqwest::{header, redirect, Client, Url};
use serde_json::json;

use self::{signature::SigningKey, target::PublicOnly};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take (the specification suggests 15–30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of a receiver's answer is read (and then dropped): enough to
/// keep the connection for the next request after a normal answer.
const MAX_ANSWER: usize = 64 * 1024;

/// Sends webhook requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    /// For endpoints without `--allow-private`: its resolver refuses
    /// non-public addresses on every connection.
    public: Client,
    /// For endpoints added with `--allow-private`.
    any: Client,
}

impl HttpTransport {
    pub fn new() -> anyhow::Result<Self> {
        let builder = || {
            Client::builder()
                .use_rustls_tls()
                .redirect(redirect::Policy::none())
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .user_agent(concat!("Bouncer-Webhooks/", env!("CARGO_PKG_VERSION")))
        };
        Ok(HttpTransport {
            public: builder()
                .dns_resolver(PublicOnly::shared())
                .build()
                .context("Failed to build the webhook client")?,
            any: builder()
                .build()
                .context("Failed to build the webhook client")?,
        })
    }

    /// Sends one signed request with `body` as event `id`.
    async fn post(&self, endpoint: &Endpoint, id: &str, body: Vec<u8>) -> Outcome {
        let failed = |error: String| Outcome::Failed {
            error,
            retry_after: None,
        };
        let url = match Url::parse(&endpoint.url) {
            Ok(url) => url,
            Err(e) => return failed(format!("invalid URL: {e}")),
        };
        // A literal address is never resolved, so the resolver cannot check it.
        if !endpoint.allow_private {
            if let Some(refused) = literal_refusal(&url) {
                return failed(refused);
            }
        }
        let key = match SigningKey::parse(endpoint.secret.expose()) {
            Ok(key) => key,
            Err(e) => return failed(e.to_string()),
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = key.sign(id, timestamp, &body);
        let client = if endpoint.allow_private {
            &self.any
        } else {
            &self.public
        };
        let sent = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => return failed(error_chain(&e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read the answer so the connection can carry the next request.
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read > MAX_ANSWER {
                break;
            }
        }
        if status.is_success() {
            Outcome::Delivered
        } else {
            Outcome::Failed {
                error: format!("the endpoint answered {status}"),
                retry_after,
            }
        }
    }

    /// `bouncer webhook test`: one signed `webhook.test` request, with an
    /// id of its own (`test_…`) that no event has.
    pub async fn send_test(&self, endpoint: &Endpoint, now: &str) -> Outcome {
        let id = format!("test_{:016x}", rand::random::<u64>());
        let body = json!({"type": "webhook.test", "id": id, "at": now}).to_string();
        self.post(endpoint, &id, body.into_bytes()).await
    }
}

impl Transport for HttpTransport {
    fn send<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            // An endpoint wants public events only (`Endpoint::wants`).
            let Some(event) = wire::event(event) else {
                return Outcome::Delivered;
            };
            match serde_json::to_vec(&event) {
                Ok(body) => self.post(endpoint, &event.id, body).await,
                Err(e) => Outcome::Failed {
                    error: format!("the event did not serialise: {e}"),
                    retry_after: None,
                },
            }
        })
    }
}

/// Why a URL whose host is an address literal may not be sent to.
fn literal_refusal(url: &Url) -> Option<String> {
    let address: IpAddr = match url.host()? {
        url::Host::Ipv4(v4) => v4.into(),
        url::Host::Ipv6(v6) => v6.into(),
        url::Host::Domain(_) => return None,
    };
    let range = target::non_public(address)?;
    Some(format!("refused: {address} is a {range} address"))
}

/// An error with its causes, on one line (reqwest's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
