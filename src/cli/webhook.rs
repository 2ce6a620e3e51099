//! `bouncer webhook add|list|remove|test`: the webhook endpoints, on the
//! configured database. A running server (the node holding the delivery
//! lease) picks an added or removed endpoint up within a second.
//!
//! Everything is checked before anything is stored — the URL, where its
//! host resolves, the secret, the event types — so a refused command
//! leaves nothing half-configured.

use std::{io::Read, sync::Arc};

use anyhow::Context;
use bouncer_engine::{
    clock::{Clock, SystemClock},
    console::Operator,
    delivery::Outcome,
    webhooks::{Endpoint, NewEndpoint, Secret},
};
use bouncer_web::wire;
use bouncer_wire::EventType;
use clap::Subcommand;

use crate::{
    config::Settings,
    startup,
    webhooks::{signature::SigningKey, target, HttpTransport},
};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Adds an endpoint; its `whsec_…` secret is read from standard input.
    Add {
        /// Where to POST the events (http:// or https://).
        url: String,
        /// The event types to deliver, comma-separated (e.g. `session.ended,user.created`).
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_event_type)]
        events: Vec<EventType>,
        /// Read the secret from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        secret_stdin: bool,
        /// Allow a host on a loopback, private or link-local address.
        #[arg(long)]
        allow_private: bool,
    },
    /// Lists the endpoints and how their delivery stands.
    List,
    /// Removes an endpoint.
    Remove { id: String },
    /// Sends the endpoint one signed `webhook.test` request and prints the answer.
    Test { id: String },
}

fn parse_event_type(raw: &str) -> Result<EventType, String> {
    raw.trim()
        .parse()
        .map_err(|e: bouncer_wire::UnknownEventType| e.to_string())
}

/// Runs a `webhook` subcommand.
pub async fn run(settings: &Settings, command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add {
            url,
            events,
            secret_stdin: _,
            allow_private,
        } => add(settings, &url, events, allow_private).await,
        WebhookCommand::List => list(settings).await,
        WebhookCommand::Remove { id } => {
            let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
            engine
                .feed()
                .remove_webhook(&Operator::CommandLine, &id)
                .await
                .map_err(|e| not_found(e, &id))?;
            println!("Removed webhook {id}");
            Ok(())
        }
        WebhookCommand::Test { id } => test(settings, &id).await,
    }
}

async fn add(
    settings: &Settings,
    url: &str,
    mut events: Vec<EventType>,
    allow_private: bool,
) -> anyhow::Result<()> {
    let url = target::check(url, allow_private).await?;
    let mut secret = String::new();
    std::io::stdin()
        .read_to_string(&mut secret)
        .context("Failed to read the secret from standard input")?;
    SigningKey::parse(&secret)?;
    events.sort_unstable();
    events.dedup();
    let kinds = events.into_iter().map(wire::event_kind).collect();
    let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
    let endpoint = engine
        .feed()
        .add_webhook(
            &Operator::CommandLine,
            NewEndpoint {
                url: url.to_string(),
                events: kinds,
                secret: Secret::new(secret.trim()),
                allow_private,
            },
        )
        .await?;
    println!(
        "Added webhook {} for {} to {}",
        endpoint.id,
        names(&endpoint),
        endpoint.url
    );
    Ok(())
}

async fn list(settings: &Settings) -> anyhow::Result<()> {
    let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
    let endpoints = engine.feed().webhooks(&Operator::CommandLine).await?;
    println!(
        "{:<20} {:<9} {:>8} {:>8}  {:<40} EVENTS",
        "WEBHOOK", "STATE", "CURSOR", "ATTEMPTS", "URL"
    );
    for endpoint in &endpoints {
        let status = wire::webhook_status(endpoint);
        let state = serde_json::to_value(status.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "{:<20} {:<9} {:>8} {:>8}  {:<40} {}{}",
            status.id,
            state,
            status.cursor,
            status.attempts,
            status.url,
            names(endpoint),
            if status.allow_private {
                " (private addresses allowed)"
            } else {
                ""
            }
        );
        if let (Some(since), Some(error)) = (&status.failing_since, &status.last_error) {
            println!("{:<20} failing since {since}: {}", "", error.escape_debug());
        }
    }
    Ok(())
}

async fn test(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
    let endpoint = engine
        .feed()
        .webhook(&Operator::CommandLine, id)
        .await
        .map_err(|e| not_found(e, id))?;
    let now = SystemClock.now().to_rfc3339();
    match HttpTransport::new()?.send_test(&endpoint, &now).await {
        Outcome::Delivered => {
            println!("Delivered a webhook.test request to {}", endpoint.url);
            Ok(())
        }
        Outcome::Failed { error, .. } => {
            anyhow::bail!("The test request to {} failed: {error}", endpoint.url)
        }
    }
}

/// The endpoint's event types, comma-separated.
fn names(endpoint: &Endpoint) -> String {
    let names: Vec<&str> = endpoint.events.iter().map(|kind| kind.as_str()).collect();
    names.join(",")
}

/// "No webhook `id`" for a missing endpoint; any other error as it is.
fn not_found(error: bouncer_engine::feed::FeedError, id: &str) -> anyhow::Error {
    use bouncer_engine::{console::ConsoleError, feed::FeedError};
    match error {
        FeedError::Console(ConsoleError::NotFound) => {
            anyhow::anyhow!(
                "No webhook `{}` (see `bouncer webhook list`)",
                id.escape_debug()
            )
        }
        other => other.into(),
    }
}
