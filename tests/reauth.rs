//! Re-authentication before ending one's own other sessions (ASVS 4.0.3
//! V3.3.4): `DELETE /api/sessions/{id}` for another session,
//! `POST /api/sessions/revoke-others` and the `/account` page's server
//! functions need the password proved within `BOUNCER_REAUTH_WINDOW`;
//! `POST /api/auth/reauthenticate` proves it again. Time moves on the
//! harness's manual clock.

mod support;

use std::time::Duration;

use bouncer_wire::Role;
use leptos::server_fn::ServerFn;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use support::{assert_throttled, spawn_app, spawn_app_with, Browser, TestApp};

/// The default window (`15m`).
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Just past the default window, and well inside the default idle timeout
/// (30 minutes), so no session ends for idleness meanwhile.
const PAST_THE_WINDOW: Duration = Duration::from_secs(15 * 60 + 1);

async fn session_id(browser: &Browser) -> String {
    browser.me().await.1["session"]["id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

async fn end(app: &TestApp, browser: &Browser, id: &str) -> reqwest::Response {
    browser
        .client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .send()
        .await
        .expect("answered")
}

async fn reauthenticate(app: &TestApp, browser: &Browser, password: &str) -> reqwest::Response {
    browser
        .client
        .post(app.url("/api/auth/reauthenticate"))
        .json(&json!({ "password": password }))
        .send()
        .await
        .expect("answered")
}

/// Asserts a 403 `reauthentication_required` in the API's error shape.
async fn assert_reauthentication_required(response: reqwest::Response, call: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{call}");
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"], "reauthentication_required", "{call}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{call}: a message for a person"
    );
}

#[tokio::test]
async fn other_sessions_end_within_the_window_and_need_the_password_after_it() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let (tablet, _) = app.signed_in("bob", &password).await;
    let (phone_id, tablet_id) = (session_id(&phone).await, session_id(&tablet).await);

    // Right after signing in: no password needed.
    assert_eq!(
        end(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(phone.me().await.1["reason"], "revoked_by_user");

    app.clock.advance(PAST_THE_WINDOW);
    assert_reauthentication_required(end(&app, &laptop, &tablet_id).await, "DELETE").await;
    assert_reauthentication_required(
        laptop.post("/api/sessions/revoke-others").await,
        "revoke-others",
    )
    .await;
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");
    assert_eq!(tablet.me().await.0, 200);
    assert_eq!(laptop.me().await.0, 200, "the caller stays signed in");

    // A wrong password changes nothing.
    let wrong = reauthenticate(&app, &laptop, "not-bobs-password").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body: Value = wrong.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_credentials");
    assert_reauthentication_required(end(&app, &laptop, &tablet_id).await, "DELETE").await;

    let right = reauthenticate(&app, &laptop, &password).await;
    assert_eq!(right.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        end(&app, &laptop, &tablet_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(tablet.me().await.1["reason"], "revoked_by_user");
    let (watch, _) = app.signed_in("bob", &password).await;
    let revoked: Value = laptop
        .post("/api/sessions/revoke-others")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(watch.me().await.1["reason"], "revoked_by_user");
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn the_window_includes_its_last_moment() {
    let app = spawn_app_with(|s| s.reauth_window = Some(Duration::from_secs(60))).await;
    let (_, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let (tablet, _) = app.signed_in("bob", &password).await;
    let phone_id = session_id(&phone).await;
    let tablet_id = session_id(&tablet).await;

    app.clock.advance(Duration::from_secs(60));
    assert_eq!(
        end(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT,
        "exactly the window after signing in"
    );
    app.clock.advance(Duration::from_millis(1));
    assert_reauthentication_required(end(&app, &laptop, &tablet_id).await, "DELETE").await;
}

#[tokio::test]
async fn ending_the_current_session_never_needs_the_password() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let laptop_id = session_id(&laptop).await;

    app.clock.advance(PAST_THE_WINDOW);
    assert_eq!(
        end(&app, &laptop, &laptop_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(laptop.me().await.0, 401, "signed out");
    // A logout: with logout-everywhere on (the default) the phone ends too.
    assert_eq!(phone.me().await.1["reason"], "logged_out_elsewhere");
    assert_eq!(app.live_sessions(&bob).await, 0);

    let (laptop, _) = app.signed_in("bob", &password).await;
    app.clock.advance(PAST_THE_WINDOW);
    assert_eq!(
        laptop.post("/api/auth/logout").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(laptop.me().await.0, 401);
}

#[tokio::test]
async fn off_disables_the_requirement() {
    // No idle timeout either, so the other sessions outlive the long wait.
    let app = spawn_app_with(|s| {
        s.reauth_window = None;
        s.idle_timeout = None;
    })
    .await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let (_, _) = app.signed_in("bob", &password).await;
    let phone_id = session_id(&phone).await;

    app.clock.advance(Duration::from_secs(2 * 60 * 60));
    assert_eq!(
        end(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT
    );
    let revoked: Value = laptop
        .post("/api/sessions/revoke-others")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn a_continued_login_and_a_password_change_start_the_window_again() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let laptop_id = session_id(&laptop).await;
    let (_, _) = app.signed_in("bob", &password).await;

    app.clock.advance(PAST_THE_WINDOW);
    assert_reauthentication_required(
        laptop.post("/api/sessions/revoke-others").await,
        "before the login",
    )
    .await;
    // Signing in again in the same browser continues the session...
    assert_eq!(
        laptop.login("bob", &password).await.status(),
        StatusCode::OK
    );
    assert_eq!(session_id(&laptop).await, laptop_id, "the same session");
    // ...and counts as proving the password.
    let revoked: Value = laptop
        .post("/api/sessions/revoke-others")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(revoked, json!({"revoked": 1}));

    let (phone, _) = app.signed_in("bob", &password).await;
    app.clock.advance(PAST_THE_WINDOW);
    assert_reauthentication_required(
        laptop.post("/api/sessions/revoke-others").await,
        "before the change",
    )
    .await;
    let changed = laptop
        .client
        .post(app.url("/api/auth/password"))
        .json(&json!({"current_password": password, "new_password": "bobs-new-password"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(phone.me().await.1["reason"], "password_changed");
    let (phone, _) = app.signed_in("bob", "bobs-new-password").await;
    let phone_id = session_id(&phone).await;
    assert_eq!(
        end(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT,
        "the password change proved the password"
    );
    assert_eq!(app.live_sessions(&bob).await, 1);
}

/// Wrong passwords at `POST /api/auth/reauthenticate` count in the login
/// throttle, the same counter as sign-in and the password change.
#[tokio::test]
async fn wrong_passwords_are_throttled_like_sign_in() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    app.clock.advance(PAST_THE_WINDOW);

    for attempt in 0..5 {
        let wrong = reauthenticate(&app, &laptop, "guess").await;
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "attempt {attempt}");
    }
    let retry_after = assert_throttled(reauthenticate(&app, &laptop, &password).await).await;
    // One counter: signing in as bob from this address is throttled too.
    let login = app.browser().login("bob", &password).await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_reauthentication_required(
        laptop.post("/api/sessions/revoke-others").await,
        "still not re-authenticated",
    )
    .await;
    assert_eq!(phone.me().await.0, 200);
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");

    // Keep both sessions alive through the wait (idle timeout: 30 minutes).
    app.clock.advance(Duration::from_secs(retry_after / 2));
    assert_eq!(laptop.post("/api/auth/activity").await.status(), 204);
    app.clock
        .advance(Duration::from_secs(retry_after - retry_after / 2));
    assert_eq!(
        reauthenticate(&app, &laptop, &password).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        laptop.post("/api/sessions/revoke-others").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reauthenticate_needs_a_session_and_a_well_formed_body() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("bob", Role::User, None).await;
    let anonymous = app.browser();
    let response = reauthenticate(&app, &anonymous, &password).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "unauthenticated");

    let (laptop, _) = app.signed_in("bob", &password).await;
    for body in ["{\"pass\": \"x\"}", "not json", "{\"password\": 5}"] {
        let response = laptop
            .client
            .post(app.url("/api/auth/reauthenticate"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let json: Value = response.json().await.expect("JSON");
        assert_eq!(json["error"], "bad_request", "{body}");
    }
}

/// The proof is read from the database, not the node's memory: a window
/// started through one engine holds for a check made by another on the same
/// database (here, the proof written straight to the stored row).
#[tokio::test]
async fn the_proof_is_read_from_the_database() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, _) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let laptop_id = session_id(&laptop).await;
    let phone_id = session_id(&phone).await;
    app.clock.advance(PAST_THE_WINDOW);
    assert_reauthentication_required(end(&app, &laptop, &phone_id).await, "DELETE").await;

    // As another node would record a re-authentication.
    let id = bouncer_engine::ids::SessionId::parse(&laptop_id).expect("an id");
    let sessions = bouncer_engine::sessions::Sessions::new(app.pool.clone());
    assert!(sessions
        .mark_authenticated(&id, app.engine.now())
        .await
        .expect("written"));
    assert_eq!(
        end(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// The `/account` page's server functions follow the same rule: its
/// "Sign out all other devices" and "Sign out this device" answer with the
/// sentence the page recognises, and its re-authentication unlocks them.
#[tokio::test]
async fn the_account_page_server_functions_ask_for_the_password_too() {
    let app = spawn_app().await;
    let (bob, password) = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, cookie) = app.signed_in("bob", &password).await;
    let (phone, _) = app.signed_in("bob", &password).await;
    let phone_id = session_id(&phone).await;
    let call = |path: &'static str, form: String| {
        app.bare()
            .post(app.url(path))
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let end_others = <app::server::EndOtherSessions as ServerFn>::PATH;
    let end_one = <app::server::EndMySession as ServerFn>::PATH;
    let reauth = <app::server::Reauthenticate as ServerFn>::PATH;

    app.clock.advance(PAST_THE_WINDOW);
    for (path, form) in [
        (end_others, String::new()),
        (end_one, format!("id={phone_id}")),
    ] {
        let refused = call(path, form).await.expect("answered");
        assert!(!refused.status().is_success(), "{path}");
        let text = refused.text().await.expect("a body");
        assert!(
            text.contains(app::server::REAUTHENTICATION_REQUIRED),
            "{path}: {text}"
        );
    }
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");

    let wrong = call(reauth, "password=guess".to_owned())
        .await
        .expect("answered");
    assert!(!wrong.status().is_success());
    assert!(wrong
        .text()
        .await
        .expect("a body")
        .contains("The password is not correct."));
    let form = format!("password={}", urlencoding(&password));
    let right = call(reauth, form).await.expect("answered");
    assert!(right.status().is_success(), "{}", right.status());
    let ended = call(end_one, format!("id={phone_id}"))
        .await
        .expect("answered");
    assert!(ended.status().is_success(), "{}", ended.status());
    assert_eq!(phone.me().await.1["reason"], "revoked_by_user");
    assert_eq!(laptop.me().await.0, 200);
}

/// The test passwords are `name-correct-horse`: only `-` needs no escaping,
/// but escape anything outside the unreserved set to stay honest.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_default_window_is_fifteen_minutes() {
    assert_eq!(
        bouncer::config::Settings::default().reauth_window,
        Some(WINDOW)
    );
}
