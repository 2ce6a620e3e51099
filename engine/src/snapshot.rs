//! Describing a session as the people who look at it see it: its stored
//! row merged with this node's fresher in-memory timestamps, how many tabs it
//! has open here, and its deadlines. The HTTP edge turns a
//! [`SessionSnapshot`] into the API's `Session` object; the engine never
//! builds JSON shapes itself.

use std::sync::Arc;

use crate::{
    clock::Timestamp,
    hub::Hub,
    ids::{SessionId, UserId},
    policy::{Deadlines, Policy},
    sessions::SessionRow,
    view::{LiveSession, View},
};

/// A point-in-time description of a session.
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
    /// Tabs connected to this node (on SQLite, the only node).
    pub online_tabs: u32,
    /// When it runs out of time (`None` where that timeout is off).
    pub deadlines: Deadlines,
}

/// Builds snapshots. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Snapshots {
    policy: Arc<Policy>,
    view: View,
    hub: Hub,
}

impl Snapshots {
    pub fn new(policy: Arc<Policy>, view: View, hub: Hub) -> Self {
        Snapshots { policy, view, hub }
    }

    /// Describes a session this node holds in memory.
    pub fn of_live(&self, live: &LiveSession) -> SessionSnapshot {
        self.snapshot(
            live.id.clone(),
            live.user_id.clone(),
            live.created_at,
            (live.last_seen_at(), live.last_activity_at()),
            (&live.ip, &live.user_agent, &live.device),
        )
    }

    /// Describes a stored session, preferring this node's in-memory
    /// timestamps (the row may in turn carry activity from another node,
    /// which the memory takes in).
    pub fn of_row(&self, row: SessionRow) -> anyhow::Result<SessionSnapshot> {
        let id = row.session_id()?;
        if let Some(live) = self.view.by_id(&id) {
            live.absorb(row.last_seen_at, row.last_activity_at);
            return Ok(self.of_live(&live));
        }
        Ok(self.snapshot(
            id,
            row.owner()?,
            Timestamp::from_millis(row.created_at),
            (
                Timestamp::from_millis(row.last_seen_at),
                Timestamp::from_millis(row.last_activity_at),
            ),
            (&row.ip, &row.user_agent, &row.device),
        ))
    }

    /// Describes stored sessions, leaving out those past a deadline that no
    /// request or sweep has ended yet: a list of live sessions shows only
    /// live ones.
    pub fn of_rows(
        &self,
        rows: Vec<SessionRow>,
        now: Timestamp,
    ) -> anyhow::Result<Vec<SessionSnapshot>> {
        let mut snapshots = Vec::with_capacity(rows.len());
        for row in rows {
            let snapshot = self.of_row(row)?;
            if self
                .policy
                .expired(snapshot.created_at, snapshot.last_activity_at, now)
                .is_none()
            {
                snapshots.push(snapshot);
            }
        }
        Ok(snapshots)
    }

    fn snapshot(
        &self,
        id: SessionId,
        user_id: UserId,
        created_at: Timestamp,
        (last_seen_at, last_activity_at): (Timestamp, Timestamp),
        (ip, user_agent, device): (&str, &str, &str),
    ) -> SessionSnapshot {
        SessionSnapshot {
            online_tabs: self.hub.online_tabs(&id),
            deadlines: self.policy.deadlines(created_at, last_activity_at),
            id,
            user_id,
            created_at,
            last_seen_at,
            last_activity_at,
            ip: ip.to_owned(),
            user_agent: user_agent.to_owned(),
            device: device.to_owned(),
        }
    }
}
