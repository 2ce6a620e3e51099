//! `BOUNCER_IP_PRIVACY`: what is kept of a client's address — in the device
//! lists, in the stored rows, and in what a displaced tab is told — and that
//! turning it up rewrites what was kept before. (Retention of tombstones and
//! log rows: `own_sessions.rs`, `the_sweeper_ends_abandoned_sessions_and_forgets_old_tombstones`.)

mod support;

use bouncer_engine::{db::Backend, log::RevocationLog, privacy::IpPrivacy, sessions::Sessions};
use bouncer_wire::Role;
use serde_json::Value;
use support::{spawn_app_with, TestApp};

/// Every address stored anywhere: sessions, and the log's details.
async fn stored_addresses(app: &TestApp) -> Vec<String> {
    let mut addresses: Vec<String> = sqlx::query_scalar("SELECT ip FROM sessions")
        .fetch_all(&app.pool)
        .await
        .expect("read");
    let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM revocations")
        .fetch_all(&app.pool)
        .await
        .expect("read");
    for detail in details {
        let detail: Value = serde_json::from_str(&detail).expect("JSON");
        if let Some(ip) = detail["ip"].as_str() {
            addresses.push(ip.to_owned());
        }
    }
    addresses
}

/// Signs alice in twice (limit 1, so the first is displaced) and returns
/// what the device list shows and what the displaced browser is told.
async fn displace(app: &TestApp) -> (String, Value) {
    let (_, password) = app.add_user("alice", Role::User, Some(1)).await;
    let first = app.browser();
    first.login("alice", &password).await;
    let second = app.browser();
    second.login("alice", &password).await;
    let sessions: Value = second
        .get("/api/sessions")
        .await
        .json()
        .await
        .expect("JSON");
    let listed = sessions[0]["ip"].as_str().expect("an ip field").to_owned();
    let (status, refused) = first.me().await;
    assert_eq!(status, 401);
    (listed, refused)
}

#[tokio::test]
async fn full_keeps_the_whole_address() {
    let app = spawn_app_with(|_| {}).await;
    let (listed, _) = displace(&app).await;
    assert_eq!(listed, "127.0.0.1");
    let stored = stored_addresses(&app).await;
    assert!(
        stored.len() >= 3 && stored.iter().all(|ip| ip == "127.0.0.1"),
        "{stored:?}"
    );
}

#[tokio::test]
async fn truncate_keeps_the_network_only() {
    let app = spawn_app_with(|s| s.ip_privacy = IpPrivacy::Truncate).await;
    let (listed, refused) = displace(&app).await;
    assert_eq!(listed, "127.0.0.0/24");
    assert_eq!(refused["reason"], "signed_in_elsewhere", "{refused}");
    let stored = stored_addresses(&app).await;
    assert!(
        stored.len() >= 3 && stored.iter().all(|ip| ip == "127.0.0.0/24"),
        "{stored:?}"
    );
}

#[tokio::test]
async fn off_keeps_no_address_anywhere() {
    let app = spawn_app_with(|s| s.ip_privacy = IpPrivacy::Off).await;
    let (listed, _) = displace(&app).await;
    assert_eq!(listed, "");
    let stored = stored_addresses(&app).await;
    assert!(
        stored.len() >= 3 && stored.iter().all(String::is_empty),
        "{stored:?}"
    );
}

#[tokio::test]
async fn turning_privacy_up_rewrites_what_was_kept_before() {
    let app = spawn_app_with(|_| {}).await;
    displace(&app).await;
    assert!(stored_addresses(&app)
        .await
        .iter()
        .all(|ip| ip == "127.0.0.1"));

    // What a start under a stricter setting does, store by store.
    let sessions = Sessions::new(app.pool.clone());
    let backend = Backend::of(&app.pool.acquire().await.expect("a connection"));
    let log = RevocationLog::new(app.pool.clone(), backend);
    let apply = |setting| {
        let (sessions, log) = (sessions.clone(), log.clone());
        async move {
            sessions.apply_privacy(setting).await.expect("rewrites")
                + log.apply_privacy(setting).await.expect("rewrites")
        }
    };
    assert_eq!(
        apply(IpPrivacy::Truncate).await,
        3,
        "two sessions and one log detail"
    );
    assert!(stored_addresses(&app)
        .await
        .iter()
        .all(|ip| ip == "127.0.0.0/24"));
    assert_eq!(
        apply(IpPrivacy::Truncate).await,
        0,
        "a second start rewrites nothing"
    );
    apply(IpPrivacy::Off).await;
    assert!(stored_addresses(&app).await.iter().all(String::is_empty));
}
