//! `BOUNCER_IP_PRIVACY`: what is kept of a client's address — in the device
//! lists, in the stored rows, and in what a displaced tab is told — and that
//! turning it up rewrites what was kept before. (Retention of tombstones and
//! log rows: `own_sessions.rs`, `the_sweeper_ends_abandoned_sessions_and_forgets_old_tombstones`.)

use bouncer_wire::{ErrorBody, Reason};
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, IpPrivacy, TestApp};

/// Signs alice in twice (limit 1, so the first is displaced) and returns
/// what the device list shows and what the displaced browser is told.
async fn displace(app: &TestApp) -> (String, ErrorBody) {
    let (alice, [first]) = app.signed_in_user("alice", Some(1)).await;
    let second = app.browser();
    second.login(&alice).await;
    let sessions = second.sessions().await.expect("alice's sessions");
    let listed = sessions[0].ip.clone();
    let me = first.me().await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    (listed, me.refusal())
}

/// Every address stored anywhere, and whether each of them is `kept`.
async fn stored(app: &TestApp, kept: &str) -> (Vec<String>, bool) {
    let stored = app.stored_addresses().await;
    let all_kept = stored.iter().all(|ip| ip == kept);
    (stored, all_kept)
}

/// Under `setting`, displaces alice and asserts that the device list and
/// every stored address (two sessions and a log detail at least) show
/// `kept`; returns the app and what the displaced browser was told.
async fn assert_kept(setting: IpPrivacy, kept: &str) -> (TestApp, ErrorBody) {
    let app = spawn_app_with(|s| s.ip_privacy = setting).await;
    let (listed, refused) = displace(&app).await;
    assert_eq!(listed, kept);
    let (stored, all_kept) = stored(&app, kept).await;
    assert!(stored.len() >= 3 && all_kept, "{stored:?}");
    (app, refused)
}

#[tokio::test]
async fn full_keeps_the_whole_address() {
    assert_kept(IpPrivacy::Full, "127.0.0.1").await;
}

#[tokio::test]
async fn truncate_keeps_the_network_only() {
    let (_, refused) = assert_kept(IpPrivacy::Truncate, "127.0.0.0/24").await;
    assert_eq!(
        refused.reason,
        Some(Reason::SignedInElsewhere),
        "{refused:?}"
    );
}

#[tokio::test]
async fn off_keeps_no_address_anywhere() {
    let (app, _) = assert_kept(IpPrivacy::Off, "").await;
    let rows = app.session_rows_as_text().await;
    assert!(rows.iter().all(|r| !r.contains("127.0.0.1")), "{rows:?}");
}

#[tokio::test]
async fn turning_privacy_up_rewrites_what_was_kept_before() {
    let app = spawn_app_with(|_| {}).await;
    displace(&app).await;
    assert!(stored(&app, "127.0.0.1").await.1);

    let changed = app.apply_ip_privacy(IpPrivacy::Truncate).await;
    assert_eq!(
        changed, 5,
        "two sessions, their two session.started events and one signed_in_elsewhere detail"
    );
    assert!(stored(&app, "127.0.0.0/24").await.1);
    assert_eq!(
        app.apply_ip_privacy(IpPrivacy::Truncate).await,
        0,
        "a second start rewrites nothing"
    );
    app.apply_ip_privacy(IpPrivacy::Off).await;
    assert!(stored(&app, "").await.1);
}
