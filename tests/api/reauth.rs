//! Re-authentication before ending one's own other sessions (ASVS 4.0.3
//! V3.3.4): `DELETE /api/sessions/{id}` for another session,
//! `POST /api/sessions/revoke-others` and the `/account` page's server
//! functions need the password proved within `BOUNCER_REAUTH_WINDOW`;
//! `POST /api/auth/reauthenticate` proves it again. Time moves on the
//! harness's manual clock.

use std::{fmt::Debug, time::Duration};

use bouncer_wire::{Reason, Revoked, Role};
use leptos::server_fn::ServerFn;
use reqwest::{header, Method, StatusCode};

use crate::helpers::{assert_throttled, send, spawn_app, spawn_app_with, Answer};

/// The default window (`15m`).
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Just past the default window, and well inside the default idle timeout
/// (30 minutes), so no session ends for idleness meanwhile.
const PAST_THE_WINDOW: Duration = Duration::from_secs(15 * 60 + 1);

/// Asserts a 403 `reauthentication_required` in the API's error shape.
fn assert_reauthentication_required<T: Debug>(answer: Answer<T>, call: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{call}");
    let refusal = answer.refusal();
    assert_eq!(refusal.error, "reauthentication_required", "{call}");
    assert!(
        refusal.message.is_some_and(|m| !m.is_empty()),
        "{call}: a message for a person"
    );
}

#[tokio::test]
async fn other_sessions_end_within_the_window_and_need_the_password_after_it() {
    let app = spawn_app().await;
    let (bob, [laptop, phone, tablet]) = app.signed_in_user("bob", Some(0)).await;
    let (phone_id, tablet_id) = (phone.session_id().await, tablet.session_id().await);

    // Right after signing in: no password needed.
    assert_eq!(
        laptop.end_session(&phone_id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(phone.end_reason().await, Some(Reason::RevokedByUser));

    app.advance_clock(PAST_THE_WINDOW);
    assert_reauthentication_required(laptop.end_session(&tablet_id).await, "DELETE");
    assert_reauthentication_required(laptop.revoke_others().await, "revoke-others");
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");
    assert_eq!(tablet.me().await.status, StatusCode::OK);
    assert_eq!(
        laptop.me().await.status,
        StatusCode::OK,
        "the caller stays signed in"
    );

    // A wrong password changes nothing.
    let wrong = laptop.reauthenticate("not-bobs-password").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error(), Some("invalid_credentials"));
    assert_reauthentication_required(laptop.end_session(&tablet_id).await, "DELETE");

    let right = laptop.reauthenticate(&bob.password).await;
    assert_eq!(right.status, StatusCode::NO_CONTENT);
    assert_eq!(
        laptop.end_session(&tablet_id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(tablet.end_reason().await, Some(Reason::RevokedByUser));
    let [watch] = app.devices(&bob).await;
    let revoked = laptop.revoke_others().await.expect("the others end");
    assert_eq!(revoked, Revoked { revoked: 1 });
    assert_eq!(watch.end_reason().await, Some(Reason::RevokedByUser));
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn the_window_includes_its_last_moment() {
    let app = spawn_app_with(|s| s.reauth_window = Some(Duration::from_secs(60))).await;
    let (_, [laptop, phone, tablet]) = app.signed_in_user("bob", Some(0)).await;
    let phone_id = phone.session_id().await;
    let tablet_id = tablet.session_id().await;

    app.advance_clock(Duration::from_secs(60));
    assert_eq!(
        laptop.end_session(&phone_id).await.status,
        StatusCode::NO_CONTENT,
        "exactly the window after signing in"
    );
    app.advance_clock(Duration::from_millis(1));
    assert_reauthentication_required(laptop.end_session(&tablet_id).await, "DELETE");
}

#[tokio::test]
async fn ending_the_current_session_never_needs_the_password() {
    let app = spawn_app().await;
    let (bob, [laptop, phone]) = app.signed_in_user("bob", Some(0)).await;

    app.advance_clock(PAST_THE_WINDOW);
    let laptop_id = laptop.session_id().await;
    assert_eq!(
        laptop.end_session(&laptop_id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        laptop.me().await.status,
        StatusCode::UNAUTHORIZED,
        "signed out"
    );
    // A logout without recent authentication ends only its own session,
    // logout-everywhere or not: a stolen cookie cannot sign the owner out
    // of their other devices this way either (issue 15, finding 6).
    assert_eq!(phone.me().await.status, StatusCode::OK, "the phone stays");
    assert_eq!(app.live_sessions(&bob).await, 1);

    let [laptop] = app.devices(&bob).await;
    app.advance_clock(PAST_THE_WINDOW);
    assert_eq!(laptop.logout().await.status, StatusCode::NO_CONTENT);
    assert_eq!(laptop.me().await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn off_disables_the_requirement() {
    // No idle timeout either, so the other sessions outlive the long wait.
    let app = spawn_app_with(|s| {
        s.reauth_window = None;
        s.idle_timeout = None;
    })
    .await;
    let (bob, [laptop, phone, _tablet]) = app.signed_in_user("bob", Some(0)).await;
    let phone_id = phone.session_id().await;

    app.advance_clock(Duration::from_secs(2 * 60 * 60));
    assert_eq!(
        laptop.end_session(&phone_id).await.status,
        StatusCode::NO_CONTENT
    );
    let revoked = laptop.revoke_others().await.expect("the others end");
    assert_eq!(revoked, Revoked { revoked: 1 });
    assert_eq!(app.live_sessions(&bob).await, 1);
}

#[tokio::test]
async fn a_continued_login_and_a_password_change_start_the_window_again() {
    let app = spawn_app().await;
    let (bob, [laptop, _phone]) = app.signed_in_user("bob", Some(0)).await;
    let laptop_id = laptop.session_id().await;

    app.advance_clock(PAST_THE_WINDOW);
    assert_reauthentication_required(laptop.revoke_others().await, "before the login");
    // Signing in again in the same browser continues the session...
    assert_eq!(laptop.login(&bob).await.status, StatusCode::OK);
    assert_eq!(laptop.session_id().await, laptop_id, "the same session");
    // ...and counts as proving the password.
    let revoked = laptop.revoke_others().await.expect("the others end");
    assert_eq!(revoked, Revoked { revoked: 1 });

    let [phone] = app.devices(&bob).await;
    app.advance_clock(PAST_THE_WINDOW);
    assert_reauthentication_required(laptop.revoke_others().await, "before the change");
    let changed = laptop
        .change_password(&bob.password, "bobs-new-password")
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert_eq!(phone.end_reason().await, Some(Reason::PasswordChanged));
    let [phone] = app.devices(&bob.with_password("bobs-new-password")).await;
    let phone_id = phone.session_id().await;
    assert_eq!(
        laptop.end_session(&phone_id).await.status,
        StatusCode::NO_CONTENT,
        "the password change proved the password"
    );
    assert_eq!(app.live_sessions(&bob).await, 1);
}

/// Wrong passwords at `POST /api/auth/reauthenticate` count in the login
/// throttle, the same counter as sign-in and the password change.
#[tokio::test]
async fn wrong_passwords_are_throttled_like_sign_in() {
    let app = spawn_app().await;
    let (bob, [laptop, phone]) = app.signed_in_user("bob", Some(0)).await;
    app.advance_clock(PAST_THE_WINDOW);

    for attempt in 0..5 {
        let wrong = laptop.reauthenticate("guess").await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "attempt {attempt}");
    }
    let retry_after = assert_throttled(laptop.reauthenticate(&bob.password).await);
    // One counter: signing in as bob from this address is throttled too.
    let login = app.browser().login(&bob).await;
    assert_eq!(login.status, StatusCode::TOO_MANY_REQUESTS);
    assert_reauthentication_required(laptop.revoke_others().await, "still not re-authenticated");
    assert_eq!(phone.me().await.status, StatusCode::OK);
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");

    // Keep both sessions alive through the wait (idle timeout: 30 minutes).
    app.advance_clock(Duration::from_secs(retry_after / 2));
    assert_eq!(laptop.activity().await.status, StatusCode::NO_CONTENT);
    app.advance_clock(Duration::from_secs(retry_after - retry_after / 2));
    assert_eq!(
        laptop.reauthenticate(&bob.password).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(laptop.revoke_others().await.status, StatusCode::OK);
}

#[tokio::test]
async fn reauthenticate_needs_a_session_and_a_well_formed_body() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, None).await;
    let anonymous = app.browser().reauthenticate(&bob.password).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.error(), Some("unauthenticated"));

    let (laptop, _) = app.signed_in(&bob).await;
    for body in ["{\"pass\": \"x\"}", "not json", "{\"password\": 5}"] {
        let reauthenticate = laptop
            .request(Method::POST, "/api/auth/reauthenticate")
            .header(header::CONTENT_TYPE, "application/json");
        let answer: Answer<()> = Answer::read(send(reauthenticate.body(body)).await).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.error(), Some("bad_request"), "{body}");
    }
}

/// The proof is read from the database, not the node's memory: a window
/// started through one engine holds for a check made by another on the same
/// database (here, the proof written straight to the stored row).
#[tokio::test]
async fn the_proof_is_read_from_the_database() {
    let app = spawn_app().await;
    let (_, [laptop, phone]) = app.signed_in_user("bob", Some(0)).await;
    let laptop_id = laptop.session_id().await;
    let phone_id = phone.session_id().await;
    app.advance_clock(PAST_THE_WINDOW);
    assert_reauthentication_required(laptop.end_session(&phone_id).await, "DELETE");

    // As another node would record a re-authentication.
    assert!(app.record_reauthentication(&laptop_id).await);
    assert_eq!(
        laptop.end_session(&phone_id).await.status,
        StatusCode::NO_CONTENT
    );
}

/// The `/account` page's server functions follow the same rule: its
/// "Sign out all other devices" and "Sign out this device" answer with the
/// sentence the page recognises, and its re-authentication unlocks them.
#[tokio::test]
async fn the_account_page_server_functions_ask_for_the_password_too() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", Role::User, Some(0)).await;
    let (laptop, cookie) = app.signed_in(&bob).await;
    let [phone] = app.devices(&bob).await;
    let phone_id = phone.session_id().await;
    let page = app.browser_holding(&cookie);
    let call = |path: &'static str, form: String| {
        let form_post = page
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        send(form_post.body(form))
    };
    let end_others = <app::server::EndOtherSessions as ServerFn>::PATH;
    let end_one = <app::server::EndMySession as ServerFn>::PATH;
    let reauth = <app::server::Reauthenticate as ServerFn>::PATH;

    app.advance_clock(PAST_THE_WINDOW);
    for (path, form) in [
        (end_others, String::new()),
        (end_one, format!("id={phone_id}")),
    ] {
        // The API's refusal, status and JSON alike (issue 15, finding 8).
        let refused = call(path, form).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let body: serde_json::Value = refused.json().await.expect("JSON");
        assert_eq!(body["error"], "reauthentication_required", "{path}: {body}");
    }
    assert_eq!(app.live_sessions(&bob).await, 2, "nothing ended");

    let wrong = call(reauth, "password=guess".to_owned()).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = wrong.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_credentials");
    assert_eq!(body["message"], "The password is not correct.");
    let form = format!("password={}", urlencoding(&bob.password));
    let right = call(reauth, form).await;
    assert!(right.status().is_success(), "{}", right.status());
    let ended = call(end_one, format!("id={phone_id}")).await;
    assert!(ended.status().is_success(), "{}", ended.status());
    assert_eq!(phone.end_reason().await, Some(Reason::RevokedByUser));
    assert_eq!(laptop.me().await.status, StatusCode::OK);
}

/// The test passwords are `name-correct-horse`: only `-` needs no escaping,
/// but escape anything outside the unreserved set to stay honest.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_default_window_is_fifteen_minutes() {
    assert_eq!(
        bouncer::config::Settings::default().reauth_window,
        Some(WINDOW)
    );
}
