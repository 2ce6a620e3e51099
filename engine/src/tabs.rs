//! What a connected tab's socket may do, in domain terms: join the hub
//! (authorised once, at the upgrade, by the request-path check), learn that
//! its session already ended, and report user activity. The socket itself —
//! frames, buffers, the `hello` — lives at the edge.
//!
//! Nothing a tab sends can end or extend another session: activity applies
//! to the tab's own session only.

use std::sync::Arc;

use serde_json::json;

use crate::{
    activity::ActivityWriter,
    clock::Clock,
    deadlines::Deadlines,
    hub::{Hub, Push, TabMessage, TabRegistration},
    ids::UserId,
    inbox,
    policy::Policy,
    timeouts::Timeouts,
    view::{LiveSession, View},
};

/// The tab service. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Tabs {
    pub(crate) policy: Arc<Policy>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hub: Hub,
    pub(crate) view: View,
    pub(crate) deadlines: Deadlines,
    pub(crate) timeouts: Timeouts,
    pub(crate) activity: ActivityWriter,
}

/// A tab's place on this node, until dropped. Dropping it leaves the hub and,
/// once the tab was announced online, tells the user's device lists and the
/// staff consoles that it went away.
#[derive(Debug)]
pub struct TabConnection {
    registration: Option<TabRegistration>,
    hub: Hub,
    user_id: UserId,
    announced: bool,
}

impl TabConnection {
    /// The pushes waiting for this tab.
    pub fn pushes(&mut self) -> Option<&mut inbox::Receiver<Push>> {
        self.registration.as_mut().map(|r| &mut r.receiver)
    }

    /// Announces the tab online (after the socket said hello), so device
    /// lists show online tabs live.
    pub fn announce_online(&mut self) {
        self.announced = true;
        self.hub.sessions_changed(&self.user_id);
    }
}

impl Drop for TabConnection {
    fn drop(&mut self) {
        // Leave first, so the announcement counts one tab fewer.
        drop(self.registration.take());
        if self.announced {
            self.hub.sessions_changed(&self.user_id);
        }
    }
}

impl Tabs {
    /// Connects a tab of `live` (staff consoles also hear of everyone's
    /// sessions). Registered before anything is said, so an ending applied
    /// between the upgrade's check and now is never missed: ask
    /// [`Tabs::ended_message`] next.
    pub fn connect(&self, live: &LiveSession, staff: bool) -> TabConnection {
        let registration = self
            .hub
            .register(live.id.clone(), live.user_id.clone(), staff);
        self.deadlines.watch(live);
        TabConnection {
            registration: Some(registration),
            hub: self.hub.clone(),
            user_id: live.user_id.clone(),
            announced: false,
        }
    }

    /// What to tell a tab whose session has already ended on this node.
    pub fn ended_message(&self, live: &LiveSession) -> Option<TabMessage> {
        let reason = self.view.ended_reason(&live.id)?;
        Some(TabMessage::Ended {
            reason,
            message: self.policy.end_message(reason).to_owned(),
            detail: json!({}),
        })
    }

    /// Records user activity of `live` outside a request (a tab's `activity`
    /// message) and tells its tabs the new idle deadline.
    ///
    /// Activity cannot bring back a session already past a deadline, which
    /// the deadline clock may not have ended yet (not at all while the
    /// database fails): such a session ends now with that deadline's reason,
    /// as a request would find it. An ended session's activity changes nothing.
    pub async fn record_activity(&self, live: &Arc<LiveSession>) -> anyhow::Result<()> {
        if self.view.ended_reason(&live.id).is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        if self.timeouts.end_if_expired(live, now).await?.is_some() {
            return Ok(());
        }
        self.activity.touch(live, true);
        if let Some(idle) = self
            .policy
            .deadlines(live.created_at, live.last_activity_at())
            .idle
        {
            self.hub.extended(&live.id, idle, now);
        }
        Ok(())
    }

    /// Tabs connected to this node.
    pub fn count(&self) -> usize {
        self.hub.tab_count()
    }

    /// Closes every tab on this node with `code` (the node is going away),
    /// and every tab that connects from now on.
    pub fn close_all(&self, code: u16, reason: &'static str) {
        self.hub.close_all(code, reason);
    }

    /// Waits until every tab's socket has finished (its close frame sent),
    /// or `limit` passed. Returns how many were still open.
    pub async fn wait_closed(&self, limit: std::time::Duration) -> usize {
        self.hub.wait_closed(limit).await
    }
}
