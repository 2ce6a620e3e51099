//! The pusher: tells this node's tabs about every event the tailer applies —
//! endings above all — and records in the log how many tabs were told (for
//! the audit view).
//!
//! It only delivers what the log says; it never decides that a session
//! ended (an invariant of the design).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use bouncer_wire::{Reason, CLOSE_RECONNECT, CLOSE_SESSION_ENDED};
use serde_json::{json, Value};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use crate::tailer::Batch;
use tokio_util::sync::CancellationToken;

use crate::{
    hub::{Hub, Outgoing, TabMessage},
    ids::UserId,
    log::{Ended, Event, EventKind, EventLog},
    policy::Policy,
    privacy::approximate_ip,
    sync::lock,
    view::View,
};

/// How often device lists and consoles hear that sessions changed (at most),
/// and the tab counts are added to the log.
const TICK: Duration = Duration::from_millis(100);

/// The pusher. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Pusher {
    hub: Hub,
    view: View,
    log: EventLog,
    policy: Arc<Policy>,
    /// (log sequence, tabs told) not yet added to the log.
    tabs_told: Arc<Mutex<Vec<(i64, usize)>>>,
}

impl Pusher {
    pub fn new(hub: Hub, view: View, log: EventLog, policy: Arc<Policy>) -> Self {
        Pusher {
            hub,
            view,
            log,
            policy,
            tabs_told: Arc::default(),
        }
    }

    /// What the tabs of a session that ended for `reason` are told.
    pub fn ended_message(&self, reason: Reason, detail: Value) -> TabMessage {
        TabMessage::Ended {
            reason,
            message: self.policy.end_message(reason).to_owned(),
            detail,
        }
    }

    /// Acts on a read's worth of the log: the endings' tabs are told, a user
    /// whose rights changed has their tabs reconnect, and the user's tabs
    /// and the staff consoles learn of a session that started (on any node).
    #[tracing::instrument(name = "push", level = "debug", skip_all)]
    pub fn push(&self, batch: &Batch) {
        self.push_endings(&batch.ended);
        // New rights: the user's tabs reconnect, and their new sockets carry
        // them (a console stops hearing of everyone's sessions, say).
        for event in &batch.others {
            match event.kind {
                EventKind::UserRoleChanged => {
                    self.hub
                        .close_user(&event.user_id, CLOSE_RECONNECT, "your rights changed");
                }
                EventKind::SessionStarted => self.announce_sign_in(event),
                _ => {}
            }
        }
        let started = batch
            .others
            .iter()
            .filter(|event| event.kind == EventKind::SessionStarted);
        let users: HashSet<&UserId> = started.map(|event| &event.user_id).collect();
        for user_id in users {
            self.hub.sessions_changed(user_id);
        }
    }

    /// Tells the user's other sessions' tabs that a device signed in (not
    /// for a browser that continued its own session): who, from about
    /// where, when — so a stranger's sign-in is noticed at once.
    fn announce_sign_in(&self, event: &Event) {
        let how = event.detail.get("how").and_then(Value::as_str);
        let (Some(session_id), Some("login" | "replaced")) = (&event.session_id, how) else {
            return;
        };
        let text = |key| {
            event
                .detail
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let message = TabMessage::NewSignIn {
            session_id: session_id.clone(),
            device: text("device").to_owned(),
            place: approximate_ip(text("ip")),
            at: event.at,
        };
        self.hub
            .send_to_user_except(&event.user_id, session_id, message);
    }

    /// Tells the tabs of a read's worth of endings. Consecutive endings with
    /// the same reason and detail (all of a bulk ending) share one message,
    /// and the hub is locked once for the batch. Then each user's list of
    /// sessions changed, announced once per user, not once per session.
    fn push_endings(&self, batch: &[Ended]) {
        if batch.is_empty() {
            return;
        }
        let mut previous: Option<(&Ended, Outgoing)> = None;
        let mut messages = Vec::with_capacity(batch.len());
        for ended in batch {
            let message = match &previous {
                Some((last, message))
                    if last.reason == ended.reason
                        && last.detail == ended.detail
                        && last.at == ended.at =>
                {
                    message.clone()
                }
                _ => Outgoing::ending(
                    self.ended_message(ended.reason, ended.detail.clone()),
                    ended.at,
                ),
            };
            previous = Some((ended, message.clone()));
            messages.push((&ended.session_id, message));
        }
        let told = self.hub.end_sessions(messages, CLOSE_SESSION_ENDED);
        let told: Vec<(i64, usize)> = batch
            .iter()
            .zip(told)
            .filter(|(_, told)| *told > 0)
            .map(|(ended, told)| (ended.seq, told))
            .collect();
        if !told.is_empty() {
            // The same sequence numbers the committing node logged.
            tracing::info!(
                first_seq = told.first().map(|(seq, _)| *seq),
                last_seq = told.last().map(|(seq, _)| *seq),
                endings = told.len(),
                tabs = told.iter().map(|(_, tabs)| tabs).sum::<usize>(),
                "Told this node's tabs of endings"
            );
            lock(&self.tabs_told).extend(told);
        }
        let users: HashSet<&UserId> = batch.iter().map(|e| &e.user_id).collect();
        for user_id in users {
            self.hub.sessions_changed(user_id);
        }
    }

    /// Some endings went by unseen (the pusher lagged): every session with
    /// tabs here is checked against the view, which the tailer did update.
    fn resync(&self) {
        for (id, _) in self.hub.sessions() {
            if let Some(reason) = self.view.ended_reason(&id) {
                let message = Outgoing::new(self.ended_message(reason, json!({})));
                self.hub.end_session(&id, message, CLOSE_SESSION_ENDED);
            }
        }
    }

    /// Adds the tab counts of recent pushes to their log rows, batched off
    /// the push path: a bulk ending would otherwise cost one write per
    /// session right when the tabs are being told.
    pub async fn flush_tabs_told(&self) {
        let told = std::mem::take(&mut *lock(&self.tabs_told));
        if told.is_empty() {
            return;
        }
        if let Err(e) = self.log.add_tabs_told(&told).await {
            tracing::warn!(error = ?e, "Failed to record how many tabs were told");
        }
    }

    /// The background loop over the tailer's announcements (`endings`, taken
    /// before anything can end), until `stop` is cancelled.
    pub async fn run(self, mut endings: Receiver<Arc<Batch>>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                ended = endings.recv() => match ended {
                    Ok(batch) => self.push(&batch),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "The pusher lagged; resyncing its tabs");
                        self.resync();
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    self.hub.flush_sessions_changed();
                    self.flush_tabs_told().await;
                }
                _ = stop.cancelled() => break,
            }
        }
        self.flush_tabs_told().await;
    }
}
