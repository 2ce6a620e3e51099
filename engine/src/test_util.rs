//! Databases for tests, behind the `test-util` feature. The server's
//! integration tests, the engine's property tests and the benchmark harness
//! all make their databases here, so they agree on which backend a run
//! tests, where PostgreSQL is, and what happens when it is missing:
//!
//! - `BOUNCER_TEST_BACKEND` (`sqlite`, the default, or `postgres`) picks the
//!   backend ([`Backend::from_env`]).
//! - PostgreSQL is the server at `TEST_DATABASE_URL` (default: the local one,
//!   trust authentication). A test makes its own database there,
//!   `bouncer_t_<unix seconds>_<pid>_<n>` ([`PostgresDatabase::for_test`]);
//!   the first one in a process drops those over an hour old, which
//!   interrupted runs leave behind.
//! - Whatever needs PostgreSQL and finds none is skipped with a loud notice
//!   outside CI and fails in CI (`CI` set), which must run everything
//!   ([`postgres_server`], [`missing_postgres`]).
//!
//! Only dev-dependencies (and the benchmark harness) enable the feature, so
//! none of this is in the server's binary.

use std::{
    fmt,
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

/// Where PostgreSQL is when `TEST_DATABASE_URL` does not say.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long a PostgreSQL server gets to answer before it counts as missing.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// Databases made by tests start with this, so stale ones can be found.
const TEST_DATABASE_PREFIX: &str = "bouncer_t_";

/// Which backend a test run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend `BOUNCER_TEST_BACKEND` names: `sqlite` (the default) or
    /// `postgres`. Any other value stops the run: a typo must not quietly
    /// test SQLite twice.
    pub fn from_env() -> Backend {
        match std::env::var("BOUNCER_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => {
                panic!("BOUNCER_TEST_BACKEND must be `sqlite` or `postgres`, not `{other}`")
            }
        }
    }
}

/// The PostgreSQL server tests make their databases on: `TEST_DATABASE_URL`,
/// pointing at its maintenance database.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// The server at [`postgres_admin_url`] when it answers; otherwise `None`
/// after [`skip_without_postgres`] (a notice, or a panic in CI). `what`
/// names what is skipped ("the multi-node tests").
pub async fn postgres_server(what: &str) -> Option<String> {
    let url = postgres_admin_url();
    match connect(&url).await {
        Ok(connection) => {
            // Closing politely is best effort: the answer is what counted.
            let _ = connection.close().await;
            Some(url)
        }
        Err(why) => {
            skip_without_postgres(what, &url, &why);
            None
        }
    }
}

/// [`missing_postgres`] for a test: outside CI a notice, in CI a panic.
pub fn skip_without_postgres(what: &str, url: &str, why: &str) {
    if let Err(missing) = missing_postgres(what, url, why) {
        panic!("{missing}");
    }
}

/// Says that `what` cannot run for want of PostgreSQL at `url` (`why`):
/// outside CI, a loud notice on stderr and `Ok`, so the caller skips it;
/// in CI (`CI` set), an error, since a skip there would hide a failure.
pub fn missing_postgres(what: &str, url: &str, why: &str) -> Result<(), MissingPostgres> {
    if std::env::var_os("CI").is_some() {
        return Err(MissingPostgres {
            what: what.to_owned(),
            url: url.to_owned(),
            why: why.to_owned(),
        });
    }
    eprintln!("\n\x1b[1;33m*** SKIPPED: {what}: no PostgreSQL at {url} ({why}) ***\x1b[0m\n");
    Ok(())
}

/// CI needed PostgreSQL and found none.
#[derive(Debug)]
pub struct MissingPostgres {
    what: String,
    url: String,
    why: String,
}

impl fmt::Display for MissingPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CI runs {}, but no PostgreSQL answers at {} ({})",
            self.what, self.url, self.why
        )
    }
}

impl std::error::Error for MissingPostgres {}

/// A new, empty database for one test: a SQLite file in `dir` (which the
/// test keeps until it ends), or, on the PostgreSQL backend, a database of
/// its own ([`PostgresDatabase::for_test`]). Returns its URL.
pub async fn fresh_database_url(dir: &Path) -> String {
    match Backend::from_env() {
        Backend::Sqlite => format!("sqlite://{}", dir.join("bouncer.db").display()),
        Backend::Postgres => PostgresDatabase::for_test(&postgres_admin_url()).await.url,
    }
}

/// A database made on a PostgreSQL server.
#[derive(Debug)]
pub struct PostgresDatabase {
    /// The server's maintenance database, through which this one was made
    /// (and is dropped).
    pub admin_url: String,
    /// The database's name.
    pub name: String,
    /// What the code under test connects to.
    pub url: String,
}

impl PostgresDatabase {
    /// Creates database `name` on the server at `admin_url`, dropping a
    /// leftover of the same name first (a fixed name survives a crash).
    pub async fn create(admin_url: &str, name: &str) -> Result<PostgresDatabase, sqlx::Error> {
        let mut admin = PgConnection::connect(admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        admin.close().await?;
        Ok(PostgresDatabase {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: with_database(admin_url, name),
        })
    }

    /// A database of its own for one test, `bouncer_t_<unix seconds>_<pid>_<n>`.
    /// Nothing drops it when the test ends (the server under test may still
    /// hold connections); the first call in a process drops those over an
    /// hour old instead. Panics when the server cannot make one: the run
    /// asked for PostgreSQL.
    pub async fn for_test(admin_url: &str) -> PostgresDatabase {
        static CLEANED: OnceCell<()> = OnceCell::const_new();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        CLEANED
            .get_or_init(|| async { drop_stale(admin_url, now).await })
            .await;
        let name = format!(
            "{TEST_DATABASE_PREFIX}{now}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        PostgresDatabase::create(admin_url, &name)
            .await
            .unwrap_or_else(|e| {
                panic!("Failed to create the test database {name} at TEST_DATABASE_URL ({admin_url}): {e}")
            })
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        admin.close().await
    }
}

/// `url` pointing at database `name` instead, keeping its query (such as
/// `sslmode`).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
        .unwrap_or((base, ""));
    format!("{server}/{name}{query}")
}

/// A connection to `url`, or why there is none within [`CONNECT_WITHIN`].
async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_WITHIN, PgConnection::connect(url)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_WITHIN:?}")),
    }
}

/// Drops the test databases made more than an hour before `now` (unix
/// seconds), as their names tell. Best effort: a failure leaves them for
/// the next run.
async fn drop_stale(admin_url: &str, now: u64) {
    let Ok(mut admin) = connect(admin_url).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{TEST_DATABASE_PREFIX}%"))
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for name in names {
        let made = name
            .strip_prefix(TEST_DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok())
            .unwrap_or(0);
        if now.saturating_sub(made) > 3600 {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_maintenance_one_and_the_query_stays() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "b"
            ),
            "postgres://postgres@127.0.0.1:5432/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
    }
}
