//! The reference model: what the engine should do, written as plainly as the
//! rules in `API.md` and `DESIGN.md` read, with no database and no
//! concurrency. The test runs every operation on the engine and on the model
//! and compares what each says.
//!
//! The rules, in short:
//!
//! - A session is live until something ends it, and ends exactly once, with
//!   one reason.
//! - A session past a deadline ("expired": idle or absolute, the absolute one
//!   winning) is not ended by the clock alone. Whatever looks at it ends it
//!   with that reason: a request, activity from its tab, a login of its user,
//!   the deadline ticker when it has a tab. The sweep ends it too, but only
//!   reliably once the stored activity is past the deadline by the write
//!   interval (other nodes' activity may not be written yet); before that the
//!   sweep *may* end it.
//! - A login first checks the browser's cookie like any request, then the
//!   password (and the failed-login throttle, then the active flag). A browser
//!   already signed in as that user keeps its session under a fresh cookie; one
//!   signed in as someone else is signed out (`logged_out`). Then the user's
//!   expired sessions end and, at the limit, `refuse_new` refuses (ending
//!   nothing) or `replace_oldest` ends the oldest (`signed_in_elsewhere`).
//! - Endings by people end every *live* session in their scope, expired or not.
//! - The sweep forgets sessions that ended more than the retention ago.

use std::{collections::BTreeSet, time::Duration};

use bouncer_engine::{
    clock::Timestamp,
    ids::{SecretHash, SessionId},
    policy::OnLimit,
    throttle::Limits,
};
use bouncer_wire::Reason;

use crate::scenario::{Op, Rules, BROWSERS, RETENTION};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Live,
    Ended {
        reason: Reason,
        at: Timestamp,
    },
    /// Ended longer than the retention ago and swept: no trace is left.
    Forgotten,
}

/// A session as the model knows it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The engine's public id, learned when the engine created the session.
    pub id: SessionId,
    pub user: usize,
    pub created_at: Timestamp,
    pub last_activity: Timestamp,
    pub state: State,
    /// Every cookie secret that ever named this session; the last one is
    /// current, the others were replaced (a repeated login, a password change).
    pub secrets: Vec<SecretHash>,
}

/// What a request's session check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Anonymous,
    Ended(Reason),
    Live(SessionId),
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    AccountDisabled,
    TooManyAttempts,
    /// `refuse_new` at the limit, with the sessions holding the slots.
    LimitReached(BTreeSet<SessionId>),
    /// The browser has no live session (the web layer answers 401).
    NotSignedIn,
    /// No live session with that id.
    NotFound,
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond its effects.
    Done,
    /// A request's check.
    Seen(Seen),
    /// A login's session (new, or the browser's own continued).
    SignedIn(SessionId),
    Refused(Refusal),
    /// How many sessions an ending call ended.
    Ended(usize),
}

/// What the engine answered to one operation: its outcome and every
/// browser's cookie afterwards (as the secret's hash).
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    pub cookies: Vec<Option<SecretHash>>,
}

#[derive(Debug, Clone)]
struct User {
    /// `None`: no limit.
    limit: Option<usize>,
    active: bool,
}

#[derive(Debug, Clone, Default)]
struct Browser {
    /// The session its cookie names (possibly ended or forgotten), if it has one.
    session: Option<usize>,
    /// The session its open tab belongs to.
    tab: Option<usize>,
}

/// What the model expects an operation to return.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Exactly(Outcome),
    /// A new session for `user` in `browser`, whose id only the engine knows.
    NewSession {
        browser: usize,
        user: usize,
        created_at: Timestamp,
    },
}

/// What the model expects of a browser's cookie after an operation, beyond
/// what its state says (a new session brings its own secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cookie {
    /// As the browser's session says.
    Kept,
    /// A fresh secret for this existing session (a repeated login, a
    /// password change): the old one must stop working.
    Rekeyed(usize),
}

/// The model of one case.
#[derive(Debug)]
pub struct Model {
    rules: Rules,
    /// The write interval: how far stored activity may lag (see the sweep).
    write_interval: Duration,
    now: Timestamp,
    users: Vec<User>,
    browsers: Vec<Browser>,
    /// Every session ever created, in creation order.
    pub sessions: Vec<Session>,
    /// Failed logins per (user, browser) since the last success there.
    account_failures: Vec<(usize, usize, Timestamp)>,
    /// Failed logins per browser (IP address), never cleared by a success.
    address_failures: Vec<(usize, Timestamp)>,
    /// The throttle's limits: the engine's defaults, which the harness's
    /// engine runs with.
    throttle: Limits,
    /// Failed logins per user from any browser, never cleared by a success.
    user_failures: Vec<(usize, Timestamp)>,
    /// The last right password per (user, browser): the browser's address is
    /// known to the account and skips the account-wide delay.
    known: Vec<(usize, usize, Timestamp)>,
    /// Per user, when the last check from an address not known to it began.
    last_unknown_start: Vec<Option<Timestamp>>,
}

/// The model's verdict on an operation: the sessions it allows the engine to
/// have ended or not (the sweep's grace), for [`Model::settle`].
pub type MayEnd = Vec<usize>;

impl Model {
    pub fn new(rules: &Rules, max_sessions: &[Option<u32>], now: Timestamp) -> Self {
        let users = max_sessions
            .iter()
            .map(|own| User {
                limit: match own.unwrap_or(rules.session_limit) {
                    0 => None,
                    n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                },
                active: true,
            })
            .collect();
        Model {
            write_interval: rules.policy().last_seen_write_interval,
            rules: rules.clone(),
            now,
            users,
            browsers: vec![Browser::default(); BROWSERS],
            sessions: Vec::new(),
            account_failures: Vec::new(),
            address_failures: Vec::new(),
            throttle: Limits::default(),
            user_failures: Vec::new(),
            known: Vec::new(),
            last_unknown_start: vec![None; max_sessions.len()],
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The user's session limit (`None`: unlimited).
    pub fn limit(&self, user: usize) -> Option<usize> {
        self.users[user].limit
    }

    /// The session the `pick`-th admin choice names (see [`Op::AdminEndSession`]).
    pub fn pick_session(&self, user: usize, pick: usize) -> Option<usize> {
        let of_user: Vec<usize> = (0..self.sessions.len())
            .filter(|&s| self.sessions[s].user == user)
            .collect();
        (!of_user.is_empty()).then(|| of_user[pick % of_user.len()])
    }

    /// Why `s` is over by its deadlines now, if it is. The absolute deadline
    /// wins: it is the one nobody can extend.
    pub fn expired(&self, s: usize) -> Option<Reason> {
        let session = &self.sessions[s];
        let passed = |timeout: Option<Duration>, from: Timestamp| {
            timeout.is_some_and(|timeout| self.now >= from.plus(timeout))
        };
        if passed(self.rules.absolute_timeout, session.created_at) {
            Some(Reason::AbsoluteTimeout)
        } else if passed(self.rules.idle_timeout, session.last_activity) {
            Some(Reason::IdleTimeout)
        } else {
            None
        }
    }

    pub fn is_live(&self, s: usize) -> bool {
        self.sessions[s].state == State::Live
    }

    /// The user's live sessions (expired or not), oldest first.
    fn live_of(&self, user: usize) -> Vec<usize> {
        (0..self.sessions.len())
            .filter(|&s| self.sessions[s].user == user && self.is_live(s))
            .collect()
    }

    /// Every live session.
    fn all_live(&self) -> Vec<usize> {
        (0..self.sessions.len())
            .filter(|&s| self.is_live(s))
            .collect()
    }

    /// Ends `s` now with `reason`, if it is live.
    fn end(&mut self, s: usize, reason: Reason) -> bool {
        let live = self.is_live(s);
        if live {
            self.sessions[s].state = State::Ended {
                reason,
                at: self.now,
            };
        }
        live
    }

    /// Ends each of `sessions` with `reason`; how many were live.
    fn end_all(&mut self, sessions: &[usize], reason: Reason) -> usize {
        sessions.iter().filter(|&&s| self.end(s, reason)).count()
    }

    /// Records user activity in `s` now. Activity never moves backwards: a
    /// session created within the same millisecond as one it joined starts a
    /// millisecond later (see [`Model::login`]), and so does its activity.
    fn active(&mut self, s: usize) {
        let session = &mut self.sessions[s];
        session.last_activity = session.last_activity.max(self.now);
    }

    /// The request-path check of browser `b`'s cookie.
    fn request(&mut self, b: usize, activity: bool) -> Seen {
        let Some(s) = self.browsers[b].session else {
            return Seen::Anonymous;
        };
        match self.sessions[s].state {
            State::Forgotten => Seen::Anonymous,
            State::Ended { reason, .. } => Seen::Ended(reason),
            State::Live => match self.expired(s) {
                Some(reason) => {
                    self.end(s, reason);
                    Seen::Ended(reason)
                }
                None => {
                    if activity {
                        self.active(s);
                    }
                    Seen::Live(self.sessions[s].id.clone())
                }
            },
        }
    }

    /// The password check with the failed-login throttle.
    fn authenticate(&mut self, user: usize, b: usize, right: bool) -> Result<(), Refusal> {
        // The engine forgets failures a whole window old.
        let limits = &self.throttle;
        let since = self.now.minus(limits.window);
        let per_account = self
            .account_failures
            .iter()
            .filter(|&&(u, browser, at)| u == user && browser == b && at > since)
            .count();
        let per_address = self
            .address_failures
            .iter()
            .filter(|&&(browser, at)| browser == b && at > since)
            .count();
        let per_user = self
            .user_failures
            .iter()
            .filter(|&&(u, at)| u == user && at > since)
            .count();
        let known = self.known.iter().any(|&(u, browser, at)| {
            u == user && browser == b && self.now.since(at) < limits.known_for
        });
        let delayed = !known
            && per_user
                .checked_sub(limits.per_account_free)
                .is_some_and(|over| {
                    let doublings = u32::try_from(over).unwrap_or(u32::MAX).min(20);
                    let delay = limits
                        .first_delay
                        .saturating_mul(1 << doublings)
                        .min(limits.max_delay);
                    self.last_unknown_start[user]
                        .unwrap_or(self.now)
                        .plus(delay)
                        > self.now
                });
        if per_account >= limits.per_account_address || per_address >= limits.per_address || delayed
        {
            return Err(Refusal::TooManyAttempts);
        }
        if !known {
            self.last_unknown_start[user] = Some(self.now);
        }
        if !right {
            self.account_failures.push((user, b, self.now));
            self.address_failures.push((b, self.now));
            self.user_failures.push((user, self.now));
            return Err(Refusal::InvalidCredentials);
        }
        self.account_failures
            .retain(|&(u, browser, _)| !(u == user && browser == b));
        self.known
            .retain(|&(u, browser, _)| !(u == user && browser == b));
        self.known.push((user, b, self.now));
        if !self.users[user].active {
            return Err(Refusal::AccountDisabled);
        }
        Ok(())
    }

    /// A login of `user` in browser `b`: the outcome and what happens to `b`'s cookie.
    fn login(&mut self, b: usize, user: usize, right: bool) -> (Expect, Cookie) {
        let visitor = self.request(b, true);
        if let Err(refusal) = self.authenticate(user, b, right) {
            return (Expect::Exactly(Outcome::Refused(refusal)), Cookie::Kept);
        }
        if let Seen::Live(_) = visitor {
            let current = self.browsers[b]
                .session
                .expect("a live visitor has a session");
            if self.sessions[current].user == user {
                let id = self.sessions[current].id.clone();
                return (
                    Expect::Exactly(Outcome::SignedIn(id)),
                    Cookie::Rekeyed(current),
                );
            }
            self.end(current, Reason::LoggedOut);
        }
        let (expired, holding): (Vec<usize>, Vec<usize>) = self
            .live_of(user)
            .into_iter()
            .partition(|&s| self.expired(s).is_some());
        if let Some(limit) = self.users[user].limit.filter(|&l| holding.len() >= l) {
            match self.rules.on_limit {
                OnLimit::RefuseNew => {
                    // Refused in the same transaction that would have ended
                    // the expired sessions: they stay as they were.
                    let ids = holding.iter().map(|&s| self.sessions[s].id.clone());
                    self.browsers[b].session = None;
                    return (
                        Expect::Exactly(Outcome::Refused(Refusal::LimitReached(ids.collect()))),
                        Cookie::Kept,
                    );
                }
                OnLimit::ReplaceOldest => {
                    let excess = holding.len() + 1 - limit;
                    self.end_all(&holding[..excess], Reason::SignedInElsewhere);
                }
            }
        }
        for s in expired {
            let reason = self.expired(s).expect("partitioned as expired");
            self.end(s, reason);
        }
        // "Oldest" is a strict order: a new session is created after every
        // session it joined, even the ones it replaced, even within one
        // millisecond.
        let created_at = holding
            .iter()
            .map(|&s| self.sessions[s].created_at.plus(Duration::from_millis(1)))
            .fold(self.now, Timestamp::max);
        (
            Expect::NewSession {
                browser: b,
                user,
                created_at,
            },
            Cookie::Kept,
        )
    }

    /// Takes in the session the engine just opened.
    fn open(
        &mut self,
        b: usize,
        user: usize,
        created_at: Timestamp,
        id: SessionId,
        secret: SecretHash,
    ) {
        self.sessions.push(Session {
            id,
            user,
            created_at,
            last_activity: created_at,
            state: State::Live,
            secrets: vec![secret],
        });
        self.browsers[b].session = Some(self.sessions.len() - 1);
    }

    /// The live session behind browser `b` after a request check, if any.
    fn signed_in(&mut self, b: usize, activity: bool) -> Option<usize> {
        match self.request(b, activity) {
            Seen::Live(_) => self.browsers[b].session,
            _ => None,
        }
    }

    /// Runs `op` on the model and compares with the engine's `answer`.
    /// Returns the sessions the engine may or may not have ended (see
    /// [`Model::settle`]).
    pub fn step(&mut self, op: &Op, answer: &Answer) -> Result<MayEnd, String> {
        let mut may_end = Vec::new();
        let mut cookie = (0, Cookie::Kept);
        let expected = match *op {
            Op::Login {
                browser,
                user,
                right_password,
            } => {
                let (expect, fresh) = self.login(browser, user, right_password);
                cookie = (browser, fresh);
                return self.finish(expect, cookie, may_end, answer);
            }
            Op::Logout { browser } => {
                if let Some(s) = self.signed_in(browser, true) {
                    self.end(s, Reason::LoggedOut);
                    if self.rules.logout_everywhere {
                        let others = self.live_of(self.sessions[s].user);
                        self.end_all(&others, Reason::LoggedOutElsewhere);
                    }
                }
                self.browsers[browser].session = None;
                Outcome::Done
            }
            Op::Request { browser, activity } => Outcome::Seen(self.request(browser, activity)),
            Op::OpenTab { browser } => {
                // The WebSocket upgrade is a passive request.
                let seen = self.request(browser, false);
                if let Seen::Live(_) = seen {
                    self.browsers[browser].tab = self.browsers[browser].session;
                }
                Outcome::Seen(seen)
            }
            Op::TabActivity { browser } => match self.browsers[browser].tab {
                Some(s) if self.is_live(s) => {
                    match self.expired(s) {
                        // Activity cannot bring an expired session back.
                        Some(reason) => {
                            self.end(s, reason);
                        }
                        None => self.active(s),
                    }
                    Outcome::Done
                }
                _ => Outcome::Done,
            },
            Op::ChangeOwnPassword {
                browser,
                right_current_password,
            } => match self.signed_in(browser, true) {
                None => Outcome::Refused(Refusal::NotSignedIn),
                Some(s) => {
                    let user = self.sessions[s].user;
                    // The current password is checked under the login throttle.
                    match self.authenticate(user, browser, right_current_password) {
                        Err(refusal) => Outcome::Refused(refusal),
                        Ok(()) => {
                            let others: Vec<usize> =
                                self.live_of(user).into_iter().filter(|&o| o != s).collect();
                            cookie = (browser, Cookie::Rekeyed(s));
                            Outcome::Ended(self.end_all(&others, Reason::PasswordChanged))
                        }
                    }
                }
            },
            Op::SignOutOtherDevices { browser } => match self.signed_in(browser, true) {
                None => Outcome::Refused(Refusal::NotSignedIn),
                Some(s) => {
                    let others: Vec<usize> = self
                        .live_of(self.sessions[s].user)
                        .into_iter()
                        .filter(|&o| o != s)
                        .collect();
                    Outcome::Ended(self.end_all(&others, Reason::RevokedByUser))
                }
            },
            Op::AdminEndSession { user, pick } => match self.pick_session(user, pick) {
                Some(s) if self.end(s, Reason::AdminRevoked) => Outcome::Done,
                _ => Outcome::Refused(Refusal::NotFound),
            },
            Op::AdminRevokeUser { user } => {
                let live = self.live_of(user);
                Outcome::Ended(self.end_all(&live, Reason::AdminRevoked))
            }
            Op::AdminRevokeEveryone => {
                let live = self.all_live();
                Outcome::Ended(self.end_all(&live, Reason::AdminRevoked))
            }
            Op::AdminSetPassword { user } => {
                let live = self.live_of(user);
                self.end_all(&live, Reason::PasswordChanged);
                Outcome::Done
            }
            // No rule of the model depends on being staff.
            Op::SetStaff { .. } => Outcome::Done,
            Op::SetActive { user, active } => {
                if !active {
                    let live = self.live_of(user);
                    self.end_all(&live, Reason::Deactivated);
                }
                self.users[user].active = active;
                Outcome::Done
            }
            Op::AdvanceClock { by } => {
                self.now = self.now.plus(by);
                Outcome::Done
            }
            Op::Sweep => {
                may_end = self.sweep();
                Outcome::Done
            }
            Op::DeadlineTick => {
                let watched: BTreeSet<usize> = self.browsers.iter().filter_map(|b| b.tab).collect();
                for s in watched {
                    if let (true, Some(reason)) = (self.is_live(s), self.expired(s)) {
                        self.end(s, reason);
                    }
                }
                Outcome::Done
            }
        };
        self.finish(Expect::Exactly(expected), cookie, may_end, answer)
    }

    /// Compares the engine's answer with what the model expects.
    fn finish(
        &mut self,
        expected: Expect,
        cookie: (usize, Cookie),
        may_end: MayEnd,
        answer: &Answer,
    ) -> Result<MayEnd, String> {
        self.compare(&expected, answer)?;
        self.take_cookies(cookie, answer)?;
        Ok(may_end)
    }

    /// The sweep: ends expired sessions whose *stored* activity is certainly
    /// past the deadline, may end the other expired ones, and forgets
    /// sessions that ended more than the retention ago.
    fn sweep(&mut self) -> MayEnd {
        let mut may_end = Vec::new();
        for s in self.all_live() {
            let Some(reason) = self.expired(s) else {
                continue;
            };
            let session = &self.sessions[s];
            let absolute_found = self
                .rules
                .absolute_timeout
                .is_some_and(|t| session.created_at < self.now.minus(t));
            let idle_found = self.rules.idle_timeout.is_some_and(|t| {
                session.last_activity < self.now.minus(t).minus(self.write_interval)
            });
            if absolute_found || idle_found {
                self.end(s, reason);
            } else {
                may_end.push(s);
            }
        }
        let before = self.now.minus(RETENTION);
        for session in &mut self.sessions {
            if matches!(session.state, State::Ended { at, .. } if at < before) {
                session.state = State::Forgotten;
            }
        }
        may_end
    }

    /// Compares the engine's outcome with the model's; a new session is
    /// taken into the model with the id and cookie the engine gave it.
    fn compare(&mut self, expected: &Expect, answer: &Answer) -> Result<(), String> {
        match (expected, &answer.outcome) {
            (Expect::Exactly(expected), got) if got == expected => Ok(()),
            (
                &Expect::NewSession {
                    browser,
                    user,
                    created_at,
                },
                Outcome::SignedIn(id),
            ) if !self.sessions.iter().any(|s| &s.id == id) => {
                let secret = answer.cookies[browser]
                    .ok_or("a new session left the browser without a cookie")?;
                self.check_fresh(secret)?;
                self.open(browser, user, created_at, id.clone(), secret);
                Ok(())
            }
            (expected, got) => Err(format!(
                "the engine answered {got:?}, the model expected {expected:?}"
            )),
        }
    }

    /// Checks every browser's cookie against the model and records a fresh
    /// secret where one was due.
    fn take_cookies(
        &mut self,
        (browser, cookie): (usize, Cookie),
        answer: &Answer,
    ) -> Result<(), String> {
        if let Cookie::Rekeyed(s) = cookie {
            let secret = answer.cookies[browser]
                .ok_or("a continued session left the browser without a cookie")?;
            self.check_fresh(secret)?;
            self.sessions[s].secrets.push(secret);
        }
        for b in 0..BROWSERS {
            let expected = self.browsers[b].session.map(|s| {
                *self.sessions[s]
                    .secrets
                    .last()
                    .expect("a session has a secret")
            });
            if answer.cookies[b] != expected {
                return Err(format!(
                    "browser {b}'s cookie is {:?}, the model expected {expected:?}",
                    answer.cookies[b]
                ));
            }
        }
        Ok(())
    }

    /// A fresh cookie secret must never have been issued before.
    fn check_fresh(&self, secret: SecretHash) -> Result<(), String> {
        if self.sessions.iter().any(|s| s.secrets.contains(&secret)) {
            return Err(format!("a cookie secret was issued twice: {secret:?}"));
        }
        Ok(())
    }

    /// Takes in the endings the model left to the engine (`may_end`), as the
    /// database shows them: each must be the session's own deadline.
    pub fn settle(
        &mut self,
        may_end: &[usize],
        stored_endings: impl Fn(&SessionId) -> Option<(Reason, Timestamp)>,
    ) -> Result<(), String> {
        for &s in may_end {
            if let Some((reason, at)) = stored_endings(&self.sessions[s].id) {
                let due = self.expired(s);
                if due != Some(reason) || at != self.now {
                    return Err(format!(
                        "session #{s} ended with {reason:?} at {at:?}, but only {due:?} at {:?} was allowed",
                        self.now
                    ));
                }
                self.end(s, reason);
            }
        }
        Ok(())
    }

    /// Every session's state, to compare with later (see [`Model::endings_since`]).
    pub fn states(&self) -> Vec<State> {
        self.sessions.iter().map(|s| s.state).collect()
    }

    /// The reasons of the endings since `before` was taken.
    pub fn endings_since(&self, before: &[State]) -> Vec<Reason> {
        self.sessions
            .iter()
            .zip(before)
            .filter_map(|(session, was)| match (was, session.state) {
                (State::Live, State::Ended { reason, .. }) => Some(reason),
                _ => None,
            })
            .collect()
    }

    /// A short description of every session, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = format!("now = {}\n", self.now.as_millis());
        for (s, session) in self.sessions.iter().enumerate() {
            out.push_str(&format!(
                "  session #{s} of user {} created {} active {} {:?} ({} secrets)\n",
                session.user,
                session.created_at.as_millis(),
                session.last_activity.as_millis(),
                session.state,
                session.secrets.len()
            ));
        }
        out
    }
}
