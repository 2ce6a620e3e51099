//! `GET /api/ws` against the real server: who may connect, what each tab is
//! told, and that only the affected session's tabs hear of an ending.

mod support;

use std::time::{Duration, Instant};

use bouncer_engine::policy::OnLimit;
use bouncer_wire::{Permission, Role};
use futures_util::SinkExt;
use serde_json::{json, Value};
use support::{close_code, next_json, spawn_app, spawn_app_with, Socket};
use tokio_tungstenite::tungstenite::{self, Message};

const WAIT: Duration = Duration::from_secs(2);

/// The next message other than `sessions_changed` (tabs coming online
/// announce themselves to the user's other tabs).
async fn next_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = next_json(socket, wait).await?;
        if message["type"] != "sessions_changed" {
            return Some(message);
        }
    }
}

/// Connects and reads the `hello`.
async fn tab(app: &support::TestApp, cookie: &str) -> (Socket, Value) {
    let mut socket = app
        .connect(Some(cookie), Some(&app.address))
        .await
        .expect("the socket opens");
    let hello = next_json(&mut socket, WAIT).await.expect("a hello");
    assert_eq!(hello["type"], "hello", "hello comes first");
    (socket, hello)
}

/// Reads until a `session_ended`, then expects the 4001 close.
async fn ended(socket: &mut Socket) -> Value {
    loop {
        let message = next_event(socket, WAIT)
            .await
            .expect("a session_ended message");
        if message["type"] == "session_ended" {
            assert_eq!(
                close_code(socket, WAIT).await,
                Some(4001),
                "closed with 4001"
            );
            return message;
        }
    }
}

async fn quiet(socket: &mut Socket) -> bool {
    match next_event(socket, Duration::from_millis(300)).await {
        None => true,
        Some(message) => message["type"] == "sessions_changed",
    }
}

#[tokio::test]
async fn the_upgrade_needs_a_live_session_and_our_origin() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let status_of = |result: Result<Socket, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => 101,
    };
    assert_eq!(status_of(app.connect(None, None).await), 401);
    assert_eq!(
        status_of(app.connect(Some("bouncer_session=garbage"), None).await),
        401
    );
    assert_eq!(
        status_of(
            app.connect(Some(&cookie), Some("https://evil.example"))
                .await
        ),
        403
    );
    assert_eq!(
        status_of(app.connect(Some(&cookie), None).await),
        101,
        "non-browser clients send no Origin"
    );

    let (_, hello) = tab(&app, &cookie).await;
    assert_eq!(hello["session"]["username"], "alice");
    assert_eq!(hello["session"]["current"], true);
    assert_eq!(hello["session"]["online_tabs"], 1);
}

#[tokio::test]
async fn an_admin_revoke_reaches_every_tab_of_that_session_and_no_other() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, bob_pw) = app.add_user("bob", Role::User, None).await;
    let (_, root_pw) = app.add_user("root", Role::Admin, None).await;
    let (alice, cookie) = app.signed_in("alice", &password).await;
    let (_, bob_cookie) = app.signed_in("bob", &bob_pw).await;
    let (root, _) = app.signed_in("root", &root_pw).await;
    let (mut first, hello) = tab(&app, &cookie).await;
    let (mut second, _) = tab(&app, &cookie).await;
    let (mut bobs, _) = tab(&app, &bob_cookie).await;
    let session_id = hello["session"]["id"].as_str().expect("an id").to_owned();
    let listed: Vec<Value> = root
        .get(&format!(
            "/api/admin/sessions?user_id={}",
            hello["session"]["user_id"].as_str().unwrap_or_default()
        ))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed[0]["online_tabs"], 2);

    let started = Instant::now();
    let response = root
        .client
        .delete(app.url(&format!("/api/admin/sessions/{session_id}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    for socket in [&mut first, &mut second] {
        let message = ended(socket).await;
        assert_eq!(message["reason"], "admin_revoked");
        assert_eq!(message["message"], "An administrator ended your session.");
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        quiet(&mut bobs).await,
        "bob's tab hears nothing about alice"
    );
    assert_eq!(alice.me().await.1["reason"], "admin_revoked");

    let audit: Vec<Value> = root
        .get("/api/admin/audit?limit=1")
        .await
        .json()
        .await
        .expect("JSON");
    let mut told = audit[0]["tabs_notified"].as_u64().unwrap_or(0);
    for _ in 0..20 {
        if told == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let audit: Vec<Value> = root
            .get("/api/admin/audit?limit=1")
            .await
            .json()
            .await
            .expect("JSON");
        told = audit[0]["tabs_notified"].as_u64().unwrap_or(0);
    }
    assert_eq!(told, 2, "the audit log counts the tabs told");
}

#[tokio::test]
async fn each_trigger_pushes_its_reason() {
    let app = spawn_app().await;
    let (_, alice_pw) = app.add_user("alice", Role::User, None).await;
    let (bob, bob_pw) = app.add_user("bob", Role::User, Some(0)).await;
    let (_, root_pw) = app
        .add_user_with("root", Role::Admin, &[Permission::RevokeAdmins], None)
        .await;
    let (root, _) = app.signed_in("root", &root_pw).await;

    // signed_in_elsewhere, with where the new sign-in came from.
    let (_, cookie) = app.signed_in("alice", &alice_pw).await;
    let (mut socket, _) = tab(&app, &cookie).await;
    app.signed_in("alice", &alice_pw).await;
    let message = ended(&mut socket).await;
    assert_eq!(message["reason"], "signed_in_elsewhere");
    assert_eq!(message["detail"]["device"], "Chrome on Linux");
    assert_eq!(message["detail"]["ip"], "127.0.0.1");
    assert!(message["detail"]["at"]
        .as_str()
        .is_some_and(|at| at.ends_with('Z')));

    // logged_out to the same session's other tabs, logged_out_elsewhere to the rest.
    let (laptop, laptop_cookie) = app.signed_in("bob", &bob_pw).await;
    let (_, phone_cookie) = app.signed_in("bob", &bob_pw).await;
    let (mut laptop_tab, _) = tab(&app, &laptop_cookie).await;
    let (mut phone_tab, _) = tab(&app, &phone_cookie).await;
    laptop.post("/api/auth/logout").await;
    assert_eq!(ended(&mut laptop_tab).await["reason"], "logged_out");
    assert_eq!(
        ended(&mut phone_tab).await["reason"],
        "logged_out_elsewhere"
    );

    // revoked_by_user.
    let (laptop, _) = app.signed_in("bob", &bob_pw).await;
    let (_, phone_cookie) = app.signed_in("bob", &bob_pw).await;
    let (mut phone_tab, _) = tab(&app, &phone_cookie).await;
    laptop.post("/api/sessions/revoke-others").await;
    assert_eq!(ended(&mut phone_tab).await["reason"], "revoked_by_user");

    // password_changed.
    let (_, phone_cookie) = app.signed_in("bob", &bob_pw).await;
    let (mut phone_tab, _) = tab(&app, &phone_cookie).await;
    let changed = laptop
        .client
        .post(app.url("/api/auth/password"))
        .json(&json!({"current_password": bob_pw, "new_password": "bob-new-password"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(changed.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(ended(&mut phone_tab).await["reason"], "password_changed");

    // deactivated.
    let (_, laptop_cookie) = app.signed_in("bob", "bob-new-password").await;
    let (mut laptop_tab, _) = tab(&app, &laptop_cookie).await;
    root.client
        .patch(app.url(&format!("/api/admin/users/{}", bob.id)))
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("answered");
    assert_eq!(ended(&mut laptop_tab).await["reason"], "deactivated");
}

#[tokio::test]
async fn timeouts_end_open_tabs_with_no_request_and_warn_first() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let (mut one, _) = tab(&app, &cookie).await;
    let (mut two, _) = tab(&app, &cookie).await;

    app.clock.advance(Duration::from_secs(29 * 60 + 30));
    for socket in [&mut one, &mut two] {
        let warning = next_event(socket, WAIT).await.expect("an idle warning");
        assert_eq!(warning["type"], "idle_warning");
        assert_eq!(warning["seconds_left"], 30);
    }
    // Activity in one tab clears the warning in both.
    one.send(Message::Text(r#"{"type":"activity"}"#.into()))
        .await
        .expect("sent");
    for socket in [&mut one, &mut two] {
        let extended = next_event(socket, WAIT).await.expect("extended");
        assert_eq!(extended["type"], "extended");
        assert!(extended["idle_expires_at"].as_str().is_some());
    }
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        next_event(&mut one, WAIT).await.expect("warned again")["type"],
        "idle_warning"
    );
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(ended(&mut one).await["reason"], "idle_timeout");
    let message = ended(&mut two).await;
    assert_eq!(message["reason"], "idle_timeout");
    assert_eq!(
        message["message"],
        "Your session has expired. Please sign in again."
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_an_active_tab() {
    let app = spawn_app_with(|s| {
        s.idle_timeout = None;
        s.absolute_timeout = Some(Duration::from_secs(3600));
        s.auto_logout_message = "Time is up.".into();
    })
    .await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let (mut socket, _) = tab(&app, &cookie).await;
    app.clock.advance(Duration::from_secs(3601));
    let message = ended(&mut socket).await;
    assert_eq!(message["reason"], "absolute_timeout");
    assert_eq!(message["message"], "Time is up.");
}

#[tokio::test]
async fn bad_messages_get_an_error_and_oversized_frames_close_1009() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let (mut socket, _) = tab(&app, &cookie).await;
    for bad in [
        r#"{"type":"revoke","session":"s_x"}"#,
        "not json",
        r#"{"type":"extend"}"#,
        // Not the object form: serde alone would take it as activity.
        r#"["activity"]"#,
    ] {
        socket.send(Message::Text(bad.into())).await.expect("sent");
        let reply = next_event(&mut socket, WAIT).await.expect("a reply");
        assert_eq!(
            reply,
            json!({"type": "error", "error": "bad_message"}),
            "{bad}"
        );
    }
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("sent");
    assert_eq!(
        next_event(&mut socket, WAIT).await.expect("a reply")["error"],
        "bad_message"
    );
    socket
        .send(Message::Text(r#"{"type":"activity"}"#.into()))
        .await
        .expect("still open");
    assert_eq!(
        next_event(&mut socket, WAIT).await.expect("extended")["type"],
        "extended"
    );

    socket
        .send(Message::Text("x".repeat(5000).into()))
        .await
        .expect("sent");
    assert_eq!(close_code(&mut socket, WAIT).await, Some(1009));
}

#[tokio::test]
async fn a_refused_login_under_refuse_new_disturbs_no_tab() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let (mut socket, _) = tab(&app, &cookie).await;
    let refused = app.browser().login("alice", &password).await;
    assert_eq!(refused.status(), reqwest::StatusCode::CONFLICT);
    assert!(quiet(&mut socket).await);
}

#[tokio::test]
async fn a_revoke_from_the_command_line_in_another_process_reaches_an_open_socket() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (_, cookie) = app.signed_in("alice", &password).await;
    let (mut socket, _) = tab(&app, &cookie).await;
    let started = Instant::now();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args(["user", "revoke", "alice"])
        .env("BOUNCER_DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("the command runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let revoked_at = Instant::now();
    let message = ended(&mut socket).await;
    assert_eq!(message["reason"], "admin_revoked");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "told {:?} after the command finished",
        revoked_at.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn tabs_coming_and_going_are_announced_and_counted() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (browser, cookie) = app.signed_in("alice", &password).await;
    let (mut first, _) = tab(&app, &cookie).await;
    let online = |browser: support::Browser| async move {
        let sessions: Vec<Value> = browser
            .get("/api/sessions")
            .await
            .json()
            .await
            .expect("JSON");
        sessions[0]["online_tabs"].as_u64()
    };
    assert_eq!(online(browser.clone()).await, Some(1));
    let (second, _) = tab(&app, &cookie).await;
    assert_eq!(
        next_json(&mut first, WAIT).await.expect("announced")["type"],
        "sessions_changed"
    );
    assert_eq!(online(browser.clone()).await, Some(2));
    drop(second);
    assert_eq!(
        next_json(&mut first, WAIT).await.expect("announced")["type"],
        "sessions_changed"
    );
    assert_eq!(online(browser.clone()).await, Some(1));
}
