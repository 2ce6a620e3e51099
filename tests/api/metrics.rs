//! The Prometheus metrics (`BOUNCER_METRICS_ADDR`): scraped from a
//! `bouncer serve` process before and after what a person and an operator
//! do, each figure moves with it. A process of its own, on SQLite: the
//! metrics recorder is one per process, so an app in this one would count
//! every other test's doings too.

use std::time::Duration;

use bouncer_engine::measures;
use bouncer_wire::{Reason, ServerMessage, CLOSE_SESSION_ENDED};
use reqwest::StatusCode;

use crate::helpers::{add_users, cookie_header_from, eventually, free_port, Metrics, Node};

const PASSWORD: &str = "correct-horse-battery";

const LOGINS: &str = "bouncer_logins_total";
const ENDED: &str = "bouncer_sessions_ended_total";
const TABS: &str = "bouncer_tabs_connected";
const PUSHES: &str = "bouncer_push_latency_seconds_count";

/// Scrapes until `done` holds of the metrics (a socket's teardown and its
/// push are behind the answers the test saw), for at most five seconds.
async fn scrape_until(port: u16, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let scrape = async || Some(Metrics::scrape(port).await).filter(|metrics| done(metrics));
    let pause = Duration::from_millis(50);
    eventually(Duration::from_secs(5), pause, scrape, || {
        "the figures never moved".into()
    })
    .await
}

#[tokio::test]
async fn the_figures_move_with_logins_tabs_and_endings() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = format!("sqlite://{}", dir.path().join("metrics.db").display());
    add_users(
        &database_url,
        &[("alice", "user"), ("root", "admin")],
        PASSWORD,
    )
    .await;
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let node = Node::start(&database_url, &[("BOUNCER_METRICS_ADDR", &metrics_addr)]).await;
    let before = Metrics::scrape(metrics_port).await;
    assert_eq!(before.value(TABS, ""), 0.0, "{}", before.text);
    for level in [
        "bouncer_live_sessions",
        "bouncer_db_pool_connections",
        "bouncer_password_hash_queue",
        "bouncer_tailer_last_read_age_seconds",
    ] {
        assert!(before.has(level), "{level} in {}", before.text);
    }
    assert!(!before.has("bouncer_listener_up"), "no LISTEN on SQLite");

    // A wrong password, then alice and root sign in.
    let wrong = node.browser().login_as("alice", "not-her-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let alice = node.browser();
    let answer = alice.login_as("alice", PASSWORD).await;
    let cookie = cookie_header_from(&answer.headers);
    let session = answer.expect("alice signs in").session.id;
    let root = node.browser();
    assert_eq!(root.login_as("root", PASSWORD).await.status, StatusCode::OK);

    // Alice's tab connects.
    let mut tab = node.open_tab(&cookie).await;
    let connected = scrape_until(metrics_port, |m| m.value(TABS, "") == 1.0).await;
    assert_eq!(connected.value(TABS, ""), 1.0, "{}", connected.text);
    let outcome = |m: &Metrics, o: &str| m.value(LOGINS, &format!("outcome=\"{o}\""));
    assert_eq!(
        outcome(&connected, "signed_in") - outcome(&before, "signed_in"),
        2.0
    );
    assert_eq!(
        outcome(&connected, "invalid_credentials") - outcome(&before, "invalid_credentials"),
        1.0
    );
    assert!(
        connected.value("bouncer_live_sessions", "") >= 2.0,
        "{}",
        connected.text
    );

    // Root ends alice's session: the tab is told, and the figures say so.
    let revoked = root.admin_end_session(&session).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let told = loop {
        match tab.next_message(Duration::from_secs(2)).await {
            Some(ServerMessage::SessionsChanged) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(
            told,
            Some(ServerMessage::SessionEnded {
                reason: Reason::AdminRevoked,
                ..
            })
        ),
        "{told:?}"
    );
    assert_eq!(
        tab.close_code(Duration::from_secs(2)).await,
        Some(CLOSE_SESSION_ENDED)
    );
    let after = scrape_until(metrics_port, |m| {
        m.value(TABS, "") == 0.0 && m.value(PUSHES, "") > before.value(PUSHES, "")
    })
    .await;
    let admin_revoked = "reason=\"admin_revoked\"";
    assert_eq!(
        after.value(ENDED, admin_revoked) - before.value(ENDED, admin_revoked),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        after.value(PUSHES, "") - before.value(PUSHES, ""),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(after.value(TABS, ""), 0.0);
    // The sample is in a bucket: well within ten seconds, on one machine.
    let within_ten = after.value("bouncer_push_latency_seconds_bucket", "le=\"10\"");
    assert_eq!(
        within_ten - before.value("bouncer_push_latency_seconds_bucket", "le=\"10\""),
        1.0
    );
    // Every family served is one of the engine's.
    let served = families(&after.text);
    assert!(
        served
            .iter()
            .all(|family| measures::ALL.contains(&family.as_str())),
        "{served:?}"
    );
    drop(node);
}

/// The metric families a text names: `bouncer_…` words, a histogram's
/// `_bucket`, `_sum` and `_count` series taken as their family.
fn families(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("bouncer_") && word.len() > "bouncer_".len())
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .filter(|family| measures::ALL.contains(family))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

#[test]
fn the_dashboard_and_the_guide_show_every_metric_and_no_other() {
    let all: std::collections::BTreeSet<String> = measures::ALL
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let dashboard = include_str!("../../docs/grafana-dashboard.json");
    let guide = include_str!("../../docs/DEPLOYMENT.md");
    let metrics = &guide[guide.find("### Metrics").expect("a Metrics section")..];
    let metrics = &metrics[..metrics.find("### Logs").expect("then Logs")];
    for (what, text) in [
        ("docs/grafana-dashboard.json", dashboard),
        ("the guide's Metrics", metrics),
    ] {
        assert_eq!(families(text), all, "{what}");
    }
}
