//! One typed call per endpoint of `shared/API.md`: the request body is the
//! `bouncer-wire` type, the answer an [`Answer`] of the wire type the
//! contract names. Tests assert on the status and the typed body; the few
//! that send deliberately partial or malformed bodies take `impl Serialize`
//! or go through [`Browser::request`].

use std::fmt::Debug;

use bouncer_wire::{
    AuditEntry, EventPage, EventStatus, LoginRequest, Me, PasswordChange, Readiness, Reason,
    Reauthenticate, RevokeUsers, Revoked, Session, User, UserList, UserPatch,
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use super::{
    answer::{exact, Answer},
    app::TestUser,
    browser::{send, Browser},
};

impl Browser {
    /// A call with no body.
    async fn call<T: DeserializeOwned + Serialize + Debug>(
        &self,
        method: Method,
        path: &str,
    ) -> Answer<T> {
        Answer::read(send(self.request(method, path)).await).await
    }

    /// A call with a JSON body.
    async fn call_with<T: DeserializeOwned + Serialize + Debug>(
        &self,
        method: Method,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Answer<T> {
        Answer::read(send(self.request(method, path).json(body)).await).await
    }

    /// `POST /api/auth/login` as `user`, with the right password.
    pub async fn login(&self, user: &TestUser) -> Answer<Me> {
        self.login_as(&user.username, &user.password).await
    }

    /// `POST /api/auth/login` with any name and password.
    pub async fn login_as(&self, username: &str, password: &str) -> Answer<Me> {
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            replace_session: None,
        };
        self.call_with(Method::POST, "/api/auth/login", &request)
            .await
    }

    /// `POST /api/auth/login` under `refuse_new`, ending `session_id` to make room.
    pub async fn login_replacing(&self, user: &TestUser, session_id: &str) -> Answer<Me> {
        let request = LoginRequest {
            username: user.username.clone(),
            password: user.password.clone(),
            replace_session: Some(session_id.to_owned()),
        };
        self.call_with(Method::POST, "/api/auth/login", &request)
            .await
    }

    /// `GET /api/auth/me`.
    pub async fn me(&self) -> Answer<Me> {
        self.call(Method::GET, "/api/auth/me").await
    }

    /// Why `GET /api/auth/me` says this browser's session ended; `None`
    /// while it is live (or when it was never signed in).
    pub async fn end_reason(&self) -> Option<Reason> {
        self.me().await.reason()
    }

    /// The public id of the session this browser is signed in to.
    pub async fn session_id(&self) -> String {
        self.me().await.expect("signed in").session.id
    }

    /// `POST /api/auth/logout`.
    pub async fn logout(&self) -> Answer<()> {
        self.call(Method::POST, "/api/auth/logout").await
    }

    /// `POST /api/auth/activity`.
    pub async fn activity(&self) -> Answer<()> {
        self.call(Method::POST, "/api/auth/activity").await
    }

    /// `POST /api/auth/password`.
    pub async fn change_password(&self, current: &str, new: &str) -> Answer<()> {
        let change = PasswordChange {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
        };
        self.call_with(Method::POST, "/api/auth/password", &change)
            .await
    }

    /// `POST /api/auth/reauthenticate`.
    pub async fn reauthenticate(&self, password: &str) -> Answer<()> {
        let proof = Reauthenticate {
            password: password.to_owned(),
        };
        self.call_with(Method::POST, "/api/auth/reauthenticate", &proof)
            .await
    }

    /// `GET /api/auth/verify?{query}`, as a reverse proxy asks it, with the
    /// path the browser asked for in `X-Original-URI` when given.
    pub async fn verify(&self, query: &str, original_uri: Option<&str>) -> Answer<()> {
        let mut request = self.request(Method::GET, &format!("/api/auth/verify?{query}"));
        if let Some(uri) = original_uri {
            request = request.header("x-original-uri", uri);
        }
        Answer::read(send(request).await).await
    }

    /// `GET /api/sessions`.
    pub async fn sessions(&self) -> Answer<Vec<Session>> {
        self.call(Method::GET, "/api/sessions").await
    }

    /// `DELETE /api/sessions/{id}`.
    pub async fn end_session(&self, id: &str) -> Answer<()> {
        self.call(Method::DELETE, &format!("/api/sessions/{id}"))
            .await
    }

    /// `POST /api/sessions/revoke-others`.
    pub async fn revoke_others(&self) -> Answer<Revoked> {
        self.call(Method::POST, "/api/sessions/revoke-others").await
    }

    /// `GET /api/admin/users?{query}`.
    pub async fn admin_users(&self, query: &str) -> Answer<UserList> {
        self.call(Method::GET, &format!("/api/admin/users?{query}"))
            .await
    }

    /// `POST /api/admin/users`: a `bouncer_wire::NewUser`, or a body that
    /// leaves its defaults out.
    pub async fn create_user(&self, new: &impl Serialize) -> Answer<User> {
        self.call_with(Method::POST, "/api/admin/users", new).await
    }

    /// `PATCH /api/admin/users/{id}`.
    pub async fn patch_user(&self, id: &str, patch: &UserPatch) -> Answer<User> {
        self.call_with(Method::PATCH, &format!("/api/admin/users/{id}"), patch)
            .await
    }

    /// `GET /api/admin/sessions`, of one user or of everyone.
    pub async fn admin_sessions(&self, user_id: Option<&str>) -> Answer<Vec<Session>> {
        let path = match user_id {
            Some(id) => format!("/api/admin/sessions?user_id={id}"),
            None => "/api/admin/sessions".to_owned(),
        };
        self.call(Method::GET, &path).await
    }

    /// `DELETE /api/admin/sessions/{id}`.
    pub async fn admin_end_session(&self, id: &str) -> Answer<()> {
        self.call(Method::DELETE, &format!("/api/admin/sessions/{id}"))
            .await
    }

    /// `POST /api/admin/users/{id}/revoke`.
    pub async fn revoke_user(&self, id: &str) -> Answer<Revoked> {
        self.call(Method::POST, &format!("/api/admin/users/{id}/revoke"))
            .await
    }

    /// `POST /api/admin/revoke`.
    pub async fn revoke_users(&self, ids: &[&str]) -> Answer<Revoked> {
        let body = RevokeUsers {
            user_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        };
        self.call_with(Method::POST, "/api/admin/revoke", &body)
            .await
    }

    /// `POST /api/admin/revoke-all`; `None` sends `{}`, the default.
    pub async fn revoke_all(&self, include_admins: Option<bool>) -> Answer<Revoked> {
        let body = match include_admins {
            Some(include_admins) => json!({ "include_admins": include_admins }),
            None => json!({}),
        };
        self.call_with(Method::POST, "/api/admin/revoke-all", &body)
            .await
    }

    /// `GET /api/admin/audit?limit={limit}`.
    pub async fn audit(&self, limit: u32) -> Answer<Vec<AuditEntry>> {
        self.call(Method::GET, &format!("/api/admin/audit?limit={limit}"))
            .await
    }

    /// `GET /readyz`: the status, and every check's answer (the same body
    /// on 200 and 503).
    pub async fn readyz(&self) -> (StatusCode, Readiness) {
        let response = send(self.request(Method::GET, "/readyz")).await;
        let status = response.status();
        (status, exact(&response.text().await.expect("a body")))
    }

    /// `GET /api/admin/events` with the query as given (`after=3&limit=2`).
    pub async fn events(&self, query: &str) -> Answer<EventPage> {
        self.call(Method::GET, &format!("/api/admin/events?{query}"))
            .await
    }

    /// `GET /api/admin/events/status`.
    pub async fn event_status(&self) -> Answer<EventStatus> {
        self.call(Method::GET, "/api/admin/events/status").await
    }
}
