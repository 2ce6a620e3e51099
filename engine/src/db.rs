//! The database: opening the pool on either backend and applying migrations.
//!
//! SQLite is the embedded default (one file, created on first run); PostgreSQL
//! is for several nodes sharing one database. Both go through sqlx's `Any`
//! driver, so every store is written once: the SQL uses `$N` placeholders
//! (see [`crate::sql`]) and integer-millisecond timestamps, which both speak.
//! The few places where the backends must differ ask [`Backend::of`].

use std::{sync::Once, time::Duration};

use anyhow::Context;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    Any, AnyConnection, Executor,
};

/// The pool every store in the engine shares (and so does the cookie store).
pub type Pool = sqlx::AnyPool;

/// A transaction on the pool.
pub type Tx<'c> = sqlx::Transaction<'c, Any>;

/// Which database a pool or connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or `None` for one this build lacks.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The backend behind an open connection (or transaction).
    pub fn of(connection: &AnyConnection) -> Self {
        if connection.backend_name().eq_ignore_ascii_case("PostgreSQL") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The migrations, embedded in the binary: one history per backend.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Opens the database at `url`. A SQLite file is created if missing; a
/// PostgreSQL database must exist.
///
/// `sqlite::memory:` is accepted for tests; it is limited to one connection
/// because every in-memory connection is a database of its own.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
    let backend = Backend::of_url(url).with_context(|| {
        format!("unsupported database URL `{url}`: use sqlite://… or postgres://…")
    })?;
    let url = &match backend {
        Backend::Sqlite => creating_sqlite_file(url),
        Backend::Postgres => url.to_owned(),
    };
    let options: AnyConnectOptions = url
        .parse()
        .with_context(|| format!("Failed to parse the database URL `{url}`"))?;
    let pool = match backend {
        Backend::Sqlite => sqlite_pool(url).connect_with(options.clone()).await,
        Backend::Postgres => {
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
        }
    };
    pool.with_context(|| format!("Failed to open the database `{}`", redacted(url)))
}

fn sqlite_pool(url: &str) -> AnyPoolOptions {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    AnyPoolOptions::new()
        .max_connections(if in_memory { 1 } else { 8 })
        .min_connections(if in_memory { 1 } else { 0 })
        // An in-memory database lives as long as its one connection.
        .idle_timeout((!in_memory).then_some(Duration::from_secs(600)))
        .max_lifetime((!in_memory).then_some(Duration::from_secs(1800)))
        .after_connect(|connection, _| {
            Box::pin(async move {
                // The `Any` URL cannot carry these. WAL lets the command line
                // read and write while the server runs. Each connection keeps
                // its own page cache (2 MB by default, filled as it is used):
                // 256 KB each bounds the pool's at 2 MB, so a long-running
                // node's memory stays flat (BENCHMARKS.md, soak); the
                // operating system caches the file for all of them anyway.
                connection
                    .execute(
                        "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA cache_size = -256;",
                    )
                    .await?;
                Ok(())
            })
        })
}

/// A database URL with its password masked, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A SQLite file URL that creates the file if missing (`mode=rwc`: the `Any`
/// driver passes only the URL on), unless the URL chose a mode itself.
fn creating_sqlite_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The embedded migrations for the pool's backend.
async fn migrator_of(pool: &Pool) -> anyhow::Result<&'static sqlx::migrate::Migrator> {
    let connection = pool
        .acquire()
        .await
        .context("Failed to open a database connection")?;
    Ok(match Backend::of(&connection) {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    })
}

/// Applies the engine's migrations for the pool's backend.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    migrator_of(pool)
        .await?
        .run(pool)
        .await
        .context("Failed to apply the database migrations")
}

/// The versions of the migrations this build embeds that the database has
/// not applied successfully (none when it is current). Versions the
/// database has beyond them (a newer node migrated first, in a rolling
/// upgrade) are not missing: migrations only add.
pub async fn missing_migrations(pool: &Pool) -> anyhow::Result<Vec<i64>> {
    let migrator = migrator_of(pool).await?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(pool)
            .await
            .context("Failed to read the applied migrations")?;
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|version| !applied.contains(version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
    }

    #[test]
    fn sqlite_files_are_created_unless_a_mode_is_given() {
        assert_eq!(
            creating_sqlite_file("sqlite://b.db"),
            "sqlite://b.db?mode=rwc"
        );
        assert_eq!(
            creating_sqlite_file("sqlite://b.db?cache=shared"),
            "sqlite://b.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            creating_sqlite_file("sqlite://b.db?mode=ro"),
            "sqlite://b.db?mode=ro"
        );
        assert_eq!(creating_sqlite_file("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redacted("postgres://bob:hunter2@db:5432/b"),
            "postgres://bob:***@db:5432/b"
        );
        assert_eq!(redacted("sqlite://bouncer.db"), "sqlite://bouncer.db");
    }
}
