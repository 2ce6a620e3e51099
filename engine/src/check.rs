//! The request-path check: how the session behind a cookie stands, and whose
//! it is, answered from this node's view in the steady state. Only a secret
//! this node has never seen costs queries (its session, and its user's
//! identity when it is live); a session past a deadline is ended here, as
//! the request finds it.

use std::sync::Arc;

use bouncer_wire::Reason;

use crate::{
    activity::ActivityWriter,
    clock::Clock,
    identity::Identity,
    ids::SecretHash,
    sessions::{Sessions, ROTATION_GRACE},
    timeouts::Timeouts,
    users::Users,
    view::{LiveSession, Lookup, View},
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

/// The check. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Check {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) view: View,
    pub(crate) sessions: Sessions,
    pub(crate) users: Users,
    pub(crate) timeouts: Timeouts,
    pub(crate) activity: ActivityWriter,
}

impl Check {
    /// The view the check reads.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The answer from memory alone, when the view knows the secret and the
    /// session is not past a deadline: the whole check, with no await, for
    /// the steady state. `None` means "ask [`Check::check`]".
    pub fn check_cached(&self, secret: &SecretHash, activity: bool) -> Option<Visitor> {
        let visitor = match self.view.lookup(secret, self.clock.now())? {
            Lookup::Live(live) => live,
            Lookup::Ended(reason) => return Some(Visitor::Ended(reason)),
            Lookup::Unknown => return Some(Visitor::Anonymous),
        };
        if self.timeouts.past_deadline(&visitor, self.clock.now()) {
            return None;
        }
        self.activity.touch(&visitor, activity);
        Some(Visitor::Live(visitor))
    }

    /// How the session behind `secret` stands, recording the request (and
    /// user activity when `activity`) when it is live.
    pub async fn check(&self, secret: &SecretHash, activity: bool) -> anyhow::Result<Visitor> {
        let now = self.clock.now();
        let lookup = match self.view.lookup(secret, now) {
            Some(lookup) => lookup,
            None => {
                let found = self
                    .sessions
                    .find_by_secret(secret, now, ROTATION_GRACE)
                    .await?;
                let identity = match &found {
                    Some(found) if found.row.ended_at.is_none() => self
                        .users
                        .find_by_id(&found.row.owner()?)
                        .await?
                        .map(|user| Identity::of(&user)),
                    _ => None,
                };
                self.view.learn(secret, found, identity)?
            }
        };
        let live = match lookup {
            Lookup::Live(live) => live,
            Lookup::Ended(reason) => return Ok(Visitor::Ended(reason)),
            Lookup::Unknown => return Ok(Visitor::Anonymous),
        };
        if let Some(reason) = self
            .timeouts
            .end_if_expired(&live, self.clock.now())
            .await?
        {
            return Ok(Visitor::Ended(reason));
        }
        self.activity.touch(&live, activity);
        Ok(Visitor::Live(live))
    }
}
