//! Table `leases`: named jobs that exactly one node may do at a time (the
//! webhook delivery), each held by one node until an expiry the holder keeps
//! pushing forward. A node that stops renewing — killed, frozen, cut off
//! from the database — loses it when it expires, and another node takes it.
//!
//! Expiry is measured on the database's clock, never a node's, so nodes
//! whose clocks disagree still agree on who holds a lease.

use std::time::Duration;

use anyhow::Context;

use crate::db::{Backend, Pool};

/// The database's "now" in milliseconds since the epoch.
const NOW_POSTGRES: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
const NOW_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// The `leases` table.
#[derive(Debug, Clone)]
pub struct Leases {
    pool: Pool,
    /// Takes or renews a lease: `$1` name, `$2` holder, `$3` milliseconds.
    take: String,
}

impl Leases {
    pub fn new(pool: Pool, backend: Backend) -> Self {
        let now = match backend {
            Backend::Postgres => NOW_POSTGRES,
            Backend::Sqlite => NOW_SQLITE,
        };
        // One statement, so two nodes racing for an expired lease are
        // serialised by the row: the second finds it taken and not expired.
        let take = format!(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < {now}"
        );
        Leases { pool, take }
    }

    /// Takes the lease `name` for `holder` for `ttl`, or renews it if
    /// `holder` has it. False when another holder's lease has not expired.
    pub async fn take(&self, name: &str, holder: &str, ttl: Duration) -> anyhow::Result<bool> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let taken = sqlx::query(&self.take)
            .bind(name)
            .bind(holder)
            .bind(ttl)
            .execute(&self.pool)
            .await
            .with_context(|| format!("Failed to take the lease `{name}`"))?;
        Ok(taken.rows_affected() == 1)
    }

    /// Gives the lease up (a node stopping), so another takes it at once
    /// rather than after it expires. Harmless when not held.
    pub async fn release(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .with_context(|| format!("Failed to release the lease `{name}`"))?;
        Ok(())
    }

    /// Who holds the lease `name` now, if anyone (an expired lease counts
    /// as held until someone takes it over).
    pub async fn holder(&self, name: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("Failed to read the lease `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    #[tokio::test]
    async fn one_holder_at_a_time_until_it_expires_or_is_released() {
        let pool = db::connect("sqlite::memory:").await.expect("opened");
        db::migrate(&pool).await.expect("migrated");
        let leases = Leases::new(pool, Backend::Sqlite);
        let ttl = Duration::from_millis(300);
        assert!(leases.take("job", "a", ttl).await.expect("taken"));
        assert!(
            !leases.take("job", "b", ttl).await.expect("asked"),
            "held by a"
        );
        assert!(leases.take("job", "a", ttl).await.expect("renewed"));
        assert!(leases.take("other", "b", ttl).await.expect("another job"));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(leases
            .take("job", "b", ttl)
            .await
            .expect("expired: b takes it"));
        assert!(
            !leases.take("job", "a", ttl).await.expect("asked"),
            "a lost it"
        );
        leases
            .release("job", "a")
            .await
            .expect("a releases nothing");
        assert_eq!(
            leases.holder("job").await.expect("read").as_deref(),
            Some("b")
        );
        leases.release("job", "b").await.expect("released");
        assert!(leases.take("job", "a", ttl).await.expect("free again"));
    }
}
