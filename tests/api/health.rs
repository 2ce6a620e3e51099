//! `GET /healthz` and `GET /readyz`: what a balancer asks, and what a
//! stopping node answers first. (Behind a real nginx: `balancer.rs`.)

use std::time::{Duration, Instant};

use bouncer_wire::{Readiness, Role, CLOSE_SHUTTING_DOWN};
use reqwest::{Method, StatusCode};

use crate::helpers::{eventually, send, spawn_app_with, TestApp};

/// How long the stopping node of these tests serves on, draining: room for
/// a sign-in and half a second of a loaded machine's time.
const DELAY: Duration = Duration::from_secs(3);

/// Asks `/readyz` until it is ready (on PostgreSQL the `LISTEN` connection
/// comes up just after the start), for at most five seconds.
async fn ready(app: &TestApp) -> Readiness {
    let ask = async || {
        let (status, readiness) = app.browser().readyz().await;
        (status == StatusCode::OK).then_some(readiness)
    };
    let pause = Duration::from_millis(50);
    let readiness = eventually(Duration::from_secs(5), pause, ask, || "never ready".into()).await;
    assert!(readiness.ready(), "{readiness:?}");
    readiness
}

#[tokio::test]
async fn a_serving_node_is_live_and_ready_without_a_cookie() {
    let app = spawn_app_with(|_| {}).await;
    let healthz = send(app.request(Method::GET, "/healthz")).await;
    assert_eq!(healthz.status(), StatusCode::OK);
    assert_eq!(healthz.headers()["cache-control"], "no-store");
    let readiness = ready(&app).await;
    let mut checks: Vec<&str> = readiness.checks.keys().map(String::as_str).collect();
    if std::env::var("BOUNCER_TEST_BACKEND").as_deref() == Ok("postgres") {
        checks.retain(|check| *check != "listener");
    }
    assert_eq!(checks, ["database", "draining", "migrations"]);
    // Nothing about them is a session's: no cookie is set or needed.
    let response = send(app.request(Method::GET, "/readyz")).await;
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_database_behind_this_build_s_migrations_is_not_ready() {
    let app = spawn_app_with(|_| {}).await;
    ready(&app).await;
    app.forget_last_migration().await;
    // The last answer is kept a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, readiness) = app.browser().readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(readiness.checks["migrations"], "behind", "{readiness:?}");
    assert_eq!(readiness.checks["database"], "ok");
}

#[tokio::test]
async fn a_stopping_node_is_not_ready_first_and_serves_on_for_the_delay() {
    let mut app = spawn_app_with(|s| s.shutdown_delay = DELAY).await;
    let alice = app.add_user("alice", Role::User, Some(0)).await;
    let (browser, _) = app.signed_in(&alice).await;
    let (mut tab, _) = browser.open_tab().await;
    ready(&app).await;

    let stopped_at = Instant::now();
    let server = app.begin_shutdown();
    let deadline = stopped_at + Duration::from_secs(1);
    let readiness = loop {
        let (status, readiness) = app.browser().readyz().await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break readiness;
        }
        assert!(Instant::now() < deadline, "still ready after the stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(readiness.checks["draining"], "draining");
    assert_eq!(readiness.checks["database"], "ok");

    // Still serving: a new sign-in, and the tab stays open.
    assert_eq!(app.browser().login(&alice).await.status, StatusCode::OK);
    assert!(
        tab.next_event(Duration::from_millis(500)).await.is_none(),
        "nothing is said to the tab yet"
    );
    assert!(
        stopped_at.elapsed() < DELAY,
        "the checks above took too long"
    );

    // Then the tab is sent away, after the delay, not before.
    assert_eq!(tab.close_code(DELAY * 2).await, Some(CLOSE_SHUTTING_DOWN));
    assert!(stopped_at.elapsed() >= DELAY, "closed before the delay");
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .expect("the server task ran")
        .expect("the server stopped cleanly");
}
