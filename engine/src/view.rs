//! This node's in-memory view of the live sessions: what answers the
//! request-path check without a database round trip.
//!
//! The view is kept true by the revocation log, never by expiry guesses: a
//! session leaves it only when the tailer applies its log row (or this node
//! ends it and applies the row itself). It also remembers recent endings as
//! tombstones, so a request whose session just ended learns why without a
//! query.
//!
//! Each live session also holds its user's [`Identity`] (name, role,
//! permissions), shared per user and kept true by the log's account events
//! (see [`crate::identity`]), so the request path can say who the user is
//! without a query.
//!
//! This module touches no database: the services fill it from the
//! `sessions` and `users` stores and the tailer changes it from the log.

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
    identity::{Account, Identity},
    ids::{SecretHash, SessionId, UserId},
    sessions::{Found, SessionRow},
    sync,
};

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
    /// Who the user is, shared with the user's other sessions on this node.
    account: Arc<Account>,
    /// The last request of any kind, in milliseconds.
    last_seen_at: AtomicI64,
    /// The last user activity (page load, API call, `activity` message).
    last_activity_at: AtomicI64,
    /// When `last_seen_at` was last written to the database (the throttle).
    persisted_at: AtomicI64,
    /// A write is owed for touches the throttle held back (see [`Persist::Later`]).
    write_owed: AtomicBool,
    /// The cookie is owed a fresh secret: the user's rights changed (see
    /// `Login::rotate`).
    rotate: AtomicBool,
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
    /// The in-memory form of a live session's row, with its user's
    /// `account` (see [`View::account`]).
    pub fn from_row(row: SessionRow, account: Arc<Account>) -> anyhow::Result<Self> {
        Ok(LiveSession {
            id: row.session_id()?,
            user_id: row.owner()?,
            created_at: Timestamp::from_millis(row.created_at),
            ip: row.ip,
            user_agent: row.user_agent,
            device: row.device,
            account,
            last_seen_at: AtomicI64::new(row.last_seen_at),
            last_activity_at: AtomicI64::new(row.last_activity_at),
            persisted_at: AtomicI64::new(row.last_seen_at),
            write_owed: AtomicBool::new(false),
            rotate: AtomicBool::new(false),
        })
    }

    /// Whether the cookie is owed a fresh secret (the user's rights changed).
    pub fn wants_rotation(&self) -> bool {
        self.rotate.load(Ordering::Relaxed)
    }

    pub fn set_rotation(&self, owed: bool) {
        self.rotate.store(owed, Ordering::Relaxed);
    }

    /// Who the user is, as of the last account event this node applied.
    pub fn identity(&self) -> Arc<Identity> {
        self.account.identity()
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
    pub fn absorb(&self, last_seen_at: i64, last_activity_at: i64) {
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
struct Maps {
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
    /// Secrets replaced by a rotation, still valid until the time given
    /// (requests already in flight with them), and the other way round.
    aliases: HashMap<SecretHash, (Arc<LiveSession>, Timestamp)>,
    alias_of: HashMap<SessionId, SecretHash>,
    /// The identities of the users of live sessions, and of users the log
    /// changed lately (see [`View::account_changed`]).
    accounts: HashMap<UserId, Arc<Account>>,
}

impl Maps {
    /// The session with this id, under its own secret or a replaced one.
    fn held(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        let own = self
            .secret_of
            .get(id)
            .and_then(|secret| self.live.get(secret));
        let replaced = || {
            let alias = self.alias_of.get(id)?;
            self.aliases.get(alias).map(|(live, _)| live)
        };
        own.or_else(replaced).cloned()
    }

    /// The user's account, made from `identity` if this node holds none: an
    /// account already held was set by the log, or by a load no older than
    /// this one, so it wins.
    fn account(&mut self, user_id: &UserId, identity: Identity) -> Arc<Account> {
        Arc::clone(
            self.accounts
                .entry(user_id.clone())
                .or_insert_with(|| Arc::new(Account::new(identity))),
        )
    }
}

/// The view. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct View {
    maps: Arc<RwLock<Maps>>,
}

impl View {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        sync::read(&self.maps)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        sync::write(&self.maps)
    }

    /// Answers from memory at `now`: `None` means the view does not know
    /// this secret.
    pub fn lookup(&self, secret: &SecretHash, now: Timestamp) -> Option<Lookup> {
        let maps = self.read();
        if let Some(live) = maps.live.get(secret) {
            Some(Lookup::Live(Arc::clone(live)))
        } else if let Some((live, until)) = maps.aliases.get(secret) {
            (now < *until).then(|| Lookup::Live(Arc::clone(live)))
        } else if let Some((reason, _)) = maps.ended.get(secret) {
            Some(Lookup::Ended(*reason))
        } else if maps.unknown.contains(secret) {
            Some(Lookup::Unknown)
        } else {
            None
        }
    }

    /// Takes in what the `sessions` table said about `secret` (`None`: no
    /// such row), with its user's identity as the `users` table said when
    /// the row is live, and answers as [`View::lookup`] would have.
    ///
    /// The tailer may have applied the session's ending between the query
    /// and now; it recorded the id, so the ending wins. Likewise an account
    /// change it applied meanwhile wins over `identity`.
    pub fn learn(
        &self,
        secret: &SecretHash,
        found: Option<Found>,
        identity: Option<Identity>,
    ) -> anyhow::Result<Lookup> {
        let mut maps = self.write();
        let Some(Found {
            row,
            rotate,
            alias_until,
        }) = found
        else {
            if maps.unknown.len() >= MAX_UNKNOWN_SECRETS {
                maps.unknown.clear();
            }
            maps.unknown.insert(*secret);
            return Ok(Lookup::Unknown);
        };
        if let (Some(ended_at), Some(reason)) = (row.ended_at, row.end_reason.as_deref()) {
            let reason = reason
                .parse::<Reason>()
                .context("Found an unknown end reason")?;
            maps.ended
                .insert(*secret, (reason, Timestamp::from_millis(ended_at)));
            return Ok(Lookup::Ended(reason));
        }
        let identity = identity.context("Found a live session without its user")?;
        let account = maps.account(&row.owner()?, identity);
        let live = Arc::new(LiveSession::from_row(row, account)?);
        live.set_rotation(rotate);
        if let Some(ended) = maps.ended_ids.get(&live.id).copied() {
            maps.ended.insert(*secret, ended);
            return Ok(Lookup::Ended(ended.0));
        }
        // A session this node already holds under another secret (one a
        // rotation, here or elsewhere, replaced) keeps its in-memory state.
        let live = match maps.held(&live.id) {
            Some(held) => {
                held.set_rotation(rotate);
                held
            }
            None => live,
        };
        match alias_until {
            // A secret a rotation replaced: valid for its grace only, and
            // not the session's own (its own is learned when presented).
            Some(until) => {
                if let Some(previous) = maps.alias_of.insert(live.id.clone(), *secret) {
                    if previous != *secret {
                        maps.aliases.remove(&previous);
                    }
                }
                maps.aliases.insert(*secret, (Arc::clone(&live), until));
            }
            // The session's own: a secret this node held as its own before
            // was replaced by a rotation elsewhere, and goes (the database
            // says whether it is still in its grace when it is presented).
            None => {
                if let Some(old) = maps.secret_of.insert(live.id.clone(), *secret) {
                    if old != *secret {
                        maps.live.remove(&old);
                    }
                }
                maps.live.insert(*secret, Arc::clone(&live));
            }
        }
        Ok(Lookup::Live(live))
    }

    /// Takes in a rotation this node made: `live` goes by `new` from now on,
    /// and `old` stays valid until `until`.
    pub fn rotated(
        &self,
        old: SecretHash,
        new: SecretHash,
        live: &Arc<LiveSession>,
        until: Timestamp,
    ) {
        let mut maps = self.write();
        if maps.ended_ids.contains_key(&live.id) {
            return;
        }
        maps.live.remove(&old);
        maps.secret_of.insert(live.id.clone(), new);
        maps.live.insert(new, Arc::clone(live));
        if let Some(previous) = maps.alias_of.insert(live.id.clone(), old) {
            maps.aliases.remove(&previous);
        }
        maps.aliases.insert(old, (Arc::clone(live), until));
    }

    /// Marks every live session of `user_id` this node holds as owing its
    /// cookie a fresh secret (the user's rights changed). Rare, so a scan.
    pub fn owe_rotation(&self, user_id: &UserId) {
        let maps = self.read();
        for live in maps.live.values().filter(|live| live.user_id == *user_id) {
            live.set_rotation(true);
        }
    }

    /// The account a new session of this user shares: the one this node
    /// holds, else one made from `identity` (read under the sign-in's lock).
    pub fn account(&self, user_id: &UserId, identity: Identity) -> Arc<Account> {
        self.write().account(user_id, identity)
    }

    /// Applies an account event from the log: the user's sessions here see
    /// `identity` from now on. A user with no session here is remembered
    /// too, so a load that read the row before the change cannot install
    /// the old identity after it.
    pub fn account_changed(&self, user_id: &UserId, identity: Identity) {
        let mut maps = self.write();
        match maps.accounts.get(user_id) {
            Some(account) => account.set(identity),
            None => {
                maps.accounts
                    .insert(user_id.clone(), Arc::new(Account::new(identity)));
            }
        }
    }

    /// Puts a session this node just created or re-keyed into the view.
    ///
    /// A concurrent login may already have ended it and had the tailer apply
    /// that before we got here; the recorded ending then wins, exactly as in
    /// [`View::learn`].
    pub fn remember(&self, secret: SecretHash, live: Arc<LiveSession>) {
        let mut maps = self.write();
        maps.unknown.remove(&secret);
        if let Some(ended) = maps.ended_ids.get(&live.id).copied() {
            maps.ended.insert(secret, ended);
            return;
        }
        if let Some(old) = maps.secret_of.insert(live.id.clone(), secret) {
            maps.live.remove(&old);
        }
        maps.live.insert(secret, live);
    }

    /// Applies one ending from the log: the session leaves the view and its
    /// secret (if this node knew it) becomes a tombstone.
    pub fn forget(&self, id: &SessionId, reason: Reason, at: Timestamp) {
        let mut maps = self.write();
        maps.ended_ids.insert(id.clone(), (reason, at));
        if let Some(secret) = maps.secret_of.remove(id) {
            maps.live.remove(&secret);
            maps.ended.insert(secret, (reason, at));
        }
        if let Some(alias) = maps.alias_of.remove(id) {
            // A replaced secret still in its grace was the session's too; one
            // past it was already nobody's, as the database would say.
            if maps
                .aliases
                .remove(&alias)
                .is_some_and(|(_, until)| at < until)
            {
                maps.ended.insert(alias, (reason, at));
            }
        }
    }

    /// Applies a rotation from the log (any node's): the secret this node
    /// holds as the session's own was replaced, so it becomes an alias,
    /// valid until `until` (the rotation's grace) like any replaced secret.
    /// The new secret is learned from the database when it is presented,
    /// and the session keeps its in-memory state (see [`View::learn`]).
    pub fn secret_replaced(&self, id: &SessionId, until: Timestamp) {
        let mut maps = self.write();
        let Some(secret) = maps.secret_of.remove(id) else {
            return;
        };
        let Some(live) = maps.live.remove(&secret) else {
            return;
        };
        if let Some(previous) = maps.alias_of.insert(id.clone(), secret) {
            maps.aliases.remove(&previous);
        }
        maps.aliases.insert(secret, (live, until));
    }

    /// How many live sessions the view holds (for the metrics).
    pub fn live_count(&self) -> usize {
        self.read().live.len()
    }

    /// Why the session ended, if this node has applied its ending.
    pub fn ended_reason(&self, id: &SessionId) -> Option<Reason> {
        self.read().ended_ids.get(id).map(|(reason, _)| *reason)
    }

    /// The in-memory session with this public id, if this node holds it.
    pub fn by_id(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        self.read().held(id)
    }

    /// Takes in the stored activity of sessions (`(id, last_seen_at,
    /// last_activity_at)` rows): activity on other nodes reaches this node's
    /// idle deadlines this way.
    pub fn absorb_activity(&self, rows: &[(String, i64, i64)]) {
        for (id, last_seen_at, last_activity_at) in rows {
            if let Some(live) = SessionId::parse(id).and_then(|id| self.by_id(&id)) {
                live.absorb(*last_seen_at, *last_activity_at);
            }
        }
    }

    /// Drops tombstones older than `before`, replaced secrets whose grace
    /// ended before `now`, and the accounts no live session shares that no
    /// event changed since the last prune (the sweeper prunes every minute:
    /// far longer than a load can race a change).
    pub fn prune(&self, before: Timestamp, now: Timestamp) {
        let mut maps = self.write();
        maps.ended.retain(|_, (_, at)| *at >= before);
        maps.ended_ids.retain(|_, (_, at)| *at >= before);
        let Maps {
            aliases, alias_of, ..
        } = &mut *maps;
        aliases.retain(|_, (_, until)| *until > now);
        alias_of.retain(|_, secret| aliases.contains_key(secret));
        maps.accounts
            .retain(|_, account| Arc::strong_count(account) > 1 || account.take_touched());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let identity = Identity {
            username: crate::users::Username::parse("alice").expect("valid"),
            role: bouncer_wire::Role::User,
            permissions: Default::default(),
            active: true,
        };
        let live = LiveSession::from_row(row, Arc::new(Account::new(identity))).expect("valid row");
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
