//! `GET /api/ws` against the real server: who may connect, what each tab is
//! told, and that only the affected session's tabs hear of an ending.

use std::time::{Duration, Instant};

use bouncer_engine::policy::OnLimit;
use bouncer_wire::{Permission, Reason, Role, ServerMessage, UserPatch};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    bouncer, spawn_app, spawn_app_with, text, upgrade_status, Browser, Tab, WAIT,
};

/// Whether the tab hears nothing but announcements for a while.
async fn quiet(tab: &mut Tab) -> bool {
    tab.next_event(Duration::from_millis(300)).await.is_none()
}

#[tokio::test]
async fn the_upgrade_needs_a_live_session_and_our_origin() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, cookie) = app.signed_in(&alice).await;
    assert_eq!(upgrade_status(&app.connect(None, None).await), 401);
    assert_eq!(
        upgrade_status(&app.connect(Some("bouncer_session=garbage"), None).await),
        401
    );
    assert_eq!(
        upgrade_status(
            &app.connect(Some(&cookie), Some("https://evil.example"))
                .await
        ),
        403
    );
    assert_eq!(
        upgrade_status(&app.connect(Some(&cookie), None).await),
        101,
        "non-browser clients send no Origin"
    );

    let (_, hello) = browser.open_tab().await;
    assert_eq!(hello.username, "alice");
    assert!(hello.current);
    assert_eq!(hello.online_tabs, 1);
}

#[tokio::test]
async fn an_admin_revoke_reaches_every_tab_of_that_session_and_no_other() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let bob = app.add_user("bob", Role::User, None).await;
    let root = app.add_user("root", Role::Admin, None).await;
    let [alices] = app.devices(&alice).await;
    let [bobs] = app.devices(&bob).await;
    let [roots] = app.devices(&root).await;
    let (mut first, hello) = alices.open_tab().await;
    let (mut second, _) = alices.open_tab().await;
    let (mut bobs_tab, _) = bobs.open_tab().await;
    let listed = roots
        .admin_sessions(Some(&hello.user_id))
        .await
        .expect("alice's sessions");
    assert_eq!(listed[0].online_tabs, 2);

    let started = Instant::now();
    let response = roots.admin_end_session(&hello.id).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    for tab in [&mut first, &mut second] {
        let ended = tab.ended(WAIT).await;
        assert_eq!(ended.reason, Reason::AdminRevoked);
        assert_eq!(ended.message, "An administrator ended your session.");
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        quiet(&mut bobs_tab).await,
        "bob's tab hears nothing about alice"
    );
    assert_eq!(alices.end_reason().await, Some(Reason::AdminRevoked));

    let tabs_notified = |roots: Browser| async move {
        let audit = roots.audit(1).await.expect("the audit log");
        audit[0].tabs_notified
    };
    let mut told = tabs_notified(roots.clone()).await;
    for _ in 0..20 {
        if told == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        told = tabs_notified(roots.clone()).await;
    }
    assert_eq!(told, 2, "the audit log counts the tabs told");
}

#[tokio::test]
async fn each_trigger_pushes_its_reason() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let root = app
        .add_user_with("root", Role::Admin, &[Permission::RevokeAdmins], None)
        .await;
    let [roots] = app.devices(&root).await;

    // signed_in_elsewhere, with where the new sign-in came from.
    let [alices] = app.devices(&alice).await;
    let (mut tab, _) = alices.open_tab().await;
    app.signed_in(&alice).await;
    let ended = tab.ended(WAIT).await;
    assert_eq!(ended.reason, Reason::SignedInElsewhere);
    assert_eq!(ended.detail["device"], "Chrome on Linux");
    assert_eq!(ended.detail["ip"], "127.0.0.1");
    assert!(ended.detail["at"]
        .as_str()
        .is_some_and(|at| at.ends_with('Z')));

    // logged_out to the same session's other tabs, logged_out_elsewhere to the rest.
    let [laptop, phone] = app.devices(&bob).await;
    let (mut laptop_tab, _) = laptop.open_tab().await;
    let (mut phone_tab, _) = phone.open_tab().await;
    laptop.logout().await;
    assert_eq!(laptop_tab.ended(WAIT).await.reason, Reason::LoggedOut);
    assert_eq!(
        phone_tab.ended(WAIT).await.reason,
        Reason::LoggedOutElsewhere
    );

    // revoked_by_user.
    let [laptop, phone] = app.devices(&bob).await;
    let (mut phone_tab, _) = phone.open_tab().await;
    laptop.revoke_others().await;
    assert_eq!(phone_tab.ended(WAIT).await.reason, Reason::RevokedByUser);

    // password_changed.
    let [phone] = app.devices(&bob).await;
    let (mut phone_tab, _) = phone.open_tab().await;
    let changed = laptop
        .change_password(&bob.password, "bob-new-password")
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert_eq!(phone_tab.ended(WAIT).await.reason, Reason::PasswordChanged);

    // deactivated.
    let [laptop] = app.devices(&bob.with_password("bob-new-password")).await;
    let (mut laptop_tab, _) = laptop.open_tab().await;
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    roots.patch_user(&bob.id, &deactivate).await;
    assert_eq!(laptop_tab.ended(WAIT).await.reason, Reason::Deactivated);
}

#[tokio::test]
async fn timeouts_end_open_tabs_with_no_request_and_warn_first() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let (mut one, _) = browser.open_tab().await;
    let (mut two, _) = browser.open_tab().await;

    app.advance_clock(Duration::from_secs(29 * 60 + 30));
    for tab in [&mut one, &mut two] {
        match tab.next_event(WAIT).await {
            Some(ServerMessage::IdleWarning { seconds_left, .. }) => assert_eq!(seconds_left, 30),
            other => panic!("an idle warning, not {other:?}"),
        }
    }
    // Activity in one tab clears the warning in both.
    one.send_text(r#"{"type":"activity"}"#).await;
    for tab in [&mut one, &mut two] {
        assert!(
            matches!(
                tab.next_event(WAIT).await,
                Some(ServerMessage::Extended { .. })
            ),
            "extended"
        );
    }
    app.advance_clock(Duration::from_secs(29 * 60));
    assert!(
        matches!(
            one.next_event(WAIT).await,
            Some(ServerMessage::IdleWarning { .. })
        ),
        "warned again"
    );
    app.advance_clock(Duration::from_secs(61));
    assert_eq!(one.ended(WAIT).await.reason, Reason::IdleTimeout);
    let ended = two.ended(WAIT).await;
    assert_eq!(ended.reason, Reason::IdleTimeout);
    assert_eq!(
        ended.message,
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
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let (mut tab, _) = browser.open_tab().await;
    app.advance_clock(Duration::from_secs(3601));
    let ended = tab.ended(WAIT).await;
    assert_eq!(ended.reason, Reason::AbsoluteTimeout);
    assert_eq!(ended.message, "Time is up.");
}

#[tokio::test]
async fn bad_messages_get_an_error_and_oversized_frames_close_1009() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let (mut tab, _) = browser.open_tab().await;
    let bad_message = ServerMessage::Error {
        error: "bad_message".into(),
    };
    for bad in [
        r#"{"type":"revoke","session":"s_x"}"#,
        "not json",
        r#"{"type":"extend"}"#,
        // Not the object form: serde alone would take it as activity.
        r#"["activity"]"#,
    ] {
        tab.send_text(bad).await;
        let reply = tab.next_event(WAIT).await.expect("a reply");
        assert_eq!(reply, bad_message, "{bad}");
    }
    tab.send(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(tab.next_event(WAIT).await.expect("a reply"), bad_message);
    tab.send_text(r#"{"type":"activity"}"#).await;
    assert!(
        matches!(
            tab.next_event(WAIT).await,
            Some(ServerMessage::Extended { .. })
        ),
        "extended"
    );

    tab.send_text(&"x".repeat(5000)).await;
    assert_eq!(tab.close_code(WAIT).await, Some(1009));
}

#[tokio::test]
async fn a_refused_login_under_refuse_new_disturbs_no_tab() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    let (mut tab, _) = browser.open_tab().await;
    let refused = app.browser().login(&alice).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(quiet(&mut tab).await);
}

#[tokio::test]
async fn a_revoke_from_the_command_line_in_another_process_reaches_an_open_socket() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let (mut tab, _) = browser.open_tab().await;
    let started = Instant::now();
    let output = bouncer(&app.database_url, &["user", "revoke", "alice"], None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let revoked_at = Instant::now();
    assert_eq!(tab.ended(WAIT).await.reason, Reason::AdminRevoked);
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
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let (mut first, _) = browser.open_tab().await;
    let online = |browser: Browser| async move {
        let sessions = browser.sessions().await.expect("alice's sessions");
        sessions[0].online_tabs
    };
    assert_eq!(online(browser.clone()).await, 1);
    let (second, _) = browser.open_tab().await;
    assert_eq!(
        first.next_message(WAIT).await.expect("announced"),
        ServerMessage::SessionsChanged
    );
    assert_eq!(online(browser.clone()).await, 2);
    drop(second);
    assert_eq!(
        first.next_message(WAIT).await.expect("announced"),
        ServerMessage::SessionsChanged
    );
    assert_eq!(online(browser.clone()).await, 1);
}
