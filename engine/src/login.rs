//! Signing in and out: checking the password, applying the session limit
//! atomically, and opening, continuing or ending the session.
//!
//! The engine never sees a cookie. The edge mints a fresh random secret for
//! every sign-in (no fixation) and hands the engine its [`SecretHash`]; the
//! session row keys on that hash.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use bouncer_wire::Reason;
use serde_json::json;

use crate::{
    change::Changes,
    check::Visitor,
    clock::{Clock, Timestamp},
    credentials::{Credentials, CredentialsError},
    identity::Identity,
    ids::{SecretHash, SessionId},
    log::{Actor, EventKind, NewEvent},
    measures,
    password::MAX_PASSWORD_LEN,
    policy::{LimitDecision, Policy},
    sessions::{ClientInfo, Scope, SessionRow, Sessions, ROTATION_GRACE},
    snapshot::{SessionSnapshot, Snapshots},
    timeouts::TimedOut,
    users::{UserRecord, Users, MAX_USERNAME_CHARS},
    view::{LiveSession, View},
};

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user or wrong password: deliberately the same answer.
    #[error("the username or password is not correct")]
    InvalidCredentials,
    #[error("the account is disabled")]
    AccountDisabled,
    /// Too many failures for this account from this address: wait this long.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    /// `refuse_new` and the user holds all their slots: these sessions.
    #[error("the session limit is reached")]
    LimitReached(Vec<SessionSnapshot>),
    /// Longer than any username or password can be.
    #[error("the username or password is too long")]
    TooLong,
    /// The password queue is full: retry shortly.
    #[error("the password service is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<CredentialsError> for SignInError {
    fn from(error: CredentialsError) -> Self {
        match error {
            CredentialsError::Invalid => SignInError::InvalidCredentials,
            CredentialsError::TooLong => SignInError::TooLong,
            CredentialsError::Busy => SignInError::Busy,
            CredentialsError::TooManyAttempts(wait) => SignInError::TooManyAttempts(wait),
            CredentialsError::Store(e) => SignInError::Store(e),
        }
    }
}

impl crate::messages::UserFacing for SignInError {
    /// The API's error code.
    fn code(&self) -> &'static str {
        match self {
            SignInError::InvalidCredentials => "invalid_credentials",
            SignInError::AccountDisabled => "account_disabled",
            SignInError::TooManyAttempts(_) => "too_many_attempts",
            SignInError::LimitReached(_) => "session_limit_reached",
            SignInError::TooLong => "bad_request",
            SignInError::Busy => "unavailable",
            SignInError::Store(_) => "internal",
        }
    }

    /// The sentence a person reads.
    fn user_message(&self) -> String {
        match self {
            SignInError::InvalidCredentials => "The username or password is not correct.".into(),
            SignInError::AccountDisabled => "This account is disabled.".into(),
            SignInError::TooManyAttempts(wait) => crate::messages::too_many_attempts(*wait),
            SignInError::LimitReached(_) => {
                "You are signed in on as many devices as your plan allows. Sign out of one to continue.".into()
            }
            SignInError::TooLong => format!(
                "A username is at most {MAX_USERNAME_CHARS} characters and a password at most {MAX_PASSWORD_LEN} bytes."
            ),
            SignInError::Busy => crate::messages::BUSY.into(),
            SignInError::Store(_) => crate::messages::INTERNAL.into(),
        }
    }
}

/// The `session.started` event of a session `user` opened (`how`: `login`,
/// `replaced` when it ended others to fit the limit, `continued`), with the
/// device and the address as stored (under the privacy setting).
fn started(user: &UserRecord, row: &SessionRow, how: &str) -> NewEvent {
    NewEvent {
        kind: EventKind::SessionStarted,
        user_id: user.id.clone(),
        session_id: SessionId::parse(&row.id),
        actor: Actor::user(user.id.clone(), user.username.to_string()),
        detail: json!({
            "device": row.device,
            "ip": row.ip,
            "user_agent": row.user_agent,
            "how": how,
        }),
    }
}

/// The `session.rotated` event of `live`, whose replaced secret stays valid
/// for `grace` (requests already in flight with it).
fn rotated(live: &LiveSession, why: &str, grace: Duration) -> NewEvent {
    NewEvent {
        kind: EventKind::SessionRotated,
        user_id: live.user_id.clone(),
        session_id: Some(live.id.clone()),
        actor: Actor::system(),
        detail: json!({ "why": why, "grace_ms": grace.as_millis() }),
    }
}

/// A sign-in request, as the edge received it.
#[derive(Debug)]
pub struct SignIn<'a> {
    pub username: &'a str,
    pub password: &'a crate::password::Password,
    pub client: &'a ClientInfo,
    /// Under `refuse_new`: one of the user's sessions to end so the login
    /// proceeds (from the device list a refused login was shown).
    pub replace: Option<&'a SessionId>,
    /// How the request's own session stood.
    pub visitor: &'a Visitor,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserRecord,
    pub session: Arc<LiveSession>,
}

/// Sign-in and sign-out. Cheap to clone. Built by the engine, which owns
/// the handles it shares.
#[derive(Debug, Clone)]
pub struct Login {
    pub(crate) policy: Arc<Policy>,
    pub(crate) credentials: Credentials,
    pub(crate) users: Users,
    pub(crate) sessions: Sessions,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) view: View,
    pub(crate) changes: Changes,
    pub(crate) snapshots: Snapshots,
}

impl Login {
    /// Signs in under `new_secret`, a secret nobody has used.
    ///
    /// A browser already signed in as the same user keeps its session (same
    /// public id, now under the new secret; it is not a new device and
    /// replaces nobody). A browser signed in as someone else is signed out of
    /// that session first.
    ///
    /// Runs in a `sign_in` span naming the session it opened; each outcome
    /// is counted (`measures::LOGINS`).
    #[tracing::instrument(name = "sign_in", skip_all, fields(session = tracing::field::Empty))]
    pub async fn sign_in(
        &self,
        request: SignIn<'_>,
        new_secret: SecretHash,
    ) -> Result<SignedIn, SignInError> {
        let result = self.try_sign_in(request, new_secret).await;
        let outcome = match &result {
            Ok(signed_in) => {
                tracing::Span::current().record("session", signed_in.session.id.as_str());
                "signed_in"
            }
            Err(SignInError::InvalidCredentials) => "invalid_credentials",
            Err(SignInError::AccountDisabled) => "account_disabled",
            Err(SignInError::TooManyAttempts(_)) => "throttled",
            Err(SignInError::LimitReached(_)) => "limit_reached",
            Err(SignInError::TooLong) => "too_long",
            Err(SignInError::Busy) => "busy",
            Err(SignInError::Store(_)) => "error",
        };
        metrics::counter!(measures::LOGINS, "outcome" => outcome).increment(1);
        result
    }

    async fn try_sign_in(
        &self,
        request: SignIn<'_>,
        new_secret: SecretHash,
    ) -> Result<SignedIn, SignInError> {
        let user = self
            .credentials
            .authenticate(request.username, request.password, &request.client.ip)
            .await?;
        if !user.active {
            return Err(SignInError::AccountDisabled);
        }
        if let Visitor::Live(live) = request.visitor {
            if live.user_id == user.id {
                if self
                    .continue_session(live, &new_secret, Some(&user))
                    .await?
                {
                    return Ok(SignedIn {
                        user,
                        session: Arc::clone(live),
                    });
                }
            } else {
                let actor = Actor::user(live.user_id.clone(), "sign-in as another user");
                let own = Scope::Sessions(vec![live.id.clone()]);
                self.changes
                    .end(&own, Reason::LoggedOut, &actor, &json!({}))
                    .await?;
            }
        }
        let session = self
            .open_session(&user, new_secret, request.client, request.replace)
            .await?;
        Ok(SignedIn { user, session })
    }

    /// Opens a new session for `user` under `secret`, applying the session
    /// limit atomically: the user's row is written first, which serialises
    /// concurrent logins of one user (a row lock on PostgreSQL, the write lock
    /// on SQLite), so two simultaneous logins can never both take the last slot.
    async fn open_session(
        &self,
        user: &UserRecord,
        secret: SecretHash,
        client: &ClientInfo,
        replace_choice: Option<&SessionId>,
    ) -> Result<Arc<LiveSession>, SignInError> {
        let policy = &self.policy;
        // Only what the privacy setting keeps of the address is ever written.
        let client = &ClientInfo {
            ip: policy.ip_privacy.stored(&client.ip),
            user_agent: client.user_agent.clone(),
        };
        let mut change = self.changes.begin().await?;
        let now = change.now();
        if !Users::lock_if_active(&mut change.tx, &user.id).await? {
            return Err(SignInError::AccountDisabled);
        }
        // Sessions past a deadline hold no slot, even if no request has ended them yet.
        let mut holding = Vec::new();
        let mut timed_out = TimedOut::default();
        for row in Sessions::live_of_user_in(&mut change.tx, &user.id).await? {
            let id = row.session_id()?;
            let stored = Timestamp::from_millis(row.last_activity_at);
            let last_activity = self
                .view
                .by_id(&id)
                .map_or(stored, |live| live.last_activity_at().max(stored));
            match policy.expired(Timestamp::from_millis(row.created_at), last_activity, now) {
                Some(reason) => timed_out.add(id, reason),
                None => holding.push((id, row)),
            }
        }
        timed_out.end_in(&mut change).await?;

        let ids: Vec<SessionId> = holding.iter().map(|(id, _)| id.clone()).collect();
        match policy.decide_login_replacing(policy.limit_for(user), &ids, replace_choice) {
            LimitDecision::Refuse => {
                change
                    .tx
                    .rollback()
                    .await
                    .context("Failed to roll back a refused login")?;
                let rows = holding.into_iter().map(|(_, row)| row).collect();
                return Err(SignInError::LimitReached(
                    self.snapshots.of_rows(rows, now)?,
                ));
            }
            LimitDecision::Admit { replace } if !replace.is_empty() => {
                let detail = json!({
                    "device": client.device_label(),
                    "ip": client.ip,
                    "at": now.to_rfc3339(),
                });
                let actor = Actor::user(user.id.clone(), user.username.to_string());
                let replaced = Scope::Sessions(replace);
                change
                    .end(&replaced, Reason::SignedInElsewhere, &actor, &detail)
                    .await?;
            }
            LimitDecision::Admit { .. } => {}
        }
        // "Oldest" must be a strict order even for logins in the same
        // millisecond (or after the clock stepped back): under the user lock,
        // a new session is always created after every session it joins.
        let created_at = holding
            .iter()
            .map(|(_, row)| Timestamp::from_millis(row.created_at.saturating_add(1)))
            .fold(now, Timestamp::max);
        let id = SessionId::generate();
        let row =
            Sessions::insert(&mut change.tx, &id, &user.id, &secret, client, created_at).await?;
        let how = if change.ended() > 0 {
            "replaced"
        } else {
            "login"
        };
        change.record(started(user, &row, how));
        let account = self.view.account(&user.id, Identity::of(user));
        let live = Arc::new(LiveSession::from_row(row, account)?);
        self.changes.commit(change).await?;
        self.view.remember(secret, Arc::clone(&live));
        Ok(live)
    }

    /// Continues a live session under a fresh secret: a repeated sign-in in
    /// a browser already signed in as that user (the event log records it as
    /// a session started by continuing), or a password change (nothing to
    /// record: the password change is its own event). Both proved the
    /// password, so the session's re-authentication window starts again now.
    /// `false` if it ended meanwhile.
    pub async fn continue_session(
        &self,
        live: &Arc<LiveSession>,
        new_secret: &SecretHash,
        signed_in_again: Option<&UserRecord>,
    ) -> anyhow::Result<bool> {
        let mut change = self.changes.begin().await?;
        let now = change.now();
        let Some(row) =
            Sessions::rotate_secret_in(&mut change.tx, &live.id, new_secret, now).await?
        else {
            return Ok(false);
        };
        if let Some(user) = signed_in_again {
            change.record(started(user, &row, "continued"));
        }
        // The old secret dies at once (it was proved with the password
        // again, or the password changed): on every node.
        let why = if signed_in_again.is_some() {
            "signed_in_again"
        } else {
            "password_changed"
        };
        change.record(rotated(live, why, Duration::ZERO));
        self.changes.commit(change).await?;
        self.view.remember(*new_secret, Arc::clone(live));
        Ok(true)
    }

    /// Logs `live` out: it ends with `logged_out` (for its other tabs) and,
    /// with logout-everywhere on, every other session of the user ends with
    /// `logged_out_elsewhere` — but only when this session proved the
    /// password within the re-authentication window: a stolen cookie signs
    /// out its own session and nobody else (ASVS V3.3.4). Returns how many
    /// sessions ended.
    pub async fn sign_out(&self, live: &LiveSession) -> anyhow::Result<usize> {
        let everywhere = self.policy.logout_everywhere && self.recently_proved(live).await?;
        let actor = Actor::user(live.user_id.clone(), "self");
        let mut change = self.changes.begin().await?;
        let own = Scope::Sessions(vec![live.id.clone()]);
        change
            .end(&own, Reason::LoggedOut, &actor, &json!({}))
            .await?;
        if everywhere {
            let others = Scope::User {
                user_id: live.user_id.clone(),
                except: Some(live.id.clone()),
            };
            change
                .end(&others, Reason::LoggedOutElsewhere, &actor, &json!({}))
                .await?;
        }
        self.changes.commit(change).await
    }

    /// Gives the cookie of `live`, which presented `old`, the fresh secret
    /// `new` it is owed since its user's rights changed; `old` stays valid
    /// for [`ROTATION_GRACE`]. `false` when another request rotated it first
    /// (the browser then gets that one's cookie) or the session ended.
    pub async fn rotate(
        &self,
        live: &Arc<LiveSession>,
        old: &SecretHash,
        new: &SecretHash,
    ) -> anyhow::Result<bool> {
        let mut change = self.changes.begin().await?;
        let now = change.now();
        if !Sessions::rotate_in(&mut change.tx, &live.id, old, new, now).await? {
            return Ok(false);
        }
        change.record(rotated(live, "rights_changed", ROTATION_GRACE));
        self.changes.commit(change).await?;
        live.set_rotation(false);
        self.view
            .rotated(*old, *new, live, now.plus(ROTATION_GRACE));
        Ok(true)
    }

    /// Whether `live`'s holder proved the password within the
    /// re-authentication window (always, with the window off), read from the
    /// database: the proof may have been given through another node.
    async fn recently_proved(&self, live: &LiveSession) -> anyhow::Result<bool> {
        if self.policy.reauth_window.is_none() {
            return Ok(true);
        }
        let proved = self.sessions.authenticated_at(&live.id).await?;
        Ok(proved.is_some_and(|at| !self.policy.needs_reauthentication(at, self.clock.now())))
    }

    /// The account behind a live session (`None` if it was deleted).
    pub async fn user_of(&self, live: &LiveSession) -> anyhow::Result<Option<UserRecord>> {
        self.users.find_by_id(&live.user_id).await
    }
}
