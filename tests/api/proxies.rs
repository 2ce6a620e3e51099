//! Behind a proxy: `BOUNCER_TRUSTED_PROXIES` decides whose forwarding
//! header names the client, for the device lists, the stored rows and the
//! log, and the throttle; and every answer carries a request id, the
//! proxy's when it is trusted. (Two nodes behind a real nginx:
//! `balancer.rs`.)
//!
//! The test client is the TCP peer, 127.0.0.1: trusted or not as each test
//! configures.

use bouncer_web::{ForwardedHeader, TrustedProxies};
use bouncer_wire::Role;
use reqwest::{Method, StatusCode};

use crate::helpers::{assert_throttled, send, spawn_app_with, Browser, TestApp};

const XFF: &str = "x-forwarded-for";

fn proxies(list: &str) -> TrustedProxies {
    TrustedProxies::parse(list).expect("a valid list")
}

/// Where `browser`'s own session is listed from, once it signed in as `user`.
async fn listed_address(browser: &Browser) -> String {
    let sessions = browser.sessions().await.expect("the device list");
    let current = sessions.iter().find(|s| s.current).expect("this device");
    current.ip.clone()
}

/// Wrong passwords from `browser()` (a new one each time, so a new forged
/// address when the test forges one), for ever new usernames, until the
/// throttle answers 429; panics if it never does within `bound` attempts.
async fn flood_until_throttled(app: &TestApp, browser: impl Fn(usize) -> Browser, bound: usize) {
    for n in 0..bound {
        let answer = browser(n)
            .login_as(&format!("nobody{n}"), "wrong-password")
            .await;
        match answer.status {
            StatusCode::UNAUTHORIZED => continue,
            StatusCode::TOO_MANY_REQUESTS => return,
            other => panic!("a wrong password answered {other} at {}", app.address),
        }
    }
    panic!("{bound} wrong passwords were never throttled");
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    // Nobody trusted (the default), and a list the peer is not on.
    for list in ["", "10.0.0.0/8, ::1"] {
        let app = spawn_app_with(|s| s.trusted_proxies = proxies(list)).await;
        let alice = app.add_user("alice", Role::User, Some(0)).await;
        let forger = |n: usize| {
            app.browser()
                .sending(XFF, &format!("198.51.100.{}", n % 250))
                .sending("forwarded", "for=203.0.113.9")
        };
        let browser = forger(1);
        assert_eq!(browser.login(&alice).await.status, StatusCode::OK);
        assert_eq!(
            listed_address(&browser).await,
            "127.0.0.1",
            "trusting {list:?}"
        );
        let stored = app.stored_addresses().await;
        assert!(stored.iter().all(|ip| ip == "127.0.0.1"), "{stored:?}");

        if !list.is_empty() {
            // The throttle counts the peer, whatever address each attempt
            // claims: even alice's right password now waits.
            flood_until_throttled(&app, forger, 200).await;
            assert_throttled(forger(251).login(&alice).await);
        }
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_stored_and_listed() {
    let app = spawn_app_with(|s| s.trusted_proxies = proxies("127.0.0.1")).await;
    let alice = app.add_user("alice", Role::User, Some(1)).await;

    // The client's own (forged) entry is left of what the proxy appended.
    let first = app.browser().sending(XFF, "192.0.2.66, 198.51.100.7");
    assert_eq!(first.login(&alice).await.status, StatusCode::OK);
    assert_eq!(listed_address(&first).await, "198.51.100.7");

    // A second device displaces the first: the log's detail names it.
    let second = app.browser().sending(XFF, "203.0.113.20");
    assert_eq!(second.login(&alice).await.status, StatusCode::OK);
    assert_eq!(listed_address(&second).await, "203.0.113.20");
    let mut stored = app.stored_addresses().await;
    stored.sort();
    stored.dedup();
    assert_eq!(stored, ["198.51.100.7", "203.0.113.20"]);

    // Only X-Forwarded-For is read (the default); a proxy's request with
    // none, or a malformed one, is the proxy's own.
    for (header, value) in [
        ("forwarded", "for=203.0.113.99"),
        (XFF, "unknown"),
        (XFF, "203.0.113.5, not-an-address"),
    ] {
        let browser = app.browser().sending(header, value);
        assert_eq!(browser.login(&alice).await.status, StatusCode::OK);
        assert_eq!(
            listed_address(&browser).await,
            "127.0.0.1",
            "{header}: {value}"
        );
    }
}

#[tokio::test]
async fn rfc_7239_forwarded_is_read_when_the_proxies_write_it() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = proxies("127.0.0.0/8");
        s.forwarded_header = ForwardedHeader::Forwarded;
    })
    .await;
    let alice = app.add_user("alice", Role::User, Some(0)).await;
    let browser = app
        .browser()
        .sending(
            "forwarded",
            r#"for="[2001:db8::7]:443";proto=https, for=127.0.0.9"#,
        )
        .sending(XFF, "198.51.100.1");
    assert_eq!(browser.login(&alice).await.status, StatusCode::OK);
    assert_eq!(listed_address(&browser).await, "2001:db8::7");
}

/// The `X-Request-Id` of an answer.
fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned()
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_an_error_body_repeats_it() {
    let app = spawn_app_with(|_| {}).await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/healthz",
        "/readyz",
        "/api/auth/me",
        "/bouncer.js",
        "/login",
        "/nowhere",
    ] {
        let response = send(app.request(Method::GET, path)).await;
        let id = request_id(&response);
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}: {id}"
        );
        assert!(seen.insert(id), "{path}: ids are not reused");
    }

    // An error made by a handler and one made by the session layer itself.
    let me = send(app.request(Method::GET, "/api/auth/me")).await;
    let id = request_id(&me);
    let body: bouncer_wire::ErrorBody = me.json().await.expect("an error body");
    assert_eq!(body.request_id, Some(id));
    let cross = send(
        app.request(Method::POST, "/api/auth/logout")
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let id = request_id(&cross);
    let body: bouncer_wire::ErrorBody = cross.json().await.expect("an error body");
    assert_eq!(
        (body.error.as_str(), body.request_id),
        ("cross_origin", Some(id))
    );

    // A client's own id is not taken: it is not a trusted proxy.
    let chosen = send(
        app.request(Method::GET, "/api/auth/me")
            .header("x-request-id", "mine"),
    )
    .await;
    assert_ne!(request_id(&chosen), "mine");
}

#[tokio::test]
async fn a_trusted_proxy_s_request_id_is_kept() {
    let app = spawn_app_with(|s| s.trusted_proxies = proxies("127.0.0.1")).await;
    let nginx_id = "3f2a9c0d1e4b5a6978877665544332211";
    let me = send(
        app.request(Method::GET, "/api/auth/me")
            .header("x-request-id", nginx_id),
    )
    .await;
    assert_eq!(request_id(&me), nginx_id);
    let body: bouncer_wire::ErrorBody = me.json().await.expect("an error body");
    assert_eq!(body.request_id.as_deref(), Some(nginx_id));
    // One that could pass for something else in a log is replaced.
    let odd = "a\"b, c";
    let me = send(
        app.request(Method::GET, "/api/auth/me")
            .header("x-request-id", odd),
    )
    .await;
    assert_eq!(request_id(&me).len(), 16);
}
