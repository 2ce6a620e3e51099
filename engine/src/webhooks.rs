//! Table `webhooks`: the endpoints other systems receive events at
//! (`bouncer webhook add`), each with its signing secret and its durable
//! delivery progress — the `seq` of the last event delivered, and how the
//! event after it is failing, if it is. A node that takes the delivery over
//! (after a restart, or from a node that stopped) resumes from here.
//!
//! This module only stores; [`crate::delivery`] delivers.

use std::fmt;

use anyhow::Context;
use rand::RngCore;

use crate::{clock::Timestamp, db::Pool, log::EventKind};

/// A signing secret as the Standard Webhooks specification serialises it
/// (`whsec_<base64>`). Never printed: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret already checked by whoever configures the endpoint.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An endpoint and how its delivery stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `wh_` and 16 random hex digits.
    pub id: String,
    pub url: String,
    /// The event types it receives; the others are passed over.
    pub events: Vec<EventKind>,
    pub secret: Secret,
    /// Whether it may resolve to a loopback, private or link-local address.
    pub allow_private: bool,
    pub created_at: Timestamp,
    /// The `seq` of the last event delivered or passed over.
    pub delivered_seq: i64,
    /// Failed attempts at the event after `delivered_seq`.
    pub attempts: u32,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    /// Whether that run has lasted past [`crate::delivery::FAILING_AFTER`].
    pub failing: bool,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<Timestamp>,
}

impl Endpoint {
    /// Whether events of this kind go to this endpoint.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }
}

/// An endpoint to add.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<EventKind>,
    pub secret: Secret,
    pub allow_private: bool,
}

/// A failed attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The cursor reached before the event that failed.
    pub delivered_seq: i64,
    pub attempts: u32,
    pub since: Timestamp,
    pub failing: bool,
    pub error: String,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    url: String,
    events: String,
    secret: String,
    allow_private: i64,
    created_at: i64,
    delivered_seq: i64,
    attempts: i64,
    failing_since: Option<i64>,
    failing: i64,
    last_error: Option<String>,
    last_delivered_at: Option<i64>,
}

impl EndpointRow {
    fn decode(self) -> anyhow::Result<Endpoint> {
        let events = self
            .events
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::parse)
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("Failed to read the event types of webhook {}", self.id))?;
        Ok(Endpoint {
            id: self.id,
            url: self.url,
            events,
            secret: Secret(self.secret),
            allow_private: self.allow_private != 0,
            created_at: Timestamp::from_millis(self.created_at),
            delivered_seq: self.delivered_seq,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            failing_since: self.failing_since.map(Timestamp::from_millis),
            failing: self.failing != 0,
            last_error: self.last_error,
            last_delivered_at: self.last_delivered_at.map(Timestamp::from_millis),
        })
    }
}

const COLUMNS: &str = "id, url, events, secret, allow_private, created_at, delivered_seq, \
     attempts, failing_since, failing, last_error, last_delivered_at";

/// The longest error text kept (a receiver's answer can be anything).
const MAX_ERROR: usize = 300;

/// The `webhooks` table.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pool: Pool,
}

impl Webhooks {
    pub fn new(pool: Pool) -> Self {
        Webhooks { pool }
    }

    /// Adds an endpoint that receives the events after `after`.
    pub async fn add(
        &self,
        new: &NewEndpoint,
        after: i64,
        now: Timestamp,
    ) -> anyhow::Result<Endpoint> {
        let mut bytes = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let endpoint = Endpoint {
            id: format!("wh_{}", hex::encode(bytes)),
            url: new.url.clone(),
            events: new.events.clone(),
            secret: new.secret.clone(),
            allow_private: new.allow_private,
            created_at: now,
            delivered_seq: after,
            attempts: 0,
            failing_since: None,
            failing: false,
            last_error: None,
            last_delivered_at: None,
        };
        let events: Vec<&str> = endpoint.events.iter().map(|kind| kind.as_str()).collect();
        sqlx::query(
            "INSERT INTO webhooks (id, url, events, secret, allow_private, created_at, delivered_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.url)
        .bind(events.join(","))
        .bind(endpoint.secret.expose())
        .bind(i64::from(endpoint.allow_private))
        .bind(now.as_millis())
        .bind(after)
        .execute(&self.pool)
        .await
        .context("Failed to add the webhook")?;
        Ok(endpoint)
    }

    /// Every endpoint, oldest first.
    pub async fn list(&self) -> anyhow::Result<Vec<Endpoint>> {
        let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("Failed to list the webhooks")?;
        rows.into_iter().map(EndpointRow::decode).collect()
    }

    /// The endpoint `id`, if there is one.
    pub async fn find(&self, id: &str) -> anyhow::Result<Option<Endpoint>> {
        let row: Option<EndpointRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .context("Failed to read a webhook")?;
        row.map(EndpointRow::decode).transpose()
    }

    /// Removes the endpoint `id`; false when there was none.
    pub async fn remove(&self, id: &str) -> anyhow::Result<bool> {
        let removed = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("Failed to remove a webhook")?;
        Ok(removed.rows_affected() > 0)
    }

    /// Records progress: every event up to `seq` is delivered or passed
    /// over, and nothing is failing. The cursor never moves back (two nodes
    /// delivering for a moment, around a lease's expiry, both only add).
    pub async fn advance(
        &self,
        id: &str,
        seq: i64,
        delivered_at: Option<Timestamp>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE webhooks SET delivered_seq = CASE WHEN delivered_seq < $1 THEN $1 \
             ELSE delivered_seq END, attempts = 0, failing_since = NULL, failing = 0, \
             last_error = NULL, last_delivered_at = COALESCE($2, last_delivered_at) \
             WHERE id = $3",
        )
        .bind(seq)
        .bind(delivered_at.map(Timestamp::as_millis))
        .bind(id)
        .execute(&self.pool)
        .await
        .context("Failed to record a webhook's progress")?;
        Ok(())
    }

    /// Records a failed attempt at the event after `failure.delivered_seq`.
    pub async fn failed(&self, id: &str, failure: &Failure) -> anyhow::Result<()> {
        let error: String = failure.error.chars().take(MAX_ERROR).collect();
        sqlx::query(
            "UPDATE webhooks SET delivered_seq = CASE WHEN delivered_seq < $1 THEN $1 \
             ELSE delivered_seq END, attempts = $2, failing_since = $3, failing = $4, \
             last_error = $5 WHERE id = $6",
        )
        .bind(failure.delivered_seq)
        .bind(i64::from(failure.attempts))
        .bind(failure.since.as_millis())
        .bind(i64::from(failure.failing))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("Failed to record a webhook's failure")?;
        Ok(())
    }
}
