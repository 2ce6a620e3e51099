//! The security properties listed in `docs/SECURITY.md` that no other suite
//! proves: the cookie id's entropy, fixation with a live planted cookie, the
//! cookie's scope and lifetime, no id in URLs or bodies, no caching, server-
//! side expiry whatever the client sends, no static API keys, throttled
//! re-authentication, cross-site request forgery and cross-site WebSocket
//! hijacking. Each test names the requirement it proves.

use std::{collections::HashSet, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use bouncer_wire::{Reason, Revoked, Role};
use leptos::server_fn::ServerFn;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_throttled, attribute, attributes, cookie_header_from, cookie_value, send,
    session_set_cookie, spawn_app, spawn_https_app, upgrade_refusal, upgrade_status, Answer,
};

/// V3.2.2 (at least 64 bits of entropy) and V3.2.4 (a cryptographic
/// generator): the cookie's secret is 32 bytes from the OS's generator,
/// written as 43 base64url characters (`bouncer_web::cookie`). Real logins
/// must show exactly that: 32 bytes each, never the same twice, and every one
/// of the 256 bit positions both set and clear across the sample, with about
/// half of all bits set. A counter, a timestamp or a short random part would
/// fail at least one of these.
#[tokio::test]
async fn cookie_ids_carry_256_random_bits_and_never_repeat() {
    const LOGINS: usize = 100;
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let mut seen = HashSet::new();
    let mut ones_at = [0usize; 256];
    for _ in 0..LOGINS {
        let answer = app.browser().login(&bob).await;
        assert_eq!(answer.status, StatusCode::OK);
        let value = cookie_value(&answer.set_cookie().expect("a session cookie"));
        assert_eq!(value.len(), 43, "{value}");
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url only: {value}"
        );
        let bytes = URL_SAFE_NO_PAD
            .decode(&value)
            .expect("32 bytes of base64url");
        assert_eq!(bytes.len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.encode(&bytes), value, "one spelling per id");
        for (bit, ones) in ones_at.iter_mut().enumerate() {
            *ones += usize::from((bytes[bit / 8] >> (bit % 8)) & 1 == 1);
        }
        assert!(seen.insert(value), "a cookie id came twice");
    }
    for (bit, ones) in ones_at.iter().enumerate() {
        assert!(
            (1..LOGINS).contains(ones),
            "bit {bit} was set in {ones} of {LOGINS} ids"
        );
    }
    // 25,600 fair bits: 12,800 ones expected, standard deviation 80; six
    // deviations either way.
    let total: usize = ones_at.iter().sum();
    assert!((12_320..=13_280).contains(&total), "{total} bits set");
}

/// V3.2.1: before sign-in the server hands out no session cookie at all, so
/// there is no pre-login id an attacker could obtain and plant.
#[tokio::test]
async fn nothing_issues_a_session_cookie_before_sign_in() {
    let app = spawn_app().await;
    app.add_user("alice", Role::User, None).await;
    let wrong_login = json!({"username": "alice", "password": "not-the-password"});
    let anonymous = [
        app.request(Method::GET, "/"),
        app.request(Method::GET, "/login"),
        app.request(Method::GET, "/login?reason=logged_out&next=/account"),
        app.request(Method::GET, "/api/auth/me"),
        app.request(Method::POST, "/api/auth/logout"),
        app.request(Method::POST, "/api/auth/login")
            .json(&wrong_login),
    ];
    for request in anonymous {
        let response = send(request).await;
        assert!(
            session_set_cookie(response.headers()).is_none(),
            "{} set a cookie",
            response.url()
        );
    }
}

/// V3.2.1, session fixation with a *live* id: an attacker plants their own
/// signed-in cookie in the victim's browser. When the victim signs in, the
/// planted session is logged out and the victim gets a fresh id, so the
/// attacker's copy never becomes the victim's session.
#[tokio::test]
async fn signing_in_over_a_planted_live_cookie_replaces_it() {
    let app = spawn_app().await;
    let mallory = app.add_user("mallory", Role::User, None).await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (_, planted) = app.signed_in(&mallory).await;

    let answer = app.browser_holding(&planted).login(&alice).await;
    assert_eq!(answer.status, StatusCode::OK);
    let issued = cookie_header_from(&answer.headers);
    assert_ne!(issued, planted);

    let planted_me = app.browser_holding(&planted).me().await;
    assert_eq!(
        planted_me.status,
        StatusCode::UNAUTHORIZED,
        "the planted id is dead"
    );
    assert_eq!(planted_me.reason(), Some(Reason::LoggedOut));
    let issued_me = app.browser_holding(&issued).me().await;
    assert_eq!(issued_me.status, StatusCode::OK);
    assert_eq!(issued_me.expect("alice").user.username, "alice");
}

/// V3.4.5 and V3.3.2: the cookie goes back to this host only (no `Domain`),
/// on every path of the app (`Path=/`), and the browser keeps it no longer
/// than the absolute timeout allows; logout tells the browser to drop it.
#[tokio::test]
async fn the_cookie_is_host_only_and_lives_no_longer_than_the_session_may() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, answer) = app.login(&alice).await;
    let set_cookie = answer.set_cookie().expect("a session cookie");
    let flags = attributes(&set_cookie);
    assert_eq!(attribute(&flags, "domain"), None, "{set_cookie}");
    assert_eq!(attribute(&flags, "path"), Some("/"), "{set_cookie}");
    let max_age: u64 = attribute(&flags, "max-age")
        .expect("a bounded lifetime")
        .parse()
        .expect("whole seconds");
    assert!(
        (12 * 3600 - 60..=12 * 3600).contains(&max_age),
        "the 12 h absolute timeout, not longer: {set_cookie}"
    );

    let logout = browser.logout().await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let removal = logout.set_cookie().expect("a removal cookie");
    assert_eq!(
        attribute(&attributes(&removal), "max-age"),
        Some("0"),
        "{removal}"
    );
    assert_eq!(cookie_value(&removal), "");
}

/// V3.4.1 and V3.4.4: on an https origin the cookie is `Secure` and named with
/// the `__Host-` prefix, which browsers accept only with `Secure`, `Path=/`
/// and no `Domain`; a cookie by the unprefixed name (one a sibling subdomain
/// could set) is not read. The removal at logout is `Secure` too, or
/// browsers would refuse it and keep the dead id.
#[tokio::test]
async fn on_https_the_cookie_is_secure_and_host_prefixed() {
    let app = spawn_https_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let answer = app.browser().login(&alice).await;
    assert_eq!(answer.status, StatusCode::OK);
    let set_cookie = answer.set_cookie().expect("a session cookie");
    assert!(
        set_cookie.starts_with("__Host-bouncer_session="),
        "{set_cookie}"
    );
    let flags = attributes(&set_cookie);
    assert_eq!(attribute(&flags, "secure"), Some(""), "{set_cookie}");
    assert_eq!(attribute(&flags, "path"), Some("/"), "{set_cookie}");
    assert_eq!(attribute(&flags, "domain"), None, "{set_cookie}");
    assert_eq!(attribute(&flags, "samesite"), Some("Lax"), "{set_cookie}");
    assert_eq!(attribute(&flags, "httponly"), Some(""), "{set_cookie}");

    let value = cookie_value(&set_cookie);
    let prefixed = app.browser_holding(&format!("__Host-bouncer_session={value}"));
    assert_eq!(prefixed.me().await.status, StatusCode::OK);
    assert_eq!(
        app.browser_holding(&format!("bouncer_session={value}"))
            .me()
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the unprefixed name is not the session cookie"
    );

    let logout = prefixed.logout().await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let removal = logout.set_cookie().expect("a removal cookie");
    let removal_flags = attributes(&removal);
    assert!(removal.starts_with("__Host-bouncer_session=;"), "{removal}");
    assert_eq!(attribute(&removal_flags, "max-age"), Some("0"), "{removal}");
    assert_eq!(attribute(&removal_flags, "secure"), Some(""), "{removal}");
    assert_eq!(attribute(&removal_flags, "path"), Some("/"), "{removal}");
    assert_eq!(prefixed.me().await.status, StatusCode::UNAUTHORIZED);
}

/// V3.1.1 and V3.2.3: the cookie id appears in no page, no JSON answer, no
/// redirect and no socket message (so nothing but the `HttpOnly` cookie holds
/// it in the browser), and an id in a URL signs nobody in.
#[tokio::test]
async fn the_cookie_id_never_travels_in_a_url_a_page_or_a_message() {
    let app = spawn_app().await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    let secret = cookie_value(&browser.cookie());

    for path in ["/", "/account", "/watch", "/api/auth/me", "/api/sessions"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let text = response.text().await.expect("a body");
        assert!(!text.contains(&secret), "{path} shows the cookie id");
    }
    // The typed hello holds the whole message (`Tab` checks it).
    let (_tab, hello) = browser.open_tab().await;
    let hello = serde_json::to_string(&hello).expect("serialises");
    assert!(!hello.contains(&secret), "{hello}");

    for path in [
        format!("/api/auth/me?bouncer_session={secret}"),
        format!("/api/auth/me?session={secret}"),
        format!("/api/auth/me;bouncer_session={secret}"),
    ] {
        let response = send(app.request(Method::GET, &path)).await;
        assert!(
            matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND
            ),
            "{path}: {}",
            response.status()
        );
    }
    let page = send(app.request(Method::GET, &format!("/account?bouncer_session={secret}"))).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "not signed in");
    let location = page.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(location.starts_with("/login"), "{location}");

    // The redirect of an ended session names the reason, never the id.
    app.signed_in(&alice).await;
    let kicked = browser.get("/account").await;
    assert_eq!(kicked.status(), StatusCode::SEE_OTHER);
    let location = kicked.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert_eq!(
        location, "/login?reason=signed_in_elsewhere&next=/account",
        "no id in the redirect"
    );
}

/// V3.3.1, the back button: answers that depend on the session are
/// `Cache-Control: no-store`, so after logout the browser has no stored copy
/// of a signed-in page or answer to show.
#[tokio::test]
async fn answers_that_depend_on_the_session_are_never_stored() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, login) = app.login(&alice).await;
    let mut answers = vec![(
        "POST /api/auth/login".to_owned(),
        login.status,
        login.headers,
    )];
    for path in ["/", "/account", "/watch", "/api/auth/me", "/api/sessions"] {
        let response = browser.get(path).await;
        answers.push((
            format!("GET {path}"),
            response.status(),
            response.headers().clone(),
        ));
    }
    for (what, status, headers) in answers {
        assert!(status.is_success(), "{what}");
        let cache_control = headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            cache_control.contains("no-store"),
            "{what}: Cache-Control {cache_control:?}"
        );
    }
}

/// V3.3.1 and V3.3.2: the idle timeout is enforced on the server, whatever
/// the client does: the first request after the deadline, even one that
/// would count as activity, finds the session ended, and nothing revives it.
#[tokio::test]
async fn a_timed_out_session_stays_ended_whatever_the_client_sends() {
    let app = spawn_app().await;
    let (alice, [browser]) = app.signed_in_user("alice", None).await;
    let cookie = browser.cookie();
    app.advance_clock(Duration::from_secs(30 * 60));

    let activity = browser.activity().await;
    assert_eq!(activity.status, StatusCode::UNAUTHORIZED);
    assert_eq!(activity.reason(), Some(Reason::IdleTimeout));
    let page = browser.get("/").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()[header::LOCATION],
        "/login?reason=idle_timeout&next=/"
    );
    let socket = app.connect(Some(&cookie), Some(&app.address)).await;
    assert_eq!(
        upgrade_status(&socket),
        401,
        "a timed-out session opens no socket"
    );
    assert_eq!(browser.end_reason().await, Some(Reason::IdleTimeout));
    assert_eq!(app.live_sessions(&alice).await, 0);
}

/// V3.5.2: scripts and billing systems sign in and use the session like a
/// browser; there is no static key. Neither the account's credentials as
/// HTTP Basic nor a live cookie id as a bearer token is accepted.
#[tokio::test]
async fn scripts_use_a_session_not_a_static_key() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (_, cookie) = app.signed_in(&root).await;
    let secret = cookie.trim_start_matches("bouncer_session=");
    let users = || app.request(Method::GET, "/api/admin/users");
    for request in [
        users().basic_auth("root", Some(&root.password)),
        users().bearer_auth(secret),
        users().header("x-api-key", secret),
    ] {
        assert_eq!(send(request).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        send(users().header(header::COOKIE, &cookie)).await.status(),
        StatusCode::OK
    );
}

/// V3.7.1: a password change needs a live session *and* the current password,
/// and wrong current passwords are throttled like failed sign-ins (they share
/// the counter for this account and address), so a stolen session cannot be
/// used to guess the password.
#[tokio::test]
async fn a_password_change_needs_the_current_password_and_guesses_are_throttled() {
    const NEW: &str = "bob-new-password";
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let anonymous = app
        .browser_holding("")
        .change_password(&bob.password, NEW)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let [laptop, phone] = app.devices(&bob).await;
    for guess in 0..5 {
        let wrong = laptop.change_password(&format!("guess-{guess}"), NEW).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "guess {guess}");
    }
    let retry_after = assert_throttled(laptop.change_password(&bob.password, NEW).await);
    assert_eq!(
        app.browser().login(&bob).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "one counter for sign-in and re-authentication"
    );
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");
    assert_eq!(phone.me().await.status, StatusCode::OK);

    app.advance_clock(Duration::from_secs(retry_after));
    let changed = laptop.change_password(&bob.password, NEW).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert_eq!(phone.end_reason().await, Some(Reason::PasswordChanged));
}

/// The server function behind "Sign out all other devices" on `/account`.
fn end_other_sessions_path() -> &'static str {
    <app::server::EndOtherSessions as ServerFn>::PATH
}

/// CSRF (API.md, "Cross-site protection"): a page on another origin that
/// makes the victim's browser send a state-changing request with the session
/// cookie is refused with 403 `cross_origin` before any handler runs, for the
/// JSON API and the pages' server functions alike, and for every way another
/// origin can be spelled. A same-origin `Referer` stands in for a missing
/// `Origin`.
#[tokio::test]
async fn cross_site_writes_riding_the_cookie_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (laptop, laptop_cookie) = app.signed_in(&bob).await;
    let (phone, _) = app.signed_in(&bob).await;
    let (_, root_cookie) = app.signed_in(&root).await;
    let phone_id = phone.session_id().await;

    let port = app.address.rsplit(':').next().expect("a port");
    let foreign = [
        "https://evil.example".to_owned(),
        "null".to_owned(),
        format!("{}.evil.example", app.address),
        app.address.replacen("http://", "https://", 1),
        format!("http://localhost:{port}"),
        "http://127.0.0.1:1".to_owned(),
    ];
    // Raw requests: what a foreign page makes a browser send.
    let writes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/api/auth/logout".into(),
            None,
            &laptop_cookie,
        ),
        (
            Method::POST,
            "/api/sessions/revoke-others".into(),
            None,
            &laptop_cookie,
        ),
        (
            Method::DELETE,
            format!("/api/sessions/{phone_id}"),
            None,
            &laptop_cookie,
        ),
        (
            Method::POST,
            "/api/auth/password".into(),
            Some(json!({"current_password": bob.password, "new_password": "chosen-by-evil"})),
            &laptop_cookie,
        ),
        (
            Method::POST,
            "/api/auth/activity".into(),
            None,
            &laptop_cookie,
        ),
        (
            Method::POST,
            end_other_sessions_path().into(),
            None,
            &laptop_cookie,
        ),
        (
            Method::POST,
            "/api/admin/revoke-all".into(),
            Some(json!({"include_admins": true})),
            &root_cookie,
        ),
        (
            Method::POST,
            "/api/auth/login".into(),
            Some(json!({"username": "bob", "password": bob.password})),
            "",
        ),
    ];
    for origin in &foreign {
        for (method, path, body, cookie) in &writes {
            let mut request = app
                .request(method.clone(), path)
                .header(header::ORIGIN, origin);
            if !cookie.is_empty() {
                request = request.header(header::COOKIE, *cookie);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer: Answer<()> = Answer::read(send(request).await).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{method} {path} from {origin}"
            );
            assert_eq!(
                answer.error(),
                Some("cross_origin"),
                "{method} {path} from {origin}"
            );
        }
    }
    // A foreign Referer, without Origin, is refused the same way.
    let referred = send(
        app.request(Method::POST, "/api/sessions/revoke-others")
            .header(header::COOKIE, &laptop_cookie)
            .header(header::REFERER, "https://evil.example/cats"),
    )
    .await;
    assert_eq!(referred.status(), StatusCode::FORBIDDEN);

    assert_eq!(app.live_sessions(&bob).await, 2, "no session ended");
    assert_eq!(laptop.me().await.status, StatusCode::OK);
    assert_eq!(phone.me().await.status, StatusCode::OK);

    // The same requests from our own pages pass: a same-origin Referer...
    let own_page = send(
        app.request(Method::POST, "/api/sessions/revoke-others")
            .header(header::COOKIE, &laptop_cookie)
            .header(header::REFERER, format!("{}/account", app.address)),
    )
    .await;
    let own_page: Answer<Revoked> = Answer::read(own_page).await;
    assert_eq!(own_page.status, StatusCode::OK);
    assert_eq!(own_page.expect("the others end"), Revoked { revoked: 1 });
    assert_eq!(phone.end_reason().await, Some(Reason::RevokedByUser));
    // ...and our own Origin, on the server function refused above.
    let phone = app.browser();
    assert_eq!(
        phone.login(&bob).await.status,
        StatusCode::OK,
        "the password is unchanged"
    );
    let server_fn = send(
        app.request(Method::POST, end_other_sessions_path())
            .header(header::COOKIE, &laptop_cookie)
            .header(header::ORIGIN, &app.address)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
    )
    .await;
    assert_eq!(server_fn.status(), StatusCode::OK);
    assert_eq!(server_fn.text().await.expect("a body"), "1");
    assert_eq!(phone.end_reason().await, Some(Reason::RevokedByUser));
    assert_eq!(laptop.me().await.status, StatusCode::OK);
}

/// CSRF through `SameSite=Lax`: browsers send the cookie on cross-site
/// top-level GET navigations, so no GET may change anything. The state-
/// changing routes do not answer GET at all.
#[tokio::test]
async fn no_get_changes_anything() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, cookie) = app.signed_in(&bob).await;
    let (phone, _) = app.signed_in(&bob).await;
    let phone_id = phone.session_id().await;
    for path in [
        "/api/auth/logout".to_owned(),
        "/api/auth/login".to_owned(),
        "/api/auth/password".to_owned(),
        "/api/sessions/revoke-others".to_owned(),
        format!("/api/sessions/{phone_id}"),
        end_other_sessions_path().to_owned(),
        "/api/admin/revoke-all".to_owned(),
    ] {
        let response = send(
            app.request(Method::GET, &path)
                .header(header::COOKIE, &cookie)
                .header(header::ORIGIN, "https://evil.example"),
        )
        .await;
        assert!(
            response.status().is_client_error(),
            "GET {path}: {}",
            response.status()
        );
    }
    assert_eq!(app.live_sessions(&bob).await, 2);
    assert_eq!(laptop.me().await.status, StatusCode::OK);
    assert_eq!(phone.me().await.status, StatusCode::OK);
}

/// Cross-site WebSocket hijacking: browsers send the cookie on a WebSocket
/// upgrade from any page on the same *site* (a sibling subdomain included)
/// and `SameSite` does not stop that, so the upgrade checks `Origin` itself.
/// Every origin but ours is refused with 403, however it is spelled, before
/// a tab is counted.
#[tokio::test]
async fn cross_site_socket_upgrades_are_refused_for_every_other_origin() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, None).await;
    let (browser, cookie) = app.signed_in(&alice).await;
    let port = app.address.rsplit(':').next().expect("a port");
    for origin in [
        "https://evil.example".to_owned(),
        "null".to_owned(),
        format!("{}.evil.example", app.address),
        format!("{}@evil.example", app.address),
        app.address.replacen("http://", "https://", 1),
        format!("http://localhost:{port}"),
        "http://127.0.0.1:1".to_owned(),
        String::new(),
    ] {
        let socket = app.connect(Some(&cookie), Some(&origin)).await;
        assert_eq!(upgrade_status(&socket), 403, "Origin {origin:?}");
        assert_eq!(upgrade_refusal(&socket).error, "cross_origin");
    }
    let sessions = browser.sessions().await.expect("alice's sessions");
    assert_eq!(sessions[0].online_tabs, 0, "no refused socket counted");

    // Our own origin connects, and its first message is the hello.
    browser.open_tab().await;
}
