//! The push hub: which tabs are connected to this node, per session and per
//! user, and a bounded outbound queue for each.
//!
//! The hub never decides whether a session is valid — the request-path check
//! and the revocation log do. It only delivers: when the tailer applies an
//! ending, the engine asks the hub to tell that session's tabs and close them.
//! A tab whose queue is full (slow or dead) is dropped from the hub instead of
//! delaying anyone else; its socket then closes and the browser reconnects.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use bouncer_wire::{Reason, CLOSE_TOO_MANY_TABS, CLOSE_TRY_AGAIN};
use bytes::Bytes;
use serde_json::Value;

use crate::{
    clock::Timestamp,
    ids::{SessionId, UserId},
    inbox,
    policy::TabLimits,
};

/// How many messages may wait for one tab before it counts as stuck.
pub const TAB_QUEUE: usize = 32;

/// What a tab is told. The socket at the edge encodes it (as the API's
/// `ServerMessage`); the engine only decides what to say and to whom.
#[derive(Debug, Clone, PartialEq)]
pub enum TabMessage {
    /// The session ended: the reason, the sentence for the person, and what
    /// else the tab should know (a JSON object).
    Ended {
        reason: Reason,
        message: String,
        detail: Value,
    },
    /// The idle deadline is within the warning window.
    IdleWarning {
        idle_expires_at: Timestamp,
        seconds_left: u64,
    },
    /// Activity in some tab moved the idle deadline.
    Extended { idle_expires_at: Timestamp },
    /// The user's list of sessions changed (or, for staff consoles, anyone's).
    SessionsChanged,
    /// Someone signed in to the account on another device: told to the
    /// tabs of the user's other sessions.
    NewSignIn {
        session_id: SessionId,
        device: String,
        /// The address with its host part hidden.
        place: String,
        at: Timestamp,
    },
}

/// A message shared by every tab it goes to, with room for its encoded
/// frame: the first socket that sends it encodes it and the others reuse the
/// bytes, so ending everyone costs one encoding per distinct message, not one
/// per tab. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outgoing(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    message: TabMessage,
    frame: OnceLock<Bytes>,
    /// For an ending read from the log: its timestamp, from which the socket
    /// measures the push's latency once the frame is written.
    ended_at: Option<Timestamp>,
}

impl Outgoing {
    pub fn new(message: TabMessage) -> Self {
        Outgoing(Arc::new(Shared {
            message,
            frame: OnceLock::new(),
            ended_at: None,
        }))
    }

    /// The message telling of an ending the log recorded at `at`.
    pub fn ending(message: TabMessage, at: Timestamp) -> Self {
        Outgoing(Arc::new(Shared {
            message,
            frame: OnceLock::new(),
            ended_at: Some(at),
        }))
    }

    pub fn message(&self) -> &TabMessage {
        &self.0.message
    }

    /// When the ending this message tells of was recorded, if it is one.
    pub fn ended_at(&self) -> Option<Timestamp> {
        self.0.ended_at
    }

    /// The message's frame, encoded by `encode` the first time it is asked for.
    pub fn frame(&self, encode: impl FnOnce(&TabMessage) -> Bytes) -> Bytes {
        self.0.frame.get_or_init(|| encode(&self.0.message)).clone()
    }
}

impl PartialEq for Outgoing {
    fn eq(&self, other: &Self) -> bool {
        self.message() == other.message()
    }
}

/// What the hub asks a tab's socket to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// Shared by every tab it goes to; small, so a tab's queue stays small.
    Message(Outgoing),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

#[derive(Debug)]
struct Tab {
    sender: inbox::Sender<Push>,
}

#[derive(Debug)]
struct SessionTabs {
    user_id: UserId,
    tabs: HashMap<u64, Tab>,
    /// The idle deadline the tabs were last warned about, if any.
    warned_for: Option<Timestamp>,
    /// When `extended` was last sent (at most one a second per session).
    extended_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, SessionTabs>,
    by_user: HashMap<UserId, HashSet<SessionId>>,
    /// Staff consoles, indexed so announcing a change never scans every tab.
    staff: HashSet<(SessionId, u64)>,
    /// Set by [`Hub::close_all`]: the node is going away, so a tab that
    /// registers afterwards is closed at once.
    closing: Option<(u16, &'static str)>,
    /// Users whose lists of sessions changed since the last
    /// [`Hub::flush_sessions_changed`].
    changed: HashSet<UserId>,
}

/// The hub. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    next_tab: Arc<AtomicU64>,
    /// Registrations alive, i.e. socket loops still running (a tab leaves
    /// `state` as soon as it is told to close, its loop a moment later).
    open: Arc<AtomicUsize>,
    limits: TabLimits,
}

/// A connected tab: its queue, and its place in the hub until dropped.
#[derive(Debug)]
pub struct TabRegistration {
    pub id: u64,
    pub session_id: SessionId,
    pub receiver: inbox::Receiver<Push>,
    hub: Hub,
}

impl Drop for TabRegistration {
    fn drop(&mut self) {
        self.hub.unregister(&self.session_id, self.id);
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// A hub allowing `limits` tabs.
    pub fn new(limits: TabLimits) -> Self {
        Hub {
            limits,
            ..Hub::default()
        }
    }

    /// Adds a tab of `session_id` — unless the node is closing, or the
    /// session, its user or the node already has as many tabs as allowed:
    /// then the new tab is told to close at once (4002, 4003, 1013).
    pub fn register(&self, session_id: SessionId, user_id: UserId, staff: bool) -> TabRegistration {
        let id = self.next_tab.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = inbox::channel(TAB_QUEUE);
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let mut state = self.lock();
        let refused = state
            .closing
            .or_else(|| self.over_limit(&state, &session_id, &user_id, open));
        if let Some((code, reason)) = refused {
            // Not kept: the sender drops after the close is queued.
            let _ = sender.try_send(Push::Close(code, reason));
            return TabRegistration {
                id,
                session_id,
                receiver,
                hub: self.clone(),
            };
        }
        state
            .by_user
            .entry(user_id.clone())
            .or_default()
            .insert(session_id.clone());
        if staff {
            state.staff.insert((session_id.clone(), id));
        }
        state
            .sessions
            .entry(session_id.clone())
            .or_insert_with(|| SessionTabs {
                user_id,
                tabs: HashMap::new(),
                warned_for: None,
                extended_at: None,
            })
            .tabs
            .insert(id, Tab { sender });
        TabRegistration {
            id,
            session_id,
            receiver,
            hub: self.clone(),
        }
    }

    /// Why one more tab of this session may not open, if it may not.
    fn over_limit(
        &self,
        state: &State,
        session_id: &SessionId,
        user_id: &UserId,
        open: usize,
    ) -> Option<(u16, &'static str)> {
        let limits = &self.limits;
        let of_session = |id: &SessionId| state.sessions.get(id).map_or(0, |s| s.tabs.len());
        let of_user: usize = state
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .map(of_session)
            .sum();
        if open > limits.total {
            Some((CLOSE_TRY_AGAIN, "too many tabs on this server"))
        } else if of_session(session_id) >= limits.per_session || of_user >= limits.per_user {
            Some((CLOSE_TOO_MANY_TABS, "too many tabs"))
        } else {
            None
        }
    }

    fn unregister(&self, session_id: &SessionId, tab: u64) {
        let mut state = self.lock();
        let Some(tabs) = state.sessions.get_mut(session_id) else {
            return;
        };
        tabs.tabs.remove(&tab);
        if tabs.tabs.is_empty() {
            let user_id = tabs.user_id.clone();
            state.sessions.remove(session_id);
            remove_from_user(&mut state, &user_id, session_id);
        }
    }

    /// How many tabs of the session are connected here.
    pub fn online_tabs(&self, session_id: &SessionId) -> u32 {
        self.lock()
            .sessions
            .get(session_id)
            .map(|s| u32::try_from(s.tabs.len()).unwrap_or(u32::MAX))
            .unwrap_or(0)
    }

    /// Whether any tab of the user is connected here.
    pub fn user_online(&self, user_id: &UserId) -> bool {
        self.lock()
            .by_user
            .get(user_id)
            .is_some_and(|s| !s.is_empty())
    }

    /// Total connected tabs.
    pub fn tab_count(&self) -> usize {
        self.lock().sessions.values().map(|s| s.tabs.len()).sum()
    }

    /// Socket loops still running, including tabs already told to close.
    pub fn open_sockets(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Closes every tab with `code` (the node is shutting down), and every
    /// tab that registers from now on. A tab whose queue is full loses its
    /// sender instead, which closes it too (1013).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        let sessions = {
            let mut state = self.lock();
            state.closing = Some((code, reason));
            state.by_user.clear();
            state.staff.clear();
            std::mem::take(&mut state.sessions)
        };
        for tab in sessions.values().flat_map(|s| s.tabs.values()) {
            let _ = tab.sender.try_send(Push::Close(code, reason));
        }
    }

    /// Waits until every socket loop has finished (their close frames are
    /// sent), or `limit` passed. Returns how many were still open.
    pub async fn wait_closed(&self, limit: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        while self.open_sockets() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.open_sockets()
    }

    /// The sessions with tabs here and the deadline each was warned about.
    pub fn sessions(&self) -> Vec<(SessionId, Option<Timestamp>)> {
        self.lock()
            .sessions
            .iter()
            .map(|(id, s)| (id.clone(), s.warned_for))
            .collect()
    }

    /// Tells every tab of the session that it ended and closes them; the
    /// session leaves the hub. Returns how many tabs were told.
    pub fn end_session(&self, session_id: &SessionId, message: Outgoing, close_code: u16) -> usize {
        self.end_sessions([(session_id, message)], close_code)[0]
    }

    /// [`Hub::end_session`] for many sessions, taking the lock once: a bulk
    /// ending removes thousands of sessions while their sockets unregister.
    /// Returns how many tabs were told, per session, in order.
    pub fn end_sessions<'a>(
        &self,
        endings: impl IntoIterator<Item = (&'a SessionId, Outgoing)>,
        close_code: u16,
    ) -> Vec<usize> {
        let removed: Vec<(Option<SessionTabs>, Outgoing)> = {
            let mut state = self.lock();
            endings
                .into_iter()
                .map(|(session_id, message)| {
                    let tabs = state.sessions.remove(session_id);
                    if let Some(tabs) = &tabs {
                        remove_from_user(&mut state, &tabs.user_id, session_id);
                    }
                    (tabs, message)
                })
                .collect()
        };
        removed
            .into_iter()
            .map(|(tabs, message)| {
                let Some(tabs) = tabs else { return 0 };
                let mut told = 0;
                for tab in tabs.tabs.values() {
                    // Two slots are needed: the message and the close.
                    if tab.sender.capacity() >= 2 {
                        let _ = tab.sender.try_send(Push::Message(message.clone()));
                        let _ = tab
                            .sender
                            .try_send(Push::Close(close_code, "session ended"));
                        told += 1;
                    }
                    // A stuck tab loses its sender here: its socket closes, and
                    // the browser's reconnect finds the session ended.
                }
                told
            })
            .collect()
    }

    /// Sends `message` to the tabs of every session of the user but `except`.
    pub fn send_to_user_except(&self, user_id: &UserId, except: &SessionId, message: TabMessage) {
        let mut state = self.lock();
        let sessions: Vec<SessionId> = state
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter(|id| *id != except)
            .cloned()
            .collect();
        let message = Outgoing::new(message);
        for id in sessions {
            if let Some(tabs) = state.sessions.get_mut(&id) {
                deliver(tabs, &message);
            }
        }
    }

    /// Closes every tab of the user with `code` (they may reconnect); the
    /// sessions leave the hub.
    pub fn close_user(&self, user_id: &UserId, code: u16, reason: &'static str) {
        let removed: Vec<SessionTabs> = {
            let mut state = self.lock();
            let sessions = state.by_user.remove(user_id).unwrap_or_default();
            state
                .staff
                .retain(|(session, _)| !sessions.contains(session));
            sessions
                .iter()
                .filter_map(|id| state.sessions.remove(id))
                .collect()
        };
        for tab in removed.iter().flat_map(|s| s.tabs.values()) {
            let _ = tab.sender.try_send(Push::Close(code, reason));
        }
    }

    /// Sends `message` to every tab of the session; drops stuck tabs.
    pub fn send_to_session(&self, session_id: &SessionId, message: TabMessage) -> usize {
        let mut state = self.lock();
        let Some(tabs) = state.sessions.get_mut(session_id) else {
            return 0;
        };
        deliver(tabs, &Outgoing::new(message))
    }

    /// The idle deadline the session's tabs were last warned about (`None`
    /// inside when not warned), or `None` when it has no tab here.
    pub fn warned_for(&self, session_id: &SessionId) -> Option<Option<Timestamp>> {
        self.lock()
            .sessions
            .get(session_id)
            .map(|tabs| tabs.warned_for)
    }

    /// Records that the session's tabs were warned about `deadline`.
    pub fn mark_warned(&self, session_id: &SessionId, deadline: Option<Timestamp>) {
        if let Some(tabs) = self.lock().sessions.get_mut(session_id) {
            tabs.warned_for = deadline;
        }
    }

    /// Sends `extended` after activity: always when a warning is showing,
    /// otherwise at most once a second per session.
    pub fn extended(&self, session_id: &SessionId, idle_expires_at: Timestamp, now: Timestamp) {
        let mut state = self.lock();
        let Some(tabs) = state.sessions.get_mut(session_id) else {
            return;
        };
        let recent = tabs
            .extended_at
            .is_some_and(|at| now.since(at).as_millis() < 1000);
        if tabs.warned_for.is_some() || !recent {
            tabs.warned_for = None;
            tabs.extended_at = Some(now);
            deliver(
                tabs,
                &Outgoing::new(TabMessage::Extended { idle_expires_at }),
            );
        }
    }

    /// Notes that the user's list of sessions changed; the user's tabs and
    /// the staff consoles hear of it at the next
    /// [`Hub::flush_sessions_changed`], once however many changes came in
    /// between (a user opening and closing hundreds of tabs makes each
    /// console refetch a few times, not hundreds).
    pub fn sessions_changed(&self, user_id: &UserId) {
        self.lock().changed.insert(user_id.clone());
    }

    /// `sessions_changed` once to each changed user's tabs, and once to every
    /// staff console if anyone's changed. Costs those users' sessions plus
    /// the staff tabs, never a scan of all tabs.
    pub fn flush_sessions_changed(&self) {
        let mut state = self.lock();
        if state.changed.is_empty() {
            return;
        }
        let message = Outgoing::new(TabMessage::SessionsChanged);
        let changed = std::mem::take(&mut state.changed);
        let own: HashSet<SessionId> = changed
            .iter()
            .filter_map(|user_id| state.by_user.get(user_id))
            .flatten()
            .cloned()
            .collect();
        for session_id in &own {
            if let Some(tabs) = state.sessions.get_mut(session_id) {
                deliver(tabs, &message);
            }
        }
        let consoles: Vec<(SessionId, u64)> = state
            .staff
            .iter()
            .filter(|(session, _)| !own.contains(session))
            .cloned()
            .collect();
        for (session_id, tab_id) in consoles {
            let stuck = state
                .sessions
                .get(&session_id)
                .and_then(|tabs| tabs.tabs.get(&tab_id))
                .is_some_and(|tab| tab.sender.try_send(Push::Message(message.clone())).is_err());
            if stuck {
                state.staff.remove(&(session_id.clone(), tab_id));
                if let Some(tabs) = state.sessions.get_mut(&session_id) {
                    tabs.tabs.remove(&tab_id);
                }
            }
        }
    }
}

fn remove_from_user(state: &mut State, user_id: &UserId, session_id: &SessionId) {
    if let Some(sessions) = state.by_user.get_mut(user_id) {
        sessions.remove(session_id);
        if sessions.is_empty() {
            state.by_user.remove(user_id);
        }
    }
}

/// Sends to every tab; a tab whose queue is full or closed is dropped.
fn deliver(tabs: &mut SessionTabs, message: &Outgoing) -> usize {
    let mut sent = 0;
    tabs.tabs.retain(
        |_, tab| match tab.sender.try_send(Push::Message(message.clone())) {
            Ok(()) => {
                sent += 1;
                true
            }
            Err(_) => false,
        },
    );
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (SessionId, UserId) {
        (SessionId::generate(), UserId::generate())
    }

    #[tokio::test]
    async fn only_the_ended_sessions_tabs_are_told_and_closed() {
        let hub = Hub::default();
        let (s1, u1) = ids();
        let (s2, u2) = ids();
        let mut a = hub.register(s1.clone(), u1.clone(), false);
        let mut b = hub.register(s1.clone(), u1.clone(), false);
        let mut other = hub.register(s2.clone(), u2, false);
        assert_eq!(hub.online_tabs(&s1), 2);
        let message = TabMessage::SessionsChanged;
        assert_eq!(
            hub.end_session(&s1, Outgoing::new(message.clone()), 4001),
            2
        );
        for tab in [&mut a, &mut b] {
            assert_eq!(
                tab.receiver.recv().await,
                Some(Push::Message(Outgoing::new(message.clone())))
            );
            assert_eq!(
                tab.receiver.recv().await,
                Some(Push::Close(4001, "session ended"))
            );
        }
        assert!(other.receiver.try_recv().is_err());
        assert_eq!(hub.online_tabs(&s1), 0);
        assert!(!hub.user_online(&u1));
    }

    #[tokio::test]
    async fn a_stuck_tab_is_dropped_without_delaying_the_others() {
        let hub = Hub::default();
        let (s, u) = ids();
        let _stuck = hub.register(s.clone(), u.clone(), false);
        let mut live = hub.register(s.clone(), u, false);
        for _ in 0..TAB_QUEUE {
            hub.send_to_session(&s, TabMessage::SessionsChanged);
            let _ = live.receiver.recv().await;
        }
        // The stuck tab's queue is full now: the next send drops it.
        assert_eq!(hub.send_to_session(&s, TabMessage::SessionsChanged), 1);
        assert_eq!(hub.online_tabs(&s), 1);
    }

    #[tokio::test]
    async fn closing_all_closes_every_tab_and_every_later_one() {
        let hub = Hub::default();
        let (s1, u1) = ids();
        let (s2, u2) = ids();
        let mut a = hub.register(s1.clone(), u1.clone(), true);
        let mut b = hub.register(s2.clone(), u2.clone(), false);
        hub.close_all(4002, "server shutting down");
        for tab in [&mut a, &mut b] {
            assert_eq!(
                tab.receiver.recv().await,
                Some(Push::Close(4002, "server shutting down"))
            );
        }
        assert_eq!((hub.tab_count(), hub.user_online(&u1)), (0, false));
        let mut late = hub.register(s1, u1, false);
        assert_eq!(
            late.receiver.recv().await,
            Some(Push::Close(4002, "server shutting down"))
        );
        assert_eq!(hub.tab_count(), 0);
        // The loops are still running until their registrations drop.
        assert_eq!(hub.open_sockets(), 3);
        drop((a, b, late));
        assert_eq!(hub.wait_closed(std::time::Duration::from_secs(1)).await, 0);
    }

    #[test]
    fn dropping_a_registration_unregisters_the_tab() {
        let hub = Hub::default();
        let (s, u) = ids();
        let tab = hub.register(s.clone(), u.clone(), false);
        assert!(hub.user_online(&u));
        drop(tab);
        assert_eq!(hub.online_tabs(&s), 0);
        assert!(!hub.user_online(&u));
        assert_eq!(hub.tab_count(), 0);
    }

    #[tokio::test]
    async fn staff_consoles_hear_about_everyones_sessions() {
        let hub = Hub::default();
        let (alice_session, alice) = ids();
        let (sam_session, sam) = ids();
        let (bob_session, bob) = ids();
        let mut alice_tab = hub.register(alice_session, alice.clone(), false);
        let mut console = hub.register(sam_session, sam, true);
        let mut bob_tab = hub.register(bob_session, bob, false);
        hub.sessions_changed(&alice);
        hub.sessions_changed(&alice);
        hub.flush_sessions_changed();
        assert_eq!(
            alice_tab.receiver.try_recv().ok(),
            Some(Push::Message(Outgoing::new(TabMessage::SessionsChanged)))
        );
        assert_eq!(
            console.receiver.try_recv().ok(),
            Some(Push::Message(Outgoing::new(TabMessage::SessionsChanged)))
        );
        assert!(bob_tab.receiver.try_recv().is_err());
        // Two changes, one message each: the flush coalesced them.
        assert!(alice_tab.receiver.try_recv().is_err());
        assert!(console.receiver.try_recv().is_err());
        // Nothing changed, nothing sent.
        hub.flush_sessions_changed();
        assert!(console.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn tabs_beyond_the_limits_are_closed_at_once() {
        let hub = Hub::new(TabLimits {
            per_session: 2,
            per_user: 3,
            total: 5,
        });
        let (s1, u) = ids();
        let s2 = SessionId::generate();
        let kept: Vec<_> = (0..2)
            .map(|_| hub.register(s1.clone(), u.clone(), false))
            .collect();
        let mut third = hub.register(s1.clone(), u.clone(), false);
        assert_eq!(
            third.receiver.recv().await,
            Some(Push::Close(CLOSE_TOO_MANY_TABS, "too many tabs"))
        );
        let _other_session = hub.register(s2.clone(), u.clone(), false);
        let mut over_user = hub.register(s2.clone(), u.clone(), false);
        assert_eq!(
            over_user.receiver.recv().await,
            Some(Push::Close(CLOSE_TOO_MANY_TABS, "too many tabs"))
        );
        assert_eq!((hub.online_tabs(&s1), hub.online_tabs(&s2)), (2, 1));
        // The node's own limit counts every socket still open.
        let (s3, v) = ids();
        let mut over_node = hub.register(s3, v, false);
        assert_eq!(
            over_node.receiver.recv().await,
            Some(Push::Close(CLOSE_TRY_AGAIN, "too many tabs on this server"))
        );
        drop(kept);
        assert_eq!(hub.online_tabs(&s1), 0);
    }
}
