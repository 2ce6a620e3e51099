//! [`Engine`]: the one handle the HTTP layers hold. It composes the users,
//! the registry, the policy and the revocation log into the operations the
//! API offers: check a request, sign in, sign out, end sessions.
//!
//! Every ending goes through [`Engine::end`]: one transaction that marks the
//! rows and appends the log, then the tailer applies it to the view *before*
//! the call returns, so the very next request on this node is refused.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use bouncer_wire::{Reason, ServerMessage, CLOSE_SESSION_ENDED};
use serde_json::{json, Value};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    clock::{Clock, Timestamp},
    cookie_store::CookieStore,
    db::Pool,
    hub::{Hub, Outgoing},
    ids::{SecretHash, SessionId, UserId},
    listener,
    password::{check_strength, Password, PasswordHasher},
    policy::{LimitDecision, Policy},
    registry::{ClientInfo, LiveSession, Lookup, Owed, Persist, Registry, Scope, SessionRow},
    revocation::{Actor, Ended, Ending, Tailer},
    sql::Sql,
    throttle::{Limits, LoginThrottle},
    users::{CreateUserError, NewUser, UserRecord, Users},
};

/// How a request's session stands after the check.
#[derive(Debug, Clone)]
pub enum Visitor {
    /// No session cookie, or one that matches no session.
    Anonymous,
    /// The cookie names a session that has ended, and why.
    Ended(Reason),
    /// A live session.
    Live(Arc<LiveSession>),
}

impl Visitor {
    /// The live session, if there is one.
    pub fn live(&self) -> Option<&Arc<LiveSession>> {
        match self {
            Visitor::Live(live) => Some(live),
            _ => None,
        }
    }
}

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
    LimitReached(Vec<SessionRow>),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// A point-in-time description of a session, merging the stored row with this
/// node's fresher in-memory timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
}

impl From<&LiveSession> for SessionSnapshot {
    fn from(live: &LiveSession) -> Self {
        SessionSnapshot {
            id: live.id.clone(),
            user_id: live.user_id.clone(),
            created_at: live.created_at,
            last_seen_at: live.last_seen_at(),
            last_activity_at: live.last_activity_at(),
            ip: live.ip.clone(),
            user_agent: live.user_agent.clone(),
            device: live.device.clone(),
        }
    }
}

/// Sessions found past a deadline, by which deadline.
#[derive(Debug, Default)]
struct TimedOut {
    idle: Vec<SessionId>,
    absolute: Vec<SessionId>,
}

impl TimedOut {
    fn add(&mut self, id: SessionId, reason: Reason) {
        match reason {
            Reason::AbsoluteTimeout => self.absolute.push(id),
            _ => self.idle.push(id),
        }
    }

    fn is_empty(&self) -> bool {
        self.idle.is_empty() && self.absolute.is_empty()
    }
}

/// See [`Engine::deadline_state`].
enum DeadlineState {
    Expired(Reason),
    /// Inside the warning window before this idle deadline.
    Warn(Timestamp),
    /// Not yet in the window (the idle deadline, if there is one).
    Fine(Option<Timestamp>),
}

/// The session engine. Cheap to clone: every field is shared.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: Pool,
    /// Where "now" comes from (a manual clock in tests).
    clock: Arc<dyn Clock>,
    policy: Policy,
    hasher: PasswordHasher,
    /// Failed-login counts (see `throttle`).
    throttle: LoginThrottle,
    users: Users,
    registry: Registry,
    tailer: Tailer,
    /// The tabs connected to this node.
    hub: Hub,
    /// Where other nodes' endings are announced (PostgreSQL's LISTEN), if shared.
    listen_url: Option<String>,
    /// Sessions owing a throttled activity write (see [`Persist::Later`]).
    owed_writes: std::sync::Mutex<Vec<Arc<LiveSession>>>,
    /// Counts [`Engine::check_deadlines`] passes.
    deadline_ticks: AtomicU64,
    /// (log sequence, tabs told) not yet added to the log (see [`Engine::flush_tabs_told`]).
    tabs_told: std::sync::Mutex<Vec<(i64, usize)>>,
}

/// How often the deadlines of sessions with connected tabs are checked.
const DEADLINE_TICK: Duration = Duration::from_millis(200);

/// How many deadline ticks apart a warned session's activity is re-read.
const WARNED_REFRESH_TICKS: u64 = 5;

/// How often the write-behind work runs: owed activity writes (see
/// [`Persist::Later`]) and the audit's tab counts.
const WRITE_BEHIND_TICK: Duration = Duration::from_millis(200);

/// How often the sweeper ends timed-out sessions and deletes old tombstones.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl Engine {
    /// Builds the engine on a migrated database. `hash_limit` bounds the number
    /// of argon2 hashes computed at once. With a `listen_url` (PostgreSQL
    /// shared by several nodes) the background tasks include a listener for
    /// the other nodes' endings.
    pub async fn new(
        pool: Pool,
        policy: Policy,
        clock: Arc<dyn Clock>,
        hash_limit: usize,
        listen_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let rewritten = crate::privacy::apply_to_stored(&pool, policy.ip_privacy).await?;
        if rewritten > 0 {
            tracing::info!(
                rewritten,
                privacy = policy.ip_privacy.as_str(),
                "Rewrote stored addresses"
            );
        }
        let registry = Registry::new(pool.clone());
        let tailer = Tailer::start_at_end(pool.clone(), registry.clone()).await?;
        Ok(Engine {
            shared: Arc::new(Shared {
                users: Users::new(pool.clone()),
                hasher: PasswordHasher::new(hash_limit),
                throttle: LoginThrottle::new(Limits::default()),
                pool,
                clock,
                policy,
                registry,
                tailer,
                hub: Hub::default(),
                listen_url,
                owed_writes: std::sync::Mutex::default(),
                deadline_ticks: AtomicU64::new(0),
                tabs_told: std::sync::Mutex::default(),
            }),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    pub fn users(&self) -> &Users {
        &self.shared.users
    }

    pub(crate) fn hasher(&self) -> &PasswordHasher {
        &self.shared.hasher
    }

    /// The failed-password counts shared by sign-in and re-authentication.
    pub(crate) fn throttle(&self) -> &LoginThrottle {
        &self.shared.throttle
    }

    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Why the session ended, if this node has applied its ending.
    pub fn ended_reason(&self, id: &SessionId) -> Option<Reason> {
        self.shared.registry.ended_reason(id)
    }

    /// Records user activity of a session outside a request (a tab's
    /// `activity` message) and tells its tabs the new idle deadline.
    ///
    /// Activity cannot bring back a session already past a deadline, which
    /// the deadline ticker may not have ended yet (it runs every
    /// [`DEADLINE_TICK`], and not at all while the database fails): such a
    /// session ends now with that deadline's reason, as a request would find
    /// it. An ended session's activity changes nothing.
    pub async fn record_activity(&self, live: &Arc<LiveSession>) -> anyhow::Result<()> {
        if self.ended_reason(&live.id).is_some() {
            return Ok(());
        }
        let now = self.now();
        if self.end_if_expired(live, now).await?.is_some() {
            return Ok(());
        }
        let policy = &self.shared.policy;
        self.persist(live, live.touch(now, true, policy.last_seen_write_interval));
        if let Some(idle) = policy
            .deadlines(live.created_at, live.last_activity_at())
            .idle
        {
            self.shared.hub.extended(&live.id, idle, now);
        }
        Ok(())
    }

    /// Every ending this node applies, as it applies them (for the push hub).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<[Ended]>> {
        self.shared.tailer.subscribe()
    }

    /// Starts the tailer loop and the sweeper; both stop when `shutdown` turns true.
    pub fn spawn_background(&self, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let tailer = tokio::spawn(self.shared.tailer.clone().run(shutdown.clone()));
        let engine = self.clone();
        let mut stop = shutdown.clone();
        let sweeper = tokio::spawn(async move {
            loop {
                if let Err(e) = engine.sweep().await {
                    tracing::warn!(error = ?e, "The session sweep failed; retrying later");
                }
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        let pusher = tokio::spawn(self.clone().push_endings(shutdown.clone()));
        let ticker = tokio::spawn(self.clone().watch_deadlines(shutdown.clone()));
        let engine = self.clone();
        let mut stop = shutdown.clone();
        let flusher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(WRITE_BEHIND_TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        engine.flush_owed_writes(false).await;
                        engine.flush_tabs_told().await;
                    }
                    _ = stop.changed() => {
                        engine.flush_owed_writes(true).await;
                        engine.flush_tabs_told().await;
                        return;
                    }
                }
            }
        });
        let mut tasks = vec![tailer, sweeper, pusher, ticker, flusher];
        if let Some(url) = &self.shared.listen_url {
            let tailer = self.shared.tailer.clone();
            let hub = self.shared.hub.clone();
            tasks.push(tokio::spawn(listener::run(
                url.clone(),
                tailer,
                hub,
                shutdown,
            )));
        }
        tasks
    }

    /// Tells the tabs on this node about every ending the tailer applies.
    async fn push_endings(self, mut shutdown: watch::Receiver<bool>) {
        let mut endings = self.subscribe();
        loop {
            let ended = tokio::select! {
                ended = endings.recv() => ended,
                _ = shutdown.changed() => return,
            };
            match ended {
                Ok(batch) => {
                    self.push_batch(&batch);
                    // Once per user, after the batch: a bulk ending announces
                    // each user's change once, not once per session.
                    let users: HashSet<&UserId> = batch.iter().map(|e| &e.user_id).collect();
                    for user_id in users {
                        self.shared.hub.sessions_changed(user_id);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    // Some endings went by unseen: every session with tabs here
                    // is checked against the view, which the tailer did update.
                    tracing::warn!(missed, "The push hub lagged; resyncing its tabs");
                    for (id, _) in self.shared.hub.sessions() {
                        if let Some(reason) = self.ended_reason(&id) {
                            let message = Outgoing::new(&self.ended_message(reason, json!({})));
                            self.shared
                                .hub
                                .end_session(&id, message, CLOSE_SESSION_ENDED);
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn ended_message(&self, reason: Reason, detail: Value) -> ServerMessage {
        ServerMessage::SessionEnded {
            reason,
            message: crate::web::reason_message(reason, &self.shared.policy.auto_logout_message),
            detail: if detail.is_object() {
                detail
            } else {
                json!({})
            },
        }
    }

    /// Tells the tabs of a read's worth of endings. Consecutive endings with
    /// the same reason and detail (all of a bulk ending) share one serialised
    /// message, and the hub is locked once for the batch.
    fn push_batch(&self, batch: &[Ended]) {
        let mut previous: Option<(&Ended, Outgoing)> = None;
        let mut messages = Vec::with_capacity(batch.len());
        for ended in batch {
            let message = match &previous {
                Some((last, message))
                    if last.reason == ended.reason && last.detail == ended.detail =>
                {
                    message.clone()
                }
                _ => Outgoing::new(&self.ended_message(ended.reason, ended.detail.clone())),
            };
            previous = Some((ended, message.clone()));
            messages.push((&ended.session_id, message));
        }
        let told = self.shared.hub.end_sessions(messages, CLOSE_SESSION_ENDED);
        let told: Vec<(i64, usize)> = batch
            .iter()
            .zip(told)
            .filter(|(_, told)| *told > 0)
            .map(|(ended, told)| (ended.seq, told))
            .collect();
        if !told.is_empty() {
            lock(&self.shared.tabs_told).extend(told);
        }
    }

    /// Adds the tab counts of recent pushes to their log rows (for the audit
    /// view), batched off the push path: a bulk ending would otherwise cost
    /// one write per session right when the tabs are being told.
    pub async fn flush_tabs_told(&self) {
        let told = std::mem::take(&mut *lock(&self.shared.tabs_told));
        // Small chunks: a CASE is tried branch by branch for every row.
        for chunk in told.chunks(100) {
            let mut query =
                Sql::new("UPDATE revocations SET tabs_notified = tabs_notified + CASE seq");
            for (seq, count) in chunk {
                query.push(" WHEN ").bind(*seq).push(" THEN ");
                query.bind(i64::try_from(*count).unwrap_or(i64::MAX));
            }
            query
                .push(" ELSE 0 END WHERE seq IN ")
                .bind_list(chunk.iter().map(|(seq, _)| *seq));
            if let Err(e) = query.query().execute(&self.shared.pool).await {
                tracing::warn!(error = ?e, "Failed to record how many tabs were told");
            }
        }
    }

    /// For the sessions with tabs on this node: warn ahead of the idle
    /// deadline and end the session when a deadline passes, with no request
    /// needed. Deadlines are read from the engine's clock on every tick.
    async fn watch_deadlines(self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(DEADLINE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            if let Err(e) = self.check_deadlines().await {
                tracing::warn!(error = ?e, "Failed to end timed-out sessions");
            }
        }
    }

    /// One pass of [`Engine::watch_deadlines`].
    ///
    /// A session about to be warned or ended has its activity re-read from
    /// the database first: the person may be active through another node,
    /// whose writes are at most one write interval behind. Once warned, the
    /// session is re-read every [`WARNED_REFRESH_TICKS`] ticks, so activity
    /// elsewhere takes the warning down here too.
    pub async fn check_deadlines(&self) -> anyhow::Result<()> {
        let now = self.now();
        let tick = self.shared.deadline_ticks.fetch_add(1, Ordering::Relaxed);
        let watched: Vec<_> = self
            .shared
            .hub
            .sessions()
            .into_iter()
            .filter_map(|(id, warned_for)| {
                let live = self.shared.registry.cached_by_id(&id)?;
                Some((live, warned_for))
            })
            .collect();
        let stale: Vec<SessionId> = watched
            .iter()
            .filter(|(live, warned_for)| match self.deadline_state(live, now) {
                DeadlineState::Expired(_) => true,
                DeadlineState::Warn(idle) => {
                    *warned_for != Some(idle) || tick % WARNED_REFRESH_TICKS == 0
                }
                DeadlineState::Fine(_) => false,
            })
            .map(|(live, _)| live.id.clone())
            .collect();
        if !stale.is_empty() {
            self.shared.registry.refresh_activity(&stale).await?;
        }
        let mut expired = TimedOut::default();
        for (live, warned_for) in watched {
            match self.deadline_state(&live, now) {
                DeadlineState::Expired(reason) => expired.add(live.id.clone(), reason),
                DeadlineState::Warn(idle) if warned_for != Some(idle) => {
                    self.shared.hub.mark_warned(&live.id, Some(idle));
                    let warning = ServerMessage::IdleWarning {
                        idle_expires_at: idle.to_rfc3339(),
                        seconds_left: idle.since(now).as_secs(),
                    };
                    self.shared.hub.send_to_session(&live.id, &warning);
                }
                // Activity elsewhere moved the deadline out of the window.
                DeadlineState::Fine(Some(idle)) if warned_for.is_some() => {
                    self.shared.hub.extended(&live.id, idle, now);
                }
                _ => {}
            }
        }
        self.end_timed_out(expired).await?;
        Ok(())
    }

    /// Where `live` stands against its deadlines at `now`, by this node's copy.
    fn deadline_state(&self, live: &LiveSession, now: Timestamp) -> DeadlineState {
        let policy = &self.shared.policy;
        if let Some(reason) = policy.expired(live.created_at, live.last_activity_at(), now) {
            return DeadlineState::Expired(reason);
        }
        let idle = policy
            .deadlines(live.created_at, live.last_activity_at())
            .idle;
        match idle {
            Some(idle)
                if !policy.idle_warning.is_zero() && now >= idle.minus(policy.idle_warning) =>
            {
                DeadlineState::Warn(idle)
            }
            idle => DeadlineState::Fine(idle),
        }
    }

    /// Ends timed-out sessions in one transaction, then applies the log.
    async fn end_timed_out(&self, timed_out: TimedOut) -> anyhow::Result<usize> {
        if timed_out.is_empty() {
            return Ok(0);
        }
        let mut ending = self.begin_ending().await?;
        end_timed_out_in(&mut ending, timed_out).await?;
        self.commit_ending(ending).await
    }

    /// Creates a user, checking the password rules.
    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord, CreateUserError> {
        check_strength(&new.password)?;
        let hash = self.shared.hasher.hash(&new.password).await?;
        self.shared.users.insert(&new, hash, self.now()).await
    }

    /// The request-path check: how the session behind `secret` stands, and
    /// (when live) record the request. From memory in the steady state; the
    /// database is read only for a secret this node has not seen yet.
    pub async fn check(&self, secret: &SecretHash, activity: bool) -> anyhow::Result<Visitor> {
        let registry = &self.shared.registry;
        let lookup = match registry.lookup_cached(secret) {
            Some(lookup) => lookup,
            None => registry.lookup_stored(secret).await?,
        };
        let live = match lookup {
            Lookup::Live(live) => live,
            Lookup::Ended(reason) => return Ok(Visitor::Ended(reason)),
            Lookup::Unknown => return Ok(Visitor::Anonymous),
        };
        let now = self.now();
        let policy = &self.shared.policy;
        if let Some(reason) = self.end_if_expired(&live, now).await? {
            return Ok(Visitor::Ended(reason));
        }
        self.persist(
            &live,
            live.touch(now, activity, policy.last_seen_write_interval),
        );
        Ok(Visitor::Live(live))
    }

    /// Ends `live` if it is past a deadline at `now` (see
    /// [`Engine::expired_after_refresh`]), and says why it ended.
    async fn end_if_expired(
        &self,
        live: &LiveSession,
        now: Timestamp,
    ) -> anyhow::Result<Option<Reason>> {
        let reason = self.expired_after_refresh(live, now).await?;
        if let Some(reason) = reason {
            self.end(
                Scope::Sessions(vec![live.id.clone()]),
                reason,
                &Actor::system(),
                json!({}),
            )
            .await?;
        }
        Ok(reason)
    }

    /// Whether `live` is past a deadline at `now`, asking the database before
    /// saying yes: the person may have been active on another node.
    async fn expired_after_refresh(
        &self,
        live: &LiveSession,
        now: Timestamp,
    ) -> anyhow::Result<Option<Reason>> {
        let policy = &self.shared.policy;
        if policy
            .expired(live.created_at, live.last_activity_at(), now)
            .is_none()
        {
            return Ok(None);
        }
        self.shared
            .registry
            .refresh_activity(std::slice::from_ref(&live.id))
            .await?;
        Ok(policy.expired(live.created_at, live.last_activity_at(), now))
    }

    /// Acts on a touch's [`Persist`]: an immediate write goes off the request
    /// path (a slow write must not delay the answer); a held-back one waits
    /// for [`Engine::flush_owed_writes`].
    fn persist(&self, live: &Arc<LiveSession>, persist: Persist) {
        match persist {
            Persist::Now => {
                let registry = self.shared.registry.clone();
                let live = Arc::clone(live);
                tokio::spawn(async move {
                    if let Err(e) = registry.persist_activity(&live).await {
                        tracing::warn!(error = ?e, session = %live.id, "Failed to persist last-seen");
                    }
                });
            }
            Persist::Later => lock(&self.shared.owed_writes).push(Arc::clone(live)),
            Persist::No => {}
        }
    }

    /// Makes the held-back activity writes whose interval has passed (all of
    /// them when `all`, at shutdown), so other nodes see activity at most one
    /// write interval late.
    pub async fn flush_owed_writes(&self, all: bool) {
        let now = self.now();
        let interval = if all {
            Duration::ZERO
        } else {
            self.shared.policy.last_seen_write_interval
        };
        let mut due = Vec::new();
        lock(&self.shared.owed_writes).retain(|live| match live.owed_write(now, interval) {
            Owed::Due => {
                due.push(Arc::clone(live));
                false
            }
            Owed::NotYet => true,
            Owed::Settled => false,
        });
        for live in due {
            if let Err(e) = self.shared.registry.persist_activity(&live).await {
                tracing::warn!(error = ?e, session = %live.id, "Failed to persist last-seen");
            }
        }
    }

    /// Verifies a username and password. Unknown users cost the same time as
    /// wrong passwords and get the same error.
    /// Repeated failures from `ip` are refused before any hashing.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        ip: &str,
    ) -> Result<UserRecord, SignInError> {
        let throttle = &self.shared.throttle;
        throttle
            .check(username, ip, self.now())
            .map_err(SignInError::TooManyAttempts)?;
        let user = self.shared.users.find_by_username(username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        let user = match user {
            Some(user) if self.shared.hasher.verify(password, hash).await? => user,
            Some(_) => {
                throttle.record_failure(username, ip, self.now());
                return Err(SignInError::InvalidCredentials);
            }
            None => {
                // Same cost as a wrong password (a dummy hash is verified).
                self.shared.hasher.verify(password, None).await?;
                throttle.record_failure(username, ip, self.now());
                return Err(SignInError::InvalidCredentials);
            }
        };
        throttle.record_success(username, ip);
        if !user.active {
            return Err(SignInError::AccountDisabled);
        }
        Ok(user)
    }

    /// Opens a new session for `user` under `secret`, applying the session
    /// limit atomically: the user's row is written first, which serialises
    /// concurrent logins of one user (a row lock on PostgreSQL, the write lock
    /// on SQLite), so two simultaneous logins can never both take the last slot.
    pub async fn open_session(
        &self,
        user: &UserRecord,
        id: SessionId,
        secret: SecretHash,
        client: &ClientInfo,
        replace_choice: Option<&SessionId>,
    ) -> Result<Arc<LiveSession>, SignInError> {
        let policy = &self.shared.policy;
        // Only what the privacy setting keeps of the address is ever written.
        let client = &ClientInfo {
            ip: policy.ip_privacy.stored(&client.ip),
            user_agent: client.user_agent.clone(),
        };
        let mut ending = self.begin_ending().await?;
        let now = ending.now();
        let locked = sqlx::query(
            "UPDATE users SET lock_version = lock_version + 1 WHERE id = $1 AND active = TRUE",
        )
        .bind(user.id.as_str())
        .execute(&mut *ending.tx)
        .await
        .context("Failed to lock the user")?
        .rows_affected();
        if locked == 0 {
            return Err(SignInError::AccountDisabled);
        }

        // Sessions past a deadline hold no slot, even if no request has ended them yet.
        let mut holding = Vec::new();
        let mut timed_out = TimedOut::default();
        for row in Registry::live_of_user_in(&mut ending.tx, &user.id).await? {
            let id = SessionId::parse(&row.id).context("Found a session with an empty id")?;
            let last_activity = self
                .shared
                .registry
                .cached_by_id(&id)
                .map(|live| live.last_activity_at())
                .unwrap_or(Timestamp::from_millis(row.last_activity_at))
                .max(Timestamp::from_millis(row.last_activity_at));
            match policy.expired(Timestamp::from_millis(row.created_at), last_activity, now) {
                Some(reason) => timed_out.add(id, reason),
                None => holding.push((id, row)),
            }
        }
        end_timed_out_in(&mut ending, timed_out).await?;

        let ids: Vec<SessionId> = holding.iter().map(|(id, _)| id.clone()).collect();
        match policy.decide_login_replacing(policy.limit_for(user), &ids, replace_choice) {
            LimitDecision::Refuse => {
                ending
                    .tx
                    .rollback()
                    .await
                    .context("Failed to roll back a refused login")?;
                let rows = holding.into_iter().map(|(_, row)| row).collect();
                return Err(SignInError::LimitReached(rows));
            }
            LimitDecision::Admit { replace } => {
                if !replace.is_empty() {
                    let detail = json!({
                        "device": client.device_label(),
                        "ip": client.ip,
                        "at": now.to_rfc3339(),
                    });
                    let actor = Actor::user(user.id.clone(), user.username.to_string());
                    ending
                        .end(
                            &Scope::Sessions(replace),
                            Reason::SignedInElsewhere,
                            &actor,
                            &detail,
                        )
                        .await?;
                }
            }
        }
        // "Oldest" must be a strict order even for logins in the same
        // millisecond (or after the clock stepped back): under the user lock,
        // a new session is always created after every session it joins.
        let created_at = holding
            .iter()
            .map(|(_, row)| Timestamp::from_millis(row.created_at.saturating_add(1)))
            .fold(now, Timestamp::max);
        let live = Arc::new(
            Registry::insert(&mut ending.tx, &id, &user.id, &secret, client, created_at).await?,
        );
        listener::announce_new_session(&mut ending.tx, &user.id).await?;
        self.commit_ending(ending).await?;
        self.shared.registry.remember(secret, Arc::clone(&live));
        self.shared.hub.sessions_changed(&user.id);
        Ok(live)
    }

    /// Continues a live session under a fresh secret (a repeated login in a
    /// browser already signed in as that user, or a password change). Both
    /// proved the password, so the session's re-authentication window starts
    /// again now. `false` if it ended meanwhile.
    pub async fn continue_session(
        &self,
        live: &Arc<LiveSession>,
        new_secret: SecretHash,
    ) -> anyhow::Result<bool> {
        self.shared
            .registry
            .rotate_secret(live, new_secret, self.now())
            .await
    }

    /// Logs `live` out: it ends with `logged_out` (for its other tabs) and,
    /// with logout-everywhere on, every other session of the user ends with
    /// `logged_out_elsewhere`.
    pub async fn sign_out(&self, live: &LiveSession, actor: &Actor) -> anyhow::Result<usize> {
        let mut ending = self.begin_ending().await?;
        let own = Scope::Sessions(vec![live.id.clone()]);
        ending
            .end(&own, Reason::LoggedOut, actor, &json!({}))
            .await?;
        if self.shared.policy.logout_everywhere {
            let others = Scope::User {
                user_id: live.user_id.clone(),
                except: Some(live.id.clone()),
            };
            ending
                .end(&others, Reason::LoggedOutElsewhere, actor, &json!({}))
                .await?;
        }
        self.commit_ending(ending).await
    }

    /// Ends the sessions chosen by `scope`: durably first, then applied to this
    /// node's view before returning. Returns how many were live.
    pub async fn end(
        &self,
        scope: Scope,
        reason: Reason,
        actor: &Actor,
        detail: Value,
    ) -> anyhow::Result<usize> {
        let mut ending = self.begin_ending().await?;
        ending.end(&scope, reason, actor, &detail).await?;
        self.commit_ending(ending).await
    }

    /// Starts a transaction that may end sessions (see [`Ending`]).
    pub(crate) async fn begin_ending(&self) -> anyhow::Result<Ending<'static>> {
        Ending::begin(&self.shared.pool, self.now()).await
    }

    /// Commits `ending` and applies the log to this node's view, so the very
    /// next request here is refused. Returns how many sessions ended.
    pub(crate) async fn commit_ending(&self, ending: Ending<'_>) -> anyhow::Result<usize> {
        let ended = ending.commit().await?;
        if ended > 0 {
            self.shared.tailer.catch_up().await?;
        }
        Ok(ended)
    }

    /// The live sessions of a user, newest first, with this node's fresher
    /// timestamps where it has them.
    pub async fn sessions_of(&self, user_id: &UserId) -> anyhow::Result<Vec<SessionSnapshot>> {
        let rows = self.shared.registry.live_of_user(user_id).await?;
        rows.into_iter()
            .map(|row| self.snapshot_of_row(row))
            .collect()
    }

    /// Describes a session row, preferring this node's in-memory timestamps.
    pub fn snapshot_of_row(&self, row: SessionRow) -> anyhow::Result<SessionSnapshot> {
        let id = SessionId::parse(&row.id).context("Found a session with an empty id")?;
        if let Some(live) = self.shared.registry.cached_by_id(&id) {
            // The row may carry activity from another node.
            live.absorb(row.last_seen_at, row.last_activity_at);
            return Ok(SessionSnapshot::from(live.as_ref()));
        }
        Ok(SessionSnapshot {
            id,
            user_id: UserId::parse(&row.user_id)
                .context("Found a session with an empty user id")?,
            created_at: Timestamp::from_millis(row.created_at),
            last_seen_at: Timestamp::from_millis(row.last_seen_at),
            last_activity_at: Timestamp::from_millis(row.last_activity_at),
            ip: row.ip,
            user_agent: row.user_agent,
            device: row.device,
        })
    }

    /// The API's Session object for `session`.
    pub fn session_to_wire(
        &self,
        session: &SessionSnapshot,
        username: &str,
        current: bool,
    ) -> bouncer_wire::Session {
        let deadlines = self
            .shared
            .policy
            .deadlines(session.created_at, session.last_activity_at);
        bouncer_wire::Session {
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
            online_tabs: self.shared.hub.online_tabs(&session.id),
            idle_expires_at: deadlines.idle.map(Timestamp::to_rfc3339),
            absolute_expires_at: deadlines.absolute.map(Timestamp::to_rfc3339),
        }
    }

    /// The `{"user", "session"}` answer for a caller's own session.
    pub fn me(&self, user: &UserRecord, session: &SessionSnapshot) -> bouncer_wire::Me {
        bouncer_wire::Me {
            user: user.to_wire(),
            session: self.session_to_wire(session, user.username.as_str(), true),
        }
    }

    /// Ends the sessions that ran out of time without a request noticing, and
    /// deletes tombstones and log rows past the retention period.
    pub async fn sweep(&self) -> anyhow::Result<()> {
        let now = self.now();
        let policy = &self.shared.policy;
        // Stored activity may lag memory (on any node) by one write interval.
        let grace = policy.last_seen_write_interval;
        let idle_before = policy.idle_timeout.map(|t| now.minus(t).minus(grace));
        let created_before = policy.absolute_timeout.map(|t| now.minus(t));
        let mut timed_out = TimedOut::default();
        for row in self
            .shared
            .registry
            .expired_candidates(idle_before, created_before)
            .await?
        {
            let snapshot = self.snapshot_of_row(row)?;
            if let Some(reason) =
                policy.expired(snapshot.created_at, snapshot.last_activity_at, now)
            {
                timed_out.add(snapshot.id, reason);
            }
        }
        let ended = self.end_timed_out(timed_out).await?;
        if ended > 0 {
            tracing::info!(ended, "Ended timed-out sessions");
        }
        let before = now.minus(policy.tombstone_retention);
        self.shared.registry.delete_tombstones(before).await?;
        sqlx::query("DELETE FROM revocations WHERE at < $1")
            .bind(before.as_millis())
            .execute(&self.shared.pool)
            .await
            .context("Failed to delete old revocation log rows")?;
        self.shared.registry.prune_tombstones(before);
        CookieStore::new(self.shared.pool.clone())
            .delete_expired(now)
            .await?;
        Ok(())
    }
}

/// Ends timed-out sessions inside `ending`, each with its own reason.
async fn end_timed_out_in(ending: &mut Ending<'_>, timed_out: TimedOut) -> anyhow::Result<()> {
    let system = Actor::system();
    for (reason, ids) in [
        (Reason::IdleTimeout, timed_out.idle),
        (Reason::AbsoluteTimeout, timed_out.absolute),
    ] {
        if !ids.is_empty() {
            ending
                .end(&Scope::Sessions(ids), reason, &system, &json!({}))
                .await?;
        }
    }
    Ok(())
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded lists stay consistent whatever panicked while holding them.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
