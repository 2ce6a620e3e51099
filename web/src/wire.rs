//! The engine's domain values as the API's JSON objects (`bouncer-wire`).
//! This is the only place they are converted, so the API and the pages'
//! server functions show the same thing.

use bouncer_engine::{
    accounts::UserPatch,
    clock::Timestamp,
    console::{AuditEntry, ConsoleError, SessionListing, UserSummary},
    feed::FeedStatus,
    hub::TabMessage,
    log::{Event, EventKind},
    password::Password,
    users::{NewUser, UserRecord, Username},
    webhooks::Endpoint,
    SessionSnapshot,
};
use bouncer_wire::{self as wire, ActorKind, EventType, Reason, ServerMessage};
use serde::de::DeserializeOwned;

/// The API's User object.
pub fn user(user: &UserRecord) -> wire::User {
    wire::User {
        id: user.id.to_string(),
        username: user.username.to_string(),
        role: user.role,
        permissions: user.permissions.iter().copied().collect(),
        active: user.active,
        max_sessions: user.max_sessions,
        created_at: user.created_at.to_rfc3339(),
    }
}

/// The API's Session object; `current` marks the caller's own.
pub fn session(session: &SessionSnapshot, username: &str, current: bool) -> wire::Session {
    wire::Session {
        id: session.id.to_string(),
        user_id: session.user_id.to_string(),
        username: username.to_owned(),
        current,
        created_at: session.created_at.to_rfc3339(),
        last_seen_at: session.last_seen_at.to_rfc3339(),
        last_activity_at: session.last_activity_at.to_rfc3339(),
        ip: session.ip.clone(),
        user_agent: session.user_agent.clone(),
        device: session.device.clone(),
        online_tabs: session.online_tabs,
        idle_expires_at: session.deadlines.idle.map(Timestamp::to_rfc3339),
        absolute_expires_at: session.deadlines.absolute.map(Timestamp::to_rfc3339),
    }
}

/// A user's own sessions, `current` marking the caller's.
pub fn own_sessions(
    user: &UserRecord,
    sessions: &[SessionSnapshot],
    current: &bouncer_engine::ids::SessionId,
) -> Vec<wire::Session> {
    sessions
        .iter()
        .map(|s| session(s, user.username.as_str(), &s.id == current))
        .collect()
}

/// The `{"user", "session"}` answer for a caller's own session.
pub fn me(user: &UserRecord, current: &SessionSnapshot) -> wire::Me {
    wire::Me {
        user: self::user(user),
        session: session(current, user.username.as_str(), true),
    }
}

/// A user as the console lists them.
pub fn admin_user(summary: &UserSummary) -> wire::AdminUser {
    wire::AdminUser {
        user: user(&summary.user),
        sessions: summary.sessions,
        online: summary.online,
    }
}

/// A session as the console lists it.
pub fn listed_session(
    listing: &SessionListing,
    current: Option<&bouncer_engine::ids::SessionId>,
) -> wire::Session {
    session(
        &listing.session,
        &listing.username,
        current == Some(&listing.session.id),
    )
}

/// The audit log's name for what happened, from the reason.
pub fn action_of(reason: Reason) -> &'static str {
    match reason {
        Reason::SignedInElsewhere => "replaced_by_new_login",
        Reason::LoggedOutElsewhere => "logout_everywhere",
        Reason::RevokedByUser => "user_revoke",
        Reason::AdminRevoked => "admin_revoke",
        Reason::PasswordChanged => "password_change",
        Reason::Deactivated => "deactivate",
        Reason::IdleTimeout | Reason::AbsoluteTimeout => "timeout",
        Reason::LoggedOut => "logout",
    }
}

/// One audit row.
pub fn audit_entry(entry: &AuditEntry) -> wire::AuditEntry {
    wire::AuditEntry {
        at: entry.at.to_rfc3339(),
        actor: entry.actor.clone(),
        action: action_of(entry.reason).to_owned(),
        target_user: entry.target_user.clone(),
        session_id: entry.session_id.clone(),
        reason: entry.reason,
        tabs_notified: entry.tabs_notified,
    }
}

/// The engine's new user from the API's.
pub fn new_user(new: wire::NewUser) -> Result<NewUser, ConsoleError> {
    Ok(NewUser {
        username: Username::parse(&new.username)
            .map_err(|e| ConsoleError::Invalid(e.to_string()))?,
        password: Password::new(new.password),
        role: new.role,
        permissions: new.permissions.into_iter().collect(),
        max_sessions: new.max_sessions,
    })
}

/// The engine's edit from the API's.
pub fn user_patch(patch: wire::UserPatch) -> UserPatch {
    UserPatch {
        active: patch.active,
        role: patch.role,
        permissions: patch.permissions.map(|p| p.into_iter().collect()),
        max_sessions: patch.max_sessions,
        password: patch.password.map(Password::new),
    }
}

/// What the engine tells a tab, as the socket protocol's message.
pub fn server_message(message: &TabMessage) -> ServerMessage {
    match message {
        TabMessage::Ended {
            reason,
            message,
            detail,
        } => ServerMessage::SessionEnded {
            reason: *reason,
            message: message.clone(),
            detail: detail.clone(),
        },
        TabMessage::IdleWarning {
            idle_expires_at,
            seconds_left,
        } => ServerMessage::IdleWarning {
            idle_expires_at: idle_expires_at.to_rfc3339(),
            seconds_left: *seconds_left,
        },
        TabMessage::Extended { idle_expires_at } => ServerMessage::Extended {
            idle_expires_at: idle_expires_at.to_rfc3339(),
        },
        TabMessage::SessionsChanged => ServerMessage::SessionsChanged,
        TabMessage::NewSignIn {
            session_id,
            device,
            place,
            at,
        } => ServerMessage::NewSignIn {
            session: wire::SignInNotice {
                id: session_id.to_string(),
                device: device.clone(),
                place: place.clone(),
                at: at.to_rfc3339(),
            },
        },
    }
}

/// The API's name for an event kind; `None` for the log's internal ones
/// (`session.rotated`), which the feed never shows.
pub fn event_type(kind: EventKind) -> Option<EventType> {
    Some(match kind {
        EventKind::SessionStarted => EventType::SessionStarted,
        EventKind::SessionEnded => EventType::SessionEnded,
        EventKind::UserCreated => EventType::UserCreated,
        EventKind::UserDeactivated => EventType::UserDeactivated,
        EventKind::UserReactivated => EventType::UserReactivated,
        EventKind::UserRoleChanged => EventType::UserRoleChanged,
        EventKind::UserPasswordChanged => EventType::UserPasswordChanged,
        EventKind::SessionRotated => return None,
    })
}

/// The engine's event kind for an API name.
pub fn event_kind(kind: EventType) -> EventKind {
    match kind {
        EventType::SessionStarted => EventKind::SessionStarted,
        EventType::SessionEnded => EventKind::SessionEnded,
        EventType::UserCreated => EventKind::UserCreated,
        EventType::UserDeactivated => EventKind::UserDeactivated,
        EventType::UserReactivated => EventKind::UserReactivated,
        EventType::UserRoleChanged => EventKind::UserRoleChanged,
        EventType::UserPasswordChanged => EventKind::UserPasswordChanged,
    }
}

/// The prefix of a service token's actor name (`token:billing`).
const TOKEN_ACTOR: &str = "token:";

/// Who acted, as other systems tell them apart: a person acting on their
/// own account is the `user`, on someone else's `staff`; without a person,
/// the name says which part of the server it was.
pub fn event_actor(event: &Event) -> wire::EventActor {
    let (kind, name) = match &event.actor_id {
        Some(id) if *id == event.user_id => (ActorKind::User, event.actor_name.as_str()),
        Some(_) => (ActorKind::Staff, event.actor_name.as_str()),
        None => match event.actor_name.as_str() {
            "system" => (ActorKind::Timer, "system"),
            "command line" => (ActorKind::CommandLine, "command line"),
            name => match name.strip_prefix(TOKEN_ACTOR) {
                Some(token) => (ActorKind::Token, token),
                None => (ActorKind::System, name),
            },
        },
    };
    wire::EventActor {
        kind,
        name: name.to_owned(),
        id: event.actor_id.as_ref().map(ToString::to_string),
    }
}

/// A field of an event's detail, for the types that have it (`wanted`),
/// when it has the expected type.
fn detail<T: DeserializeOwned>(wanted: bool, event: &Event, field: &str) -> Option<T> {
    let value = event.detail.get(field).filter(|_| wanted)?;
    serde_json::from_value(value.clone()).ok()
}

/// The API's Event object: the common fields, and those of its type taken
/// from the row's detail (a `session.ended`'s detail is what its tabs were
/// told and stays inside). `None` for an internal event (the feed leaves
/// those out: `Feed`).
pub fn event(event: &Event) -> Option<wire::Event> {
    let started = event.kind == EventKind::SessionStarted;
    let about_user = !matches!(
        event.kind,
        EventKind::SessionStarted | EventKind::SessionEnded
    );
    Some(wire::Event {
        seq: event.seq,
        id: wire::Event::id_of(event.seq),
        kind: event_type(event.kind)?,
        at: event.at.to_rfc3339(),
        user_id: event.user_id.to_string(),
        actor: event_actor(event),
        session_id: event.session_id.as_ref().map(ToString::to_string),
        reason: event
            .reason
            .filter(|_| event.kind == EventKind::SessionEnded),
        device: detail(started, event, "device"),
        ip: detail(started, event, "ip"),
        user_agent: detail(started, event, "user_agent"),
        how: detail(started, event, "how"),
        username: detail(about_user, event, "username"),
        role: detail(about_user, event, "role"),
        permissions: detail(about_user, event, "permissions"),
        active: detail(about_user, event, "active"),
    })
}

/// A webhook endpoint as the status lists it (never its secret).
pub fn webhook_status(endpoint: &Endpoint) -> wire::WebhookStatus {
    let state = match (endpoint.failing, endpoint.failing_since) {
        (true, _) => wire::WebhookState::Failing,
        (false, Some(_)) => wire::WebhookState::Retrying,
        (false, None) => wire::WebhookState::Ok,
    };
    wire::WebhookStatus {
        id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        events: endpoint
            .events
            .iter()
            .copied()
            .filter_map(event_type)
            .collect(),
        allow_private: endpoint.allow_private,
        state,
        cursor: endpoint.delivered_seq,
        attempts: endpoint.attempts,
        failing_since: endpoint.failing_since.map(Timestamp::to_rfc3339),
        last_error: endpoint.last_error.clone(),
        last_delivered_at: endpoint.last_delivered_at.map(Timestamp::to_rfc3339),
    }
}

/// `GET /api/admin/events/status`.
pub fn event_status(status: &FeedStatus) -> wire::EventStatus {
    wire::EventStatus {
        oldest: status.oldest,
        newest: status.newest,
        webhooks: status.webhooks.iter().map(webhook_status).collect(),
    }
}
