//! Several `bouncer` processes on one PostgreSQL database, as behind a load
//! balancer without sticky sessions: an ending committed through one node
//! reaches the tabs connected to another, through a dropped listener
//! connection and a restart.
//!
//! These need PostgreSQL (`TEST_DATABASE_URL`, default the local server). In
//! CI they always run; elsewhere, without a reachable server, they are
//! skipped with a notice.

mod support;

use std::{
    io::Write,
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use support::{
    close_code, connect, cookie_value,
    database::{fresh_postgres, postgres_admin_url, postgres_reachable},
    next_json, session_set_cookie, Socket,
};

/// The origin browsers see in front of every node (the load balancer's).
const ORIGIN: &str = "http://bouncer.test";

/// How soon a tab on another node must hear of an ending.
const PUSH_WITHIN: Duration = Duration::from_secs(1);

/// A fresh shared database, or `None` (with a notice) when there is no
/// PostgreSQL outside CI.
async fn shared_database() -> Option<String> {
    if postgres_reachable().await {
        return Some(fresh_postgres().await);
    }
    let url = postgres_admin_url();
    if std::env::var_os("CI").is_some() {
        panic!("CI runs the multi-node tests, but no PostgreSQL answers at {url}");
    }
    eprintln!(
        "\n*** SKIPPED: the multi-node tests need PostgreSQL at {url} \
         (set TEST_DATABASE_URL); none answered. ***\n"
    );
    None
}

/// One `bouncer serve` process.
struct Node {
    child: Child,
    port: u16,
    database_url: String,
    env: Vec<(String, String)>,
}

impl Node {
    /// Starts a node on a free port and waits until it answers.
    async fn start(database_url: &str, env: &[(&str, &str)]) -> Node {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Node::start_on(database_url, port, env).await
    }

    async fn start_on(database_url: &str, port: u16, env: Vec<(String, String)>) -> Node {
        let child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .arg("serve")
            .env("BOUNCER_DATABASE_URL", database_url)
            .env("BOUNCER_ADDR", format!("127.0.0.1:{port}"))
            .env("BOUNCER_PUBLIC_ORIGIN", ORIGIN)
            .env("RUST_LOG", "error")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .expect("the node starts");
        let node = Node {
            child,
            port,
            database_url: database_url.to_owned(),
            env,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(node.url("/api/auth/me")).await.is_err() {
            assert!(Instant::now() < deadline, "node on {port} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address())
    }

    /// Kills the process (no graceful shutdown: a crash).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process as an orchestrator does (SIGTERM) and waits for it
    /// to exit; true when it exited cleanly.
    async fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was sent");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the node's status") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "the node did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the same node again, on the same port.
    async fn restart(mut self) -> Node {
        self.kill();
        let env = std::mem::take(&mut self.env);
        Node::start_on(&self.database_url, self.port, env).await
    }

    async fn open_tab(&self, cookie: &str) -> Socket {
        let mut socket = connect(&self.address(), Some(cookie), Some(ORIGIN))
            .await
            .expect("the tab connects");
        let hello = next_json(&mut socket, Duration::from_secs(5)).await;
        assert_eq!(
            hello.as_ref().map(|h| h["type"].clone()),
            Some(json!("hello"))
        );
        socket
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `bouncer user add` against the shared database.
fn add_user(database_url: &str, args: &[&str], password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args(["user", "add"])
        .args(args)
        .arg("--password-stdin")
        .env("BOUNCER_DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the command line starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("written");
    assert!(
        child.wait().expect("it finishes").success(),
        "user add {args:?}"
    );
}

/// A cookie-keeping client: one browser, whose requests any node may serve.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client")
}

/// Signs in through `node`; returns the cookie header and the session id.
async fn sign_in(
    node: &Node,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> (String, String) {
    let response = client
        .post(node.url("/api/auth/login"))
        .json(&json!({ "username": name, "password": password }))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200, "{name} signs in");
    let cookie = format!(
        "bouncer_session={}",
        cookie_value(&session_set_cookie(&response).expect("a cookie"))
    );
    let body: Value = response.json().await.expect("JSON");
    let id = body["session"]["id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    (cookie, id)
}

/// Ends a session through `node`'s admin API.
async fn revoke(node: &Node, admin: &reqwest::Client, session_id: &str) {
    let response = admin
        .delete(node.url(&format!("/api/admin/sessions/{session_id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.status(),
        204,
        "the revoke of {session_id} succeeds"
    );
}

/// The tab hears of its ending within [`PUSH_WITHIN`] (past any
/// `sessions_changed` announcements) and is closed with 4001.
async fn assert_told(socket: &mut Socket, reason: &str) {
    let deadline = Instant::now() + PUSH_WITHIN;
    let message = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = next_json(socket, left).await;
        let message = message.unwrap_or_else(|| panic!("no ending within {PUSH_WITHIN:?}"));
        if message["type"] != "sessions_changed" {
            break message;
        }
    };
    assert_eq!(message["type"], "session_ended", "{message}");
    assert_eq!(message["reason"], reason, "{message}");
    assert_eq!(close_code(socket, PUSH_WITHIN).await, Some(4001));
}

const PASSWORD: &str = "correct-horse-battery";

/// Two nodes on a fresh shared database holding alice (at most
/// `alice_max_sessions`) and root, with root signed in through B.
struct Cluster {
    database: String,
    a: Node,
    b: Node,
    admin: reqwest::Client,
}

/// See [`Cluster`]; `None` when the tests are skipped.
async fn cluster(alice_max_sessions: &str) -> Option<Cluster> {
    let database = shared_database().await?;
    add_user(
        &database,
        &[
            "alice",
            "--role",
            "user",
            "--max-sessions",
            alice_max_sessions,
        ],
        PASSWORD,
    );
    add_user(&database, &["root", "--role", "admin"], PASSWORD);
    let a = Node::start(&database, &[]).await;
    let b = Node::start(&database, &[]).await;
    let admin = browser();
    sign_in(&b, &admin, "root", PASSWORD).await;
    Some(Cluster {
        database,
        a,
        b,
        admin,
    })
}

#[tokio::test]
async fn a_revoke_or_a_login_on_one_node_ends_a_tab_on_another() {
    let Some(Cluster { a, b, admin, .. }) = cluster("1").await else {
        return;
    };

    // An admin's revoke through B reaches the tab on A.
    let (cookie, id) = sign_in(&a, &browser(), "alice", PASSWORD).await;
    let mut tab = a.open_tab(&cookie).await;
    revoke(&b, &admin, &id).await;
    assert_told(&mut tab, "admin_revoked").await;

    // A login through B that takes alice's only slot ends the tab on A.
    let (cookie, _) = sign_in(&a, &browser(), "alice", PASSWORD).await;
    let mut tab = a.open_tab(&cookie).await;
    sign_in(&b, &browser(), "alice", PASSWORD).await;
    assert_told(&mut tab, "signed_in_elsewhere").await;

    // Either node now refuses the old cookie, with the reason.
    for node in [&a, &b] {
        let response = reqwest::Client::new()
            .get(node.url("/api/auth/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["reason"], "signed_in_elsewhere", "{body}");
    }
}

/// The connections of `node`'s database listener, as PostgreSQL sees them.
async fn listener_pids(database: &str) -> Vec<i32> {
    let name = database
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name");
    let admin = sqlx::PgPool::connect(&postgres_admin_url())
        .await
        .expect("the admin connection");
    let pids = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(name)
    .fetch_all(&admin)
    .await
    .expect("pg_stat_activity is readable");
    admin.close().await;
    pids
}

#[tokio::test]
async fn terminating_the_listener_between_revocations_loses_none() {
    // Only node A serves tabs; B takes the revocations.
    let Some(Cluster {
        database,
        a,
        b,
        admin,
    }) = cluster("0").await
    else {
        return;
    };
    let mut tabs = Vec::new();
    for _ in 0..6 {
        let (cookie, id) = sign_in(&a, &browser(), "alice", PASSWORD).await;
        tabs.push((a.open_tab(&cookie).await, id));
    }

    let admin_pool = sqlx::PgPool::connect(&postgres_admin_url())
        .await
        .expect("the admin connection");
    let mut terminated = 0;
    for (i, (tab, id)) in tabs.iter_mut().enumerate() {
        revoke(&b, &admin, id).await;
        assert_told(tab, "admin_revoked").await;
        if i % 2 == 0 {
            // Both nodes' listeners go; each must come back by itself.
            for pid in listener_pids(&database).await {
                sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .execute(&admin_pool)
                    .await
                    .expect("terminated");
                terminated += 1;
            }
        }
    }
    assert!(terminated >= 2, "the listeners were found and terminated");

    // The listeners reconnected (they are not left to the poll).
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener_pids(&database).await.len() < 2 {
        assert!(Instant::now() < deadline, "the listeners did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin_pool.close().await;
}

#[tokio::test]
async fn a_restarted_node_s_tabs_reconnect_and_resync() {
    let Some(Cluster { a, b, admin, .. }) = cluster("0").await else {
        return;
    };
    let (kept_cookie, kept_id) = sign_in(&a, &browser(), "alice", PASSWORD).await;
    let (ended_cookie, ended_id) = sign_in(&a, &browser(), "alice", PASSWORD).await;
    let mut kept_tab = a.open_tab(&kept_cookie).await;
    let mut ended_tab = a.open_tab(&ended_cookie).await;

    // A crashes; while it is down, one of the sessions is ended through B.
    let mut a = a;
    a.kill();
    for tab in [&mut kept_tab, &mut ended_tab] {
        // Announcements already on their way may still arrive; then it closes.
        while let Some(message) = next_json(tab, Duration::from_secs(5)).await {
            assert_eq!(message["type"], "sessions_changed", "{message}");
        }
    }
    revoke(&b, &admin, &ended_id).await;
    let a = a.restart().await;

    // The kept tab reconnects and gets its session again.
    let mut kept_tab = connect(&a.address(), Some(&kept_cookie), Some(ORIGIN))
        .await
        .expect("the kept tab reconnects");
    let hello = next_json(&mut kept_tab, Duration::from_secs(5))
        .await
        .expect("a hello");
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["session"]["id"], kept_id.as_str());

    // The ended tab's reconnect is refused, and its resync says why.
    let refused = connect(&a.address(), Some(&ended_cookie), Some(ORIGIN)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!(
            "the ended session's socket was not refused: {:?}",
            other.is_ok()
        ),
    }
    let me = reqwest::Client::new()
        .get(a.url("/api/auth/me"))
        .header("cookie", &ended_cookie)
        .send()
        .await
        .expect("answered");
    assert_eq!(me.status(), 401);
    let body: Value = me.json().await.expect("JSON");
    assert_eq!(body["reason"], "admin_revoked", "{body}");
}

#[tokio::test]
async fn a_node_stopping_sends_its_tabs_to_another_with_their_sessions_intact() {
    let Some(Cluster { mut a, b, .. }) = cluster("0").await else {
        return;
    };
    let (cookie, id) = sign_in(&a, &browser(), "alice", PASSWORD).await;
    let mut tab = a.open_tab(&cookie).await;

    let (stopped, code) =
        tokio::join!(a.terminate(), close_code(&mut tab, Duration::from_secs(10)));
    assert_eq!(
        code,
        Some(bouncer_wire::CLOSE_SHUTTING_DOWN),
        "closed for shutting down"
    );
    assert!(stopped, "the node exits cleanly on SIGTERM");

    // The browser reconnects — the balancer sends it to B — and resyncs.
    let mut tab = b.open_tab(&cookie).await;
    let me = reqwest::Client::new()
        .get(b.url("/api/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answered");
    assert_eq!(me.status(), 200, "the session survived the node");
    let body: Value = me.json().await.expect("JSON");
    assert_eq!(body["session"]["id"], id.as_str());
    assert!(
        next_json(&mut tab, Duration::from_millis(300))
            .await
            .is_none_or(|m| m["type"] == "sessions_changed"),
        "and nothing ends it"
    );
}

#[tokio::test]
async fn activity_through_one_node_keeps_a_tab_on_another_signed_in() {
    let Some(database) = shared_database().await else {
        return;
    };
    add_user(&database, &["alice", "--role", "user"], PASSWORD);
    // A short idle timeout, no warning: the deadline is all that matters.
    // Long enough that a loaded CI machine's slow request is not idleness.
    let short = [
        ("BOUNCER_IDLE_TIMEOUT", "5s"),
        ("BOUNCER_IDLE_WARNING", "0s"),
    ];
    let a = Node::start(&database, &short).await;
    let b = Node::start(&database, &short).await;
    let alice = browser();
    let (cookie, _) = sign_in(&a, &alice, "alice", PASSWORD).await;
    let mut tab = a.open_tab(&cookie).await;

    // Twice the idle timeout of activity, all of it through B.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let response = alice
            .post(b.url("/api/auth/activity"))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 204, "still signed in through B");
        if let Some(message) = next_json(&mut tab, Duration::from_millis(500)).await {
            assert_ne!(
                message["type"], "session_ended",
                "A ended an active session"
            );
        }
    }

    // Then nothing: A ends it for idleness, and tells the tab.
    let message = next_json(&mut tab, Duration::from_secs(15)).await;
    let message = message.expect("the idle ending reaches the tab");
    assert_eq!(message["type"], "session_ended", "{message}");
    assert_eq!(message["reason"], "idle_timeout", "{message}");
}
