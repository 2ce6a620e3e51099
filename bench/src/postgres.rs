//! The PostgreSQL side of the multi-node benchmarks: a fresh database per
//! benchmark on the server at `TEST_DATABASE_URL`, dropped afterwards, and
//! the listener connections that the chaos run terminates.
//!
//! Whether a benchmark that needs PostgreSQL may be skipped follows the test
//! suite's rule: outside CI, a missing server is a loud notice; in CI
//! (`CI` set) it is a failure.

use anyhow::Context;
use bouncer_engine::test_util::{missing_postgres, PostgresDatabase};
use sqlx::{Connection, PgConnection};

/// A database made for one benchmark (`bouncer_engine::test_util`, as the
/// test suites make theirs).
#[derive(Debug)]
pub struct Database(PostgresDatabase);

impl Database {
    /// Creates `bouncer_bench_<tag>_<pid>` on the server at `admin_url`,
    /// dropping a leftover of the same name first.
    pub async fn create(admin_url: &str, tag: &str) -> anyhow::Result<Database> {
        let name = format!("bouncer_bench_{tag}_{}", std::process::id());
        PostgresDatabase::create(admin_url, &name)
            .await
            .map(Database)
            .with_context(|| format!("Failed to create the database {name} at {admin_url}"))
    }

    /// What the nodes and the seeding connect to.
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Terminates every connection to this database that is waiting in
    /// `LISTEN` (one per node: its listener), as a failover, a proxy or an
    /// operator would. Returns how many were terminated.
    pub async fn terminate_listeners(&self) -> anyhow::Result<usize> {
        let mut admin = PgConnection::connect(&self.0.admin_url).await?;
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&self.0.name)
        .fetch_all(&mut admin)
        .await
        .context("Failed to terminate the listener connections")?;
        admin.close().await?;
        Ok(terminated.into_iter().filter(|t| *t).count())
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let name = self.0.name.clone();
        self.0
            .drop_database()
            .await
            .with_context(|| format!("Failed to drop the database {name}"))
    }
}

/// The server a benchmark that needs PostgreSQL runs on: `url` when set;
/// without one, `None` after a loud skip notice outside CI, an error in CI.
pub fn required(url: Option<&str>, benchmark: &str) -> anyhow::Result<Option<String>> {
    if let Some(url) = url {
        return Ok(Some(url.to_owned()));
    }
    missing_postgres(
        &format!("the {benchmark} benchmark"),
        "TEST_DATABASE_URL",
        "unset or unreachable",
    )?;
    Ok(None)
}
