//! The admin API: the permission matrix, deactivation, bulk and all-or-nothing
//! revokes, the last-admin rule and the audit log.

use std::ops::Deref;

use bouncer_wire::{NewUser, Permission, Reason, Revoked, Role, UserPatch};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{send, spawn_app, Browser, TestApp, TestUser};

/// A signed-in user of the console; the tests act through their browser.
struct Member {
    user: TestUser,
    browser: Browser,
}

impl Deref for Member {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

async fn member(app: &TestApp, name: &str, role: Role, permissions: &[Permission]) -> Member {
    let user = app.add_user_with(name, role, permissions, None).await;
    let (browser, _) = app.signed_in(&user).await;
    Member { user, browser }
}

/// `PATCH /api/admin/users/{id}` `{"active": active}`.
fn active(active: bool) -> UserPatch {
    UserPatch {
        active: Some(active),
        ..UserPatch::default()
    }
}

/// Everyone the matrix needs, each signed in once.
struct Cast {
    alice: Member,
    staff_plain: Browser,
    sam: Browser,
    super_staff: Browser,
    root: Member,
    other_admin: Member,
}

async fn cast(app: &TestApp) -> Cast {
    Cast {
        alice: member(app, "alice", Role::User, &[]).await,
        staff_plain: member(app, "stella", Role::Staff, &[]).await.browser,
        sam: member(app, "sam", Role::Staff, &[Permission::RevokeUsers])
            .await
            .browser,
        super_staff: member(
            app,
            "sid",
            Role::Staff,
            &[Permission::RevokeUsers, Permission::RevokeAdmins],
        )
        .await
        .browser,
        root: member(app, "root", Role::Admin, &[]).await,
        other_admin: member(app, "ada", Role::Admin, &[]).await,
    }
}

#[tokio::test]
async fn the_revoke_permission_matrix() {
    // (actor, target, expected status) for DELETE /api/admin/sessions/{id}.
    let app = spawn_app().await;
    let c = cast(&app).await;
    let alice_session = c.alice.session_id().await;
    let admin_session = c.other_admin.session_id().await;
    let alice_id = c.alice.user.id.as_str();

    // Users and plain staff: 403 on every revoke call.
    for actor in [&c.alice.browser, &c.staff_plain] {
        let statuses = [
            actor.admin_end_session(&alice_session).await.status,
            actor.revoke_user(alice_id).await.status,
            actor.revoke_users(&[alice_id]).await.status,
            actor.revoke_all(None).await.status,
        ];
        assert_eq!(statuses, [StatusCode::FORBIDDEN; 4]);
    }
    assert_eq!(
        app.live_sessions(&c.alice.user).await,
        1,
        "nothing was ended"
    );
    // revoke_users cannot end an admin's session, revoke_admins can.
    let forbidden = c.sam.admin_end_session(&admin_session).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.error(), Some("forbidden"));
    assert_eq!(
        c.sam.revoke_user(&c.other_admin.user.id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(c.other_admin.me().await.status, StatusCode::OK);
    let ended = c.super_staff.admin_end_session(&admin_session).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert_eq!(c.other_admin.end_reason().await, Some(Reason::AdminRevoked));
    // revoke_users ends a user's session.
    let ended = c.sam.admin_end_session(&alice_session).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert_eq!(c.alice.end_reason().await, Some(Reason::AdminRevoked));
    assert_eq!(
        c.sam.admin_end_session("s_nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bulk_revoke_is_all_or_nothing() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let ids = [c.alice.user.id.as_str(), c.root.user.id.as_str()];
    let refused = c.sam.revoke_users(&ids).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        c.alice.me().await.status,
        StatusCode::OK,
        "nobody was ended"
    );
    let unknown = [c.alice.user.id.as_str(), "u_nobody"];
    assert_eq!(
        c.sam.revoke_users(&unknown).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.alice.me().await.status, StatusCode::OK);
    let done = c
        .super_staff
        .revoke_users(&ids)
        .await
        .expect("sid ends both");
    assert_eq!(done, Revoked { revoked: 2 });
    assert_eq!(c.alice.end_reason().await, Some(Reason::AdminRevoked));
    assert_eq!(c.root.end_reason().await, Some(Reason::AdminRevoked));
}

#[tokio::test]
async fn revoke_all_spares_the_caller_and_admins_unless_asked() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let forbidden = c.sam.revoke_all(Some(true)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let done = c.sam.revoke_all(None).await.expect("sam ends the users'");
    // alice, stella, sid: everyone but sam and the two admins.
    assert_eq!(done, Revoked { revoked: 3 });
    assert_eq!(
        c.sam.me().await.status,
        StatusCode::OK,
        "never the caller's own"
    );
    assert_eq!(c.root.me().await.status, StatusCode::OK);
    assert_eq!(c.alice.end_reason().await, Some(Reason::AdminRevoked));
    let all = c
        .root
        .browser
        .revoke_all(Some(true))
        .await
        .expect("root ends everyone's");
    assert_eq!(all, Revoked { revoked: 2 });
    assert_eq!(c.root.me().await.status, StatusCode::OK);
    assert_eq!(c.other_admin.end_reason().await, Some(Reason::AdminRevoked));
}

#[tokio::test]
async fn admins_manage_users_deactivation_ends_everything_and_the_last_admin_stays() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let admin = app.browser();
    admin.login(&root).await;

    let created = admin
        .create_user(&NewUser {
            username: "carol".into(),
            password: "carol-long-password".into(),
            role: Role::User,
            permissions: vec![],
            max_sessions: Some(0),
        })
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let carol = created.expect("carol is created");
    assert_eq!(carol.username, "carol");
    assert_eq!(carol.max_sessions, Some(0));
    // Only what the call needs: the rest takes its defaults.
    let taken = admin
        .create_user(&json!({"username": "carol", "password": "another-password", "role": "user"}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error(), Some("username_taken"));
    let bad = admin
        .create_user(&json!({"username": "x y", "password": "another-password", "role": "wizard"}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let (tv, phone) = (app.browser(), app.browser());
    tv.login_as("carol", "carol-long-password").await;
    phone.login_as("carol", "carol-long-password").await;

    let patched = admin
        .patch_user(
            &carol.id,
            &UserPatch {
                max_sessions: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .expect("the limit is lifted");
    assert_eq!(patched.max_sessions, None);
    assert_eq!(
        tv.me().await.status,
        StatusCode::OK,
        "a limit change ends nothing by itself"
    );

    let deactivated = admin.patch_user(&carol.id, &active(false)).await;
    assert_eq!(deactivated.status, StatusCode::OK);
    assert!(!deactivated.expect("deactivated").active);
    assert_eq!(tv.end_reason().await, Some(Reason::Deactivated));
    assert_eq!(phone.end_reason().await, Some(Reason::Deactivated));
    assert_eq!(
        app.browser()
            .login_as("carol", "carol-long-password")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    app.browser().login_as("carol", "carol-long-password").await;
    admin.patch_user(&carol.id, &active(true)).await;
    let back = app.browser();
    assert_eq!(
        back.login_as("carol", "carol-long-password").await.status,
        StatusCode::OK
    );
    admin
        .patch_user(
            &carol.id,
            &UserPatch {
                password: Some("reset-by-the-admin".into()),
                ..UserPatch::default()
            },
        )
        .await;
    assert_eq!(back.end_reason().await, Some(Reason::PasswordChanged));

    // The last active admin can neither be deactivated nor demoted.
    for refused_patch in [
        active(false),
        UserPatch {
            role: Some(Role::Staff),
            ..UserPatch::default()
        },
    ] {
        let refused = admin.patch_user(&root.id, &refused_patch).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{refused_patch:?}");
        assert_eq!(refused.error(), Some("last_admin"));
    }
    assert_eq!(admin.me().await.status, StatusCode::OK);
    let unknown = admin.patch_user("u_nobody", &active(false)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let patch = admin.request(Method::PATCH, &format!("/api/admin/users/{}", carol.id));
    let garbage = send(patch.json(&json!({"colour": "red"}))).await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_admins_manage_users_and_only_staff_read_the_console() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let new_user = json!({"username": "eve", "password": "eve-long-password", "role": "admin"});
    assert_eq!(
        c.super_staff.create_user(&new_user).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.sam
            .patch_user(&c.alice.user.id, &active(false))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    for path in [
        "/api/admin/users",
        "/api/admin/sessions",
        "/api/admin/audit",
    ] {
        assert_eq!(
            c.alice.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            c.staff_plain.get(path).await.status(),
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            send(app.request(Method::GET, path)).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_users_list_searches_pages_and_counts_sessions() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let list = c
        .sam
        .admin_users("query=A&limit=2&offset=0")
        .await
        .expect("a page of users");
    // "a" matches ada, alice, sam, stella (case-insensitively), in name order.
    assert_eq!(list.total, 4);
    let names: Vec<_> = list
        .users
        .iter()
        .map(|u| u.user.username.as_str())
        .collect();
    assert_eq!(names, ["ada", "alice"]);
    assert_eq!(list.users[1].sessions, 1);
    assert_eq!(list.users[1].user.role, Role::User);
    let page2 = c
        .sam
        .admin_users("query=a&limit=2&offset=2")
        .await
        .expect("the second page");
    assert_eq!(page2.users[0].user.username, "sam");
    assert_eq!(page2.users[1].user.username, "stella");
    let wildcard = c
        .sam
        .admin_users("query=%25")
        .await
        .expect("a search for %");
    assert_eq!(wildcard.total, 0, "LIKE wildcards are matched literally");
    assert_eq!(
        c.sam.admin_users("limit=-1").await.status,
        StatusCode::BAD_REQUEST
    );

    let sessions = c
        .sam
        .admin_sessions(Some(&c.alice.user.id))
        .await
        .expect("alice's sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].username, "alice");
    let everyone = c
        .sam
        .admin_sessions(None)
        .await
        .expect("everyone's sessions");
    assert_eq!(everyone.len(), 6);
    assert_eq!(everyone.iter().filter(|s| s.current).count(), 1);
}

#[tokio::test]
async fn every_ending_has_an_audit_row() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    c.sam.revoke_user(&c.alice.user.id).await;
    let audit = c.sam.audit(10).await.expect("the audit log");
    let newest = &audit[0];
    assert_eq!(newest.actor, "sam");
    assert_eq!(newest.action, "admin_revoke");
    assert_eq!(newest.target_user, "alice");
    assert_eq!(newest.reason, Reason::AdminRevoked);
    assert!(newest.session_id.starts_with("s_"));
    assert!(newest.at.ends_with('Z'));
    // Sign-ins replacing nobody leave no rows: one ending, one row.
    assert_eq!(audit.len(), 1);
}
