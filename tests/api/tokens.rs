//! Service tokens: `Authorization: Bearer bnc_…` on the admin API within the
//! token's permissions, named `token:<name>` in the audit log; one 401
//! `invalid_token` for every bad token; nothing anywhere else; and `bouncer
//! token create|list|revoke` against a running server.

use std::time::Duration;

use bouncer_wire::{NewUser, Permission, Reason, Revoked, Role, UserPatch};
use reqwest::{header, Method, StatusCode};

use crate::helpers::{bouncer, send, spawn_app, text, Answer, Browser, TestApp};

/// A fresh app and a token made on it, holding `permissions`.
async fn app_with_token(
    permissions: &[Permission],
    lifetime: Option<Duration>,
) -> (TestApp, String) {
    let app = spawn_app().await;
    let token = app.create_token("script", permissions, lifetime).await;
    (app, token)
}

#[tokio::test]
async fn a_token_ends_sessions_within_its_permissions_as_token_name() {
    let app = spawn_app().await;
    let (alice, [alice_browser]) = app.signed_in_user("alice", None).await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (root_browser, _) = app.signed_in(&root).await;
    let billing = app.with_token(
        &app.create_token("billing", &[Permission::RevokeUsers], None)
            .await,
    );

    // It reads what staff read: enough to find a user by name.
    let found = billing.admin_users("query=ali").await.expect("listed");
    assert_eq!(found.users[0].user.id, alice.id);
    let sessions = billing
        .admin_sessions(None)
        .await
        .expect("the sessions are listed");
    assert_eq!(sessions.len(), 2, "the two people's, never a token's own");
    assert!(
        sessions.iter().all(|s| !s.current),
        "a token has no session"
    );
    assert_eq!(billing.audit(10).await.status, StatusCode::OK);

    let revoked = billing.revoke_user(&alice.id).await.expect("ended");
    assert_eq!(revoked, Revoked { revoked: 1 });
    assert_eq!(alice_browser.end_reason().await, Some(Reason::AdminRevoked));
    let audit = root_browser.audit(10).await.expect("the audit log");
    assert_eq!(audit[0].actor, "token:billing");
    assert_eq!(audit[0].target_user, "alice");

    // Not an admin's session, not account management: 403, and nothing ends.
    let statuses = [
        billing.revoke_user(&root.id).await.status,
        billing.revoke_all(Some(true)).await.status,
        billing
            .create_user(&NewUser {
                username: "mallory".into(),
                password: "mallory-long-password".into(),
                role: Role::Admin,
                permissions: vec![],
                max_sessions: None,
            })
            .await
            .status,
        billing
            .patch_user(
                &alice.id,
                &UserPatch {
                    role: Some(Role::Admin),
                    ..UserPatch::default()
                },
            )
            .await
            .status,
    ];
    assert_eq!(statuses, [StatusCode::FORBIDDEN; 4]);
    assert_eq!(root_browser.me().await.status, StatusCode::OK);

    // revoke_admins as well reaches everyone; a token spares no session of
    // its own, having none.
    let ops = app.with_token(
        &app.create_token(
            "ops",
            &[Permission::RevokeUsers, Permission::RevokeAdmins],
            None,
        )
        .await,
    );
    let all = ops.revoke_all(Some(true)).await.expect("everyone's");
    assert_eq!(all, Revoked { revoked: 1 });
    assert_eq!(root_browser.end_reason().await, Some(Reason::AdminRevoked));
}

/// Asserts the one answer every bad token gets.
fn assert_invalid_token<T: std::fmt::Debug>(answer: Answer<T>, what: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(
        answer
            .headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.as_bytes()),
        Some(&b"Bearer error=\"invalid_token\""[..]),
        "{what}"
    );
    let refusal = answer.refusal();
    assert_eq!(refusal.error, "invalid_token", "{what}");
    assert_eq!(
        refusal.message.as_deref(),
        Some("The token is not valid: it is malformed, unknown, revoked or expired."),
        "{what}: the same words whatever is wrong"
    );
}

#[tokio::test]
async fn a_malformed_unknown_revoked_or_expired_token_gets_one_answer() {
    let (app, expiring) =
        app_with_token(&[Permission::RevokeUsers], Some(Duration::from_secs(3600))).await;
    let revoked = app
        .create_token("old", &[Permission::RevokeUsers], None)
        .await;
    let revoking = bouncer(&app.database_url, &["token", "revoke", "old"], None).await;
    assert!(revoking.status.success(), "{}", text(&revoking.stderr));
    app.advance_clock(Duration::from_secs(3600));
    let (alice, [alice_browser]) = app.signed_in_user("alice", None).await;

    let unknown = format!("bnc_{}", "0".repeat(64));
    let huge = format!("Bearer bnc_{}", "a".repeat(8000));
    let authorizations: Vec<(&str, Vec<u8>)> = vec![
        ("expired", format!("Bearer {expiring}").into_bytes()),
        ("revoked", format!("Bearer {revoked}").into_bytes()),
        ("unknown", format!("Bearer {unknown}").into_bytes()),
        (
            "uppercase",
            format!("Bearer {}", unknown.to_uppercase()).into_bytes(),
        ),
        (
            "no prefix",
            format!("Bearer {}", "0".repeat(68)).into_bytes(),
        ),
        ("short", b"Bearer bnc_00".to_vec()),
        ("empty", b"Bearer ".to_vec()),
        ("another scheme", b"Basic YWxpY2U6c2VjcmV0".to_vec()),
        ("not text", b"Bearer bnc_\xff\xfe".to_vec()),
        (
            "a tab for the space",
            format!("Bearer\t{unknown}").into_bytes(),
        ),
        ("huge", huge.into_bytes()),
    ];
    for (what, authorization) in authorizations {
        let script = Browser::authorized(&app.address, &authorization);
        assert_invalid_token(script.revoke_user(&alice.id).await, what);
        assert_invalid_token(script.admin_users("").await, what);
    }
    // Two headers: which would count is not the server's to guess.
    let twice = app
        .request(Method::GET, "/api/admin/users")
        .header(header::AUTHORIZATION, format!("Bearer {unknown}"))
        .header(header::AUTHORIZATION, format!("Bearer {unknown}"));
    assert_invalid_token(Answer::<()>::read(send(twice).await).await, "twice");
    assert_eq!(alice_browser.me().await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_is_nothing_but_on_the_admin_api() {
    let (app, token) =
        app_with_token(&[Permission::RevokeUsers, Permission::RevokeAdmins], None).await;
    let script = app.with_token(&token);
    for path in [
        "/api/auth/me",
        "/api/sessions",
        "/api/ws",
        "/api/auth/verify",
    ] {
        let answer = Answer::<()>::read(script.get(path).await).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.error(), Some("unauthenticated"), "{path}");
    }
    let activity = script.activity().await;
    assert_eq!(activity.status, StatusCode::UNAUTHORIZED);
    for page in ["/account", "/admin"] {
        let answer = script.get(page).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{page}");
        assert!(answer.headers()[header::LOCATION]
            .to_str()
            .expect("ASCII")
            .starts_with("/login?next="));
    }
    // A token and a cookie: the admin API takes the token, the rest the cookie.
    let (alice, [alice_browser]) = app.signed_in_user("alice", None).await;
    let both = Browser::holding(&app.address, &alice_browser.cookie());
    for (path, status, why) in [
        ("/api/auth/me", StatusCode::OK, "alice's own session"),
        ("/api/admin/users", StatusCode::OK, "the token's reads"),
    ] {
        let request = both
            .request(Method::GET, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        assert_eq!(send(request).await.status(), status, "{why}");
    }
    let alone = alice_browser.admin_users("").await;
    assert_eq!(
        alone.status,
        StatusCode::FORBIDDEN,
        "alice alone is no staff"
    );
    assert_eq!(app.live_sessions(&alice).await, 1, "a token is no session");
}

#[tokio::test]
async fn the_command_line_makes_lists_and_revokes_tokens_a_running_server_honours() {
    let app = spawn_app().await;
    let (alice, [alice_browser]) = app.signed_in_user("alice", None).await;
    let url = app.database_url.as_str();
    let create: Vec<&str> = "token create billing --permission revoke_users --expires 90d"
        .split(' ')
        .collect();
    let created = bouncer(url, &create, None).await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    // Only the token on standard output, for `TOKEN=$(bouncer token create …)`.
    let stdout = text(&created.stdout);
    let token = stdout.trim_end();
    assert_eq!(stdout, format!("{token}\n"));
    assert!(token.starts_with("bnc_") && token.len() == 68, "{token}");
    assert!(text(&created.stderr).contains("shown only now"));
    let again = bouncer(url, &create, None).await;
    assert!(!again.status.success(), "the name is taken");
    assert!(text(&again.stderr).contains("billing"));
    for refused in [
        "token create nothing",
        "token create bad/name --permission revoke_users",
        "token create x --permission fly",
        "token create x --permission revoke_users --expires off",
        "token create x --permission revoke_users --expires soon",
    ] {
        let args: Vec<&str> = refused.split(' ').collect();
        let output = bouncer(url, &args, None).await;
        assert!(!output.status.success(), "{refused}");
    }

    let billing = app.with_token(token);
    billing
        .revoke_user(&alice.id)
        .await
        .expect("the token works");
    assert_eq!(alice_browser.end_reason().await, Some(Reason::AdminRevoked));
    let listed = text(&bouncer(url, &["token", "list"], None).await.stdout);
    let row = listed
        .lines()
        .find(|line| line.starts_with("billing "))
        .unwrap_or_else(|| panic!("billing is listed:\n{listed}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[1], "revoke_users");
    assert_ne!(columns[4], "-", "last used: {row}");
    assert_eq!(columns[5], "active");
    assert!(!listed.contains(token), "the token is never shown again");

    let revoked = bouncer(url, &["token", "revoke", "billing"], None).await;
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert_invalid_token(billing.admin_users("").await, "revoked");
    let listed = text(&bouncer(url, &["token", "list"], None).await.stdout);
    assert!(listed.contains("revoked"), "{listed}");
    let twice = bouncer(url, &["token", "revoke", "billing"], None).await;
    assert!(!twice.status.success(), "nothing left to revoke");
    // The name is free again: a new token, a new secret.
    let renewed = bouncer(url, &create, None).await;
    assert!(renewed.status.success());
    assert_ne!(text(&renewed.stdout).trim_end(), token);
}
