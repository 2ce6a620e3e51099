//! The application under test: the real app on port 0 with a fresh database
//! and a manual clock, and its users.
//!
//! This is the one file that reaches into the engine (`Application::build_with_clock`,
//! `ManualClock`, creating users, the sweep, a pool of its own for the few
//! database peeks, the stores): when the engine's API changes, the tests are
//! adapted here. Everything else speaks HTTP, WebSocket or the command line.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use bouncer::{
    config::{PublicOrigin, Settings},
    startup::Application,
};
use bouncer_engine::{
    clock::ManualClock,
    console::Operator,
    db::{self, Backend, Pool},
    ids::SessionId,
    log::{EventKind, EventLog},
    password::Password,
    sessions::Sessions,
    test_util::{fresh_database_url, postgres_server},
    users::{NewUser, Username},
    webhooks::{NewEndpoint, Secret},
    Engine,
};
pub use bouncer_engine::{privacy::IpPrivacy, test_util::PostgresDatabase};
use bouncer_wire::{Permission, Role};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

/// A running server and what a test needs to drive it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`: the server, and its public origin.
    pub address: String,
    /// Its database, for the command line run beside it.
    pub database_url: String,
    /// The clock every deadline is computed from; only the test moves it.
    clock: ManualClock,
    engine: Engine,
    /// A pool of the test's own on the same database, for the peeks.
    pool: Pool,
    /// Holds the SQLite file until the test ends.
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A user made for a test. The password is `<name>-correct-horse`.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The public id (`u_…`), as the API shows it.
    pub id: String,
    pub username: String,
    pub password: String,
}

impl TestUser {
    /// The same user after a password change.
    pub fn with_password(&self, password: &str) -> TestUser {
        TestUser {
            password: password.to_owned(),
            ..self.clone()
        }
    }
}

/// Starts the app with the default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `configure` adjusted the settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    // Server logs only when asked for (`RUST_LOG=info cargo test`): the
    // hostile-input tests would otherwise fill the output with warnings.
    if std::env::var_os("RUST_LOG").is_some() {
        bouncer::telemetry::init(Default::default());
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = fresh_database_url(dir.path()).await;
    let mut settings = Settings {
        addr: "127.0.0.1:0".parse().expect("a valid address"),
        database_url: database_url.clone(),
        // Nothing to tell a balancer: stop at once (a test may set a delay).
        shutdown_delay: Duration::ZERO,
        ..Settings::default()
    };
    settings.public_origin = PublicOrigin::for_listen_addr(settings.addr);
    configure(&mut settings);
    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let engine = app.engine().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let pool = db::connect(&database_url)
        .await
        .expect("the test database opens");
    TestApp {
        address,
        database_url,
        clock,
        engine,
        pool,
        _dir: dir,
        stop: Some(stop),
        server: Some(server),
    }
}

/// Starts the app as if served at `https://bouncer.example` (behind a
/// proxy that ends TLS): the session cookie is `Secure` and `__Host-`.
pub async fn spawn_https_app() -> TestApp {
    spawn_app_with(|s| {
        s.public_origin = PublicOrigin::parse("https://bouncer.example").expect("valid");
    })
    .await
}

/// A fresh database of the suite's backend for `bouncer` processes a test
/// starts itself, and the directory that holds it (a SQLite file) until the
/// test ends.
pub async fn fresh_database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = fresh_database_url(dir.path()).await;
    (dir, url)
}

/// A fresh PostgreSQL database for `bouncer` processes a test starts
/// itself; `None` (after a notice) when no PostgreSQL answers outside CI,
/// a panic in CI. `what` names the tests that need it.
pub async fn shared_postgres_database(what: &str) -> Option<PostgresDatabase> {
    let admin_url = postgres_server(what).await?;
    Some(PostgresDatabase::for_test(&admin_url).await)
}

impl TestApp {
    /// Stops the server as SIGTERM would; the handle finishes when
    /// `run_until` has returned.
    pub fn begin_shutdown(&mut self) -> JoinHandle<anyhow::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().expect("the server runs")
    }

    /// Moves the server's clock on (deadlines, throttles, retention).
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Twenty minutes of clock, `times` over, with `activity` after each:
    /// a person who is never idle for the 30-minute idle timeout.
    pub async fn every_twenty_minutes(&self, times: usize, mut activity: impl AsyncFnMut()) {
        for _ in 0..times {
            self.advance_clock(Duration::from_secs(20 * 60));
            activity().await;
        }
    }

    /// Creates a user with no revoke permissions.
    pub async fn add_user(&self, name: &str, role: Role, max_sessions: Option<u32>) -> TestUser {
        self.add_user_with(name, role, &[], max_sessions).await
    }

    /// Creates a user through the engine, as `bouncer user add` would.
    pub async fn add_user_with(
        &self,
        name: &str,
        role: Role,
        permissions: &[Permission],
        max_sessions: Option<u32>,
    ) -> TestUser {
        let password = format!("{name}-correct-horse");
        let user = self
            .engine
            .accounts()
            .create_user(
                NewUser {
                    username: Username::parse(name).expect("a valid username"),
                    password: Password::new(password.clone()),
                    role,
                    permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
                    max_sessions,
                },
                &bouncer_engine::log::Actor::command_line(),
            )
            .await
            .expect("the user is created");
        TestUser {
            id: user.id.as_str().to_owned(),
            username: name.to_owned(),
            password,
        }
    }

    /// Makes a service token, as `bouncer token create` would but on the
    /// server's clock (so a test can let it expire); returns the token.
    pub async fn create_token(
        &self,
        name: &str,
        permissions: &[Permission],
        lifetime: Option<Duration>,
    ) -> String {
        let (_, secret) = self
            .engine
            .tokens()
            .create(name, permissions.iter().copied().collect(), lifetime)
            .await
            .expect("the token is made");
        secret.expose().to_owned()
    }

    /// How many live sessions the user holds, read from the database.
    pub async fn live_sessions(&self, user: &TestUser) -> usize {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(&user.id)
        .fetch_one(&self.pool)
        .await
        .expect("sessions are counted");
        usize::try_from(count).expect("a count")
    }

    /// Runs the sweeper once, as its background loop would.
    pub async fn sweep(&self) {
        self.engine.sweep().await.expect("the sweep runs");
    }

    /// Marks the account inactive behind the engine's back, straight in the
    /// database (no session is ended).
    pub async fn disable_in_database(&self, user: &TestUser) {
        sqlx::query("UPDATE users SET active = FALSE WHERE id = $1")
            .bind(&user.id)
            .execute(&self.pool)
            .await
            .expect("updated");
    }

    /// The text columns of the one table that knows a session's cookie, one
    /// row each: `id secret_hash device`.
    pub async fn session_rows_as_text(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT id || ' ' || secret_hash || ' ' || device FROM sessions")
            .fetch_all(&self.pool)
            .await
            .expect("readable")
    }

    /// How many ended sessions (tombstones) are still stored.
    pub async fn tombstones(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NOT NULL")
            .await
    }

    /// Forgets the newest migration was applied, as in a database set up
    /// by an older build.
    pub async fn forget_last_migration(&self) {
        sqlx::query(
            "DELETE FROM _sqlx_migrations \
             WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .execute(&self.pool)
        .await
        .expect("forgotten");
    }

    /// How many rows the event log holds.
    pub async fn log_rows(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM events").await
    }

    async fn count(&self, query: &str) -> i64 {
        sqlx::query_scalar(query)
            .fetch_one(&self.pool)
            .await
            .expect("counted")
    }

    /// Every client address stored anywhere: the sessions', and those in
    /// the log's details.
    pub async fn stored_addresses(&self) -> Vec<String> {
        let pool = &self.pool;
        let mut addresses: Vec<String> = sqlx::query_scalar("SELECT ip FROM sessions")
            .fetch_all(pool)
            .await
            .expect("read");
        let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM events")
            .fetch_all(pool)
            .await
            .expect("read");
        for detail in details {
            let detail: Value = serde_json::from_str(&detail).expect("JSON");
            if let Some(ip) = detail["ip"].as_str() {
                addresses.push(ip.to_owned());
            }
        }
        addresses
    }

    /// Rewrites the stored addresses for `setting`, as a start with it
    /// does; returns how many values changed.
    pub async fn apply_ip_privacy(&self, setting: IpPrivacy) -> u64 {
        let backend = Backend::of(&self.pool.acquire().await.expect("a connection"));
        let sessions = Sessions::new(self.pool.clone());
        let log = EventLog::new(self.pool.clone(), backend);
        sessions
            .apply_privacy(setting)
            .await
            .expect("the sessions' addresses are rewritten")
            + log
                .apply_privacy(setting)
                .await
                .expect("the log's addresses are rewritten")
    }

    /// Records in the database that the session proved its password now,
    /// as another node's re-authentication would; true when a live session
    /// was marked.
    pub async fn record_reauthentication(&self, session_id: &str) -> bool {
        let id = SessionId::parse(session_id).expect("a session id");
        Sessions::new(self.pool.clone())
            .mark_authenticated(&id, self.engine.now())
            .await
            .expect("written")
    }

    /// Adds a webhook endpoint for every `user.*` and `session.*` event
    /// without the address check `bouncer webhook add` makes (and without
    /// `--allow-private`), as if its host had resolved elsewhere then:
    /// only the check at delivery stands. Returns its id.
    pub async fn add_webhook_unchecked(&self, url: &str, secret: &str) -> String {
        let endpoint = NewEndpoint {
            url: url.to_owned(),
            events: EventKind::ALL.to_vec(),
            secret: Secret::new(secret),
            allow_private: false,
        };
        self.engine
            .feed()
            .add_webhook(&Operator::CommandLine, endpoint)
            .await
            .expect("added")
            .id
    }
}
