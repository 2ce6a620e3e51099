//! Webhooks: `bouncer webhook add|list|remove|test` (bad input refused,
//! naming what is wrong, with nothing stored), delivery to a real receiver
//! verifying every signature with the Standard Webhooks reference library
//! (in order, once each, retried through failures, marked failing after a
//! day), and the refusal of non-public addresses at delivery time.

use std::time::Duration;

use bouncer_wire::{EventType, Permission, Role, WebhookState, WebhookStatus};
use reqwest::StatusCode;

use crate::{
    helpers::{
        bouncer, new_secret, spawn_app, text, Browser, Node, PostgresDatabase, Receiver, TestApp,
    },
    multinode::{cluster, revoke, sign_in, Cluster},
};

/// How long a delivery may take in these tests (retries included).
const DELIVERED_WITHIN: Duration = Duration::from_secs(15);

/// `bouncer webhook add <url> --events <events> --secret-stdin [extra…]`.
async fn add(app: &TestApp, url: &str, events: &str, secret: &str, extra: &[&str]) -> String {
    let mut args = vec!["webhook", "add", url, "--events", events, "--secret-stdin"];
    args.extend_from_slice(extra);
    let added = bouncer(&app.database_url, &args, Some(secret)).await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    let stdout = text(&added.stdout);
    stdout
        .split_whitespace()
        .find(|word| word.starts_with("wh_"))
        .unwrap_or_else(|| panic!("no id in {stdout}"))
        .to_owned()
}

/// `bouncer webhook list`, its lines after the header.
async fn list(app: &TestApp) -> Vec<String> {
    let listed = bouncer(&app.database_url, &["webhook", "list"], None).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    text(&listed.stdout)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn bad_input_is_refused_by_name_and_nothing_is_stored() {
    let app = spawn_app().await;
    let secret = new_secret();
    let events = "session.ended";
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["ftp://hooks.example.com/x", "--events", events],
            &secret,
            "http:// or https://",
        ),
        (
            &["hooks.example.com/x", "--events", events],
            &secret,
            "not a valid URL",
        ),
        (
            &["https://u:p@hooks.example.com/", "--events", events],
            &secret,
            "user name or password",
        ),
        (
            &["http://127.0.0.1:9/x", "--events", events],
            &secret,
            "loopback",
        ),
        (
            &["http://localhost:9/x", "--events", events],
            &secret,
            "--allow-private",
        ),
        (
            &["http://[::1]:9/x", "--events", events],
            &secret,
            "loopback",
        ),
        (
            &["http://10.0.0.7/x", "--events", events],
            &secret,
            "private",
        ),
        (
            &["http://169.254.169.254/latest", "--events", events],
            &secret,
            "link-local",
        ),
        (
            &[
                "http://127.0.0.1:9/x",
                "--events",
                events,
                "--allow-private",
            ],
            "",
            "secret is missing",
        ),
        (
            &[
                "http://127.0.0.1:9/x",
                "--events",
                events,
                "--allow-private",
            ],
            "\n",
            "secret is missing",
        ),
        (
            &[
                "http://127.0.0.1:9/x",
                "--events",
                events,
                "--allow-private",
            ],
            "hunter2",
            "whsec_",
        ),
        (
            &[
                "http://127.0.0.1:9/x",
                "--events",
                events,
                "--allow-private",
            ],
            "whsec_c2hvcnQ=",
            "bytes",
        ),
        (
            &[
                "http://127.0.0.1:9/x",
                "--events",
                "session.ended,session.paused",
                "--allow-private",
            ],
            &secret,
            "unknown event type `session.paused`",
        ),
        (
            &["http://127.0.0.1:9/x", "--events", "", "--allow-private"],
            &secret,
            "unknown event type",
        ),
        (
            &["http://127.0.0.1:9/x", "--allow-private"],
            &secret,
            "--events",
        ),
    ];
    for (args, stdin, says) in cases {
        let mut all = vec!["webhook", "add"];
        all.extend_from_slice(args);
        all.push("--secret-stdin");
        let refused = bouncer(&app.database_url, &all, Some(stdin)).await;
        let stderr = text(&refused.stderr);
        assert!(!refused.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Without --secret-stdin the secret has nowhere to come from.
    let no_flag = bouncer(
        &app.database_url,
        &["webhook", "add", "http://127.0.0.1:9/", "--events", events],
        Some(&secret),
    )
    .await;
    assert!(text(&no_flag.stderr).contains("--secret-stdin"));
    assert_eq!(
        list(&app).await,
        Vec::<String>::new(),
        "nothing half-configured"
    );
    for command in ["remove", "test"] {
        let missing = bouncer(&app.database_url, &["webhook", command, "wh_nope"], None).await;
        assert!(!missing.status.success());
        assert!(text(&missing.stderr).contains("No webhook `wh_nope`"));
    }
}

#[tokio::test]
async fn events_arrive_signed_in_order_once_each_through_failures() {
    let Some(receiver) = Receiver::start("the webhook delivery tests").await else {
        return;
    };
    let app = spawn_app().await;
    let sessions = "session.started,session.ended";
    let id = add(
        &app,
        &receiver.url("/sessions"),
        sessions,
        &receiver.secret,
        &["--allow-private"],
    )
    .await;
    let everything = "session.started,session.ended,user.created,user.deactivated,\
                      user.reactivated,user.role_changed,user.password_changed";
    add(
        &app,
        &receiver.url("/all"),
        everything,
        &receiver.secret,
        &["--allow-private"],
    )
    .await;
    let tested = bouncer(&app.database_url, &["webhook", "test", &id], None).await;
    assert!(tested.status.success(), "{}", text(&tested.stderr));
    assert_eq!(receiver.arrivals("/sessions").await.tests, 1);

    // Sign-ins and sign-outs, with the receiver failing for a while.
    let eve = app
        .add_user_with("eve", Role::Staff, &[Permission::ReadEvents], None)
        .await;
    let (eve_browser, _) = app.signed_in(&eve).await;
    let users = [
        app.add_user("ana", Role::User, None).await,
        app.add_user("bo", Role::User, None).await,
    ];
    receiver.fail_next(4).await;
    for round in 0..5 {
        for user in &users {
            let (browser, _) = app.signed_in(user).await;
            if round % 2 == 0 {
                assert_eq!(browser.logout().await.status, StatusCode::NO_CONTENT);
            }
        }
    }
    let feed = eve_browser.events("limit=1000").await.expect("the feed");
    let wanted: Vec<i64> = feed
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventType::SessionStarted | EventType::SessionEnded))
        .map(|e| e.seq)
        .collect();
    let all: Vec<i64> = feed.events.iter().map(|e| e.seq).collect();
    for (path, expected) in [("/sessions", &wanted), ("/all", &all)] {
        let arrived = receiver
            .wait_for(path, expected.len(), DELIVERED_WITHIN)
            .await;
        assert_eq!(&arrived.seqs, expected, "{path}: every event, in order");
        assert_eq!(arrived.invalid, 0, "{path}: every signature verified");
        assert_eq!(arrived.out_of_order, 0, "{path}");
    }
    let failed: u64 = receiver.report().await.values().map(|a| a.failed).sum();
    assert_eq!(failed, 4, "the failures were retried");
    // The endpoint reports its progress.
    let status = eve_browser.event_status().await.expect("the status");
    let endpoint = status.webhooks.iter().find(|w| w.id == id).expect("listed");
    assert_eq!(
        endpoint.events,
        [EventType::SessionStarted, EventType::SessionEnded]
    );
    assert!(endpoint.allow_private);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = eve_browser.event_status().await.expect("the status");
    let endpoint = status.webhooks.iter().find(|w| w.id == id).expect("listed");
    assert_eq!(endpoint.state, WebhookState::Ok);
    assert_eq!(endpoint.cursor, status.newest, "its cursor is saved");
    assert_eq!(endpoint.last_error, None);
    let listed = list(&app).await;
    assert!(
        listed
            .iter()
            .any(|line| line.contains(&id) && line.contains(" ok ")),
        "{listed:?}"
    );
    // Removed: nothing more arrives.
    let removed = bouncer(&app.database_url, &["webhook", "remove", &id], None).await;
    assert!(removed.status.success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.signed_in(&users[0]).await;
    let now: Vec<i64> = eve_browser
        .events("limit=1000")
        .await
        .expect("the feed")
        .events
        .iter()
        .map(|e| e.seq)
        .collect();
    assert!(now.len() > all.len(), "the sign-in is in the log");
    let all_now = receiver.wait_for("/all", now.len(), DELIVERED_WITHIN).await;
    assert_eq!(all_now.seqs, now, "the other endpoint still receives");
    assert_eq!(receiver.arrivals("/sessions").await.seqs, wanted);
}

#[tokio::test]
async fn non_public_addresses_are_refused_when_delivering_too() {
    let Some(receiver) = Receiver::start("the webhook address tests").await else {
        return;
    };
    let app = spawn_app().await;
    // As if added when these names resolved elsewhere (DNS rebinding), or
    // straight into the database: no --allow-private.
    let port = receiver.address.rsplit(':').next().expect("a port");
    let by_name = app
        .add_webhook_unchecked(&format!("http://localhost:{port}/name"), &receiver.secret)
        .await;
    let by_address = app
        .add_webhook_unchecked(
            &format!("http://127.0.0.1:{port}/address"),
            &receiver.secret,
        )
        .await;
    let eve = app
        .add_user_with("eve", Role::Staff, &[Permission::ReadEvents], None)
        .await;
    let (eve_browser, _) = app.signed_in(&eve).await;
    let deadline = tokio::time::Instant::now() + DELIVERED_WITHIN;
    loop {
        let status = eve_browser.event_status().await.expect("the status");
        let refused: Vec<_> = status
            .webhooks
            .iter()
            .filter(|w| w.id == by_name || w.id == by_address)
            .filter(|w| {
                w.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("loopback"))
            })
            .collect();
        if refused.len() == 2 {
            assert!(refused.iter().all(|w| w.state == WebhookState::Retrying));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver.report().await.is_empty(), "nothing reached it");
}

/// Waits until the endpoint `id` is in state `wanted`; returns it.
async fn wait_state(browser: &Browser, id: &str, wanted: WebhookState) -> WebhookStatus {
    let deadline = tokio::time::Instant::now() + DELIVERED_WITHIN;
    loop {
        let status = browser.event_status().await.expect("the status");
        let endpoint = status
            .webhooks
            .into_iter()
            .find(|w| w.id == id)
            .expect("listed");
        if endpoint.state == wanted {
            return endpoint;
        }
        assert!(tokio::time::Instant::now() < deadline, "{endpoint:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_day_of_failures_marks_the_endpoint_failing_until_it_recovers() {
    let Some(receiver) = Receiver::start("the webhook failure tests").await else {
        return;
    };
    let app = spawn_app().await;
    let id = add(
        &app,
        &receiver.url("/slow"),
        "user.created",
        &receiver.secret,
        &["--allow-private"],
    )
    .await;
    receiver.fail_for(Duration::from_secs(600)).await;
    let created = app.add_user("ana", Role::User, None).await;
    let eve = app
        .add_user_with("eve", Role::Staff, &[Permission::ReadEvents], None)
        .await;
    let (eve_browser, _) = app.signed_in(&eve).await;
    let retrying = wait_state(&eve_browser, &id, WebhookState::Retrying).await;
    assert!(retrying.attempts >= 1);
    assert!(retrying.last_error.is_some_and(|e| e.contains("500")));
    app.advance_clock(Duration::from_secs(25 * 3600));
    // Eve's session timed out over that day.
    let (eve_browser, _) = app.signed_in(&eve).await;
    let failing = wait_state(&eve_browser, &id, WebhookState::Failing).await;
    assert!(failing.failing_since.is_some());
    assert!(list(&app).await.iter().any(|line| line.contains("failing")));
    receiver.fail_for(Duration::ZERO).await;
    let arrived = receiver.wait_for("/slow", 2, DELIVERED_WITHIN).await;
    assert_eq!(arrived.seqs.len(), 2, "ana's then eve's user.created");
    let recovered = wait_state(&eve_browser, &id, WebhookState::Ok).await;
    assert_eq!(recovered.attempts, 0);
    assert!(recovered.last_delivered_at.is_some());
    let feed = eve_browser.events("").await.expect("the feed");
    let ana = feed
        .events
        .iter()
        .find(|e| e.user_id == created.id)
        .expect("ana");
    assert_eq!(arrived.seqs[0], ana.seq);
}

/// The node (`a` or `b`) holding the webhook lease now.
async fn delivering(database: &PostgresDatabase, a: &Node, b: &Node) -> Option<char> {
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .expect("connects");
    let holder: Option<String> =
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'webhooks'")
            .fetch_optional(&pool)
            .await
            .expect("read");
    pool.close().await;
    let holder = holder?;
    [('a', a), ('b', b)]
        .into_iter()
        .find(|(_, node)| holder.starts_with(&format!("pid{}-", node.pid())))
        .map(|(name, _)| name)
}

/// Every event's `seq` and type, from the shared database.
async fn logged(database: &PostgresDatabase) -> Vec<(i64, String)> {
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .expect("connects");
    let rows = sqlx::query_as("SELECT seq, type FROM events ORDER BY seq")
        .fetch_all(&pool)
        .await
        .expect("read");
    pool.close().await;
    rows
}

/// Kills whichever node delivers and starts it again; returns the nodes.
async fn kill_the_delivering_node(database: &PostgresDatabase, a: Node, b: Node) -> (Node, Node) {
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let holder = loop {
        if let Some(holder) = delivering(database, &a, &b).await {
            break holder;
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody delivers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (a, b) = if holder == 'a' {
        (a.restart().await, b)
    } else {
        (a, b.restart().await)
    };
    // The lease expires and a live node takes it over.
    loop {
        match delivering(database, &a, &b).await {
            Some(now) if now != holder || tokio::time::Instant::now() > deadline => {
                return (a, b);
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn every_event_arrives_through_two_nodes_and_two_kills() {
    let Some(receiver) = Receiver::start("the two-node webhook test").await else {
        return;
    };
    let Some(Cluster {
        database,
        a,
        b,
        admin,
    }) = cluster("0").await
    else {
        return;
    };
    let before = logged(&database).await.last().map_or(0, |(seq, _)| *seq);
    for (path, events) in [
        ("/ended", "session.ended"),
        (
            "/all",
            "session.started,session.ended,user.created,user.role_changed",
        ),
    ] {
        let args = [
            "webhook",
            "add",
            &receiver.url(path),
            "--events",
            events,
            "--secret-stdin",
            "--allow-private",
        ];
        let added = bouncer(&database.url, &args, Some(&receiver.secret)).await;
        assert!(added.status.success(), "{}", text(&added.stderr));
    }
    // A few hundred sessions, through both nodes.
    let started = std::time::Instant::now();
    let mut sessions = Vec::new();
    for i in 0..240 {
        let node = if i % 2 == 0 { &a } else { &b };
        sessions.push(sign_in(&node.browser(), "alice").await.1);
    }
    let mut quarters = sessions.chunks(60);
    let mut end_some = async |admin: &Browser| {
        for id in quarters.next().expect("a quarter") {
            revoke(admin, id).await;
        }
    };
    // The admin's node (b) may be killed: its revokes go through b only
    // while b is up, so they are made before each kill.
    end_some(&admin).await;
    let (a, b) = kill_the_delivering_node(&database, a, b).await;
    let admin = b.browser();
    sign_in(&admin, "root").await;
    end_some(&admin).await;
    receiver.fail_for(Duration::from_secs(3)).await;
    end_some(&admin).await;
    let (a, b) = kill_the_delivering_node(&database, a, b).await;
    let admin = a.browser();
    sign_in(&admin, "root").await;
    end_some(&admin).await;

    eprintln!("sessions started and ended in {:?}", started.elapsed());
    let log: Vec<_> = logged(&database)
        .await
        .into_iter()
        .filter(|(seq, _)| *seq > before)
        .collect();
    let ended: Vec<i64> = log
        .iter()
        .filter(|(_, kind)| kind == "session.ended")
        .map(|(seq, _)| *seq)
        .collect();
    // And root's two earlier sessions, replaced by its sign-ins (limit 1).
    assert_eq!(ended.len(), 240 + 2);
    let all: Vec<i64> = log.iter().map(|(seq, _)| *seq).collect();
    for (path, expected) in [("/ended", &ended), ("/all", &all)] {
        let arrived = receiver
            .wait_for(path, expected.len(), Duration::from_secs(60))
            .await;
        assert_eq!(&arrived.seqs, expected, "{path}: every event, in order");
        assert_eq!(arrived.invalid, 0, "{path}: each verified");
        assert_eq!(arrived.out_of_order, 0, "{path}");
        eprintln!(
            "{path}: {} events, {} duplicates (by id), {} answered 500",
            arrived.seqs.len(),
            arrived.duplicates,
            arrived.failed
        );
    }
    let failed: u64 = receiver.report().await.values().map(|a| a.failed).sum();
    assert!(failed > 0, "the receiver answered 500 for a while");
    drop((a, b));
}
