//! Several `bouncer` processes on one PostgreSQL database, as behind a load
//! balancer without sticky sessions: an ending committed through one node
//! reaches the tabs connected to another, through a dropped listener
//! connection and a restart, and an account change reaches another node's
//! forward authentication.
//!
//! These need PostgreSQL (`TEST_DATABASE_URL`, default the local server). In
//! CI they always run; elsewhere, without a reachable server, they are
//! skipped with a notice.

use std::time::{Duration, Instant};

use bouncer_wire::{
    Permission, Reason, Role, ServerMessage, UserPatch, CLOSE_SESSION_ENDED, CLOSE_SHUTTING_DOWN,
};
use reqwest::StatusCode;

use crate::helpers::{
    bouncer, cookie_header_from, eventually, is_announcement, shared_postgres_database,
    upgrade_status, Browser, Node, PostgresDatabase, Tab,
};

/// How soon a tab on another node must hear of an ending.
const PUSH_WITHIN: Duration = Duration::from_secs(1);

/// What the tests wait for a hello, or for a node to go quiet.
const WAIT: Duration = Duration::from_secs(5);

/// Every user's password.
pub(crate) const PASSWORD: &str = "correct-horse-battery";

/// A fresh shared database, or `None` when the tests are skipped.
pub(crate) async fn shared_database() -> Option<PostgresDatabase> {
    shared_postgres_database("the multi-node tests").await
}

/// `bouncer user add <args>` against the shared database, with [`PASSWORD`].
async fn add_user(database_url: &str, args: &[&str]) {
    let command: Vec<&str> = ["user", "add"]
        .iter()
        .chain(args)
        .chain(&["--password-stdin"])
        .copied()
        .collect();
    let output = bouncer(database_url, &command, Some(PASSWORD)).await;
    assert!(output.status.success(), "user add {args:?}");
}

/// Signs `name` in through the browser's node; returns the cookie header and
/// the session id.
pub(crate) async fn sign_in(browser: &Browser, name: &str) -> (String, String) {
    let answer = browser.login_as(name, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{name} signs in");
    let cookie = cookie_header_from(&answer.headers);
    (cookie, answer.expect("signed in").session.id)
}

/// Ends a session through the admin's node.
pub(crate) async fn revoke(admin: &Browser, session_id: &str) {
    assert_eq!(
        admin.admin_end_session(session_id).await.status,
        StatusCode::NO_CONTENT,
        "the revoke of {session_id} succeeds"
    );
}

/// The tab hears of its ending within [`PUSH_WITHIN`] (past any
/// `sessions_changed` announcements) and is closed with 4001.
async fn assert_told(tab: &mut Tab, reason: Reason) {
    let deadline = Instant::now() + PUSH_WITHIN;
    let message = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tab.next_message(left).await {
            Some(message) if is_announcement(&message) => continue,
            Some(message) => break message,
            None => panic!("no ending within {PUSH_WITHIN:?}"),
        }
    };
    match message {
        ServerMessage::SessionEnded { reason: told, .. } => assert_eq!(told, reason),
        other => panic!("not an ending: {other:?}"),
    }
    assert_eq!(tab.close_code(PUSH_WITHIN).await, Some(CLOSE_SESSION_ENDED));
}

/// Two nodes on a fresh shared database holding alice (at most
/// `alice_max_sessions`) and root, with root signed in through B.
pub(crate) struct Cluster {
    pub(crate) database: PostgresDatabase,
    pub(crate) a: Node,
    pub(crate) b: Node,
    pub(crate) admin: Browser,
}

/// See [`Cluster`]; `None` when the tests are skipped.
pub(crate) async fn cluster(alice_max_sessions: &str) -> Option<Cluster> {
    let database = shared_database().await?;
    add_user(
        &database.url,
        &[
            "alice",
            "--role",
            "user",
            "--max-sessions",
            alice_max_sessions,
        ],
    )
    .await;
    add_user(&database.url, &["root", "--role", "admin"]).await;
    let a = Node::start(&database.url, &[]).await;
    let b = Node::start(&database.url, &[]).await;
    let admin = b.browser();
    sign_in(&admin, "root").await;
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
    let (cookie, id) = sign_in(&a.browser(), "alice").await;
    let mut tab = a.open_tab(&cookie).await;
    revoke(&admin, &id).await;
    assert_told(&mut tab, Reason::AdminRevoked).await;

    // A login through B that takes alice's only slot ends the tab on A.
    let (cookie, _) = sign_in(&a.browser(), "alice").await;
    let mut tab = a.open_tab(&cookie).await;
    sign_in(&b.browser(), "alice").await;
    assert_told(&mut tab, Reason::SignedInElsewhere).await;

    // Either node now refuses the old cookie, with the reason.
    for node in [&a, &b] {
        let me = node.holding(&cookie).me().await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        assert_eq!(me.reason(), Some(Reason::SignedInElsewhere), "{me:?}");
    }
}

/// The connections of the nodes' database listeners, as PostgreSQL sees them.
async fn listener_pids(database: &PostgresDatabase) -> Vec<i32> {
    let admin = sqlx::PgPool::connect(&database.admin_url)
        .await
        .expect("the admin connection");
    let pids = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&database.name)
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
        b: _b,
        admin,
    }) = cluster("0").await
    else {
        return;
    };
    let mut tabs = Vec::new();
    for _ in 0..6 {
        let (cookie, id) = sign_in(&a.browser(), "alice").await;
        tabs.push((a.open_tab(&cookie).await, id));
    }

    let admin_pool = sqlx::PgPool::connect(&database.admin_url)
        .await
        .expect("the admin connection");
    let mut terminated = 0;
    for (i, (tab, id)) in tabs.iter_mut().enumerate() {
        revoke(&admin, id).await;
        assert_told(tab, Reason::AdminRevoked).await;
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
    let Some(Cluster {
        a, b: _b, admin, ..
    }) = cluster("0").await
    else {
        return;
    };
    let (kept_cookie, kept_id) = sign_in(&a.browser(), "alice").await;
    let (ended_cookie, ended_id) = sign_in(&a.browser(), "alice").await;
    let mut kept_tab = a.open_tab(&kept_cookie).await;
    let mut ended_tab = a.open_tab(&ended_cookie).await;

    // A crashes; while it is down, one of the sessions is ended through B.
    let mut a = a;
    a.kill();
    for tab in [&mut kept_tab, &mut ended_tab] {
        // Announcements already on their way may still arrive; then it closes.
        while let Some(message) = tab.next_message(WAIT).await {
            assert!(is_announcement(&message), "{message:?}");
        }
    }
    revoke(&admin, &ended_id).await;
    let a = a.restart().await;

    // The kept tab reconnects and gets its session again.
    let mut kept_tab = a
        .connect(&kept_cookie)
        .await
        .expect("the kept tab reconnects");
    assert_eq!(kept_tab.hello(WAIT).await.id, kept_id);

    // The ended tab's reconnect is refused, and its resync says why.
    assert_eq!(
        upgrade_status(&a.connect(&ended_cookie).await),
        401,
        "the ended session's socket is refused"
    );
    let me = a.holding(&ended_cookie).me().await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.reason(), Some(Reason::AdminRevoked), "{me:?}");
}

#[tokio::test]
async fn a_node_stopping_sends_its_tabs_to_another_with_their_sessions_intact() {
    let Some(Cluster { mut a, b, .. }) = cluster("0").await else {
        return;
    };
    let (cookie, id) = sign_in(&a.browser(), "alice").await;
    let mut tab = a.open_tab(&cookie).await;

    let (stopped, code) = tokio::join!(a.terminate(), tab.close_code(Duration::from_secs(10)));
    assert_eq!(code, Some(CLOSE_SHUTTING_DOWN), "closed for shutting down");
    assert!(stopped, "the node exits cleanly on SIGTERM");

    // The browser reconnects — the balancer sends it to B — and resyncs.
    let mut tab = b.open_tab(&cookie).await;
    let me = b.holding(&cookie).me().await;
    assert_eq!(me.status, StatusCode::OK, "the session survived the node");
    assert_eq!(me.expect("signed in").session.id, id);
    assert!(
        tab.next_message(Duration::from_millis(300))
            .await
            .is_none_or(|m| is_announcement(&m)),
        "and nothing ends it"
    );
}

#[tokio::test]
async fn activity_through_one_node_keeps_a_tab_on_another_signed_in() {
    let Some(database) = shared_database().await else {
        return;
    };
    add_user(&database.url, &["alice", "--role", "user"]).await;
    // A short idle timeout, no warning: the deadline is all that matters.
    // Long enough that a loaded CI machine's slow request is not idleness.
    let short = [
        ("BOUNCER_IDLE_TIMEOUT", "5s"),
        ("BOUNCER_IDLE_WARNING", "0s"),
    ];
    let a = Node::start(&database.url, &short).await;
    let b = Node::start(&database.url, &short).await;
    let alice = a.browser();
    let (cookie, _) = sign_in(&alice, "alice").await;
    let mut tab = a.open_tab(&cookie).await;

    // Twice the idle timeout of activity, all of it through B.
    let alice_through_b = alice.on(&b.address());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        assert_eq!(
            alice_through_b.activity().await.status,
            StatusCode::NO_CONTENT,
            "still signed in through B"
        );
        if let Some(message) = tab.next_message(Duration::from_millis(500)).await {
            assert!(
                !matches!(message, ServerMessage::SessionEnded { .. }),
                "A ended an active session"
            );
        }
    }

    // Then nothing: A ends it for idleness, and tells the tab.
    let message = tab.next_message(Duration::from_secs(15)).await;
    match message.expect("the idle ending reaches the tab") {
        ServerMessage::SessionEnded { reason, .. } => assert_eq!(reason, Reason::IdleTimeout),
        other => panic!("not an ending: {other:?}"),
    }
}

#[tokio::test]
async fn an_account_change_through_one_node_reaches_forward_auth_on_another() {
    let Some(Cluster {
        a, b: _b, admin, ..
    }) = cluster("1").await
    else {
        return;
    };
    let (cookie, _) = sign_in(&a.browser(), "alice").await;
    let alice = a.holding(&cookie);
    assert_eq!(
        alice.verify("role=staff", None).await.status,
        StatusCode::FORBIDDEN
    );
    let found = admin.admin_users("query=alice").await.expect("listed");
    let promoted = UserPatch {
        role: Some(Role::Staff),
        permissions: Some(vec![Permission::RevokeUsers]),
        ..UserPatch::default()
    };
    admin
        .patch_user(&found.users[0].user.id, &promoted)
        .await
        .expect("promoted through B");
    // A hears of it from the log, as of an ending.
    let deadline = Instant::now() + PUSH_WITHIN;
    loop {
        let answer = alice.verify("role=staff", None).await;
        if answer.status == StatusCode::OK {
            let permissions = answer.headers["x-bouncer-permissions"].to_str();
            assert_eq!(permissions.expect("ASCII"), "revoke_users");
            break;
        }
        assert!(Instant::now() < deadline, "A still says {}", answer.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new cookie made through one node kills the old one on every node: a
/// sign-in again in the same browser and a password change each replace
/// the session's secret, and node B, which had the old cookie in memory,
/// refuses it as soon as it reads the log — while the new one works there.
/// (Before, B went on accepting the old cookie for the session's life.)
#[tokio::test]
async fn a_new_cookie_through_one_node_retires_the_old_one_on_every_node() {
    let Some(Cluster { a, b, .. }) = cluster("0").await else {
        return;
    };
    let retired_on_b = |old: String| {
        let on_b = b.holding(&old);
        async move {
            eventually(
                PUSH_WITHIN,
                Duration::from_millis(20),
                async || (on_b.me().await.status == StatusCode::UNAUTHORIZED).then_some(()),
                || "B still accepts the replaced cookie".to_owned(),
            )
            .await;
        }
    };

    let laptop = a.browser();
    let (first, _) = sign_in(&laptop, "alice").await;
    assert_eq!(b.holding(&first).me().await.status, StatusCode::OK);
    let (second, _) = sign_in(&laptop, "alice").await;
    assert_ne!(first, second, "signing in again gives a new cookie");
    retired_on_b(first).await;
    assert_eq!(b.holding(&second).me().await.status, StatusCode::OK);

    let changed = laptop
        .change_password(PASSWORD, "a-new-long-password")
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    let third = cookie_header_from(&changed.headers);
    assert_ne!(third, second);
    retired_on_b(second).await;
    assert_eq!(b.holding(&third).me().await.status, StatusCode::OK);
}
