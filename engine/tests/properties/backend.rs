//! The database each case runs on: a new in-memory SQLite database by
//! default; with `BOUNCER_TEST_BACKEND=postgres`, one PostgreSQL database for
//! the run (made by `bouncer_engine::test_util`, as the server's tests make
//! theirs), emptied before each case. Creating a PostgreSQL database per case
//! would cost more than the case itself.

use anyhow::Context;
use bouncer_engine::{
    db::{self, Pool},
    test_util::{postgres_server, Backend, PostgresDatabase},
};
use sqlx::Executor;

/// Where the cases' databases come from.
#[derive(Debug)]
pub enum Database {
    Sqlite,
    Postgres(PostgresDatabase),
}

impl Database {
    /// The backend `BOUNCER_TEST_BACKEND` asks for. `None` when it is
    /// PostgreSQL and no server answers outside CI (a loud notice is printed);
    /// in CI (`CI` set) that is a failure.
    pub async fn from_env() -> Option<Self> {
        match Backend::from_env() {
            Backend::Sqlite => Some(Database::Sqlite),
            Backend::Postgres => {
                let admin_url =
                    postgres_server("the engine's property tests on PostgreSQL").await?;
                let database = PostgresDatabase::for_test(&admin_url).await;
                let pool = db::connect(&database.url)
                    .await
                    .unwrap_or_else(|e| panic!("Failed to open {}: {e:#}", database.name));
                db::migrate(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("Failed to migrate {}: {e:#}", database.name));
                pool.close().await;
                Some(Database::Postgres(database))
            }
        }
    }

    /// An empty, migrated database for one case.
    pub async fn fresh_pool(&self) -> anyhow::Result<Pool> {
        match self {
            Database::Sqlite => {
                let pool = db::connect("sqlite::memory:").await?;
                db::migrate(&pool).await?;
                Ok(pool)
            }
            Database::Postgres(database) => {
                let pool = db::connect(&database.url).await?;
                pool.execute("TRUNCATE events, sessions, users")
                    .await
                    .context("Failed to empty the test database")?;
                Ok(pool)
            }
        }
    }

    /// Drops the run's PostgreSQL database.
    pub async fn finish(self) {
        if let Database::Postgres(database) = self {
            let name = database.name.clone();
            if let Err(e) = database.drop_database().await {
                eprintln!("Failed to drop the test database {name}: {e}");
            }
        }
    }
}
