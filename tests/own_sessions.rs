//! A user's own sessions, password change and the activity endpoint.

mod support;

use std::time::Duration;

use bouncer_wire::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{cookie_value, session_set_cookie, spawn_app};

#[tokio::test]
async fn list_end_one_and_revoke_others() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (a, b, c) = (app.browser(), app.browser(), app.browser());
    for browser in [&a, &b, &c] {
        browser.login("bob", &password).await;
        app.clock.advance(Duration::from_secs(1));
    }
    let list: Vec<Value> = a.get("/api/sessions").await.json().await.expect("JSON");
    assert_eq!(list.len(), 3);
    assert!(
        list[0]["created_at"].as_str() >= list[2]["created_at"].as_str(),
        "newest first"
    );
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let (_, me) = a.me().await;
    assert_eq!(current[0]["id"], me["session"]["id"]);

    let (_, b_me) = b.me().await;
    let b_id = b_me["session"]["id"].as_str().expect("an id").to_owned();
    let ended = a
        .client
        .delete(app.url(&format!("/api/sessions/{b_id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.me().await.1["reason"], "revoked_by_user");
    assert_eq!(app.live_sessions(&bob).await, 2);
    let again = a
        .client
        .delete(app.url(&format!("/api/sessions/{b_id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let revoked: Value = a
        .post("/api/sessions/revoke-others")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(c.me().await.1["reason"], "revoked_by_user");
    assert_eq!(a.me().await.0, 200);
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn nobody_can_end_someone_elses_session_through_their_own_list() {
    let app = spawn_app().await;
    let (_, alice_pw) = app.add_user("alice", Role::User, None).await;
    let (_, bob_pw) = app.add_user("bob", Role::User, None).await;
    let (alice, bob) = (app.browser(), app.browser());
    alice.login("alice", &alice_pw).await;
    bob.login("bob", &bob_pw).await;
    let bob_id = bob.me().await.1["session"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = alice
        .client
        .delete(app.url(&format!("/api/sessions/{bob_id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(bob.me().await.0, 200);
}

#[tokio::test]
async fn ending_the_current_session_is_a_logout() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    let id = browser.me().await.1["session"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = browser
        .client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.live_sessions(&alice).await, 0);
    assert_eq!(browser.me().await.0, 401);
}

#[tokio::test]
async fn a_password_change_ends_the_others_and_keeps_this_one_under_a_new_cookie() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, phone) = (app.browser(), app.browser());
    let old_cookie =
        cookie_value(&session_set_cookie(&laptop.login("bob", &password).await).expect("cookie"));
    phone.login("bob", &password).await;
    let laptop_id = laptop.me().await.1["session"]["id"].clone();

    let change = |current: &str, new: &str| {
        laptop
            .client
            .post(app.url("/api/auth/password"))
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    let wrong = change("not-it", "a-brand-new-password")
        .await
        .expect("answered");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        wrong.json::<Value>().await.expect("JSON")["error"],
        "invalid_credentials"
    );
    let weak = change(&password, "short").await.expect("answered");
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        weak.json::<Value>().await.expect("JSON")["error"],
        "weak_password"
    );
    assert_eq!(
        app.live_sessions(&bob).await,
        2,
        "failed attempts end nothing"
    );

    let ok = change(&password, "a-brand-new-password")
        .await
        .expect("answered");
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let new_cookie = cookie_value(&session_set_cookie(&ok).expect("a new cookie"));
    assert_ne!(new_cookie, old_cookie);
    assert_eq!(phone.me().await.1["reason"], "password_changed");
    let (status, me) = laptop.me().await;
    assert_eq!(status, 200);
    assert_eq!(me["session"]["id"], laptop_id, "the same session continues");
    assert_eq!(app.live_sessions(&bob).await, 1);
    let stale = app
        .bare()
        .get(app.url("/api/auth/me"))
        .header(
            reqwest::header::COOKIE,
            format!("bouncer_session={old_cookie}"),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(
        stale.status(),
        StatusCode::UNAUTHORIZED,
        "the old cookie id is dead"
    );

    assert_eq!(
        app.browser().login("bob", &password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.browser()
            .login("bob", "a-brand-new-password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_activity_endpoint_moves_the_idle_deadline_and_needs_a_session() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(
            browser.post("/api/auth/activity").await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(browser.me().await.0, 200);
    assert_eq!(
        app.browser().post("/api/auth/activity").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_sweeper_ends_abandoned_sessions_and_forgets_old_tombstones() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    app.clock.advance(Duration::from_secs(40 * 60));
    app.engine.sweep().await.expect("the sweep runs");
    assert_eq!(
        app.live_sessions(&alice).await,
        0,
        "ended without any request"
    );
    assert_eq!(
        browser.me().await.1["reason"],
        "idle_timeout",
        "the tombstone tells why"
    );
    // Past the retention period the tombstone is gone, and so is the reason.
    app.clock.advance(Duration::from_secs(8 * 24 * 60 * 60));
    app.engine.sweep().await.expect("the sweep runs");
    let stale = app.browser();
    let tombstones: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE ended_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .expect("counted");
    assert_eq!(tombstones, 0);
    let log: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
        .fetch_one(&app.pool)
        .await
        .expect("counted");
    assert_eq!(log, 0);
    assert_eq!(stale.me().await.0, 401);
}
