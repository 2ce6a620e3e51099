//! Two nodes on PostgreSQL behind a real nginx, configured as
//! `docs/DEPLOYMENT.md` shows, trusting it (`BOUNCER_TRUSTED_PROXIES`):
//! each client is known by its own address (device lists, the throttle),
//! and a stopping node turns unready before it closes, its tabs going
//! through nginx to the other node.
//!
//! Clients come from different loopback addresses (127.0.0.2, .3, …), as
//! different machines would; nginx connects to the nodes from 127.0.0.1.
//! Needs PostgreSQL and nginx: skipped with a notice without them, except
//! in CI.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use bouncer_wire::{Reason, ServerMessage, CLOSE_SHUTTING_DOWN};
use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{
    cookie_header_from, database_with_users, eventually, Browser, Nginx, Node, Tab, NGINX_LOCATION,
    ORIGIN,
};

const PASSWORD: &str = "correct-horse-battery";

/// How long a stopping node serves on, unready.
const DELAY: Duration = Duration::from_secs(2);

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// Waits (at most ten seconds) for `node` to be ready: on PostgreSQL its
/// `LISTEN` connection comes up just after it answers.
async fn ready(node: &Node) {
    let ask = async || {
        let (status, _) = node.browser().readyz().await;
        (status == StatusCode::OK).then_some(())
    };
    let pause = Duration::from_millis(100);
    eventually(Duration::from_secs(10), pause, ask, || {
        format!("{} never ready", node.address())
    })
    .await;
}

/// A tab through the balancer, past its hello; retried for a few seconds
/// (a reconnect may first reach the node that is going away).
async fn tab_through(nginx: &Nginx, cookie: &str) -> Tab {
    let connect = async || {
        let mut tab = Tab::connect(&nginx.address(), Some(cookie), Some(ORIGIN))
            .await
            .ok()?;
        match tab.next_message(Duration::from_secs(2)).await {
            Some(ServerMessage::Hello { .. }) => Some(tab),
            _ => None,
        }
    };
    let pause = Duration::from_millis(100);
    eventually(Duration::from_secs(5), pause, connect, || {
        format!("no tab through nginx: {}", nginx.logs())
    })
    .await
}

#[tokio::test]
async fn two_nodes_behind_nginx_know_each_client_and_hand_over_when_one_stops() {
    let users = [("alice", "user"), ("root", "admin")];
    let Some(database) = database_with_users("the balancer test", &users, PASSWORD).await else {
        return;
    };
    let env = [
        ("BOUNCER_TRUSTED_PROXIES", "127.0.0.1"),
        ("BOUNCER_SHUTDOWN_DELAY", "2s"),
    ];
    let mut a = Node::start(&database.url, &env).await;
    let b = Node::start(&database.url, &env).await;
    let Some(nginx) = Nginx::start(&[a.port, b.port]).await else {
        return;
    };
    let through = nginx.address();

    // Each client signs in from its own address; the device lists, served
    // by either node, show each one's.
    let mut browsers = Vec::new();
    for last in 2..=4 {
        let browser = Browser::new_from(&through, loopback(last));
        assert_eq!(
            browser.login_as("alice", PASSWORD).await.status,
            StatusCode::OK
        );
        browsers.push(browser);
    }
    for (last, browser) in (2..=4).zip(&browsers) {
        let sessions = browser.sessions().await.expect("alice's devices");
        let mut listed: Vec<String> = sessions.iter().map(|s| s.ip.clone()).collect();
        listed.sort();
        assert_eq!(listed, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        let current = sessions.iter().find(|s| s.current).expect("this device");
        assert_eq!(current.ip, loopback(last).to_string());
    }

    // A flood of wrong passwords from one client (over both nodes) is
    // throttled; another client's login through the same nginx is not.
    let flooder = Browser::new_from(&through, loopback(5));
    let mut throttled = false;
    for n in 0..400 {
        let answer = flooder
            .login_as(&format!("nobody{n}"), "wrong-password")
            .await;
        match answer.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                throttled = true;
                break;
            }
            other => panic!("a wrong password answered {other}"),
        }
    }
    assert!(throttled, "400 wrong passwords were never throttled");
    let other = Browser::new_from(&through, loopback(6));
    let answer = other.login_as("alice", PASSWORD).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "another client is not throttled"
    );

    // Alice's tabs, spread by nginx over both nodes.
    let cookie = cookie_header_from(&answer.headers);
    let mut tabs = Vec::new();
    for _ in 0..4 {
        tabs.push(tab_through(&nginx, &cookie).await);
    }
    ready(&a).await;
    ready(&b).await;

    // A stops: its /readyz turns 503 first, while it still serves.
    let stopped_at = Instant::now();
    a.begin_stop();
    let (status, readiness) = loop {
        let answer = a.browser().readyz().await;
        if answer.0 == StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
        assert!(
            stopped_at.elapsed() < DELAY,
            "A was still ready: {answer:?}"
        );
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(readiness.checks["draining"], "draining");
    assert!(stopped_at.elapsed() < DELAY, "unready only after the delay");

    // Then A's tabs are closed with 4002 (after the delay), and reconnect
    // through nginx, which sends them to B; B's tabs stay.
    let closes = join_all(tabs.iter_mut().map(|tab| tab.close_code(DELAY * 3))).await;
    let moved = closes
        .iter()
        .filter(|code| **code == Some(CLOSE_SHUTTING_DOWN))
        .count();
    assert!(
        closes
            .iter()
            .all(|code| code.is_none() || *code == Some(CLOSE_SHUTTING_DOWN)),
        "{closes:?}"
    );
    assert!(
        moved >= 1,
        "nginx spread the four tabs: some were on A ({closes:?})"
    );
    assert!(stopped_at.elapsed() >= DELAY, "closed before the delay");
    for (tab, code) in tabs.iter_mut().zip(&closes) {
        if code.is_some() {
            *tab = tab_through(&nginx, &cookie).await;
        }
    }
    assert!(a.exited().await, "A exits cleanly");

    // Every tab is live on B: an ending reaches them all.
    let root = Browser::new_from(&through, loopback(7));
    assert_eq!(root.login_as("root", PASSWORD).await.status, StatusCode::OK);
    let session = other
        .me()
        .await
        .expect("alice on the sixth address")
        .session
        .id;
    assert_eq!(
        root.admin_end_session(&session).await.status,
        StatusCode::NO_CONTENT
    );
    for tab in &mut tabs {
        match tab.next_event(Duration::from_secs(2)).await {
            Some(ServerMessage::SessionEnded { reason, .. }) => {
                assert_eq!(reason, Reason::AdminRevoked)
            }
            other => panic!("not told: {other:?}"),
        }
    }
}

#[test]
fn the_deployment_guide_shows_the_tested_nginx_configuration() {
    let guide = include_str!("../../docs/DEPLOYMENT.md");
    for line in NGINX_LOCATION {
        assert!(guide.contains(line), "docs/DEPLOYMENT.md lacks `{line}`");
    }
}
