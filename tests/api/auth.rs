//! Sign-in, sign-out and "who am I" over real HTTP, including bad input.

use std::time::Duration;

use bouncer_wire::{ErrorBody, Reason, Role};
use reqwest::{header, Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_throttled, cookie_value, send, session_cookie, spawn_app, spawn_https_app, Answer,
};

#[tokio::test]
async fn login_answers_user_and_session_and_sets_a_safe_cookie() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, answer) = app.login(&alice).await;
    assert_eq!(answer.status, StatusCode::OK);
    let set_cookie = answer.set_cookie().expect("a session cookie is set");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "no Secure on an http origin: {set_cookie}"
    );
    let body = answer.expect("alice signs in");
    assert_eq!(body.user.id, alice.id);
    assert_eq!(body.user.username, "alice");
    assert_eq!(body.user.role, Role::User);
    assert_eq!(body.user.permissions, []);
    assert_eq!(body.user.max_sessions, None);
    assert!(body.session.current);
    assert_eq!(body.session.device, "Chrome on Linux");
    let session_id = &body.session.id;
    assert!(session_id.starts_with("s_"));
    assert_ne!(
        &cookie_value(&set_cookie),
        session_id,
        "the public id is not the cookie"
    );
    // The typed body holds the whole answer (`Answer` checks it), so its
    // JSON is all the client was sent.
    assert!(
        !serde_json::to_string(&body)
            .expect("serialises")
            .contains(&cookie_value(&set_cookie)),
        "the cookie secret is never echoed"
    );

    let me = browser.me().await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.expect("signed in");
    assert_eq!(&me.session.id, session_id);
    assert_eq!(me.user.username, "alice");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_origin_is_https() {
    let app = spawn_https_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let answer = app.browser().login(&alice).await;
    let set_cookie = answer.set_cookie().expect("a session cookie");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("alice", Role::User, None).await;
    let wrong = app.browser().login_as("alice", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.set_cookie().is_none(),
        "a failed login sets no cookie"
    );
    let wrong = wrong.refusal();
    let unknown = app
        .browser()
        .login_as("mallory", "whatever-it-is")
        .await
        .refusal();
    assert_eq!(wrong.error, "invalid_credentials");
    // The same but for each request's own id.
    assert_ne!(wrong.request_id, unknown.request_id);
    let without_id = |body: ErrorBody| ErrorBody {
        request_id: None,
        ..body
    };
    assert_eq!(without_id(wrong), without_id(unknown));
}

#[tokio::test]
async fn malformed_bodies_are_400_json() {
    let app = spawn_app().await;
    let cases: [(&str, &str); 4] = [
        ("application/json", "{\"username\":"),
        ("application/json", "{\"username\": \"alice\"}"),
        ("application/json", "[1, 2, 3]"),
        ("text/plain", "username=alice&password=x"),
    ];
    for (content_type, body) in cases {
        let login = app
            .request(Method::POST, "/api/auth/login")
            .header(header::CONTENT_TYPE, content_type);
        let answer: Answer<()> = Answer::read(send(login.body(body)).await).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
        let refusal = answer.refusal();
        assert_eq!(refusal.error, "bad_request", "{body}");
        assert!(refusal.message.is_some());
    }
}

#[tokio::test]
async fn garbage_tampered_and_missing_cookies_are_401_not_500() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let set_cookie = app.login(&alice).await.1.set_cookie().expect("cookie");
    let real = cookie_value(&set_cookie);
    // Same length and alphabet as a real id, one character changed.
    let mut tampered: Vec<char> = real.chars().collect();
    tampered[3] = if tampered[3] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    for cookie in [
        String::new(),
        "bouncer_session=garbage!!".to_owned(),
        "bouncer_session=".to_owned(),
        session_cookie(&"A".repeat(5000)),
        session_cookie(&tampered),
        "bouncer_session=AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        let me = app.browser_holding(&cookie).me().await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert_eq!(me.error(), Some("unauthenticated"), "{cookie}");
    }
    let still = app.browser_holding(&session_cookie(&real)).me().await;
    assert_eq!(still.status, StatusCode::OK, "the real cookie still works");
}

#[tokio::test]
async fn login_always_issues_a_fresh_cookie_id() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    // An attacker plants a well-formed cookie id before the victim signs in.
    let planted = session_cookie("AAAAAAAAAAAAAAAAAAAAAA");
    let answer = app.browser_holding(&planted).login(&alice).await;
    assert_eq!(answer.status, StatusCode::OK);
    let issued = session_cookie(&cookie_value(&answer.set_cookie().expect("a cookie")));
    assert_ne!(issued, planted);
    let planted_me = app.browser_holding(&planted).me().await;
    assert_eq!(planted_me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_continues_the_session_under_a_new_cookie() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, first) = app.login(&alice).await;
    let first_cookie = cookie_value(&first.set_cookie().expect("cookie"));
    let first = first.expect("signed in");
    let second = browser.login(&alice).await;
    assert_eq!(second.status, StatusCode::OK);
    let second_cookie = cookie_value(&second.set_cookie().expect("cookie"));
    let second = second.expect("signed in again");
    assert_eq!(first.session.id, second.session.id, "same session");
    assert_ne!(first_cookie, second_cookie, "new cookie id");
    assert_eq!(app.live_sessions(&alice).await, 1, "it replaced nobody");
    assert_eq!(browser.me().await.status, StatusCode::OK);
    // The old cookie id is dead.
    let old = app
        .browser_holding(&session_cookie(&first_cookie))
        .me()
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session_and_its_cookie_and_is_harmless_when_signed_out() {
    let app = spawn_app().await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    let cookie = browser.cookie();

    assert_eq!(browser.logout().await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.live_sessions(&alice).await, 0);
    let me = browser.me().await;
    assert_eq!(
        (me.status, me.error()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );

    // Another tab still holding the cookie learns why.
    let other_tab = app.browser_holding(&cookie).me().await;
    assert_eq!(other_tab.status, StatusCode::UNAUTHORIZED);
    let refusal = other_tab.refusal();
    assert_eq!(refusal.error, "session_ended");
    assert_eq!(refusal.reason, Some(Reason::LoggedOut));
    assert!(refusal.message.is_some());

    let again = app.browser().logout().await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/api", "/api/", "/api/nope", "/api/auth/nope/deeper"] {
        let response = send(app.request(Method::GET, path)).await;
        // Read as the API's error body: JSON, not the HTML shell.
        let answer: Answer<()> = Answer::read(response).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.error(), Some("not_found"));
    }
    let post = send(app.request(Method::POST, "/api/nope")).await;
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cross_origin_writes_are_refused_and_same_origin_ones_pass() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let login = |origin: &str| {
        let body = json!({"username": "alice", "password": alice.password});
        let request = app.request(Method::POST, "/api/auth/login").json(&body);
        send(request.header(header::ORIGIN, origin))
    };
    let evil: Answer<()> = Answer::read(login("https://evil.example").await).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    assert_eq!(evil.error(), Some("cross_origin"));
    let same = login(&app.address).await;
    assert_eq!(same.status(), StatusCode::OK);
    let referer = send(
        app.request(Method::POST, "/api/auth/logout")
            .header(header::REFERER, "https://evil.example/page"),
    )
    .await;
    assert_eq!(referer.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_redirect_signed_out_visitors_to_login_with_the_reason() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let anonymous = app.browser().get("/").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/login?next=/");

    let laptop = app.browser();
    laptop.login(&alice).await;
    let home = laptop.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.expect("HTML");
    assert!(
        html.contains("Hello, alice"),
        "the home page names the user"
    );
    assert!(html.contains("Sign out"));

    // A second device with the default limit of 1 replaces the laptop.
    app.browser().login(&alice).await;
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
    let alice = app.add_user("alice", Role::User, None).await;
    app.disable_in_database(&alice).await;
    let answer = app.browser().login(&alice).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.error(), Some("account_disabled"));
    // A wrong password does not reveal that the account exists but is disabled.
    let wrong = app.browser().login_as("alice", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_is_not_activity_and_the_idle_timeout_ends_the_session() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;

    app.advance_clock(Duration::from_secs(20 * 60));
    assert_eq!(
        browser.me().await.status,
        StatusCode::OK,
        "still live after 20 minutes"
    );
    app.advance_clock(Duration::from_secs(11 * 60));
    let me = browser.me().await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "`me` did not extend the idle deadline"
    );
    let refusal = me.refusal();
    assert_eq!(refusal.error, "session_ended");
    assert_eq!(refusal.reason, Some(Reason::IdleTimeout));
    assert_eq!(
        refusal.message.as_deref(),
        Some("Your session has expired. Please sign in again.")
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    for _ in 0..5 {
        let answer = app.browser().login_as("alice", "not-the-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let retry_after = assert_throttled(app.browser().login(&alice).await);
    app.advance_clock(Duration::from_secs(retry_after));
    assert_eq!(app.browser().login(&alice).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_copy_of_the_database_holds_no_usable_cookie() {
    let app = spawn_app().await;
    let (_, [browser]) = app.signed_in_user("alice", None).await;
    let secret = cookie_value(&browser.cookie());
    assert_eq!(browser.me().await.status, StatusCode::OK);

    // Every text column of the one table that knows the session's cookie:
    // none holds the cookie's secret, only its hash.
    let stored = app.session_rows_as_text().await;
    assert_eq!(stored.len(), 1, "one session");
    for row in &stored {
        assert!(
            !row.contains(&secret),
            "the cookie id is stored in clear: {row}"
        );
    }
    // The copy's keys, presented as cookies, match nothing.
    for key in stored.iter().flat_map(|row| row.split(' ').take(2)) {
        let me = app.browser_holding(&session_cookie(key)).me().await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    }
}
