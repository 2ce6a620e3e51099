//! The session limit and logout-everywhere, with exact session counts after
//! every step, and the concurrent-login race.

mod support;

use bouncer_engine::policy::OnLimit;
use bouncer_wire::Role;
use reqwest::StatusCode;
use serde_json::Value;
use support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn alice_on_two_browsers_with_limit_one_keeps_only_the_newest() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let (laptop, phone) = (app.browser(), app.browser());

    assert_eq!(
        laptop.login("alice", &password).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(
        phone.login("alice", &password).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.live_sessions(&alice).await, 1);

    let (status, body) = laptop.me().await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "session_ended");
    assert_eq!(body["reason"], "signed_in_elsewhere");
    assert_eq!(phone.me().await.0, 200);

    // Back on the laptop: it replaces the phone in turn.
    assert_eq!(
        laptop.login("alice", &password).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(phone.me().await.1["reason"], "signed_in_elsewhere");
}

#[tokio::test]
async fn a_per_user_override_lifts_the_limit() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let browsers: Vec<_> = (0..4).map(|_| app.browser()).collect();
    for (n, browser) in browsers.iter().enumerate() {
        assert_eq!(
            browser.login("bob", &password).await.status(),
            StatusCode::OK
        );
        assert_eq!(app.live_sessions(&bob).await, n + 1);
    }
    for browser in &browsers {
        assert_eq!(browser.me().await.0, 200);
    }
}

#[tokio::test]
async fn a_per_user_limit_of_two_replaces_the_oldest() {
    let app = spawn_app().await;
    let (carol, password) = app.add_user("carol", Role::User, Some(2)).await;
    let (a, b, c) = (app.browser(), app.browser(), app.browser());
    a.login("carol", &password).await;
    b.login("carol", &password).await;
    assert_eq!(app.live_sessions(&carol).await, 2);
    c.login("carol", &password).await;
    assert_eq!(app.live_sessions(&carol).await, 2);
    assert_eq!(a.me().await.1["reason"], "signed_in_elsewhere");
    assert_eq!(b.me().await.0, 200);
    assert_eq!(c.me().await.0, 200);
}

#[tokio::test]
async fn refuse_new_answers_409_with_the_sessions_holding_the_slots() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let tv = app.browser();
    let first: Value = tv
        .login("alice", &password)
        .await
        .json()
        .await
        .expect("JSON");

    let phone = app.browser();
    let refused = phone.login("alice", &password).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(support::session_set_cookie(&refused)
        .map(|c| c.contains("Max-Age=0") || c.contains("bouncer_session=;"))
        .unwrap_or(true));
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "session_limit_reached");
    let sessions = body["sessions"].as_array().expect("a list of sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], first["session"]["id"]);
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(tv.me().await.0, 200, "the holder is untouched");
    assert_eq!(phone.me().await.0, 401);

    // The same browser signing in again is not a new device.
    assert_eq!(tv.login("alice", &password).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_everywhere_on_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (a, b, c) = (app.browser(), app.browser(), app.browser());
    for browser in [&a, &b, &c] {
        browser.login("bob", &password).await;
    }
    assert_eq!(app.live_sessions(&bob).await, 3);
    assert_eq!(
        a.post("/api/auth/logout").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.live_sessions(&bob).await, 0);
    assert_eq!(b.me().await.1["reason"], "logged_out_elsewhere");
    assert_eq!(c.me().await.1["reason"], "logged_out_elsewhere");
}

#[tokio::test]
async fn logout_everywhere_off_ends_only_this_session() {
    let app = spawn_app_with(|s| s.logout_everywhere = false).await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (a, b, c) = (app.browser(), app.browser(), app.browser());
    for browser in [&a, &b, &c] {
        browser.login("bob", &password).await;
    }
    assert_eq!(app.live_sessions(&bob).await, 3);
    a.post("/api/auth/logout").await;
    assert_eq!(app.live_sessions(&bob).await, 2);
    assert_eq!(b.me().await.0, 200);
    b.post("/api/auth/logout").await;
    assert_eq!(app.live_sessions(&bob).await, 1);
    assert_eq!(c.me().await.0, 200);
}

#[tokio::test]
async fn fifty_rounds_of_two_simultaneous_logins_leave_exactly_one_session() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    for round in 0..50 {
        let (one, two) = (app.browser(), app.browser());
        let (first, second) =
            tokio::join!(one.login("alice", &password), two.login("alice", &password));
        assert_eq!(first.status(), StatusCode::OK, "round {round}");
        assert_eq!(second.status(), StatusCode::OK, "round {round}");
        assert_eq!(app.live_sessions(&alice).await, 1, "round {round}");
        let live = [one.me().await.0, two.me().await.0];
        assert_eq!(
            live.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {live:?}"
        );
    }
}

#[tokio::test]
async fn a_timed_out_session_holds_no_slot_under_refuse_new() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let laptop = app.browser();
    laptop.login("alice", &password).await;
    // The laptop was closed; nobody made a request since.
    app.clock.advance(std::time::Duration::from_secs(31 * 60));
    let phone = app.browser();
    assert_eq!(
        phone.login("alice", &password).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(laptop.me().await.1["reason"], "idle_timeout");
}

#[tokio::test]
async fn page_loads_are_activity_and_move_the_idle_deadline() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    for _ in 0..3 {
        app.clock.advance(std::time::Duration::from_secs(20 * 60));
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    }
    assert_eq!(
        browser.me().await.0,
        200,
        "an hour of page loads kept it alive"
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_even_an_active_session() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    for _ in 0..36 {
        app.clock.advance(std::time::Duration::from_secs(20 * 60));
        browser.get("/").await;
    }
    let (status, body) = browser.me().await;
    assert_eq!(status, 401);
    assert_eq!(body["reason"], "absolute_timeout");
}

#[tokio::test]
async fn under_refuse_new_a_login_may_end_one_of_the_holders_and_continue() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let (_, bob_pw) = app.add_user("bob", Role::User, None).await;
    let tv = app.browser();
    let held: Value = tv
        .login("alice", &password)
        .await
        .json()
        .await
        .expect("JSON");
    let tv_session = held["session"]["id"].as_str().expect("id").to_owned();
    let bob = app.browser();
    let bob_session: Value = bob.login("bob", &bob_pw).await.json().await.expect("JSON");

    let phone = app.browser();
    let login = |replace: &str| {
        phone
            .client
            .post(app.url("/api/auth/login"))
            .json(&serde_json::json!({"username": "alice", "password": password, "replace_session": replace}))
            .send()
    };
    // Someone else's session is no choice of alice's.
    let refused = login(bob_session["session"]["id"].as_str().expect("id"))
        .await
        .expect("answered");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(bob.me().await.0, 200);
    let admitted = login(&tv_session).await.expect("answered");
    assert_eq!(admitted.status(), StatusCode::OK);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(tv.me().await.1["reason"], "signed_in_elsewhere");
    assert_eq!(phone.me().await.0, 200);
}
