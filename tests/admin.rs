//! The admin API: the permission matrix, deactivation, bulk and all-or-nothing
//! revokes, the last-admin rule and the audit log.

mod support;

use bouncer_wire::{Permission, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{spawn_app, Browser, TestApp};

struct Cast {
    alice: (bouncer_engine::users::UserRecord, Browser),
    staff_plain: Browser,
    sam: Browser,
    super_staff: Browser,
    root: (bouncer_engine::users::UserRecord, Browser),
    other_admin: (bouncer_engine::users::UserRecord, Browser),
}

async fn signed_in(
    app: &TestApp,
    name: &str,
    role: Role,
    permissions: &[Permission],
) -> (bouncer_engine::users::UserRecord, Browser) {
    let (user, password) = app.add_user_with(name, role, permissions, None).await;
    let browser = app.browser();
    assert_eq!(
        browser.login(name, &password).await.status(),
        StatusCode::OK
    );
    (user, browser)
}

async fn cast(app: &TestApp) -> Cast {
    Cast {
        alice: signed_in(app, "alice", Role::User, &[]).await,
        staff_plain: signed_in(app, "stella", Role::Staff, &[]).await.1,
        sam: signed_in(app, "sam", Role::Staff, &[Permission::RevokeUsers])
            .await
            .1,
        super_staff: signed_in(
            app,
            "sid",
            Role::Staff,
            &[Permission::RevokeUsers, Permission::RevokeAdmins],
        )
        .await
        .1,
        root: signed_in(app, "root", Role::Admin, &[]).await,
        other_admin: signed_in(app, "ada", Role::Admin, &[]).await,
    }
}

async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.expect("answered").status()
}

#[tokio::test]
async fn the_revoke_permission_matrix() {
    // (actor, target, expected status) for DELETE /api/admin/sessions/{id}.
    let app = spawn_app().await;
    let c = cast(&app).await;
    let session_of = |browser: &Browser| {
        let browser = browser.clone();
        async move {
            browser.me().await.1["session"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    };
    let alice_session = session_of(&c.alice.1).await;
    let admin_session = session_of(&c.other_admin.1).await;

    // Users and plain staff: 403 on every revoke call.
    for actor in [&c.alice.1, &c.staff_plain] {
        let client = &actor.client;
        assert_eq!(
            status(client.delete(app.url(&format!("/api/admin/sessions/{alice_session}")))).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(client.post(app.url(&format!("/api/admin/users/{}/revoke", c.alice.0.id))))
                .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(
                client
                    .post(app.url("/api/admin/revoke"))
                    .json(&json!({"user_ids": [c.alice.0.id.as_str()]}))
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(
                client
                    .post(app.url("/api/admin/revoke-all"))
                    .json(&json!({}))
            )
            .await,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(app.live_sessions(&c.alice.0).await, 1, "nothing was ended");
    // revoke_users cannot end an admin's session, revoke_admins can.
    let sam = &c.sam.client;
    let forbidden = sam
        .delete(app.url(&format!("/api/admin/sessions/{admin_session}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.json::<Value>().await.expect("JSON")["error"],
        "forbidden"
    );
    assert_eq!(
        status(sam.post(app.url(&format!("/api/admin/users/{}/revoke", c.other_admin.0.id)))).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(c.other_admin.1.me().await.0, 200);
    assert_eq!(
        status(
            c.super_staff
                .client
                .delete(app.url(&format!("/api/admin/sessions/{admin_session}")))
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.other_admin.1.me().await.1["reason"], "admin_revoked");
    // revoke_users ends a user's session.
    assert_eq!(
        status(sam.delete(app.url(&format!("/api/admin/sessions/{alice_session}")))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.alice.1.me().await.1["reason"], "admin_revoked");
    assert_eq!(
        status(sam.delete(app.url("/api/admin/sessions/s_nope"))).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bulk_revoke_is_all_or_nothing() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let ids = json!({"user_ids": [c.alice.0.id.as_str(), c.root.0.id.as_str()]});
    let refused = c
        .sam
        .client
        .post(app.url("/api/admin/revoke"))
        .json(&ids)
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(c.alice.1.me().await.0, 200, "nobody was ended");
    let unknown = json!({"user_ids": [c.alice.0.id.as_str(), "u_nobody"]});
    assert_eq!(
        status(
            c.sam
                .client
                .post(app.url("/api/admin/revoke"))
                .json(&unknown)
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.alice.1.me().await.0, 200);
    let done: Value = c
        .super_staff
        .client
        .post(app.url("/api/admin/revoke"))
        .json(&ids)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(done, json!({"revoked": 2}));
    assert_eq!(c.alice.1.me().await.1["reason"], "admin_revoked");
    assert_eq!(c.root.1.me().await.1["reason"], "admin_revoked");
}

#[tokio::test]
async fn revoke_all_spares_the_caller_and_admins_unless_asked() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let forbidden = c
        .sam
        .client
        .post(app.url("/api/admin/revoke-all"))
        .json(&json!({"include_admins": true}))
        .send()
        .await
        .expect("answered");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let done: Value = c
        .sam
        .client
        .post(app.url("/api/admin/revoke-all"))
        .json(&json!({}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    // alice, stella, sid: everyone but sam and the two admins.
    assert_eq!(done, json!({"revoked": 3}));
    assert_eq!(c.sam.me().await.0, 200, "never the caller's own");
    assert_eq!(c.root.1.me().await.0, 200);
    assert_eq!(c.alice.1.me().await.1["reason"], "admin_revoked");
    let all: Value = c
        .root
        .1
        .client
        .post(app.url("/api/admin/revoke-all"))
        .json(&json!({"include_admins": true}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(all, json!({"revoked": 2}));
    assert_eq!(c.root.1.me().await.0, 200);
    assert_eq!(c.other_admin.1.me().await.1["reason"], "admin_revoked");
}

#[tokio::test]
async fn admins_manage_users_deactivation_ends_everything_and_the_last_admin_stays() {
    let app = spawn_app().await;
    let (root, root_pw) = app.add_user("root", Role::Admin, None).await;
    let admin = app.browser();
    admin.login("root", &root_pw).await;

    let created = admin.client.post(app.url("/api/admin/users"))
        .json(&json!({"username": "carol", "password": "carol-long-password", "role": "user", "permissions": [], "max_sessions": 0}))
        .send().await.expect("answered");
    assert_eq!(created.status(), StatusCode::CREATED);
    let carol: Value = created.json().await.expect("JSON");
    assert_eq!(carol["username"], "carol");
    assert_eq!(carol["max_sessions"], 0);
    let taken = admin
        .client
        .post(app.url("/api/admin/users"))
        .json(&json!({"username": "carol", "password": "another-password", "role": "user"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(
        taken.json::<Value>().await.expect("JSON")["error"],
        "username_taken"
    );
    let bad = admin
        .client
        .post(app.url("/api/admin/users"))
        .json(&json!({"username": "x y", "password": "another-password", "role": "wizard"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let carol_id = carol["id"].as_str().expect("id").to_owned();
    let (tv, phone) = (app.browser(), app.browser());
    tv.login("carol", "carol-long-password").await;
    phone.login("carol", "carol-long-password").await;

    let patched: Value = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{carol_id}")))
        .json(&json!({"max_sessions": null}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(patched["max_sessions"], Value::Null);
    assert_eq!(
        tv.me().await.0,
        200,
        "a limit change ends nothing by itself"
    );

    let deactivated = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{carol_id}")))
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("answered");
    assert_eq!(deactivated.status(), StatusCode::OK);
    assert_eq!(
        deactivated.json::<Value>().await.expect("JSON")["active"],
        false
    );
    assert_eq!(tv.me().await.1["reason"], "deactivated");
    assert_eq!(phone.me().await.1["reason"], "deactivated");
    assert_eq!(
        app.browser()
            .login("carol", "carol-long-password")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    app.browser().login("carol", "carol-long-password").await;
    admin
        .client
        .patch(app.url(&format!("/api/admin/users/{carol_id}")))
        .json(&json!({"active": true}))
        .send()
        .await
        .expect("answered");
    let back = app.browser();
    assert_eq!(
        back.login("carol", "carol-long-password").await.status(),
        StatusCode::OK
    );
    admin
        .client
        .patch(app.url(&format!("/api/admin/users/{carol_id}")))
        .json(&json!({"password": "reset-by-the-admin"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(back.me().await.1["reason"], "password_changed");

    // The last active admin can neither be deactivated nor demoted.
    for patch in [json!({"active": false}), json!({"role": "staff"})] {
        let refused = admin
            .client
            .patch(app.url(&format!("/api/admin/users/{}", root.id)))
            .json(&patch)
            .send()
            .await
            .expect("answered");
        assert_eq!(refused.status(), StatusCode::CONFLICT, "{patch}");
        assert_eq!(
            refused.json::<Value>().await.expect("JSON")["error"],
            "last_admin"
        );
    }
    assert_eq!(admin.me().await.0, 200);
    let unknown = admin
        .client
        .patch(app.url("/api/admin/users/u_nobody"))
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("answered");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let garbage = admin
        .client
        .patch(app.url(&format!("/api/admin/users/{carol_id}")))
        .json(&json!({"colour": "red"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_admins_manage_users_and_only_staff_read_the_console() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let new_user = json!({"username": "eve", "password": "eve-long-password", "role": "admin"});
    assert_eq!(
        status(
            c.super_staff
                .client
                .post(app.url("/api/admin/users"))
                .json(&new_user)
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            c.sam
                .client
                .patch(app.url(&format!("/api/admin/users/{}", c.alice.0.id)))
                .json(&json!({"active": false}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    for path in [
        "/api/admin/users",
        "/api/admin/sessions",
        "/api/admin/audit",
    ] {
        assert_eq!(
            status(c.alice.1.client.get(app.url(path))).await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            status(c.staff_plain.client.get(app.url(path))).await,
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            status(app.bare().get(app.url(path))).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_users_list_searches_pages_and_counts_sessions() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let list: Value = c
        .sam
        .get("/api/admin/users?query=A&limit=2&offset=0")
        .await
        .json()
        .await
        .expect("JSON");
    // "a" matches ada, alice, sam, stella (case-insensitively), in name order.
    assert_eq!(list["total"], 4);
    let names: Vec<_> = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("ada"), json!("alice")]);
    assert_eq!(list["users"][1]["sessions"], 1);
    assert_eq!(list["users"][1]["role"], "user");
    let page2: Value = c
        .sam
        .get("/api/admin/users?query=a&limit=2&offset=2")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(page2["users"][0]["username"], "sam");
    assert_eq!(page2["users"][1]["username"], "stella");
    let wildcard: Value = c
        .sam
        .get("/api/admin/users?query=%25")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(wildcard["total"], 0, "LIKE wildcards are matched literally");
    assert_eq!(
        c.sam.get("/api/admin/users?limit=-1").await.status(),
        StatusCode::BAD_REQUEST
    );

    let sessions: Vec<Value> = c
        .sam
        .get(&format!("/api/admin/sessions?user_id={}", c.alice.0.id))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["username"], "alice");
    let everyone: Vec<Value> = c
        .sam
        .get("/api/admin/sessions")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(everyone.len(), 6);
    assert_eq!(everyone.iter().filter(|s| s["current"] == true).count(), 1);
}

#[tokio::test]
async fn every_ending_has_an_audit_row() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    c.sam
        .post(&format!("/api/admin/users/{}/revoke", c.alice.0.id))
        .await;
    let audit: Vec<Value> = c
        .sam
        .get("/api/admin/audit?limit=10")
        .await
        .json()
        .await
        .expect("JSON");
    let newest = &audit[0];
    assert_eq!(newest["actor"], "sam");
    assert_eq!(newest["action"], "admin_revoke");
    assert_eq!(newest["target_user"], "alice");
    assert_eq!(newest["reason"], "admin_revoked");
    assert!(newest["session_id"].as_str().expect("id").starts_with("s_"));
    assert!(newest["at"].as_str().expect("time").ends_with('Z'));
    // Sign-ins replacing nobody leave no rows: one ending, one row.
    assert_eq!(audit.len(), 1);
}
