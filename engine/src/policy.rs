//! The rules: how many sessions a user may hold, what happens at the limit,
//! when a session runs out of time, and how recently its holder must have
//! proved the password to end their other sessions.
//!
//! Everything here is a pure function of its inputs (timestamps in, decisions
//! out), so any node can compute the same answer and the unit tests below need
//! no database and no clock.

use std::time::Duration;

use bouncer_wire::Reason;
use serde::Deserialize;

use crate::{clock::Timestamp, privacy::IpPrivacy, users::UserRecord};

/// What a login does when the user already holds as many sessions as allowed
/// (`BOUNCER_ON_LIMIT`: `replace_oldest` or `refuse_new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// End the oldest sessions (`signed_in_elsewhere`) to make room.
    ReplaceOldest,
    /// Refuse the login and list the sessions holding the slots.
    RefuseNew,
}

/// The server-wide session policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Live sessions per user; 0 means no limit. A user's `max_sessions` overrides it.
    pub session_limit: u32,
    /// What a login does at the limit.
    pub on_limit: OnLimit,
    /// Whether logging out ends every session of the user.
    pub logout_everywhere: bool,
    /// No user activity for this long ends the session; `None` disables it.
    pub idle_timeout: Option<Duration>,
    /// A session never lives longer than this; `None` disables it.
    pub absolute_timeout: Option<Duration>,
    /// How long before the idle deadline tabs are warned.
    pub idle_warning: Duration,
    /// At most one `last seen` write per session per this interval (plus one
    /// owed write at its end); see [`Policy::write_interval_for`].
    pub last_seen_write_interval: Duration,
    /// How long an ended session's tombstone (and its reason) is kept.
    pub tombstone_retention: Duration,
    /// How much of a client's address is stored.
    pub ip_privacy: IpPrivacy,
    /// What a person is told after an idle or absolute timeout.
    pub auto_logout_message: String,
    /// Ending another of one's own sessions needs the password proved within
    /// this long (ASVS V3.3.4), so a stolen cookie alone cannot sign the real
    /// person out of their other devices; `None` disables the requirement.
    pub reauth_window: Option<Duration>,
    /// How many tabs may be open on a node.
    pub tab_limits: TabLimits,
}

/// How many tabs' sockets may be open on a node: one session opening
/// thousands must not cost the node its file handles or flood its consoles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabLimits {
    pub per_session: usize,
    pub per_user: usize,
    /// All tabs on the node.
    pub total: usize,
}

impl Default for TabLimits {
    fn default() -> Self {
        TabLimits {
            per_session: 20,
            per_user: 100,
            total: 10_000,
        }
    }
}

impl Default for Policy {
    /// The defaults of the API's configuration table.
    fn default() -> Self {
        Policy {
            session_limit: 1,
            on_limit: OnLimit::ReplaceOldest,
            logout_everywhere: true,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            absolute_timeout: Some(Duration::from_secs(12 * 60 * 60)),
            idle_warning: Duration::from_secs(60),
            last_seen_write_interval: Policy::write_interval_for(Some(Duration::from_secs(
                30 * 60,
            ))),
            tombstone_retention: Duration::from_secs(7 * 24 * 60 * 60),
            ip_privacy: IpPrivacy::Full,
            auto_logout_message: "Your session has expired. Please sign in again.".to_owned(),
            reauth_window: Some(Duration::from_secs(15 * 60)),
            tab_limits: TabLimits::default(),
        }
    }
}

/// The two deadlines of a session; `None` where that timeout is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub idle: Option<Timestamp>,
    pub absolute: Option<Timestamp>,
}

/// What a login must do about the user's existing sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitDecision<Id> {
    /// Admit the new session after ending these (oldest first; often none).
    Admit { replace: Vec<Id> },
    /// Refuse the new session: the limit is reached and the policy is `refuse_new`.
    Refuse,
}

impl Policy {
    /// The effective limit for `user`: `None` when unlimited.
    pub fn limit_for(&self, user: &UserRecord) -> Option<u32> {
        match user.max_sessions.unwrap_or(self.session_limit) {
            0 => None,
            n => Some(n),
        }
    }

    /// The activity write interval for an idle timeout: 30 s, or a tenth of a
    /// short idle timeout. Other nodes learn of activity from these writes, so
    /// the interval must stay well inside the timeout for every node to agree
    /// on the deadline.
    pub fn write_interval_for(idle_timeout: Option<Duration>) -> Duration {
        let cap = Duration::from_secs(30);
        idle_timeout.map_or(cap, |idle| (idle / 10).min(cap))
    }

    /// The deadlines of a session created at `created_at` whose user was last
    /// active at `last_activity_at`.
    pub fn deadlines(&self, created_at: Timestamp, last_activity_at: Timestamp) -> Deadlines {
        Deadlines {
            idle: self.idle_timeout.map(|t| last_activity_at.plus(t)),
            absolute: self.absolute_timeout.map(|t| created_at.plus(t)),
        }
    }

    /// Why the session is over at `now`, if it is. The absolute deadline wins
    /// when both have passed: it is the one the person cannot extend.
    pub fn expired(
        &self,
        created_at: Timestamp,
        last_activity_at: Timestamp,
        now: Timestamp,
    ) -> Option<Reason> {
        let deadlines = self.deadlines(created_at, last_activity_at);
        if deadlines.absolute.is_some_and(|at| now >= at) {
            Some(Reason::AbsoluteTimeout)
        } else if deadlines.idle.is_some_and(|at| now >= at) {
            Some(Reason::IdleTimeout)
        } else {
            None
        }
    }

    /// The sentence a person reads after their session ended for `reason`:
    /// the operator's auto-logout message for timeouts, the reason's own
    /// sentence otherwise.
    pub fn end_message(&self, reason: Reason) -> &str {
        if reason.is_timeout() {
            &self.auto_logout_message
        } else {
            reason.message()
        }
    }

    /// Whether a session whose holder last proved the password at
    /// `authenticated_at` must prove it again, at `now`, before ending the
    /// user's other sessions: yes once more than the window has passed.
    pub fn needs_reauthentication(&self, authenticated_at: Timestamp, now: Timestamp) -> bool {
        self.reauth_window
            .is_some_and(|window| now.since(authenticated_at) > window)
    }

    /// Decides a new login of a user whose live sessions are `live_oldest_first`.
    pub fn decide_login<Id: Clone>(
        &self,
        limit: Option<u32>,
        live_oldest_first: &[Id],
    ) -> LimitDecision<Id> {
        let Some(limit) = limit else {
            return LimitDecision::Admit {
                replace: Vec::new(),
            };
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if live_oldest_first.len() < limit {
            return LimitDecision::Admit {
                replace: Vec::new(),
            };
        }
        match self.on_limit {
            OnLimit::RefuseNew => LimitDecision::Refuse,
            OnLimit::ReplaceOldest => {
                // Room for one more: keep the newest `limit - 1`.
                let excess = live_oldest_first.len() + 1 - limit;
                LimitDecision::Admit {
                    replace: live_oldest_first[..excess].to_vec(),
                }
            }
        }
    }
}

impl Policy {
    /// Like [`Policy::decide_login`], when the person chose one of their
    /// sessions to give up (the `refuse_new` device picker): a refused login
    /// is admitted by ending `chosen`, if it is theirs and ending it is enough.
    pub fn decide_login_replacing<Id: Clone + PartialEq>(
        &self,
        limit: Option<u32>,
        live_oldest_first: &[Id],
        chosen: Option<&Id>,
    ) -> LimitDecision<Id> {
        match (self.decide_login(limit, live_oldest_first), chosen, limit) {
            (LimitDecision::Refuse, Some(chosen), Some(limit))
                if live_oldest_first.contains(chosen)
                    && live_oldest_first.len() + 1
                        == usize::try_from(limit).unwrap_or(usize::MAX) + 1 =>
            {
                LimitDecision::Admit {
                    replace: vec![chosen.clone()],
                }
            }
            (decision, _, _) => decision,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bouncer_wire::Role;

    use super::*;
    use crate::{ids::UserId, users::Username};

    fn user(max_sessions: Option<u32>) -> UserRecord {
        UserRecord {
            id: UserId::generate(),
            username: Username::parse("alice").expect("valid"),
            password_hash: String::new(),
            role: Role::User,
            permissions: BTreeSet::new(),
            active: true,
            max_sessions,
            created_at: Timestamp::from_millis(0),
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn the_write_interval_stays_well_inside_the_idle_timeout() {
        let secs = Duration::from_secs;
        assert_eq!(Policy::write_interval_for(Some(secs(30 * 60))), secs(30));
        assert_eq!(Policy::write_interval_for(Some(secs(60))), secs(6));
        assert_eq!(Policy::write_interval_for(None), secs(30));
    }

    #[test]
    fn per_user_max_sessions_overrides_the_global_limit_and_zero_means_none() {
        let policy = Policy::default();
        assert_eq!(policy.limit_for(&user(None)), Some(1));
        assert_eq!(policy.limit_for(&user(Some(3))), Some(3));
        assert_eq!(policy.limit_for(&user(Some(0))), None);
        let unlimited = Policy {
            session_limit: 0,
            ..Policy::default()
        };
        assert_eq!(unlimited.limit_for(&user(None)), None);
    }

    #[test]
    fn replace_oldest_ends_just_enough_of_the_oldest_sessions() {
        let policy = Policy::default();
        assert_eq!(
            policy.decide_login(Some(1), &["a"]),
            LimitDecision::Admit { replace: vec!["a"] }
        );
        assert_eq!(
            policy.decide_login(Some(2), &["a", "b", "c"]),
            LimitDecision::Admit {
                replace: vec!["a", "b"]
            }
        );
        assert_eq!(
            policy.decide_login(Some(2), &["a"]),
            LimitDecision::Admit { replace: vec![] }
        );
        assert_eq!(
            policy.decide_login::<&str>(None, &["a", "b"]),
            LimitDecision::Admit { replace: vec![] }
        );
    }

    #[test]
    fn refuse_new_refuses_only_at_the_limit() {
        let policy = Policy {
            on_limit: OnLimit::RefuseNew,
            ..Policy::default()
        };
        assert_eq!(policy.decide_login(Some(1), &["a"]), LimitDecision::Refuse);
        assert_eq!(
            policy.decide_login(Some(2), &["a"]),
            LimitDecision::Admit { replace: vec![] }
        );
    }

    #[test]
    fn a_chosen_session_makes_room_under_refuse_new_only_if_it_is_enough() {
        let policy = Policy {
            on_limit: OnLimit::RefuseNew,
            ..Policy::default()
        };
        assert_eq!(
            policy.decide_login_replacing(Some(2), &["a", "b"], Some(&"b")),
            LimitDecision::Admit { replace: vec!["b"] }
        );
        assert_eq!(
            policy.decide_login_replacing(Some(2), &["a", "b"], Some(&"z")),
            LimitDecision::Refuse
        );
        assert_eq!(
            policy.decide_login_replacing(Some(2), &["a", "b"], None),
            LimitDecision::Refuse
        );
        // Over the limit (it was lowered): ending one is not enough.
        assert_eq!(
            policy.decide_login_replacing(Some(1), &["a", "b"], Some(&"a")),
            LimitDecision::Refuse
        );
        // Below the limit the choice is not needed and nothing ends.
        assert_eq!(
            policy.decide_login_replacing(Some(3), &["a", "b"], Some(&"a")),
            LimitDecision::Admit { replace: vec![] }
        );
    }

    #[test]
    fn idle_and_absolute_deadlines_follow_the_timestamps() {
        let policy = Policy {
            idle_timeout: Some(Duration::from_secs(60)),
            absolute_timeout: Some(Duration::from_secs(600)),
            ..Policy::default()
        };
        assert_eq!(policy.expired(at(0), at(0), at(59)), None);
        assert_eq!(
            policy.expired(at(0), at(0), at(60)),
            Some(Reason::IdleTimeout)
        );
        assert_eq!(
            policy.expired(at(0), at(550), at(600)),
            Some(Reason::AbsoluteTimeout)
        );
        assert_eq!(
            policy.expired(at(0), at(599), at(650)),
            Some(Reason::AbsoluteTimeout)
        );
        let off = Policy {
            idle_timeout: None,
            absolute_timeout: None,
            ..Policy::default()
        };
        assert_eq!(off.expired(at(0), at(0), at(1_000_000)), None);
        assert_eq!(
            off.deadlines(at(0), at(0)),
            Deadlines {
                idle: None,
                absolute: None
            }
        );
    }

    #[test]
    fn reauthentication_is_needed_only_past_the_window_and_never_when_off() {
        let policy = Policy {
            reauth_window: Some(Duration::from_secs(15 * 60)),
            ..Policy::default()
        };
        assert!(!policy.needs_reauthentication(at(100), at(100)));
        assert!(!policy.needs_reauthentication(at(100), at(100 + 15 * 60)));
        assert!(policy.needs_reauthentication(at(100), at(100 + 15 * 60 + 1)));
        // A clock that stepped back never makes the proof older.
        assert!(!policy.needs_reauthentication(at(100), at(50)));
        let off = Policy {
            reauth_window: None,
            ..Policy::default()
        };
        assert!(!off.needs_reauthentication(at(0), at(1_000_000)));
    }
}
