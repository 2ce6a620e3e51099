//! `GET /api/auth/verify`, forward authentication for a reverse proxy: the
//! user headers, the 401 with the reason and the sign-in page, the role and
//! permission requirements, bad queries, that it is not user activity, that
//! an account change reaches it at once, and that it costs no query; and the
//! sign-in that brings the browser back to the app's page.

use std::{
    fs::File,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bouncer_wire::{Permission, Reason, Role, UserPatch};
use leptos::server_fn::ServerFn;
use reqwest::{header, StatusCode};

use crate::helpers::{bouncer, fresh_database, spawn_app, text, Answer, Browser};

/// A header of the answer as text (`None` when absent).
fn header<'a, T>(answer: &'a Answer<T>, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get(name)
        .map(|value| value.to_str().expect("ASCII"))
}

/// The five user headers, in the order `API.md` lists them.
fn user_headers<T>(answer: &Answer<T>) -> [Option<&str>; 5] {
    [
        "x-bouncer-user-id",
        "x-bouncer-username",
        "x-bouncer-role",
        "x-bouncer-permissions",
        "x-bouncer-session-id",
    ]
    .map(|name| header(answer, name))
}

#[tokio::test]
async fn a_live_session_is_vouched_for_with_who_the_user_is() {
    let app = spawn_app().await;
    let sam = app
        .add_user_with("sam", Role::Staff, &[Permission::RevokeUsers], None)
        .await;
    let (browser, _) = app.signed_in(&sam).await;
    let session = browser.session_id().await;
    let answer = browser.verify("", Some("/player")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        user_headers(&answer),
        [
            Some(sam.id.as_str()),
            Some("sam"),
            Some("staff"),
            Some("revoke_users"),
            Some(session.as_str())
        ]
    );
    assert_eq!(header(&answer, "cache-control"), Some("no-store"));
    assert_eq!(
        header(&answer, "content-length"),
        Some("0"),
        "an empty body"
    );
    assert_eq!(header(&answer, "x-bouncer-reason"), None);

    // A name beyond ASCII arrives percent-encoded; an admin's permissions
    // are the explicit ones, as in the User object.
    let jorg = app.add_user("jörg", Role::Admin, None).await;
    let (browser, _) = app.signed_in(&jorg).await;
    let answer = browser.verify("", None).await;
    assert_eq!(header(&answer, "x-bouncer-username"), Some("j%C3%B6rg"));
    assert_eq!(header(&answer, "x-bouncer-role"), Some("admin"));
    assert_eq!(header(&answer, "x-bouncer-permissions"), Some(""));
}

#[tokio::test]
async fn without_a_live_session_the_answer_is_401_with_the_reason_and_where_to_sign_in() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (admin, _) = app.signed_in(&root).await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;

    let anonymous = app.browser().verify("", Some("/player?t=1&x=2")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&anonymous, "x-bouncer-reason"), None);
    assert_eq!(
        header(&anonymous, "x-bouncer-login"),
        Some("/login?next=/player%3Ft%3D1%26x%3D2")
    );
    assert_eq!(user_headers(&anonymous), [None; 5]);
    assert_eq!(anonymous.error(), Some("unauthenticated"));

    admin
        .revoke_user(&alice.id)
        .await
        .expect("root ends alice's");
    let ended = browser.verify("role=admin", Some("/player")).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED, "401 before any 403");
    assert_eq!(header(&ended, "x-bouncer-reason"), Some("admin_revoked"));
    assert_eq!(
        header(&ended, "x-bouncer-login"),
        Some("/login?reason=admin_revoked&next=/player")
    );
    assert_eq!(user_headers(&ended), [None; 5]);
    assert_eq!(ended.reason(), Some(Reason::AdminRevoked));

    // `next` is only ever a path of this origin, and never a huge one.
    let long = format!("/{}", "a".repeat(4000));
    for forged in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        &long,
    ] {
        let answer = browser.verify("", Some(forged)).await;
        assert_eq!(
            header(&answer, "x-bouncer-login"),
            Some("/login?reason=admin_revoked&next=/"),
            "{forged}"
        );
    }
}

#[tokio::test]
async fn a_role_or_permission_the_user_lacks_is_403() {
    let app = spawn_app().await;
    let mut browsers = Vec::new();
    for (name, role, permissions) in [
        ("alice", Role::User, &[][..]),
        ("sam", Role::Staff, &[Permission::RevokeUsers][..]),
        ("root", Role::Admin, &[][..]),
    ] {
        let user = app.add_user_with(name, role, permissions, None).await;
        browsers.push(app.signed_in(&user).await.0);
    }
    // Each requirement, for alice, sam and root.
    let cases = [
        ("role=user", [200, 200, 200]),
        ("role=staff", [403, 200, 200]),
        ("role=admin", [403, 403, 200]),
        ("permission=revoke_users", [403, 200, 200]),
        ("permission=revoke_admins", [403, 403, 200]),
        ("role=staff&permission=revoke_admins", [403, 403, 200]),
    ];
    for (query, expected) in cases {
        let mut got = [0; 3];
        for (status, browser) in got.iter_mut().zip(&browsers) {
            let answer = browser.verify(query, None).await;
            *status = answer.status.as_u16();
            if answer.status == StatusCode::FORBIDDEN {
                assert_eq!(answer.error(), Some("forbidden"), "{query}");
                assert_eq!(user_headers(&answer), [None; 5], "{query}");
            }
        }
        assert_eq!(got, expected, "{query}");
    }
}

#[tokio::test]
async fn a_query_that_is_not_a_known_requirement_is_400_for_everyone() {
    let app = spawn_app().await;
    let (_, [alice]) = app.signed_in_user("alice", None).await;
    let anonymous = app.browser();
    for query in [
        "role=captain",
        "rol=staff",
        "permission=fly",
        "role=staff&role=admin",
        "role=",
        "role=%FF",
        "permissions=revoke_users",
    ] {
        for browser in [&alice, &anonymous] {
            let answer = browser.verify(query, None).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(answer.error(), Some("bad_request"), "{query}");
        }
    }
}

#[tokio::test]
async fn verify_is_not_user_activity() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    // Forty minutes of the app's pages behind the proxy, nothing more: the
    // 30-minute idle timeout runs out all the same.
    app.every_twenty_minutes(2, async || {
        browser.verify("", None).await;
    })
    .await;
    let answer = browser.verify("", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&answer, "x-bouncer-reason"), Some("idle_timeout"));
}

#[tokio::test]
async fn an_account_change_reaches_verify_before_the_change_answers() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (admin, _) = app.signed_in(&root).await;
    let sam = app
        .add_user_with("sam", Role::Staff, &[Permission::RevokeUsers], Some(2))
        .await;
    let [laptop, phone] = app.devices::<2>(&sam).await;
    assert_eq!(
        laptop.verify("role=staff", None).await.status,
        StatusCode::OK
    );

    // Each change, then what both of sam's sessions answer at once (no
    // request between the change and these): a requirement's status, and
    // the role and permissions the headers say, or the reason of a 401.
    let demoted = UserPatch {
        role: Some(Role::User),
        permissions: Some(vec![]),
        ..UserPatch::default()
    };
    let promoted = UserPatch {
        role: Some(Role::Admin),
        ..UserPatch::default()
    };
    let deactivated = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    let steps = [
        (demoted, "role=staff", StatusCode::FORBIDDEN, ["user", ""]),
        (promoted, "role=admin", StatusCode::OK, ["admin", ""]),
        (
            deactivated,
            "",
            StatusCode::UNAUTHORIZED,
            ["deactivated", ""],
        ),
    ];
    for (patch, query, status, expected) in steps {
        admin.patch_user(&sam.id, &patch).await.expect("changed");
        for browser in [&laptop, &phone] {
            assert_eq!(
                browser.verify(query, None).await.status,
                status,
                "{patch:?}"
            );
            let answer = browser.verify("", None).await;
            let said = match answer.status {
                StatusCode::OK => [
                    header(&answer, "x-bouncer-role"),
                    header(&answer, "x-bouncer-permissions"),
                ],
                _ => [header(&answer, "x-bouncer-reason"), Some("")],
            };
            assert_eq!(said, expected.map(Some), "{patch:?}");
        }
    }
}

/// A `bouncer serve` process whose log of database statements (sqlx's own
/// `sqlx::query` events, the ones `bouncer-bench` counts) goes to a file.
struct LoggedServer {
    child: Child,
    address: String,
    log: std::path::PathBuf,
}

/// The statement the tailer runs on its own every 250 ms, whatever the
/// requests: reading the event log past what it applied.
const TAILER_READ: &str = "FROM events WHERE seq >";

/// The "last seen" write-behind: at most one per session per 30 s, however
/// many requests (`activity.rs`).
const LAST_SEEN_WRITE: &str = "UPDATE sessions SET last_seen_at";

/// What the webhook delivery runs on its own clock, whatever the requests:
/// renewing its lease every 750 ms (`leases.rs`) and, while it holds it,
/// listing the endpoints every second (`delivery.rs`, `REFRESH`).
const DELIVERY_LOOP: [&str; 2] = ["INSERT INTO leases", "FROM webhooks ORDER BY"];

/// The statements a server logged, sorted by who ran them.
#[derive(Debug)]
struct Statements {
    /// Everything but the two below and [`DELIVERY_LOOP`]'s: what a
    /// request's own path ran.
    requests: Vec<String>,
    tailer: usize,
    last_seen_writes: usize,
}

impl Statements {
    /// What ran since `earlier` was taken.
    fn since(&self, earlier: &Statements) -> Statements {
        Statements {
            requests: self.requests[earlier.requests.len()..].to_vec(),
            tailer: self.tailer - earlier.tailer,
            last_seen_writes: self.last_seen_writes - earlier.last_seen_writes,
        }
    }

    /// Asserts that `calls` requests ran nothing of their own: at most the
    /// throttled write-behind, besides the tailer's reads.
    fn assert_none(&self, calls: &str) {
        assert_eq!(
            self.requests,
            Vec::<String>::new(),
            "{calls} ran statements"
        );
        assert!(self.last_seen_writes <= 1, "{calls}: {self:?}");
    }
}

impl LoggedServer {
    async fn start(database_url: &str, dir: &std::path::Path, name: &str) -> LoggedServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .arg("serve")
            .env("BOUNCER_DATABASE_URL", database_url)
            .env("BOUNCER_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn,sqlx::query=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"))
            .spawn()
            .expect("the server starts");
        let server = LoggedServer {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/api/auth/me", server.address))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// The statements logged so far.
    fn statements(&self) -> Statements {
        let mut statements = Statements {
            requests: Vec::new(),
            tailer: 0,
            last_seen_writes: 0,
        };
        let log = std::fs::read_to_string(&self.log).expect("the log");
        // Whole lines only: the server may be writing the last one.
        let whole = &log[..log.rfind('\n').map_or(0, |end| end + 1)];
        for line in whole.lines().filter(|line| line.contains("sqlx::query")) {
            if line.contains(TAILER_READ) {
                statements.tailer += 1;
            } else if line.contains(LAST_SEEN_WRITE) {
                statements.last_seen_writes += 1;
            } else if DELIVERY_LOOP
                .iter()
                .any(|statement| line.contains(statement))
            {
                continue;
            } else {
                statements.requests.push(line.to_owned());
            }
        }
        statements
    }
}

impl LoggedServer {
    /// Waits until the server's own start-up work (migrations, the first
    /// sweep, the listener) has finished: no statement but the tailer's for
    /// half a second. The steady state starts there.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = self.statements().requests.len();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.statements().requests.len();
            if now == seen {
                return;
            }
            assert!(Instant::now() < deadline, "the server never went quiet");
            seen = now;
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times verify is asked in the steady state.
const CALLS: usize = 300;

/// Asks verify `CALLS` times; every answer must be the 200.
async fn verify_many(browser: &Browser) {
    for _ in 0..CALLS {
        let answer = browser.verify("role=user", Some("/player")).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn verify_costs_no_query_once_the_node_knows_the_session() {
    let (dir, database_url) = fresh_database().await;
    let added = bouncer(
        &database_url,
        &["user", "add", "alice", "--role", "user", "--password-stdin"],
        Some("alice-correct-horse"),
    )
    .await;
    assert!(added.status.success(), "{}", text(&added.stderr));

    // Signed in on this node: the session and its user are in memory.
    let server = LoggedServer::start(&database_url, dir.path(), "first").await;
    let browser = Browser::new(&server.address);
    let login = browser.login_as("alice", "alice-correct-horse").await;
    assert_eq!(login.status, StatusCode::OK);
    server.settle().await;
    let before = server.statements();
    verify_many(&browser).await;
    let ran = server.statements().since(&before);
    ran.assert_none(&format!("{CALLS} calls to verify"));
    assert!(
        server.statements().tailer > 0,
        "the log holds the tailer's reads: it is the log of every statement"
    );
    let cookie = browser.cookie();
    drop(server);

    // A node that never saw the session (a restart, another node): the first
    // call reads the session and its user, the rest nothing.
    let server = LoggedServer::start(&database_url, dir.path(), "second").await;
    let browser = Browser::holding(&server.address, &cookie);
    server.settle().await;
    let before = server.statements();
    let first = browser.verify("", None).await;
    assert_eq!(header(&first, "x-bouncer-username"), Some("alice"));
    let after = server.statements();
    let loads = after.since(&before).requests;
    assert_eq!(loads.len(), 2, "the session and its user: {loads:#?}");
    assert!(loads[0].contains("FROM sessions"), "{}", loads[0]);
    assert!(loads[1].contains("FROM users"), "{}", loads[1]);
    verify_many(&browser).await;
    let ran = server.statements().since(&after);
    ran.assert_none(&format!("{CALLS} calls after the first"));
}

#[tokio::test]
async fn a_service_token_is_no_session_to_verify() {
    let app = spawn_app().await;
    let token = app
        .create_token("billing", &[Permission::RevokeUsers], None)
        .await;
    let answer = app.with_token(&token).verify("", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), Some("unauthenticated"));
    assert_eq!(answer.headers.get(header::WWW_AUTHENTICATE), None);
}

/// The sign-in form's server function, as the login page's script calls it
/// and as a browser posts it without one: a `next` that is one of
/// Bouncer's own routes is a redirect either way, while another path of the
/// origin (the app behind the proxy, where forward authentication sent the
/// browser from) is left to the page's script, which loads it in full: the
/// router's client-side navigation would show its 404 there.
#[tokio::test]
async fn signing_in_for_the_app_s_page_leaves_the_load_to_the_page() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, Some(0)).await;
    let path = <app::server::SignIn as ServerFn>::PATH;
    let cases = [
        ("/player?t=1", "application/json", None),
        ("/player?t=1", "text/html", Some("/player?t=1")),
        ("/account", "application/json", Some("/account")),
        ("/account", "text/html", Some("/account")),
        ("//evil.example/", "text/html", Some("/")),
    ];
    for (next, accept, redirect) in cases {
        let form = format!(
            "username=alice&password={}&next={}",
            alice.password,
            next.replace('/', "%2F")
                .replace('?', "%3F")
                .replace('=', "%3D")
        );
        let answer = app
            .browser()
            .request(reqwest::Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, accept)
            .body(form)
            .send()
            .await
            .expect("answered");
        assert!(
            answer.headers().contains_key(header::SET_COOKIE),
            "{next} {accept}: signed in"
        );
        let location = answer
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().expect("ASCII"));
        assert_eq!(location, redirect, "{next} {accept}");
    }
}
