//! The engine's domain values as the API's JSON objects (`bouncer-wire`).
//! This is the only place they are converted, so the API and the pages'
//! server functions show the same thing.

use bouncer_engine::{
    accounts::UserPatch,
    clock::Timestamp,
    console::{AuditEntry, ConsoleError, SessionListing, UserSummary},
    hub::TabMessage,
    password::Password,
    users::{NewUser, UserRecord, Username},
    SessionSnapshot,
};
use bouncer_wire::{self as wire, Reason, ServerMessage};

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
