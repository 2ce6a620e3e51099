//! A user's own sessions, password change and the activity endpoint.

use std::time::Duration;

use bouncer_wire::{Reason, Revoked, Role};
use reqwest::StatusCode;

use crate::helpers::{cookie_value, session_cookie, spawn_app};

#[tokio::test]
async fn list_end_one_and_revoke_others() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let (a, b, c) = (app.browser(), app.browser(), app.browser());
    for browser in [&a, &b, &c] {
        browser.login(&bob).await;
        app.advance_clock(Duration::from_secs(1));
    }
    let list = a.sessions().await.expect("bob's sessions");
    assert_eq!(list.len(), 3);
    assert!(list[0].created_at >= list[2].created_at, "newest first");
    let current: Vec<_> = list.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].id, a.session_id().await);

    let b_id = b.session_id().await;
    assert_eq!(a.end_session(&b_id).await.status, StatusCode::NO_CONTENT);
    assert_eq!(b.end_reason().await, Some(Reason::RevokedByUser));
    assert_eq!(app.live_sessions(&bob).await, 2);
    assert_eq!(a.end_session(&b_id).await.status, StatusCode::NOT_FOUND);

    let revoked = a.revoke_others().await.expect("the others end");
    assert_eq!(revoked, Revoked { revoked: 1 });
    assert_eq!(c.end_reason().await, Some(Reason::RevokedByUser));
    assert_eq!(a.me().await.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn nobody_can_end_someone_elses_session_through_their_own_list() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let bob = app.add_user("bob", Role::User, None).await;
    let (alices, bobs) = (app.browser(), app.browser());
    alices.login(&alice).await;
    bobs.login(&bob).await;
    let bob_id = bobs.session_id().await;
    assert_eq!(
        alices.end_session(&bob_id).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(bobs.me().await.status, StatusCode::OK);
}

#[tokio::test]
async fn ending_the_current_session_is_a_logout() {
    let app = spawn_app().await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    let id = browser.session_id().await;
    assert_eq!(
        browser.end_session(&id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.live_sessions(&alice).await, 0);
    assert_eq!(browser.me().await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_ends_the_others_and_keeps_this_one_under_a_new_cookie() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, phone) = (app.browser(), app.browser());
    let old_cookie = cookie_value(&laptop.login(&bob).await.set_cookie().expect("cookie"));
    phone.login(&bob).await;
    let laptop_id = laptop.session_id().await;

    let wrong = laptop
        .change_password("not-it", "a-brand-new-password")
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error(), Some("invalid_credentials"));
    let weak = laptop.change_password(&bob.password, "short").await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.error(), Some("weak_password"));
    assert_eq!(
        app.live_sessions(&bob).await,
        2,
        "failed attempts end nothing"
    );

    let ok = laptop
        .change_password(&bob.password, "a-brand-new-password")
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let new_cookie = cookie_value(&ok.set_cookie().expect("a new cookie"));
    assert_ne!(new_cookie, old_cookie);
    assert_eq!(phone.end_reason().await, Some(Reason::PasswordChanged));
    let me = laptop.me().await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.expect("signed in").session.id,
        laptop_id,
        "the same session continues"
    );
    assert_eq!(app.live_sessions(&bob).await, 1);
    let stale = app.browser_holding(&session_cookie(&old_cookie)).me().await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "the old cookie id is dead"
    );

    assert_eq!(
        app.browser().login(&bob).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.browser()
            .login_as("bob", "a-brand-new-password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_activity_endpoint_moves_the_idle_deadline_and_needs_a_session() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    app.every_twenty_minutes(3, async || {
        assert_eq!(browser.activity().await.status, StatusCode::NO_CONTENT);
    })
    .await;
    assert_eq!(browser.me().await.status, StatusCode::OK);
    assert_eq!(
        app.browser().activity().await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_sweeper_ends_abandoned_sessions_and_forgets_old_tombstones() {
    let app = spawn_app().await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    app.advance_clock(Duration::from_secs(40 * 60));
    app.sweep().await;
    assert_eq!(
        app.live_sessions(&alice).await,
        0,
        "ended without any request"
    );
    assert_eq!(
        browser.end_reason().await,
        Some(Reason::IdleTimeout),
        "the tombstone tells why"
    );
    // Past the retention period the tombstone is gone, and so is the reason.
    app.advance_clock(Duration::from_secs(8 * 24 * 60 * 60));
    app.sweep().await;
    let stale = app.browser();
    assert_eq!(app.tombstones().await, 0);
    assert_eq!(app.log_rows().await, 0);
    assert_eq!(stale.me().await.status, StatusCode::UNAUTHORIZED);
}
