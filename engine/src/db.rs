//! The database: opening the pool and applying migrations.
//!
//! SQLite is the embedded default (one file, created on first run). All engine
//! queries use `$N` placeholders and integer timestamps so the same SQL text
//! runs on PostgreSQL.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};

/// The pool type every store in the engine shares (and so does tower-sessions).
pub type Pool = SqlitePool;

/// The migrations, embedded in the binary.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Opens the database at `url`, creating the SQLite file if missing.
///
/// `sqlite::memory:` is accepted for tests; it is limited to one connection
/// because every in-memory connection is a database of its own.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    if !url.starts_with("sqlite:") {
        anyhow::bail!("unsupported database URL `{url}`: this build speaks sqlite://… only");
    }
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("Failed to parse the database URL `{url}`"))?
        .create_if_missing(true)
        .foreign_keys(true)
        // WAL lets the command line read and write while the server runs.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { 8 })
        .min_connections(if in_memory { 1 } else { 0 })
        // An in-memory database lives as long as its one connection.
        .idle_timeout(if in_memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if in_memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .connect_with(options)
        .await
        .with_context(|| format!("Failed to open the database `{url}`"))?;
    Ok(pool)
}

/// Applies the engine's migrations.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    SQLITE_MIGRATIONS
        .run(pool)
        .await
        .context("Failed to apply the database migrations")
}
