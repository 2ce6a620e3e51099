//! [`CookieStore`]: where tower-sessions keeps each cookie's record, on the
//! engine's pool (SQLite or PostgreSQL).
//!
//! Records are keyed by the SHA-256 of the cookie id, the same [`SecretHash`]
//! the session registry uses, and the id itself is never stored: a copy of the
//! database yields no cookie a browser could present. (The sqlx store kept the
//! id in clear and serialised it inside the record.)

use anyhow::Context;
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore},
};

use crate::{clock::Timestamp, db::Pool, ids::SecretHash};

/// tower-sessions' store, on the engine's pool.
#[derive(Debug, Clone)]
pub struct CookieStore {
    pool: Pool,
}

fn key(id: &Id) -> String {
    SecretHash::of_secret(&id.to_string()).to_hex()
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl CookieStore {
    pub fn new(pool: Pool) -> Self {
        CookieStore { pool }
    }

    /// Deletes the records whose cookies have expired (the sweeper calls it).
    pub async fn delete_expired(&self, now: Timestamp) -> anyhow::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM session_cookies WHERE expires_at <= $1")
                .bind(now.as_millis())
                .execute(&self.pool)
                .await
                .context("Failed to delete expired cookie records")?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl SessionStore for CookieStore {
    /// Inserts under a fresh id; on the (astronomically rare) collision with
    /// an existing record, draws another id rather than overwrite it.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        loop {
            let inserted = sqlx::query(
                "INSERT INTO session_cookies (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO NOTHING",
            )
            .bind(key(&record.id))
            .bind(&data)
            .bind(millis(record.expiry_date))
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        sqlx::query(
            "INSERT INTO session_cookies (id_hash, data, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(key(&record.id))
        .bind(data)
        .bind(millis(record.expiry_date))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM session_cookies WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(key(id))
        .bind(millis(OffsetDateTime::now_utc()))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: Timestamp::from_millis(expires_at).to_offset_date_time(),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM session_cookies WHERE id_hash = $1")
            .bind(key(id))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
