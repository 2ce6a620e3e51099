//! The `bouncer` binary: configuration errors, `migrate`, `user add`,
//! `user revoke` and `sessions list`, against the same database as a
//! running server.

mod support;

use std::{
    ffi::OsStr,
    io::Write,
    os::unix::ffi::OsStrExt,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use bouncer_wire::Role;
use support::spawn_app;

fn bouncer(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args(args)
        .env("BOUNCER_DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("written");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("the binary finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_invalid_setting_stops_start_up_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    for (variable, value) in [
        ("BOUNCER_IDLE_TIMEOUT", OsStr::new("soon")),
        ("BOUNCER_SESSION_LIMIT", OsStr::new("-1")),
        ("BOUNCER_ON_LIMIT", OsStr::new("kick_everyone")),
        ("BOUNCER_LOGOUT_EVERYWHERE", OsStr::new("maybe")),
        ("BOUNCER_ADDR", OsStr::new("not-an-address")),
        ("BOUNCER_PUBLIC_ORIGIN", OsStr::new("ftp://example.com")),
        ("BOUNCER_DATABASE_URL", OsStr::new("mysql://localhost/db")),
        // Not UTF-8: refused, not read with a U+FFFD in it.
        ("BOUNCER_AUTO_LOGOUT_MESSAGE", OsStr::from_bytes(b"caf\xe9")),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .arg("migrate")
            .env("BOUNCER_DATABASE_URL", &url)
            .env(variable, value)
            .output()
            .expect("the binary runs");
        assert!(
            !output.status.success(),
            "{variable}={value:?} must stop start-up"
        );
        let stderr = text(&output.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn migrate_and_user_add_create_a_user_who_can_sign_in() {
    let app = spawn_app().await;
    let url = app.database_url.clone();
    let migrated = bouncer(&url, &["migrate"], None);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));

    let added = bouncer(
        &url,
        &[
            "user",
            "add",
            "dana",
            "--role",
            "staff",
            "--permission",
            "revoke_users",
            "--max-sessions",
            "2",
            "--password-stdin",
        ],
        Some("dana-long-password\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let response = app.browser().login("dana", "dana-long-password").await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["role"], "staff");
    assert_eq!(
        body["user"]["permissions"],
        serde_json::json!(["revoke_users"])
    );
    assert_eq!(body["user"]["max_sessions"], 2);

    let duplicate = bouncer(
        &url,
        &["user", "add", "dana", "--role", "user", "--password-stdin"],
        Some("another-password"),
    );
    assert!(!duplicate.status.success());
    assert!(
        text(&duplicate.stderr).contains("taken"),
        "{}",
        text(&duplicate.stderr)
    );
    let weak = bouncer(
        &url,
        &["user", "add", "erin", "--role", "user", "--password-stdin"],
        Some("short"),
    );
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("at least"),
        "{}",
        text(&weak.stderr)
    );
    let bad_role = bouncer(
        &url,
        &["user", "add", "erin", "--role", "boss", "--password-stdin"],
        Some("long-enough-pw"),
    );
    assert!(!bad_role.status.success());
}

#[tokio::test]
async fn user_revoke_from_another_process_reaches_the_running_server_within_a_second() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;
    assert_eq!(browser.me().await.0, 200);

    let listed = bouncer(
        &app.database_url,
        &["sessions", "list", "--user", "alice"],
        None,
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(text(&listed.stdout).contains("alice"));
    assert!(text(&listed.stdout).contains("Chrome on Linux"));

    let revoked = bouncer(&app.database_url, &["user", "revoke", "alice"], None);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert!(text(&revoked.stdout).contains("Ended 1 session"));
    let started = Instant::now();
    loop {
        let (status, body) = browser.me().await;
        if status == 401 {
            assert_eq!(body["reason"], "admin_revoked");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the server still accepts the revoked session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.live_sessions(&alice).await, 0);
}
