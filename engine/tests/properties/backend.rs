//! The database each case runs on: a new in-memory SQLite database by
//! default; with `BOUNCER_TEST_BACKEND=postgres`, one PostgreSQL database for
//! the run (on `TEST_DATABASE_URL`, as the server's tests use), emptied before
//! each case. Creating a PostgreSQL database per case would cost more than the
//! case itself.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use bouncer_engine::db::{self, Pool};
use sqlx::Executor;

/// Where the cases' databases come from.
#[derive(Debug)]
pub enum Database {
    Sqlite,
    Postgres {
        /// The server's maintenance database, to create and drop ours.
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Database {
    /// The backend `BOUNCER_TEST_BACKEND` asks for. `None` when it is
    /// PostgreSQL and no server answers outside CI (a loud notice is printed);
    /// in CI (`CI` set) that is a failure.
    pub async fn from_env() -> Option<Self> {
        match std::env::var("BOUNCER_TEST_BACKEND").as_deref() {
            Ok("sqlite") | Err(_) => Some(Database::Sqlite),
            Ok("postgres") => Self::postgres().await,
            Ok(other) => {
                panic!("BOUNCER_TEST_BACKEND must be `sqlite` or `postgres`, not `{other}`")
            }
        }
    }

    async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin =
            match tokio::time::timeout(Duration::from_secs(10), db::connect(&admin_url)).await {
                Ok(Ok(pool)) => pool,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => format!("{e:#}"),
                        _ => "no answer within 10 s".to_owned(),
                    };
                    if std::env::var_os("CI").is_some() {
                        panic!("CI needs PostgreSQL at {admin_url}: {why}");
                    }
                    eprintln!(
                        "\n\x1b[1;33m*** SKIPPED: the engine's property tests on PostgreSQL: \
                     no server at {admin_url} ({why}) ***\x1b[0m\n"
                    );
                    return None;
                }
            };
        static RUN: AtomicU32 = AtomicU32::new(0);
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // The server's tests drop `bouncer_t_<seconds>_…` databases over an
        // hour old, so one left by an interrupted run is cleaned up too.
        let name = format!(
            "bouncer_t_{seconds}_{}_prop{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("Failed to create the test database {name}: {e}"));
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let pool = db::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("Failed to open {name}: {e:#}"));
        db::migrate(&pool)
            .await
            .unwrap_or_else(|e| panic!("Failed to migrate {name}: {e:#}"));
        pool.close().await;
        Some(Database::Postgres {
            admin_url,
            name,
            url,
        })
    }

    /// An empty, migrated database for one case.
    pub async fn fresh_pool(&self) -> anyhow::Result<Pool> {
        match self {
            Database::Sqlite => {
                let pool = db::connect("sqlite::memory:").await?;
                db::migrate(&pool).await?;
                Ok(pool)
            }
            Database::Postgres { url, .. } => {
                let pool = db::connect(url).await?;
                pool.execute("TRUNCATE revocations, sessions, session_cookies, users")
                    .await
                    .context("Failed to empty the test database")?;
                Ok(pool)
            }
        }
    }

    /// Drops the run's PostgreSQL database.
    pub async fn finish(self) {
        if let Database::Postgres {
            admin_url, name, ..
        } = self
        {
            if let Ok(admin) = db::connect(&admin_url).await {
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if let Err(e) = admin.execute(drop.as_str()).await {
                    eprintln!("Failed to drop the test database {name}: {e}");
                }
                admin.close().await;
            }
        }
    }
}

/// `url` pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
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
