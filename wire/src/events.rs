//! The event feed's shapes (`GET /api/admin/events`, its stream, and the
//! webhooks' bodies): one [`Event`] per row of the server's event log, in
//! the log's order.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Permission, Reason, Role};

/// What an [`Event`] says happened. The names are the API's `type` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "session.started")]
    SessionStarted,
    #[serde(rename = "session.ended")]
    SessionEnded,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.reactivated")]
    UserReactivated,
    /// The role or the permissions changed.
    #[serde(rename = "user.role_changed")]
    UserRoleChanged,
    #[serde(rename = "user.password_changed")]
    UserPasswordChanged,
}

impl EventType {
    /// Every type, in the order of the API's list.
    pub const ALL: [EventType; 7] = [
        EventType::SessionStarted,
        EventType::SessionEnded,
        EventType::UserCreated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserRoleChanged,
        EventType::UserPasswordChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionStarted => "session.started",
            EventType::SessionEnded => "session.ended",
            EventType::UserCreated => "user.created",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserRoleChanged => "user.role_changed",
            EventType::UserPasswordChanged => "user.password_changed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`EventType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        write!(
            f,
            "unknown event type `{}` (expected one of {})",
            self.0.escape_debug(),
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownEventType {}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// Who did what an event records, as other systems tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The user the event is about, acting on their own sessions or account.
    User,
    /// Another person: a staff member or an admin.
    Staff,
    /// A service token (its name in `name`).
    Token,
    /// The `bouncer` command line.
    CommandLine,
    /// The server's own clock: idle and absolute timeouts.
    Timer,
    /// Anything else the server did by itself.
    System,
}

/// An event's actor: `{"kind", "name", "id"?}`; `id` is the person's user
/// id, present for `user` and `staff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    pub kind: ActorKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// How a session began (`session.started`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartedHow {
    /// A sign-in with a password.
    Login,
    /// A sign-in that ended older sessions to fit the session limit.
    Replaced,
    /// A browser already signed in as the same user continued its session.
    Continued,
}

/// One event of the log. Fields beyond the common five (`seq`, `id`,
/// `type`, `at`, `user_id`) and `actor` are present only for the types
/// that have them, and absent (not `null`) otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The global sequence number: the feed's cursor, in commit order.
    pub seq: i64,
    /// Unique and stable across deliveries (`evt_<seq>`): the webhook's
    /// `webhook-id` and a consumer's idempotency key.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// The public id of the user the event is about.
    pub user_id: String,
    pub actor: EventActor,
    /// `session.started`, `session.ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `session.ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// `session.started`: the device label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `session.started`: the address as stored under `BOUNCER_IP_PRIVACY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `session.started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `session.started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<StartedHow>,
    /// `user.*`: the account as it is after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl Event {
    /// The id of the event with sequence number `seq`.
    pub fn id_of(seq: i64) -> String {
        format!("evt_{seq}")
    }
}

/// `GET /api/admin/events` answer: the events past the cursor, in order,
/// and the cursor to ask with next (the last event's `seq`, or the cursor
/// asked with when there was nothing new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: i64,
}

/// How a webhook endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// The last attempt succeeded (or none was needed yet).
    Ok,
    /// The event at the head of its queue failed and is being retried.
    Retrying,
    /// Retried for more than 24 hours without success; still retried, hourly.
    Failing,
}

/// A webhook endpoint as `GET /api/admin/events/status` lists it (its
/// secret never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStatus {
    pub id: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub allow_private: bool,
    pub state: WebhookState,
    /// The `seq` of the last event delivered (or passed over as not wanted).
    pub cursor: i64,
    /// Failed attempts at the event now at the head of its queue.
    pub attempts: u32,
    /// When the current run of failures began.
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<String>,
}

/// `GET /api/admin/events/status` answer: the log's extent and every
/// webhook endpoint's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStatus {
    /// The oldest `seq` still kept (`null` when the log is empty).
    pub oldest: Option<i64>,
    /// The newest `seq` (0 when the log is empty).
    pub newest: i64,
    pub webhooks: Vec<WebhookStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip_and_unknown_ones_are_named() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).expect("serialises"),
                format!("\"{kind}\"")
            );
        }
        let error = "session.paused".parse::<EventType>().expect_err("unknown");
        assert!(error.to_string().contains("`session.paused`"), "{error}");
    }

    #[test]
    fn an_event_carries_only_its_own_fields() {
        let event = Event {
            seq: 7,
            id: Event::id_of(7),
            kind: EventType::SessionEnded,
            at: "2026-01-01T00:00:00Z".into(),
            user_id: "u_1".into(),
            actor: EventActor {
                kind: ActorKind::Timer,
                name: "system".into(),
                id: None,
            },
            session_id: Some("s_1".into()),
            reason: Some(Reason::IdleTimeout),
            device: None,
            ip: None,
            user_agent: None,
            how: None,
            username: None,
            role: None,
            permissions: None,
            active: None,
        };
        let json = serde_json::to_value(&event).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "seq": 7, "id": "evt_7", "type": "session.ended",
                "at": "2026-01-01T00:00:00Z", "user_id": "u_1",
                "actor": {"kind": "timer", "name": "system"},
                "session_id": "s_1", "reason": "idle_timeout"
            })
        );
        assert_eq!(
            serde_json::from_value::<Event>(json).expect("parses"),
            event
        );
    }
}
