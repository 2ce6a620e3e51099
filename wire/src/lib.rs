//! The JSON shapes of Bouncer's public contract (`shared/API.md`), shared by the
//! server and the browser.
//!
//! These are deliberate wire types: database rows and password hashes never
//! derive `Serialize`; the server converts its domain types into these at the
//! edge. Everything here compiles to wasm, so it depends on serde alone.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

mod events;

pub use crate::events::{
    ActorKind, Event, EventActor, EventPage, EventStatus, EventType, StartedHow, UnknownEventType,
    WebhookState, WebhookStatus,
};

/// Why a session ended. The names are the API's `reason` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The session limit was reached and a newer login replaced this session.
    SignedInElsewhere,
    /// The user logged out in another session and logout-everywhere is on.
    LoggedOutElsewhere,
    /// The user ended this session from another of their sessions.
    RevokedByUser,
    /// A staff member or an admin ended it (web, API or command line).
    AdminRevoked,
    /// The password was changed in another session.
    PasswordChanged,
    /// The account was deactivated.
    Deactivated,
    /// No user activity for the idle timeout.
    IdleTimeout,
    /// The session reached its maximum age.
    AbsoluteTimeout,
    /// This session itself logged out (seen only by its other tabs).
    LoggedOut,
}

impl Reason {
    /// Every reason, in the order of the API table.
    pub const ALL: [Reason; 9] = [
        Reason::SignedInElsewhere,
        Reason::LoggedOutElsewhere,
        Reason::RevokedByUser,
        Reason::AdminRevoked,
        Reason::PasswordChanged,
        Reason::Deactivated,
        Reason::IdleTimeout,
        Reason::AbsoluteTimeout,
        Reason::LoggedOut,
    ];

    /// The API's name for the reason, as stored in the revocation log.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SignedInElsewhere => "signed_in_elsewhere",
            Reason::LoggedOutElsewhere => "logged_out_elsewhere",
            Reason::RevokedByUser => "revoked_by_user",
            Reason::AdminRevoked => "admin_revoked",
            Reason::PasswordChanged => "password_changed",
            Reason::Deactivated => "deactivated",
            Reason::IdleTimeout => "idle_timeout",
            Reason::AbsoluteTimeout => "absolute_timeout",
            Reason::LoggedOut => "logged_out",
        }
    }

    /// Whether the session ran out of time rather than being ended by someone;
    /// the login page then shows the operator's auto-logout message.
    pub fn is_timeout(self) -> bool {
        matches!(self, Reason::IdleTimeout | Reason::AbsoluteTimeout)
    }

    /// The sentence a person reads on the login page. Timeouts use the
    /// configurable auto-logout message instead (see [`Reason::is_timeout`]).
    pub fn message(self) -> &'static str {
        match self {
            Reason::SignedInElsewhere => {
                "You were signed out because your account signed in on another device."
            }
            Reason::LoggedOutElsewhere => {
                "You were signed out because you signed out on another device."
            }
            Reason::RevokedByUser => "This device was signed out from another of your devices.",
            Reason::AdminRevoked => "An administrator ended your session.",
            Reason::PasswordChanged => {
                "Your password was changed, so your other sessions were ended. Please sign in with the new password."
            }
            Reason::Deactivated => "Your account has been deactivated.",
            Reason::IdleTimeout | Reason::AbsoluteTimeout => {
                "Your session has expired. Please sign in again."
            }
            Reason::LoggedOut => "You signed out.",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReason(pub String);

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown session end reason `{}`", self.0)
    }
}

impl std::error::Error for UnknownReason {}

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// A user's role. Staff and admins reach the console; admins manage users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Staff,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected user, staff or admin)"
            )),
        }
    }
}

/// A permission a staff member may hold (admins hold every one implicitly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// May end sessions of users and staff.
    RevokeUsers,
    /// May also end admins' sessions.
    RevokeAdmins,
    /// May follow the event log (`GET /api/admin/events`, its stream).
    ReadEvents,
}

impl Permission {
    /// Every permission, in the order of the API's list.
    pub const ALL: [Permission; 3] = [
        Permission::RevokeUsers,
        Permission::RevokeAdmins,
        Permission::ReadEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::RevokeUsers => "revoke_users",
            Permission::RevokeAdmins => "revoke_admins",
            Permission::ReadEvents => "read_events",
        }
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == s)
            .ok_or_else(|| {
                format!("unknown permission `{s}` (expected revoke_users, revoke_admins or read_events)")
            })
    }
}

/// The API's User object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub active: bool,
    pub max_sessions: Option<u32>,
    pub created_at: String,
}

/// The API's Session object. `id` is the public id, never the cookie's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub current: bool,
    pub created_at: String,
    pub last_seen_at: String,
    pub last_activity_at: String,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    pub online_tabs: u32,
    pub idle_expires_at: Option<String>,
    pub absolute_expires_at: Option<String>,
}

/// `POST /api/auth/login` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// With `refuse_new` at the limit: one of the user's sessions (from the
    /// 409's list) to end so this login can proceed. An extension of v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_session: Option<String>,
}

/// The answer of login and of `GET /api/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    pub session: Session,
}

/// The API's error body: `{"error": code, "message": text, ...extra}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<Session>>,
    /// The request's id (v2), as in its `X-Request-Id` response header: what
    /// a person quotes to an operator, who finds it in every log line of
    /// the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `gone` (the event feed): the oldest `seq` still kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<i64>,
}

/// `GET /readyz` (v2): each check's answer, `"ok"` or what is wrong; the
/// status is 200 when every one is `"ok"`, else 503.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    pub checks: std::collections::BTreeMap<String, String>,
}

impl Readiness {
    /// What each passing check answers.
    pub const OK: &'static str = "ok";

    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.checks.values().all(|answer| answer == Self::OK)
    }
}

/// `POST /api/auth/password` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/auth/reauthenticate` body (an extension of v1): the
/// signed-in person's password, proved again before ending their other
/// sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reauthenticate {
    pub password: String,
}

/// The answer of every bulk revoke call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: usize,
}

/// A user as the admin console lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "AdminUserFields")]
pub struct AdminUser {
    #[serde(flatten)]
    pub user: User,
    /// Live sessions.
    pub sessions: u32,
    /// Whether any tab of the user is connected right now.
    pub online: bool,
}

/// [`AdminUser`]'s JSON read field by field. Deserialising `#[serde(flatten)]`
/// makes serde buffer the whole object first, which costs the wasm bundle a
/// second parser for [`User`]; the JSON is the same either way.
#[derive(Deserialize)]
struct AdminUserFields {
    id: String,
    username: String,
    role: Role,
    permissions: Vec<Permission>,
    active: bool,
    max_sessions: Option<u32>,
    created_at: String,
    sessions: u32,
    online: bool,
}

impl From<AdminUserFields> for AdminUser {
    fn from(fields: AdminUserFields) -> Self {
        AdminUser {
            user: User {
                id: fields.id,
                username: fields.username,
                role: fields.role,
                permissions: fields.permissions,
                active: fields.active,
                max_sessions: fields.max_sessions,
                created_at: fields.created_at,
            },
            sessions: fields.sessions,
            online: fields.online,
        }
    }
}

/// `GET /api/admin/users` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<AdminUser>,
    pub total: u64,
}

/// `POST /api/admin/users` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default = "default_role")]
    pub role: Role,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub max_sessions: Option<u32>,
}

fn default_role() -> Role {
    Role::User
}

/// `PATCH /api/admin/users/{id}` body: absent fields stay as they are;
/// `"max_sessions": null` returns the user to the server-wide limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_sessions: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `POST /api/admin/revoke` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeUsers {
    pub user_ids: Vec<String>,
}

/// `POST /api/admin/revoke-all` body.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct RevokeAll {
    #[serde(default)]
    pub include_admins: bool,
}

/// One row of `GET /api/admin/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target_user: String,
    pub session_id: String,
    pub reason: Reason,
    pub tabs_notified: u32,
}

/// What the server sends a tab over `GET /api/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection.
    Hello { session: Box<Session> },
    /// The session ended; the server closes the socket with [`CLOSE_SESSION_ENDED`].
    SessionEnded {
        reason: Reason,
        message: String,
        /// For `signed_in_elsewhere`: the new session's `device`, `ip` and `at`.
        detail: serde_json::Value,
    },
    /// The idle deadline is within the warning window.
    IdleWarning {
        idle_expires_at: String,
        seconds_left: u64,
    },
    /// Activity in some tab moved the idle deadline.
    Extended { idle_expires_at: String },
    /// The user's list of sessions (or, for staff, anyone's) changed.
    SessionsChanged,
    /// Someone signed in to the account on another device: sent to the tabs
    /// of the user's other sessions, which show who it was and offer to sign
    /// it out (an extension of v2).
    NewSignIn { session: SignInNotice },
    /// The last client message was not understood; the socket stays open.
    Error { error: String },
}

/// The `type` of a [`ServerMessage`], as [`ServerMessageHead`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMessageKind {
    Hello,
    SessionEnded,
    IdleWarning,
    Extended,
    SessionsChanged,
    NewSignIn,
    Error,
    /// A type this build does not know (a newer server): ignored.
    #[serde(other)]
    Unknown,
}

/// What a browser tab reads of a [`ServerMessage`]: its `type` and the fields
/// it acts on; everything else is skipped. The browser parses this instead of
/// the full enum because an internally tagged enum makes serde buffer every
/// message (and pulls in `serde_json::Value` and a second copy of every
/// nested type's parser), which is a large part of the wasm bundle.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerMessageHead {
    #[serde(rename = "type")]
    pub kind: ServerMessageKind,
    /// For `session_ended`.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// For `idle_warning`.
    #[serde(default)]
    pub seconds_left: Option<u64>,
}

/// The new session of a [`ServerMessage::NewSignIn`]: what a person needs to
/// tell whether it was them, and the id to sign it out with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInNotice {
    /// The new session's public id (never the cookie's secret).
    pub id: String,
    /// A readable label of the device, such as "Chrome on Android".
    pub device: String,
    /// Where it signed in from, approximately: the address with the host
    /// part hidden (`203.0.113.x`), never the full address of someone else.
    pub place: String,
    /// When it signed in (RFC 3339).
    pub at: String,
}

/// What a browser tab reads of a `new_sign_in` message, once
/// [`ServerMessageHead`] has said that is what it is: a second, small parse,
/// only for this type, so the head stays as small as it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewSignInHead {
    pub session: SignInNotice,
}

/// What a tab may send: user activity, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Activity,
}

impl ClientMessage {
    /// Reads a tab's text message; `None` for anything that is not one.
    ///
    /// Only a JSON object is a message. serde's derived enums also accept the
    /// sequence form (`["activity"]`), which the contract does not know, so
    /// the text is read as an object first.
    pub fn parse(text: &str) -> Option<ClientMessage> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        ClientMessage::deserialize(serde_json::Value::Object(object)).ok()
    }
}

/// The close code after `session_ended`.
pub const CLOSE_SESSION_ENDED: u16 = 4001;
/// The close code when the node is shutting down: the session is fine, the
/// tab reconnects (behind a balancer, to a live node) and resyncs.
pub const CLOSE_SHUTTING_DOWN: u16 = 4002;
/// The close code for a frame over [`MAX_CLIENT_FRAME`] (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Closes the newest tab when its session (or its user) already has as many
/// open on the node as allowed (`BOUNCER_MAX_TABS_PER_SESSION`,
/// `BOUNCER_MAX_TABS_PER_USER`); the tab should not reconnect by itself.
pub const CLOSE_TOO_MANY_TABS: u16 = 4003;
/// Closes every tab of a user whose role or permissions changed: reconnect
/// at once, and the new socket carries the new rights.
pub const CLOSE_RECONNECT: u16 = 4004;
/// The node is at its limit of open sockets: try again later.
pub const CLOSE_TRY_AGAIN: u16 = 1013;
/// The largest client message accepted.
pub const MAX_CLIENT_FRAME: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_round_trip_through_str_and_json() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
            let json = serde_json::to_string(&reason).expect("a reason serialises");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert!("expired".parse::<Reason>().is_err());
    }

    #[test]
    fn socket_messages_have_the_api_shape() {
        let ended = ServerMessage::SessionEnded {
            reason: Reason::AdminRevoked,
            message: "bye".into(),
            detail: serde_json::json!({}),
        };
        assert_eq!(
            serde_json::to_value(&ended).expect("serialises"),
            serde_json::json!({"type": "session_ended", "reason": "admin_revoked", "message": "bye", "detail": {}})
        );
        assert_eq!(
            serde_json::to_string(&ServerMessage::SessionsChanged).expect("serialises"),
            r#"{"type":"sessions_changed"}"#
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"activity"}"#),
            Some(ClientMessage::Activity)
        );
        assert_eq!(
            ClientMessage::parse(&serde_json::to_string(&ClientMessage::Activity).expect("json")),
            Some(ClientMessage::Activity),
            "what the browser sends is understood"
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"revoke","session":"s_1"}"#),
            None
        );
    }

    /// Found by the `ws_client_message` fuzz target: serde's sequence form of
    /// an internally tagged enum made `["activity"]` count as activity.
    #[test]
    fn only_a_json_object_is_a_client_message() {
        for not_a_message in [
            r#"["activity"]"#,
            r#"["activity",{}]"#,
            r#""activity""#,
            "null",
            "",
        ] {
            assert_eq!(ClientMessage::parse(not_a_message), None, "{not_a_message}");
        }
    }

    #[test]
    fn the_browser_reads_every_server_message_through_its_head() {
        let session = Session {
            id: "s_1".into(),
            user_id: "u_1".into(),
            username: "ana".into(),
            current: true,
            created_at: "2026-01-01T00:00:00Z".into(),
            last_seen_at: "2026-01-01T00:00:00Z".into(),
            last_activity_at: "2026-01-01T00:00:00Z".into(),
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            device: "Firefox on Linux".into(),
            online_tabs: 1,
            idle_expires_at: None,
            absolute_expires_at: None,
        };
        let head = |message: &ServerMessage| -> ServerMessageHead {
            let json = serde_json::to_string(message).expect("serialises");
            serde_json::from_str(&json).expect("the head parses")
        };
        let cases = [
            (
                ServerMessage::Hello {
                    session: Box::new(session),
                },
                ServerMessageKind::Hello,
                None,
                None,
            ),
            (
                ServerMessage::SessionEnded {
                    reason: Reason::SignedInElsewhere,
                    message: "bye".into(),
                    detail: serde_json::json!({"device": "x", "reason": 3}),
                },
                ServerMessageKind::SessionEnded,
                Some(Reason::SignedInElsewhere),
                None,
            ),
            (
                ServerMessage::IdleWarning {
                    idle_expires_at: "2026-01-01T00:00:00Z".into(),
                    seconds_left: 42,
                },
                ServerMessageKind::IdleWarning,
                None,
                Some(42),
            ),
            (
                ServerMessage::Extended {
                    idle_expires_at: "2026-01-01T00:00:00Z".into(),
                },
                ServerMessageKind::Extended,
                None,
                None,
            ),
            (
                ServerMessage::SessionsChanged,
                ServerMessageKind::SessionsChanged,
                None,
                None,
            ),
            (
                ServerMessage::Error {
                    error: "bad_message".into(),
                },
                ServerMessageKind::Error,
                None,
                None,
            ),
        ];
        for (message, kind, reason, seconds_left) in cases {
            assert_eq!(
                head(&message),
                ServerMessageHead {
                    kind,
                    reason,
                    seconds_left
                },
                "{message:?}"
            );
        }
        let future: ServerMessageHead =
            serde_json::from_str(r#"{"type":"something_new","x":1}"#).expect("parses");
        assert_eq!(future.kind, ServerMessageKind::Unknown);
    }

    #[test]
    fn a_new_sign_in_has_the_documented_shape_and_the_browser_reads_it() {
        let notice = SignInNotice {
            id: "s_2".into(),
            device: "Chrome on Android".into(),
            place: "203.0.113.x".into(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        let message = ServerMessage::NewSignIn {
            session: notice.clone(),
        };
        let json = serde_json::to_string(&message).expect("serialises");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).expect("json"),
            serde_json::json!({"type": "new_sign_in", "session": {
                "id": "s_2", "device": "Chrome on Android", "place": "203.0.113.x",
                "at": "2026-01-01T00:00:00Z"
            }})
        );
        let head: ServerMessageHead = serde_json::from_str(&json).expect("the head parses");
        assert_eq!(head.kind, ServerMessageKind::NewSignIn);
        let body: NewSignInHead = serde_json::from_str(&json).expect("the body parses");
        assert_eq!(body.session, notice);
        // A `hello` carries a `session` too, of another shape: its head still parses.
        let hello = r#"{"type":"hello","session":{"id":"s_1","device":"x"}}"#;
        let head: ServerMessageHead = serde_json::from_str(hello).expect("the head parses");
        assert_eq!(head.kind, ServerMessageKind::Hello);
    }

    #[test]
    fn an_admin_user_is_one_flat_object_both_ways() {
        let admin_user = AdminUser {
            user: User {
                id: "u_1".into(),
                username: "ana".into(),
                role: Role::Staff,
                permissions: vec![Permission::RevokeUsers],
                active: true,
                max_sessions: Some(3),
                created_at: "2026-01-01T00:00:00Z".into(),
            },
            sessions: 2,
            online: true,
        };
        let json = serde_json::to_value(&admin_user).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "u_1", "username": "ana", "role": "staff",
                "permissions": ["revoke_users"], "active": true, "max_sessions": 3,
                "created_at": "2026-01-01T00:00:00Z", "sessions": 2, "online": true
            })
        );
        assert_eq!(
            serde_json::from_value::<AdminUser>(json).expect("parses"),
            admin_user
        );
        let no_limit: AdminUser = serde_json::from_str(
            r#"{"id":"u_2","username":"bo","role":"user","permissions":[],"active":false,
                "max_sessions":null,"created_at":"2026-01-01T00:00:00Z","sessions":0,"online":false}"#,
        )
        .expect("parses");
        assert_eq!(no_limit.user.max_sessions, None);
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let absent: UserPatch = serde_json::from_str("{}").expect("parses");
        assert_eq!(absent.max_sessions, None);
        let null: UserPatch = serde_json::from_str(r#"{"max_sessions": null}"#).expect("parses");
        assert_eq!(null.max_sessions, Some(None));
        let three: UserPatch = serde_json::from_str(r#"{"max_sessions": 3}"#).expect("parses");
        assert_eq!(three.max_sessions, Some(Some(3)));
        assert!(serde_json::from_str::<UserPatch>(r#"{"colour": "red"}"#).is_err());
    }

    #[test]
    fn error_body_omits_fields_that_do_not_apply() {
        let body = ErrorBody {
            error: "unauthenticated".into(),
            message: None,
            reason: None,
            sessions: None,
            request_id: None,
            oldest: None,
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serialises"),
            r#"{"error":"unauthenticated"}"#
        );
    }
}
