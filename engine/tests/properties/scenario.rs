//! What one test case is: the server's rules, the users, and the operations
//! run one after another. Everything here is plain data with a `Debug` that
//! reads as a story, because a failing case is printed (shrunk) from it.

use std::time::Duration;

use bouncer_engine::policy::{OnLimit, Policy};
use proptest::{collection::vec, prelude::*};

/// How many regular users a case has (an admin operator exists besides them).
pub const USERS: usize = 3;

/// How many browsers (devices) a case has; each has its own IP address.
pub const BROWSERS: usize = 4;

/// The idle timeout, when a case turns it on.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// The absolute timeout, when a case turns it on.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);

/// How long an ended session's tombstone and log rows are kept (the default).
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The server-wide settings of one case: the parts of [`Policy`] the
/// properties are about.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Live sessions per user when the user has no limit of their own; 0 = none.
    pub session_limit: u32,
    pub on_limit: OnLimit,
    pub logout_everywhere: bool,
    pub idle_timeout: Option<Duration>,
    pub absolute_timeout: Option<Duration>,
}

impl Rules {
    /// The engine's policy for these rules; everything else is the default.
    pub fn policy(&self) -> Policy {
        Policy {
            session_limit: self.session_limit,
            on_limit: self.on_limit,
            logout_everywhere: self.logout_everywhere,
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            last_seen_write_interval: Policy::write_interval_for(self.idle_timeout),
            tombstone_retention: RETENTION,
            // Re-authentication before ending other devices is a gate in
            // front of an ending, not a session rule (tests/api/reauth.rs).
            reauth_window: None,
            ..Policy::default()
        }
    }
}

/// One step of a case. Browsers and users are indexes (`0..BROWSERS`,
/// `0..USERS`); every operation is valid in every state (signing out a
/// browser that is not signed in, ending a session that already ended), so
/// any subsequence of a case is a case too and failures shrink well.
#[derive(Debug, Clone)]
pub enum Op {
    /// The browser posts the sign-in form (with the user's current password
    /// or a wrong one).
    Login {
        browser: usize,
        user: usize,
        right_password: bool,
    },
    /// The browser signs out.
    Logout { browser: usize },
    /// Any other request from the browser: a page or an API call when
    /// `activity`, a passive one (`GET /api/auth/me`) otherwise.
    Request { browser: usize, activity: bool },
    /// The browser opens a tab with a WebSocket (replacing its previous tab):
    /// the deadline ticker watches the sessions that have tabs.
    OpenTab { browser: usize },
    /// The browser's tab sends `activity` ("Stay signed in").
    TabActivity { browser: usize },
    /// The person changes their password from this browser.
    ChangeOwnPassword {
        browser: usize,
        right_current_password: bool,
    },
    /// "Sign out all other devices" from this browser.
    SignOutOtherDevices { browser: usize },
    /// An admin ends one session of the user: the `pick`-th (modulo) of every
    /// session the user ever had, so it may already have ended.
    AdminEndSession { user: usize, pick: usize },
    /// An admin ends every session of the user.
    AdminRevokeUser { user: usize },
    /// An admin ends everyone's sessions.
    AdminRevokeEveryone,
    /// An admin sets a new password for the user.
    AdminSetPassword { user: usize },
    /// An admin deactivates or reactivates the user.
    SetActive { user: usize, active: bool },
    /// An admin makes the user staff with `revoke_users`, or a plain user
    /// again: nothing ends, but every live session of theirs must carry the
    /// new identity (what forward authentication says about them).
    SetStaff { user: usize, staff: bool },
    /// Time passes.
    AdvanceClock { by: Duration },
    /// The periodic sweep: ends timed-out sessions, deletes old tombstones.
    Sweep,
    /// One tick of the deadline ticker (sessions with tabs).
    DeadlineTick,
}

impl Op {
    /// The operation's name without its arguments (for the coverage table).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Login { .. } => "Login",
            Op::Logout { .. } => "Logout",
            Op::Request { .. } => "Request",
            Op::OpenTab { .. } => "OpenTab",
            Op::TabActivity { .. } => "TabActivity",
            Op::ChangeOwnPassword { .. } => "ChangeOwnPassword",
            Op::SignOutOtherDevices { .. } => "SignOutOtherDevices",
            Op::AdminEndSession { .. } => "AdminEndSession",
            Op::AdminRevokeUser { .. } => "AdminRevokeUser",
            Op::AdminRevokeEveryone => "AdminRevokeEveryone",
            Op::AdminSetPassword { .. } => "AdminSetPassword",
            Op::SetActive { .. } => "SetActive",
            Op::SetStaff { .. } => "SetStaff",
            Op::AdvanceClock { .. } => "AdvanceClock",
            Op::Sweep => "Sweep",
            Op::DeadlineTick => "DeadlineTick",
        }
    }
}

/// One test case.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub rules: Rules,
    /// Each user's own session limit (`None`: the server-wide one; 0: none).
    pub max_sessions: Vec<Option<u32>>,
    pub ops: Vec<Op>,
}

fn rules() -> impl Strategy<Value = Rules> {
    (
        0..=3u32,
        prop_oneof![Just(OnLimit::ReplaceOldest), Just(OnLimit::RefuseNew)],
        any::<bool>(),
        prop_oneof![1 => Just(None), 3 => Just(Some(IDLE))],
        prop_oneof![1 => Just(None), 3 => Just(Some(ABSOLUTE))],
    )
        .prop_map(
            |(session_limit, on_limit, logout_everywhere, idle_timeout, absolute_timeout)| Rules {
                session_limit,
                on_limit,
                logout_everywhere,
                idle_timeout,
                absolute_timeout,
            },
        )
}

fn max_sessions() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(0)), 1 => Just(Some(1)), 1 => Just(Some(2))]
}

/// Clock jumps: mostly small, with weight on the edges too: exactly at a
/// deadline, a millisecond before it, and past the tombstone retention.
fn jump() -> impl Strategy<Value = Duration> {
    let ms = Duration::from_millis;
    prop_oneof![
        2 => Just(ms(1)),
        6 => (1..600_000u64).prop_map(ms),
        1 => Just(IDLE - ms(1)),
        1 => Just(IDLE),
        1 => Just(IDLE + ms(60_000)),
        1 => prop_oneof![Just(ABSOLUTE - ms(1)), Just(ABSOLUTE)],
        1 => Just(RETENTION + ms(1)),
    ]
}

/// Logins favour the first user, so that one user often holds sessions in
/// several browsers at once (limits, logout everywhere and "sign out other
/// devices" matter only then).
fn login_user() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0), 2 => Just(1), 1 => Just(2)]
}

/// The operations, weighted so that sessions live long enough to meet each
/// other: the ones that end many sessions at once are rare.
fn op() -> impl Strategy<Value = Op> {
    let browser = 0..BROWSERS;
    let user = 0..USERS;
    prop_oneof![
        16 => (browser.clone(), login_user(), prop::bool::weighted(0.9)).prop_map(
            |(browser, user, right_password)| Op::Login { browser, user, right_password }
        ),
        3 => browser.clone().prop_map(|browser| Op::Logout { browser }),
        10 => (browser.clone(), any::<bool>())
            .prop_map(|(browser, activity)| Op::Request { browser, activity }),
        5 => browser.clone().prop_map(|browser| Op::OpenTab { browser }),
        5 => browser.clone().prop_map(|browser| Op::TabActivity { browser }),
        2 => (browser.clone(), prop::bool::weighted(0.8)).prop_map(
            |(browser, right_current_password)| Op::ChangeOwnPassword { browser, right_current_password }
        ),
        2 => browser.prop_map(|browser| Op::SignOutOtherDevices { browser }),
        2 => (user.clone(), 0..8usize).prop_map(|(user, pick)| Op::AdminEndSession { user, pick }),
        1 => user.clone().prop_map(|user| Op::AdminRevokeUser { user }),
        1 => Just(Op::AdminRevokeEveryone),
        1 => user.clone().prop_map(|user| Op::AdminSetPassword { user }),
        2 => (user.clone(), any::<bool>()).prop_map(|(user, staff)| Op::SetStaff { user, staff }),
        2 => (user, prop::bool::weighted(0.6)).prop_map(|(user, active)| Op::SetActive { user, active }),
        10 => jump().prop_map(|by| Op::AdvanceClock { by }),
        3 => Just(Op::Sweep),
        3 => Just(Op::DeadlineTick),
    ]
}

/// One operation, or now and then someone guessing a password several times
/// in a row from one browser: single wrong passwords alone would almost
/// never reach the throttle (five failures within fifteen minutes).
fn op_group() -> impl Strategy<Value = Vec<Op>> {
    prop_oneof![
        50 => op().prop_map(|op| vec![op]),
        1 => (0..BROWSERS, login_user(), 3..=6usize).prop_map(|(browser, user, guesses)| {
            vec![
                Op::Login {
                    browser,
                    user,
                    right_password: false,
                };
                guesses
            ]
        }),
    ]
}

/// A case: random rules and user limits, and 30 to 60 operations.
///
/// Each group of operations is drawn with a flag that is always `true` but
/// shrinks to `false` (dropping the group): a vector cannot shrink below its
/// minimum length, and a failure should shrink to the few operations that
/// matter.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        rules(),
        vec(max_sessions(), USERS),
        vec((op_group(), prop::bool::weighted(1.0)), 30..=50),
    )
        .prop_map(|(rules, max_sessions, groups)| Scenario {
            rules,
            max_sessions,
            ops: groups
                .into_iter()
                .filter_map(|(group, kept)| kept.then_some(group))
                .flatten()
                .take(60)
                .collect(),
        })
}
