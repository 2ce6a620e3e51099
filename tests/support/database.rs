//! A fresh database for each test, on the backend the run asks for.

use std::{
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

/// Which backend this run tests: `BOUNCER_TEST_BACKEND` (`sqlite`, the
/// default, or `postgres`).
pub fn backend_is_postgres() -> bool {
    match std::env::var("BOUNCER_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("BOUNCER_TEST_BACKEND must be `sqlite` or `postgres`, not `{other}`"),
    }
}

/// The server PostgreSQL tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A new, empty database URL: a SQLite file in `dir`, or a new PostgreSQL
/// database.
pub async fn fresh(dir: &Path) -> String {
    if backend_is_postgres() {
        fresh_postgres().await
    } else {
        format!("sqlite://{}", dir.join("bouncer.db").display())
    }
}

/// Whether a PostgreSQL server answers at [`postgres_admin_url`].
pub async fn postgres_reachable() -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(5),
            PgConnection::connect(&postgres_admin_url())
        )
        .await,
        Ok(Ok(_))
    )
}

/// Creates `bouncer_t_<unix seconds>_<pid>_<n>` and returns its URL. The first
/// call in a process drops such databases left by runs over an hour old.
pub async fn fresh_postgres() -> String {
    static CLEANED: OnceCell<()> = OnceCell::const_new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin = postgres_admin_url();
    let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at TEST_DATABASE_URL ({admin}) is not reachable: {e}")
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs();
    CLEANED
        .get_or_init(|| async {
            drop_stale(&admin, now).await;
        })
        .await;
    let name = format!(
        "bouncer_t_{now}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("Failed to create the test database {name}: {e}"));
    with_database(&admin, &name)
}

/// `url` pointing at database `name` instead.
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

async fn drop_stale(admin: &str, now: u64) {
    let Ok(mut connection) = PgConnection::connect(admin).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'bouncer_t_%'")
            .fetch_all(&mut connection)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|secs| secs.parse::<u64>().ok())
            .unwrap_or(0);
        if now.saturating_sub(created) > 3600 {
            let _ = connection
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}
