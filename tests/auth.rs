//! Sign-in, sign-out and "who am I" over real HTTP, including bad input.

mod support;

use std::time::Duration;

use bouncer_wire::Role;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use support::{assert_throttled, cookie_value, session_set_cookie, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_answers_user_and_session_and_sets_a_safe_cookie() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();

    let response = browser.login("alice", &password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = session_set_cookie(&response).expect("a session cookie is set");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "no Secure on an http origin: {set_cookie}"
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["id"], alice.id.as_str());
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["user"]["permissions"], json!([]));
    assert_eq!(body["user"]["max_sessions"], Value::Null);
    assert_eq!(body["session"]["current"], true);
    assert_eq!(body["session"]["device"], "Chrome on Linux");
    let session_id = body["session"]["id"].as_str().expect("a session id");
    assert!(session_id.starts_with("s_"));
    assert_ne!(
        cookie_value(&set_cookie),
        session_id,
        "the public id is not the cookie"
    );
    assert!(
        !body.to_string().contains(&cookie_value(&set_cookie)),
        "the cookie secret is never echoed"
    );

    let (status, me) = browser.me().await;
    assert_eq!(status, 200);
    assert_eq!(me["session"]["id"], session_id);
    assert_eq!(me["user"]["username"], "alice");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_origin_is_https() {
    let app = spawn_app_with(|s| {
        s.public_origin =
            bouncer::config::PublicOrigin::parse("https://bouncer.example").expect("valid");
    })
    .await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let response = app.browser().login("alice", &password).await;
    let set_cookie = session_set_cookie(&response).expect("a session cookie");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("alice", Role::User, None).await;
    let wrong = app.browser().login("alice", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        session_set_cookie(&wrong).is_none(),
        "a failed login sets no cookie"
    );
    let wrong: Value = wrong.json().await.expect("JSON");
    let unknown: Value = app
        .browser()
        .login("mallory", "whatever-it-is")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(wrong["error"], "invalid_credentials");
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn malformed_bodies_are_400_json() {
    let app = spawn_app().await;
    let client = app.bare();
    let cases: [(&str, &str); 4] = [
        ("application/json", "{\"username\":"),
        ("application/json", "{\"username\": \"alice\"}"),
        ("application/json", "[1, 2, 3]"),
        ("text/plain", "username=alice&password=x"),
    ];
    for (content_type, body) in cases {
        let response = client
            .post(app.url("/api/auth/login"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("answered");
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
        let json: Value = response.json().await.expect("JSON");
        assert_eq!(json["error"], "bad_request", "{body}");
        assert!(json["message"].is_string());
    }
}

#[tokio::test]
async fn garbage_tampered_and_missing_cookies_are_401_not_500() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let set_cookie =
        session_set_cookie(&app.browser().login("alice", &password).await).expect("cookie");
    let real = cookie_value(&set_cookie);
    // Same length and alphabet as a real id, one character changed.
    let mut tampered: Vec<char> = real.chars().collect();
    tampered[3] = if tampered[3] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    let client = app.bare();
    for cookie in [
        String::new(),
        "bouncer_session=garbage!!".to_owned(),
        "bouncer_session=".to_owned(),
        format!("bouncer_session={}", "A".repeat(5000)),
        format!("bouncer_session={tampered}"),
        "bouncer_session=AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        let mut request = client.get(app.url("/api/auth/me"));
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, &cookie);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{cookie}");
        let json: Value = response.json().await.expect("JSON");
        assert_eq!(json["error"], "unauthenticated", "{cookie}");
    }
    let still = client
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("bouncer_session={real}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        still.status(),
        StatusCode::OK,
        "the real cookie still works"
    );
}

#[tokio::test]
async fn login_always_issues_a_fresh_cookie_id() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    // An attacker plants a well-formed cookie id before the victim signs in.
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let response = app
        .bare()
        .post(app.url("/api/auth/login"))
        .header(header::COOKIE, format!("bouncer_session={planted}"))
        .json(&json!({"username": "alice", "password": password}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let issued = cookie_value(&session_set_cookie(&response).expect("a cookie"));
    assert_ne!(issued, planted);
    let planted_me = app
        .bare()
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("bouncer_session={planted}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(planted_me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_continues_the_session_under_a_new_cookie() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    let first = browser.login("alice", &password).await;
    let first_cookie = cookie_value(&session_set_cookie(&first).expect("cookie"));
    let first: Value = first.json().await.expect("JSON");
    let second = browser.login("alice", &password).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second_cookie = cookie_value(&session_set_cookie(&second).expect("cookie"));
    let second: Value = second.json().await.expect("JSON");
    assert_eq!(
        first["session"]["id"], second["session"]["id"],
        "same session"
    );
    assert_ne!(first_cookie, second_cookie, "new cookie id");
    assert_eq!(app.live_sessions(&alice).await, 1, "it replaced nobody");
    let (status, _) = browser.me().await;
    assert_eq!(status, 200);
    // The old cookie id is dead.
    let old = app
        .bare()
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("bouncer_session={first_cookie}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session_and_its_cookie_and_is_harmless_when_signed_out() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    let cookie = cookie_value(
        &session_set_cookie(&browser.login("alice", &password).await).expect("cookie"),
    );

    let response = browser.post("/api/auth/logout").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.live_sessions(&alice).await, 0);
    let (status, body) = browser.me().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    // Another tab still holding the cookie learns why.
    let other_tab = app
        .bare()
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("bouncer_session={cookie}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(other_tab.status(), StatusCode::UNAUTHORIZED);
    let body: Value = other_tab.json().await.expect("JSON");
    assert_eq!(body["error"], "session_ended");
    assert_eq!(body["reason"], "logged_out");
    assert!(body["message"].is_string());

    let again = app.browser().post("/api/auth/logout").await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/api", "/api/", "/api/nope", "/api/auth/nope/deeper"] {
        let response = app
            .bare()
            .get(app.url(path))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let json: Value = response.json().await.expect("JSON, not the HTML shell");
        assert_eq!(json["error"], "not_found");
    }
    let post = app
        .bare()
        .post(app.url("/api/nope"))
        .send()
        .await
        .expect("answered");
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cross_origin_writes_are_refused_and_same_origin_ones_pass() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let login = |origin: Option<String>| {
        let mut request = app
            .bare()
            .post(app.url("/api/auth/login"))
            .json(&json!({"username": "alice", "password": password}));
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.send()
    };
    let evil = login(Some("https://evil.example".into()))
        .await
        .expect("answered");
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    let body: Value = evil.json().await.expect("JSON");
    assert_eq!(body["error"], "cross_origin");
    let same = login(Some(app.address.clone())).await.expect("answered");
    assert_eq!(same.status(), StatusCode::OK);
    let referer = app
        .bare()
        .post(app.url("/api/auth/logout"))
        .header(header::REFERER, "https://evil.example/page")
        .send()
        .await
        .expect("answered");
    assert_eq!(referer.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_redirect_signed_out_visitors_to_login_with_the_reason() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let anonymous = app.browser().get("/").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/login?next=/");

    let laptop = app.browser();
    laptop.login("alice", &password).await;
    let home = laptop.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.expect("HTML");
    assert!(
        html.contains("Hello, alice"),
        "the home page names the user"
    );
    assert!(html.contains("Sign out"));

    // A second device with the default limit of 1 replaces the laptop.
    app.browser().login("alice", &password).await;
    let kicked = laptop.get("/").await;
    assert_eq!(kicked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        kicked.headers()[header::LOCATION],
        "/login?reason=signed_in_elsewhere&next=/"
    );

    let login_page = laptop.get("/login?reason=signed_in_elsewhere&next=/").await;
    assert_eq!(login_page.status(), StatusCode::OK);
    let html = login_page.text().await.expect("HTML");
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("signed in on another device"));
    // Not the closing tag: with `erase_components` the text is followed by a
    // hydration marker (`Username<!></label>`).
    assert!(html.contains("<label for=\"username\">Username"));
    assert!(html.contains("Sign in"));
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in() {
    let app = spawn_app().await;
    let (alice, password) = app.add_user("alice", Role::User, None).await;
    sqlx::query("UPDATE users SET active = FALSE WHERE id = $1")
        .bind(alice.id.as_str())
        .execute(&app.pool)
        .await
        .expect("updated");
    let response = app.browser().login("alice", &password).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "account_disabled");
    // A wrong password does not reveal that the account exists but is disabled.
    let wrong = app.browser().login("alice", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_is_not_activity_and_the_idle_timeout_ends_the_session() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let browser = app.browser();
    browser.login("alice", &password).await;

    app.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(browser.me().await.0, 200, "still live after 20 minutes");
    app.clock.advance(Duration::from_secs(11 * 60));
    let (status, body) = browser.me().await;
    assert_eq!(status, 401, "`me` did not extend the idle deadline");
    assert_eq!(body["error"], "session_ended");
    assert_eq!(body["reason"], "idle_timeout");
    assert_eq!(
        body["message"],
        "Your session has expired. Please sign in again."
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    for _ in 0..5 {
        let response = app.browser().login("alice", "not-the-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let retry_after = assert_throttled(app.browser().login("alice", &password).await).await;
    app.clock.advance(Duration::from_secs(retry_after));
    assert_eq!(
        app.browser().login("alice", &password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_copy_of_the_database_holds_no_usable_cookie() {
    let app = spawn_app().await;
    let (_, password) = app.add_user("alice", Role::User, None).await;
    let (browser, cookie) = app.signed_in("alice", &password).await;
    let secret = cookie.trim_start_matches("bouncer_session=").to_owned();
    assert_eq!(browser.me().await.0, 200);

    // Every text column of the one table that knows the session's cookie:
    // none holds the cookie's secret, only its hash.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT id || ' ' || secret_hash || ' ' || device FROM sessions")
            .fetch_all(&app.pool)
            .await
            .expect("readable");
    assert_eq!(stored.len(), 1, "one session");
    for row in &stored {
        assert!(
            !row.contains(&secret),
            "the cookie id is stored in clear: {row}"
        );
    }
    // The copy's keys, presented as cookies, match nothing.
    for key in stored.iter().flat_map(|row| row.split(' ').take(2)) {
        let response = app
            .bare()
            .get(app.url("/api/auth/me"))
            .header(header::COOKIE, format!("bouncer_session={key}"))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
