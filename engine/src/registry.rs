//! The session registry: the `sessions` table and this node's in-memory view
//! of it, which answers the request-path check without a database round trip.
//!
//! The view is kept true by the revocation log (see [`crate::revocation`]),
//! never by expiry guesses: a session leaves the view only when the tailer
//! applies its log row, or when this node ends it and applies the row itself.
//! This module never decides *whether* a session should end; the policy and
//! the engine do.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc, RwLock,
    },
};

use anyhow::Context;
use bouncer_wire::Reason;

use crate::{
    clock::Timestamp,
    db::{Pool, Tx},
    ids::{SecretHash, SessionId, UserId},
    sql::Sql,
};

/// The device a session was opened from, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// A readable label such as "Chrome on Linux", from a maintained
    /// user-agent parser; "Unknown device" when it recognises nothing.
    pub fn device_label(&self) -> String {
        device_label(&self.user_agent)
    }
}

fn device_label(user_agent: &str) -> String {
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    // woothee lumps curl, wget and scripts together as "HTTP Library"; their
    // own first token ("curl", "billing-job") says more.
    let Some(parsed) = parsed.filter(|p| !matches!(p.name, "HTTP Library" | "UNKNOWN")) else {
        let token: String = user_agent
            .trim()
            .split(['/', ' '])
            .next()
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        return if token.is_empty() {
            "Unknown device".to_owned()
        } else {
            token
        };
    };
    let os = match parsed.os {
        "UNKNOWN" => None,
        "Mac OSX" => Some("macOS"),
        other => Some(other),
    };
    match os {
        Some(os) => format!("{} on {}", parsed.name, os),
        None => parsed.name.to_owned(),
    }
}

/// A live session as this node holds it in memory.
///
/// The activity timestamps are atomics: every request touches them, and the
/// throttled writes to the database read them without a lock.
#[derive(Debug)]
pub struct LiveSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    /// The last request of any kind, in milliseconds.
    last_seen_at: AtomicI64,
    /// The last user activity (page load, API call, `activity` message).
    last_activity_at: AtomicI64,
    /// When `last_seen_at` was last written to the database (the throttle).
    persisted_at: AtomicI64,
    /// A write is owed for touches the throttle held back (see [`Persist::Later`]).
    write_owed: AtomicBool,
}

/// What a [`LiveSession::touch`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Write the timestamps now (the first touch after a quiet interval).
    Now,
    /// The throttle held this touch back: write at the end of the interval,
    /// so the stored activity is never more than one interval behind.
    /// Returned once per owed write.
    Later,
    /// Nothing to do (a write is already owed or was just made).
    No,
}

impl LiveSession {
    fn from_row(row: SessionRow) -> anyhow::Result<Self> {
        Ok(LiveSession {
            id: SessionId::parse(&row.id).context("Found a session with an empty id")?,
            user_id: UserId::parse(&row.user_id)
                .context("Found a session with an empty user id")?,
            created_at: Timestamp::from_millis(row.created_at),
            ip: row.ip,
            user_agent: row.user_agent,
            device: row.device,
            last_seen_at: AtomicI64::new(row.last_seen_at),
            last_activity_at: AtomicI64::new(row.last_activity_at),
            persisted_at: AtomicI64::new(row.last_seen_at),
            write_owed: AtomicBool::new(false),
        })
    }

    pub fn last_seen_at(&self) -> Timestamp {
        Timestamp::from_millis(self.last_seen_at.load(Ordering::Relaxed))
    }

    pub fn last_activity_at(&self) -> Timestamp {
        Timestamp::from_millis(self.last_activity_at.load(Ordering::Relaxed))
    }

    /// Records a request at `now` (and user activity when `activity`) and
    /// says when the database copy should be written: at once for the first
    /// touch after `interval`, and once more at the end of the interval for
    /// the touches in between. Other nodes read activity from the database,
    /// so this bounds how far behind their idle deadlines can be.
    pub fn touch(&self, now: Timestamp, activity: bool, interval: std::time::Duration) -> Persist {
        self.last_seen_at
            .fetch_max(now.as_millis(), Ordering::Relaxed);
        if activity {
            self.last_activity_at
                .fetch_max(now.as_millis(), Ordering::Relaxed);
        }
        if self.claim_write(now, interval) {
            // This write covers whatever was owed.
            self.write_owed.store(false, Ordering::Release);
            Persist::Now
        } else if !self.write_owed.swap(true, Ordering::AcqRel) {
            Persist::Later
        } else {
            Persist::No
        }
    }

    /// Where the write owed since a [`Persist::Later`] stands at `now`. On
    /// [`Owed::Due`] the caller makes it and the debt is cleared.
    pub fn owed_write(&self, now: Timestamp, interval: std::time::Duration) -> Owed {
        if !self.write_owed.load(Ordering::Acquire) {
            Owed::Settled
        } else if self.claim_write(now, interval) {
            self.write_owed.store(false, Ordering::Release);
            Owed::Due
        } else {
            Owed::NotYet
        }
    }

    /// Takes the throttle's slot for a write at `now`, if `interval` has
    /// passed since the last one; only one caller wins a race.
    fn claim_write(&self, now: Timestamp, interval: std::time::Duration) -> bool {
        let persisted = self.persisted_at.load(Ordering::Relaxed);
        now.since(Timestamp::from_millis(persisted)) >= interval
            && self
                .persisted_at
                .compare_exchange(
                    persisted,
                    now.as_millis(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Takes in timestamps another node wrote (they only ever move forward).
    pub(crate) fn absorb(&self, last_seen_at: i64, last_activity_at: i64) {
        self.last_seen_at.fetch_max(last_seen_at, Ordering::Relaxed);
        self.last_activity_at
            .fetch_max(last_activity_at, Ordering::Relaxed);
    }
}

/// See [`LiveSession::owed_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    Due,
    NotYet,
    /// Nothing is owed (a later write already covered it).
    Settled,
}

/// A `sessions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub last_activity_at: i64,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, last_activity_at, ip, user_agent, device, ended_at, end_reason";

/// How a session stood when a request presented its secret.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Live, and now in the view.
    Live(Arc<LiveSession>),
    /// Ended; the tombstone says why.
    Ended(Reason),
    /// No such session (never existed, or its tombstone was cleaned up).
    Unknown,
}

/// Bounds the memory spent remembering secrets that match nothing (garbage
/// cookies, very old cookies); past it the set is simply cleared.
const MAX_UNKNOWN_SECRETS: usize = 10_000;

#[derive(Debug, Default)]
struct View {
    live: HashMap<SecretHash, Arc<LiveSession>>,
    /// Public id → secret hash of the live sessions, for the tailer.
    secret_of: HashMap<SessionId, SecretHash>,
    /// Ended sessions this node had in its view, so their next request is
    /// answered with the reason without a query.
    ended: HashMap<SecretHash, (Reason, Timestamp)>,
    /// Ended session ids whose secret this node never saw: a concurrent load
    /// must not resurrect them.
    ended_ids: HashMap<SessionId, (Reason, Timestamp)>,
    unknown: HashSet<SecretHash>,
}

/// The registry: the table and the view.
#[derive(Debug, Clone)]
pub struct Registry {
    pool: Pool,
    view: Arc<RwLock<View>>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps half-updated in a way
    // that matters more than refusing every request, so poisoning is ignored.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    pub fn new(pool: Pool) -> Self {
        Registry {
            pool,
            view: Arc::default(),
        }
    }

    /// Answers from memory: `None` means the view does not know this secret.
    pub fn lookup_cached(&self, secret: &SecretHash) -> Option<Lookup> {
        let view = read(&self.view);
        if let Some(live) = view.live.get(secret) {
            Some(Lookup::Live(Arc::clone(live)))
        } else if let Some((reason, _)) = view.ended.get(secret) {
            Some(Lookup::Ended(*reason))
        } else if view.unknown.contains(secret) {
            Some(Lookup::Unknown)
        } else {
            None
        }
    }

    /// Answers from the database and remembers the answer in the view.
    pub async fn lookup_stored(&self, secret: &SecretHash) -> anyhow::Result<Lookup> {
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE secret_hash = $1"
        ))
        .bind(secret.to_hex())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a session up by its secret")?;
        let mut view = write(&self.view);
        let Some(row) = row else {
            if view.unknown.len() >= MAX_UNKNOWN_SECRETS {
                view.unknown.clear();
            }
            view.unknown.insert(*secret);
            return Ok(Lookup::Unknown);
        };
        if let (Some(ended_at), Some(reason)) = (row.ended_at, row.end_reason.as_deref()) {
            let reason = reason
                .parse::<Reason>()
                .context("Found an unknown end reason")?;
            view.ended
                .insert(*secret, (reason, Timestamp::from_millis(ended_at)));
            return Ok(Lookup::Ended(reason));
        }
        let live = Arc::new(LiveSession::from_row(row)?);
        // The tailer may have applied this session's ending between our query
        // and now; it recorded the id, so the ending wins.
        if let Some(ended) = view.ended_ids.get(&live.id).copied() {
            view.ended.insert(*secret, ended);
            return Ok(Lookup::Ended(ended.0));
        }
        view.secret_of.insert(live.id.clone(), *secret);
        view.live.insert(*secret, Arc::clone(&live));
        Ok(Lookup::Live(live))
    }

    /// Puts a session this node just created or re-keyed into the view.
    ///
    /// A concurrent login may already have ended it and had the tailer apply
    /// that before we got here; the recorded ending then wins, exactly as in
    /// [`Registry::lookup_stored`].
    pub fn remember(&self, secret: SecretHash, live: Arc<LiveSession>) {
        let mut view = write(&self.view);
        view.unknown.remove(&secret);
        if let Some(ended) = view.ended_ids.get(&live.id).copied() {
            view.ended.insert(secret, ended);
            return;
        }
        if let Some(old) = view.secret_of.insert(live.id.clone(), secret) {
            view.live.remove(&old);
        }
        view.live.insert(secret, live);
    }

    /// Applies one ending from the log: the session leaves the view and its
    /// secret (if this node knew it) becomes a tombstone.
    pub fn forget(&self, id: &SessionId, reason: Reason, at: Timestamp) {
        let mut view = write(&self.view);
        view.ended_ids.insert(id.clone(), (reason, at));
        if let Some(secret) = view.secret_of.remove(id) {
            view.live.remove(&secret);
            view.ended.insert(secret, (reason, at));
        }
    }

    /// Why the session ended, if this node has applied its ending.
    pub fn ended_reason(&self, id: &SessionId) -> Option<Reason> {
        read(&self.view)
            .ended_ids
            .get(id)
            .map(|(reason, _)| *reason)
    }

    /// The in-memory session with this public id, if this node holds it.
    pub fn cached_by_id(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        let view = read(&self.view);
        view.secret_of
            .get(id)
            .and_then(|secret| view.live.get(secret))
            .cloned()
    }

    /// Drops memory tombstones older than `before`.
    pub fn prune_tombstones(&self, before: Timestamp) {
        let mut view = write(&self.view);
        view.ended.retain(|_, (_, at)| *at >= before);
        view.ended_ids.retain(|_, (_, at)| *at >= before);
    }

    /// Inserts a new session row inside the caller's transaction.
    pub async fn insert(
        tx: &mut Tx<'_>,
        id: &SessionId,
        user_id: &UserId,
        secret: &SecretHash,
        client: &ClientInfo,
        now: Timestamp,
    ) -> anyhow::Result<LiveSession> {
        let row = SessionRow {
            id: id.to_string(),
            user_id: user_id.to_string(),
            created_at: now.as_millis(),
            last_seen_at: now.as_millis(),
            last_activity_at: now.as_millis(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.chars().take(512).collect(),
            device: client.device_label(),
            ended_at: None,
            end_reason: None,
        };
        sqlx::query(
            "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, last_activity_at, ip, user_agent, device, authenticated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(secret.to_hex())
        .bind(&row.user_id)
        .bind(row.created_at)
        .bind(row.last_seen_at)
        .bind(row.last_activity_at)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(&row.device)
        // A session is opened by a sign-in: the password was proved now.
        .bind(row.created_at)
        .execute(&mut **tx)
        .await
        .context("Failed to insert a session")?;
        LiveSession::from_row(row)
    }

    /// Replaces a live session's secret (a login in a browser already signed
    /// in continues its session under a fresh cookie id, and so does a
    /// password change). Both proved the password, so `authenticated_at`
    /// is recorded in the same write.
    pub async fn rotate_secret(
        &self,
        live: &Arc<LiveSession>,
        new_secret: SecretHash,
        authenticated_at: Timestamp,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET secret_hash = $1, authenticated_at = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(new_secret.to_hex())
        .bind(authenticated_at.as_millis())
        .bind(live.id.as_str())
        .execute(&self.pool)
        .await
        .context("Failed to rotate a session's secret")?
        .rows_affected()
            == 1;
        if updated {
            self.remember(new_secret, Arc::clone(live));
        }
        Ok(updated)
    }

    /// When the holder of a live session last proved the password, read from
    /// the database (not this node's memory: the proof may have been given
    /// through another node). `None` when the session is not live.
    pub async fn authenticated_at(&self, id: &SessionId) -> anyhow::Result<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT COALESCE(authenticated_at, created_at) FROM sessions WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read when a session last proved the password")?;
        Ok(at.map(Timestamp::from_millis))
    }

    /// Records that the holder of a live session proved the password at
    /// `at`. `false` when the session is no longer live.
    pub async fn mark_authenticated(&self, id: &SessionId, at: Timestamp) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET authenticated_at = $1 WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(at.as_millis())
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .context("Failed to record a re-authentication")?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Writes the in-memory timestamps of a session to its row.
    pub async fn persist_activity(&self, live: &LiveSession) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sessions SET \
               last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END, \
               last_activity_at = CASE WHEN last_activity_at < $2 THEN $2 ELSE last_activity_at END \
             WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(live.last_seen_at().as_millis())
        .bind(live.last_activity_at().as_millis())
        .bind(live.id.as_str())
        .execute(&self.pool)
        .await
        .context("Failed to record a session's last activity")?;
        Ok(())
    }

    /// Reads the stored timestamps of these sessions into this node's copies:
    /// activity on other nodes reaches this node's idle deadlines this way.
    pub async fn refresh_activity(&self, ids: &[SessionId]) -> anyhow::Result<()> {
        for chunk in ids.chunks(1000) {
            let mut query =
                Sql::new("SELECT id, last_seen_at, last_activity_at FROM sessions WHERE id IN ");
            query.bind_list(chunk.iter().map(SessionId::to_string));
            let rows: Vec<(String, i64, i64)> = query
                .query_as()
                .fetch_all(&self.pool)
                .await
                .context("Failed to read sessions' activity")?;
            for (id, last_seen_at, last_activity_at) in rows {
                if let Some(live) = SessionId::parse(&id).and_then(|id| self.cached_by_id(&id)) {
                    live.absorb(last_seen_at, last_activity_at);
                }
            }
        }
        Ok(())
    }

    /// The live sessions of a user, oldest first, read inside `tx` (an index
    /// range on `sessions_live_by_user`).
    pub async fn live_of_user_in(
        tx: &mut Tx<'_>,
        user_id: &UserId,
    ) -> anyhow::Result<Vec<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at, id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&mut **tx)
        .await
        .context("Failed to list a user's sessions")
    }

    /// The live sessions of a user, newest first.
    pub async fn live_of_user(&self, user_id: &UserId) -> anyhow::Result<Vec<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .context("Failed to list a user's sessions")
    }

    /// Marks the sessions chosen by `scope` ended inside `tx` and returns
    /// which ones were live until now (already-ended ones are left alone).
    pub async fn end_in(
        tx: &mut Tx<'_>,
        scope: &Scope,
        reason: Reason,
        now: Timestamp,
    ) -> anyhow::Result<Vec<(SessionId, UserId)>> {
        let mut query = Sql::new("UPDATE sessions SET ended_at = ");
        query.bind(now.as_millis()).push(", end_reason = ");
        query
            .bind(reason.as_str())
            .push(" WHERE ended_at IS NULL AND ");
        scope.push_condition(&mut query);
        query.push(" RETURNING id, user_id");
        let rows: Vec<(String, String)> = query
            .query_as()
            .fetch_all(&mut **tx)
            .await
            .context("Failed to end sessions")?;
        rows.into_iter()
            .map(|(id, user_id)| {
                Ok((
                    SessionId::parse(&id).context("Ended a session with an empty id")?,
                    UserId::parse(&user_id).context("Ended a session with an empty user id")?,
                ))
            })
            .collect()
    }

    /// A live session by its public id.
    pub async fn find_live(&self, id: &SessionId) -> anyhow::Result<Option<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND ended_at IS NULL"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a session up by id")
    }

    /// Live sessions with their usernames, newest first: of one user, or of
    /// everyone (at most `limit`).
    pub async fn live_with_usernames(
        &self,
        user_id: Option<&UserId>,
        limit: i64,
    ) -> anyhow::Result<Vec<(SessionRow, String)>> {
        #[derive(sqlx::FromRow)]
        struct Joined {
            #[sqlx(flatten)]
            session: SessionRow,
            username: String,
        }
        let mut query = Sql::new(
            "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.last_activity_at, s.ip, s.user_agent, \
             s.device, s.ended_at, s.end_reason, u.username \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.ended_at IS NULL",
        );
        if let Some(user_id) = user_id {
            query.push(" AND s.user_id = ").bind(user_id.to_string());
        }
        query
            .push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ")
            .bind(limit);
        let rows: Vec<Joined> = query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to list live sessions")?;
        Ok(rows.into_iter().map(|j| (j.session, j.username)).collect())
    }

    /// How many live sessions each of these users holds.
    pub async fn live_counts(&self, user_ids: &[UserId]) -> anyhow::Result<HashMap<UserId, u32>> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut query = Sql::new(
            "SELECT user_id, COUNT(*) FROM sessions WHERE ended_at IS NULL AND user_id IN ",
        );
        query
            .bind_list(user_ids.iter().map(UserId::to_string))
            .push(" GROUP BY user_id");
        let rows: Vec<(String, i64)> = query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to count live sessions")?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, n)| Some((UserId::parse(&id)?, u32::try_from(n).unwrap_or(u32::MAX))))
            .collect())
    }

    /// Deletes tombstones older than `before`.
    pub async fn delete_tombstones(&self, before: Timestamp) -> anyhow::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < $1")
                .bind(before.as_millis())
                .execute(&self.pool)
                .await
                .context("Failed to delete old tombstones")?
                .rows_affected(),
        )
    }

    /// The live sessions whose stored timestamps put them past a deadline at
    /// `now`, with the reason; `grace` covers activity not yet written.
    pub async fn expired_candidates(
        &self,
        idle_before: Option<Timestamp>,
        created_before: Option<Timestamp>,
    ) -> anyhow::Result<Vec<SessionRow>> {
        let mut query = Sql::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND (1 = 0"
        ));
        if let Some(before) = idle_before {
            query
                .push(" OR last_activity_at < ")
                .bind(before.as_millis());
        }
        if let Some(before) = created_before {
            query.push(" OR created_at < ").bind(before.as_millis());
        }
        query.push(") LIMIT 10000");
        query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to find expired sessions")
    }
}

/// Which sessions an ending applies to. Each variant is one indexed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly these sessions.
    Sessions(Vec<SessionId>),
    /// One session, only if it belongs to this user (a user ending their own).
    SessionOfUser { id: SessionId, user_id: UserId },
    /// Every session of the user, except one (the caller's own) if given.
    User {
        user_id: UserId,
        except: Option<SessionId>,
    },
    /// Every session of these users.
    Users(Vec<UserId>),
    /// Every session but `except` (the caller's), admins' only when asked.
    Everyone {
        except: SessionId,
        include_admins: bool,
    },
}

impl Scope {
    fn push_condition(&self, query: &mut Sql) {
        match self {
            Scope::Sessions(ids) => {
                query
                    .push("id IN ")
                    .bind_list(ids.iter().map(SessionId::to_string));
            }
            Scope::SessionOfUser { id, user_id } => {
                query.push("id = ").bind(id.to_string());
                query.push(" AND user_id = ").bind(user_id.to_string());
            }
            Scope::Users(user_ids) => {
                query
                    .push("user_id IN ")
                    .bind_list(user_ids.iter().map(UserId::to_string));
            }
            Scope::Everyone {
                except,
                include_admins,
            } => {
                query.push("id <> ").bind(except.to_string());
                if !include_admins {
                    query.push(" AND user_id NOT IN (SELECT id FROM users WHERE role = 'admin')");
                }
            }
            Scope::User { user_id, except } => {
                query.push("user_id = ").bind(user_id.to_string());
                if let Some(except) = except {
                    query.push(" AND id <> ").bind(except.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_readable() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(device_label(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_label(safari), "Safari on iPhone");
        assert_eq!(device_label("curl/8.5.0"), "curl");
        assert_eq!(device_label(""), "Unknown device");
    }

    #[test]
    fn touch_asks_for_a_write_at_most_once_per_interval() {
        let row = SessionRow {
            id: "s_1".into(),
            user_id: "u_1".into(),
            created_at: 0,
            last_seen_at: 0,
            last_activity_at: 0,
            ip: String::new(),
            user_agent: String::new(),
            device: String::new(),
            ended_at: None,
            end_reason: None,
        };
        let live = LiveSession::from_row(row).expect("valid row");
        let interval = std::time::Duration::from_secs(30);
        let at = Timestamp::from_millis;
        // Held back, so a write is owed once, and not due before the interval.
        assert_eq!(live.touch(at(10_000), false, interval), Persist::Later);
        assert_eq!(live.touch(at(12_000), false, interval), Persist::No);
        assert_eq!(live.owed_write(at(20_000), interval), Owed::NotYet);
        assert_eq!(live.last_seen_at(), at(12_000));
        assert_eq!(live.last_activity_at(), at(0));
        assert_eq!(live.owed_write(at(30_000), interval), Owed::Due);
        assert_eq!(live.owed_write(at(30_000), interval), Owed::Settled);
        // The owed write took the slot: the next touch is held back again.
        assert_eq!(live.touch(at(31_000), true, interval), Persist::Later);
        assert_eq!(live.last_activity_at(), at(31_000));
        assert_eq!(live.touch(at(61_000), false, interval), Persist::Now);
        assert_eq!(live.owed_write(at(99_000), interval), Owed::Settled);
        // Timestamps from another node only ever move forward.
        live.absorb(50_000, 70_000);
        assert_eq!(live.last_seen_at(), at(61_000));
        assert_eq!(live.last_activity_at(), at(70_000));
    }
}
