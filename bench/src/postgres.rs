//! The PostgreSQL side of the multi-node benchmarks: a fresh database per
//! benchmark on the server at `TEST_DATABASE_URL`, dropped afterwards, and
//! the listener connections that the chaos run terminates.
//!
//! Whether a benchmark that needs PostgreSQL may be skipped follows the test
//! suite's rule: outside CI, a missing server is a loud notice; in CI
//! (`CI` set) it is a failure.

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection};

/// A database made for one benchmark.
#[derive(Debug)]
pub struct Database {
    /// The server's maintenance database, where this one was created.
    admin_url: String,
    /// The database's name (`bouncer_bench_<tag>_<pid>`).
    name: String,
    /// What the nodes and the seeding connect to.
    pub url: String,
}

impl Database {
    /// Creates `bouncer_bench_<tag>_<pid>` on the server at `admin_url`,
    /// dropping a leftover of the same name first.
    pub async fn create(admin_url: &str, tag: &str) -> anyhow::Result<Database> {
        let name = format!("bouncer_bench_{tag}_{}", std::process::id());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("Failed to connect to PostgreSQL at {admin_url}"))?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("Failed to create the database {name}"))?;
        admin.close().await?;
        Ok(Database {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// Terminates every connection to this database that is waiting in
    /// `LISTEN` (one per node: its listener), as a failover, a proxy or an
    /// operator would. Returns how many were terminated.
    pub async fn terminate_listeners(&self) -> anyhow::Result<usize> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&self.name)
        .fetch_all(&mut admin)
        .await
        .context("Failed to terminate the listener connections")?;
        admin.close().await?;
        Ok(terminated.into_iter().filter(|t| *t).count())
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        admin.close().await?;
        Ok(())
    }
}

/// The server a benchmark that needs PostgreSQL runs on: `url` when set;
/// without one, `None` after a loud skip notice outside CI, an error in CI.
pub fn required(url: Option<&str>, benchmark: &str) -> anyhow::Result<Option<String>> {
    if let Some(url) = url {
        return Ok(Some(url.to_owned()));
    }
    if std::env::var_os("CI").is_some() {
        bail!(
            "CI runs the {benchmark} benchmark, but no PostgreSQL answered \
             (TEST_DATABASE_URL is unset or unreachable)"
        );
    }
    eprintln!(
        "\n\x1b[1;33m*** SKIPPED: the {benchmark} benchmark needs PostgreSQL \
         (TEST_DATABASE_URL); none answered. ***\x1b[0m\n"
    );
    Ok(None)
}

/// `url` pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    match base.rsplit_once('/') {
        Some((server, _)) if server.contains("://") && !server.ends_with('/') => {
            format!("{server}/{name}")
        }
        _ => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_maintenance_one() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "b"
            ),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
    }
}
