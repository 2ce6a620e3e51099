//! The integration harness: the real application on port 0, a fresh database
//! per test, a manual clock, and cookie-keeping HTTP clients that stand in for
//! browsers.
//!
//! The suite is parametrised by backend: `BOUNCER_TEST_BACKEND=postgres` runs
//! every test on a fresh PostgreSQL database (see [`database`]); otherwise
//! each gets a SQLite file. `scripts/test.sh` runs it both ways.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use bouncer::{config::Settings, startup::Application};
use bouncer_engine::{
    clock::ManualClock,
    password::Password,
    users::{NewUser, UserRecord, Username},
    Engine,
};
use bouncer_wire::{Permission, Role};
use serde_json::{json, Value};

pub mod database;

/// A running server and what a test needs to drive it.
pub struct TestApp {
    pub address: String,
    pub clock: ManualClock,
    pub engine: Engine,
    pub database_url: String,
    /// A pool of the test's own on the same database, for peeking at rows.
    pub pool: bouncer_engine::db::Pool,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
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
        bouncer::telemetry::init();
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = database::fresh(dir.path()).await;
    let mut settings = Settings {
        addr: "127.0.0.1:0".parse().expect("a valid address"),
        database_url: database_url.clone(),
        ..Settings::default()
    };
    settings.public_origin = bouncer::config::PublicOrigin::for_listen_addr(settings.addr);
    configure(&mut settings);
    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let engine = app.engine().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let pool = bouncer_engine::db::connect(&database_url)
        .await
        .expect("the test database opens");
    TestApp {
        address,
        clock,
        engine,
        pool,
        database_url,
        _dir: dir,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server as SIGTERM would; the handle finishes when
    /// `run_until` has returned.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().expect("the server runs")
    }

    /// Creates a user with a fixed test password (returned).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        max_sessions: Option<u32>,
    ) -> (UserRecord, String) {
        self.add_user_with(name, role, &[], max_sessions).await
    }

    pub async fn add_user_with(
        &self,
        name: &str,
        role: Role,
        permissions: &[Permission],
        max_sessions: Option<u32>,
    ) -> (UserRecord, String) {
        let password = format!("{name}-correct-horse");
        let user = self
            .engine
            .accounts()
            .create_user(NewUser {
                username: Username::parse(name).expect("a valid username"),
                password: Password::new(password.clone()),
                role,
                permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
                max_sessions,
            })
            .await
            .expect("the user is created");
        (user, password)
    }

    /// A new "browser": its own cookie jar, redirects not followed.
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            address: self.address.clone(),
        }
    }

    /// A client without a cookie jar, for hand-made cookies.
    pub fn bare(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// How many live sessions the user holds, read from the database.
    pub async fn live_sessions(&self, user: &UserRecord) -> usize {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(user.id.as_str())
        .fetch_one(&self.pool)
        .await
        .expect("sessions are counted");
        usize::try_from(count).expect("a count")
    }
}

/// A cookie-keeping client standing in for one browser.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    address: String,
}

impl Browser {
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/auth/login", self.address))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("the login request is answered")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("answered")
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .send()
            .await
            .expect("answered")
    }

    /// `GET /api/auth/me` as (status, body).
    pub async fn me(&self) -> (u16, Value) {
        let response = self.get("/api/auth/me").await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }
}

/// The `Set-Cookie` header for the session cookie, if the response has one
/// (`bouncer_session`, or `__Host-bouncer_session` on an https origin).
pub fn session_set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bouncer_session=") || v.starts_with("__Host-bouncer_session="))
        .map(str::to_owned)
}

/// Asserts a throttled answer: 429 `too_many_attempts` with a `Retry-After`
/// of whole seconds within the throttle's 15-minute window. Returns them.
pub async fn assert_throttled(response: reqwest::Response) -> u64 {
    assert_eq!(
        response.status(),
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: u64 = response.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "too_many_attempts");
    retry_after
}

/// The cookie's value from a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default()
}

/// A tab's WebSocket, as a test client.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestApp {
    /// Signs in with a fresh browser; returns it and its `Cookie` header value.
    pub async fn signed_in(&self, name: &str, password: &str) -> (Browser, String) {
        let browser = self.browser();
        let response = browser.login(name, password).await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "{name} signs in"
        );
        let cookie = format!(
            "bouncer_session={}",
            cookie_value(&session_set_cookie(&response).expect("a cookie"))
        );
        (browser, cookie)
    }

    /// Opens `/api/ws` with this cookie (and Origin, if given).
    pub async fn connect(
        &self,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        connect(&self.address, cookie, origin).await
    }
}

/// Opens `/api/ws` on the server at `address` (`http://host:port`).
pub async fn connect(
    address: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/api/ws", address.replacen("http", "ws", 1))
        .into_client_request()
        .expect("a valid request");
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("a header value"));
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header value"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The next text message as JSON, within `wait`; `None` on close or timeout.
pub async fn next_json(socket: &mut Socket, wait: Duration) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Waits for the close frame and returns its code.
pub async fn close_code(socket: &mut Socket, wait: Duration) -> Option<u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}
