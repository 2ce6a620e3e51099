//! The session limit and logout-everywhere, with exact session counts after
//! every step, and the concurrent-login race.

use std::time::Duration;

use bouncer_engine::policy::OnLimit;
use bouncer_wire::{Reason, Role};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn alice_on_two_browsers_with_limit_one_keeps_only_the_newest() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (laptop, phone) = (app.browser(), app.browser());

    assert_eq!(laptop.login(&alice).await.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(phone.login(&alice).await.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&alice).await, 1);

    let me = laptop.me().await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.error(), Some("session_ended"));
    assert_eq!(me.reason(), Some(Reason::SignedInElsewhere));
    assert_eq!(phone.me().await.status, StatusCode::OK);

    // Back on the laptop: it replaces the phone in turn.
    assert_eq!(laptop.login(&alice).await.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(phone.end_reason().await, Some(Reason::SignedInElsewhere));
}

#[tokio::test]
async fn a_per_user_override_lifts_the_limit() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let browsers: Vec<_> = (0..4).map(|_| app.browser()).collect();
    for (n, browser) in browsers.iter().enumerate() {
        assert_eq!(browser.login(&bob).await.status, StatusCode::OK);
        assert_eq!(app.live_sessions(&bob).await, n + 1);
    }
    for browser in &browsers {
        assert_eq!(browser.me().await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_per_user_limit_of_two_replaces_the_oldest() {
    let app = spawn_app().await;
    let (carol, [a, b]) = app.signed_in_user("carol", Some(2)).await;
    assert_eq!(app.live_sessions(&carol).await, 2);
    let [c] = app.devices(&carol).await;
    assert_eq!(app.live_sessions(&carol).await, 2);
    assert_eq!(a.end_reason().await, Some(Reason::SignedInElsewhere));
    assert_eq!(b.me().await.status, StatusCode::OK);
    assert_eq!(c.me().await.status, StatusCode::OK);
}

#[tokio::test]
async fn refuse_new_answers_409_with_the_sessions_holding_the_slots() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let alice = app.add_user("alice", Role::User, None).await;
    let tv = app.browser();
    let first = tv.login(&alice).await.expect("the tv signs in");

    let phone = app.browser();
    let refused = phone.login(&alice).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused
        .set_cookie()
        .map(|c| c.contains("Max-Age=0") || c.contains("bouncer_session=;"))
        .unwrap_or(true));
    let refusal = refused.refusal();
    assert_eq!(refusal.error, "session_limit_reached");
    let sessions = refusal.sessions.expect("a list of sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, first.session.id);
    assert!(!sessions[0].current);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(
        tv.me().await.status,
        StatusCode::OK,
        "the holder is untouched"
    );
    assert_eq!(phone.me().await.status, StatusCode::UNAUTHORIZED);

    // The same browser signing in again is not a new device.
    assert_eq!(tv.login(&alice).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_everywhere_on_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let (bob, [a, b, c]) = app.signed_in_user("bob", Some(0)).await;
    assert_eq!(app.live_sessions(&bob).await, 3);
    assert_eq!(a.logout().await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.live_sessions(&bob).await, 0);
    assert_eq!(b.end_reason().await, Some(Reason::LoggedOutElsewhere));
    assert_eq!(c.end_reason().await, Some(Reason::LoggedOutElsewhere));
}

#[tokio::test]
async fn logout_everywhere_off_ends_only_this_session() {
    let app = spawn_app_with(|s| s.logout_everywhere = false).await;
    let (bob, [a, b, c]) = app.signed_in_user("bob", Some(0)).await;
    assert_eq!(app.live_sessions(&bob).await, 3);
    a.logout().await;
    assert_eq!(app.live_sessions(&bob).await, 2);
    assert_eq!(b.me().await.status, StatusCode::OK);
    b.logout().await;
    assert_eq!(app.live_sessions(&bob).await, 1);
    assert_eq!(c.me().await.status, StatusCode::OK);
}

#[tokio::test]
async fn fifty_rounds_of_two_simultaneous_logins_leave_exactly_one_session() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    for round in 0..50 {
        let (one, two) = (app.browser(), app.browser());
        let (first, second) = tokio::join!(one.login(&alice), two.login(&alice));
        assert_eq!(first.status, StatusCode::OK, "round {round}");
        assert_eq!(second.status, StatusCode::OK, "round {round}");
        assert_eq!(app.live_sessions(&alice).await, 1, "round {round}");
        let live = [one.me().await.status, two.me().await.status];
        assert_eq!(
            live.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: {live:?}"
        );
    }
}

#[tokio::test]
async fn a_timed_out_session_holds_no_slot_under_refuse_new() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let (alice, [laptop]) = app.signed_in_user("alice", None).await;
    // The laptop was closed; nobody made a request since.
    app.advance_clock(Duration::from_secs(31 * 60));
    app.signed_in(&alice).await;
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(laptop.end_reason().await, Some(Reason::IdleTimeout));
}

#[tokio::test]
async fn page_loads_are_activity_and_move_the_idle_deadline() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    app.every_twenty_minutes(3, async || {
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    })
    .await;
    assert_eq!(
        browser.me().await.status,
        StatusCode::OK,
        "an hour of page loads kept it alive"
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_even_an_active_session() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    // Twelve hours of page loads.
    app.every_twenty_minutes(36, async || {
        browser.get("/").await;
    })
    .await;
    let me = browser.me().await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.reason(), Some(Reason::AbsoluteTimeout));
}

#[tokio::test]
async fn under_refuse_new_a_login_may_end_one_of_the_holders_and_continue() {
    let app = spawn_app_with(|s| s.on_limit = OnLimit::RefuseNew).await;
    let alice = app.add_user("alice", Role::User, None).await;
    let bob = app.add_user("bob", Role::User, None).await;
    let tv = app.browser();
    let tv_session = tv.login(&alice).await.expect("the tv signs in").session.id;
    let bobs = app.browser();
    let bob_session = bobs.login(&bob).await.expect("bob signs in").session.id;

    let phone = app.browser();
    // Someone else's session is no choice of alice's.
    let refused = phone.login_replacing(&alice, &bob_session).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(bobs.me().await.status, StatusCode::OK);
    let admitted = phone.login_replacing(&alice, &tv_session).await;
    assert_eq!(admitted.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&alice).await, 1);
    assert_eq!(tv.end_reason().await, Some(Reason::SignedInElsewhere));
    assert_eq!(phone.me().await.status, StatusCode::OK);
}
