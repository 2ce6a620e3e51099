//! The event feed: the log as other systems follow it — a page past a
//! cursor, the same live ([`Following`], behind the SSE stream), the log's
//! extent and the webhooks' progress — and the webhook endpoints'
//! management. Every call checks the operator first (`read_events` to read,
//! an admin to change endpoints), through the console's [`Operator`], so a
//! service token is one more kind of operator, not one more rule here.
//!
//! Retention bounds the feed: rows older than `BOUNCER_RETENTION` are
//! deleted by the sweeper, and a cursor whose next event is gone is refused
//! with [`FeedError::Gone`] rather than silently skipping what it missed.

use std::sync::Arc;

use bouncer_wire::Permission;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    console::{ConsoleError, Operator},
    ids::{SessionId, UserId},
    log::{Event, EventKind, EventLog},
    messages::{self, UserFacing},
    tailer::{Batch, Tailer, POLL_INTERVAL},
    users::Users,
    webhooks::{Endpoint, NewEndpoint, Webhooks},
};

/// The most events one page holds.
pub const MAX_PAGE: u32 = 1000;
/// A page's size when the caller names none.
pub const DEFAULT_PAGE: u32 = 100;
/// The most events one step of a live stream reads.
const STREAM_STEP: i64 = 200;

const NO_READ_EVENTS: &str = "Reading events needs the read_events permission.";

/// Why a feed call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not allowed, or no such endpoint.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// The cursor's next event is past retention: `oldest` is the oldest
    /// event kept.
    #[error("the events after {after} are no longer kept")]
    Gone { after: i64, oldest: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl UserFacing for FeedError {
    fn code(&self) -> &'static str {
        match self {
            FeedError::Console(e) => e.code(),
            FeedError::Gone { .. } => "gone",
            FeedError::Invalid(_) => "bad_request",
            FeedError::Store(_) => "internal",
        }
    }

    fn user_message(&self) -> String {
        match self {
            FeedError::Console(e) => e.user_message(),
            FeedError::Gone { oldest, .. } => format!(
                "Events before {oldest} are no longer kept (BOUNCER_RETENTION); \
                 start again from {} or later.",
                oldest - 1
            ),
            FeedError::Invalid(why) => why.clone(),
            FeedError::Store(_) => messages::INTERNAL.to_owned(),
        }
    }
}

/// The log's extent and the endpoints' progress.
#[derive(Debug, Clone)]
pub struct FeedStatus {
    /// The oldest `seq` kept, `None` when the log is empty.
    pub oldest: Option<i64>,
    /// The newest `seq` (0 when empty).
    pub newest: i64,
    pub webhooks: Vec<Endpoint>,
}

/// The feed. Cheap to clone; built by the engine.
#[derive(Debug, Clone)]
pub struct Feed {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) log: EventLog,
    pub(crate) users: Users,
    pub(crate) webhooks: Webhooks,
    pub(crate) tailer: Tailer,
    /// Cancelled when the node stops: every live feed ends, so a stream
    /// does not hold the node's shutdown open.
    pub(crate) stopping: CancellationToken,
}

impl Feed {
    /// Ends every live feed (a stopping node; the readers reconnect, to
    /// any node, with their `Last-Event-ID`).
    pub fn close_streams(&self) {
        self.stopping.cancel();
    }

    /// Whether `op` may read the feed.
    pub fn authorize(&self, op: &Operator<'_>) -> Result<(), FeedError> {
        Ok(op.require_permission(Permission::ReadEvents, NO_READ_EVENTS)?)
    }

    /// Where a reader asking for the events after `after` starts: the
    /// cursor itself, refused when the event right after it is gone; with
    /// no cursor, the end of the log (`from_end`, a live stream) or just
    /// before the oldest event kept (a page).
    async fn cursor(&self, after: Option<i64>, from_end: bool) -> Result<i64, FeedError> {
        let oldest = self.log.first_seq().await?;
        match after {
            Some(after) if after < 0 => Err(FeedError::Invalid(format!(
                "after must be a sequence number of 0 or more, not {after}"
            ))),
            // `oldest - 1` is the cursor of a reader that saw everything
            // before the oldest kept event; anything older missed some.
            Some(after) => match oldest {
                Some(oldest) if after < oldest - 1 => Err(FeedError::Gone { after, oldest }),
                _ => Ok(after),
            },
            None if from_end => Ok(self.log.last_seq().await?),
            None => Ok(oldest.map_or(0, |oldest| oldest - 1)),
        }
    }

    /// Up to `limit` events after `after` (from the oldest kept without
    /// one), in order, and the cursor to ask with next.
    pub async fn page(
        &self,
        op: &Operator<'_>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Event>, i64), FeedError> {
        self.authorize(op)?;
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(FeedError::Invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, not {limit}"
            )));
        }
        let after = self.cursor(after, false).await?;
        let (mut events, last, _) = self.log.read_after(after, i64::from(limit)).await?;
        events.retain(|event| event.kind.is_public());
        Ok((events, last))
    }

    /// The live feed for `op` after `after` (from now without one).
    pub async fn follow(
        &self,
        op: &Operator<'_>,
        after: Option<i64>,
    ) -> Result<Following, FeedError> {
        self.authorize(op)?;
        // Subscribed before the cursor is read: nothing committed in
        // between goes by unannounced.
        let wake = self.tailer.subscribe();
        let cursor = self.cursor(after, true).await?;
        Ok(Following {
            log: self.log.clone(),
            users: self.users.clone(),
            wake,
            cursor,
            session: op.own_session().cloned(),
            user: op.person().map(|user| user.id.clone()),
            closing: false,
            stopping: self.stopping.clone(),
        })
    }

    /// The log's extent and every endpoint's progress.
    pub async fn status(&self, op: &Operator<'_>) -> Result<FeedStatus, FeedError> {
        self.authorize(op)?;
        Ok(FeedStatus {
            oldest: self.log.first_seq().await?,
            newest: self.log.last_seq().await?,
            webhooks: self.webhooks.list().await?,
        })
    }

    /// Adds an endpoint (admins, the command line), receiving the events
    /// committed from now on. The URL and the secret are the caller's to
    /// check (the edge knows HTTP and the signature scheme).
    pub async fn add_webhook(
        &self,
        op: &Operator<'_>,
        new: NewEndpoint,
    ) -> Result<Endpoint, FeedError> {
        op.require_admin()?;
        if new.events.is_empty() {
            return Err(FeedError::Invalid(
                "name at least one event type to deliver".to_owned(),
            ));
        }
        let after = self.log.last_seq().await?;
        Ok(self.webhooks.add(&new, after, self.clock.now()).await?)
    }

    /// Every endpoint, with its progress.
    pub async fn webhooks(&self, op: &Operator<'_>) -> Result<Vec<Endpoint>, FeedError> {
        self.authorize(op)?;
        Ok(self.webhooks.list().await?)
    }

    /// The endpoint `id`.
    pub async fn webhook(&self, op: &Operator<'_>, id: &str) -> Result<Endpoint, FeedError> {
        self.authorize(op)?;
        self.webhooks
            .find(id)
            .await?
            .ok_or(FeedError::Console(ConsoleError::NotFound))
    }

    /// Removes the endpoint `id` (admins, the command line); a delivery in
    /// progress stops within a second.
    pub async fn remove_webhook(&self, op: &Operator<'_>, id: &str) -> Result<(), FeedError> {
        op.require_admin()?;
        match self.webhooks.remove(id).await? {
            true => Ok(()),
            false => Err(FeedError::Console(ConsoleError::NotFound)),
        }
    }
}

/// A live feed: the events past a cursor as they are committed, until the
/// session behind it ends or its person loses `read_events`.
#[derive(Debug)]
pub struct Following {
    log: EventLog,
    users: Users,
    /// The tailer's announcements: an event was committed (on any node).
    wake: broadcast::Receiver<Arc<Batch>>,
    cursor: i64,
    /// The session whose ending closes the stream.
    session: Option<SessionId>,
    /// The person whose permission is checked again when their account changes.
    user: Option<UserId>,
    /// Set once the stream must end after what it has returned.
    closing: bool,
    stopping: CancellationToken,
}

impl Following {
    /// The `seq` of the last event returned (or the starting cursor).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next events past the cursor, waiting until there are some;
    /// `None` once the stream must close.
    pub async fn next(&mut self) -> anyhow::Result<Option<Vec<Event>>> {
        loop {
            if self.closing || self.stopping.is_cancelled() {
                return Ok(None);
            }
            let (events, last, _) = self.log.read_after(self.cursor, STREAM_STEP).await?;
            self.cursor = last;
            if !events.is_empty() {
                let mut shown = Vec::with_capacity(events.len());
                for event in events {
                    self.notice(event.kind, &event.user_id, event.session_id.as_ref())
                        .await?;
                    let seq = event.seq;
                    shown.push(event);
                    if self.closing {
                        // Nothing committed after the reader's own ending.
                        self.cursor = seq;
                        break;
                    }
                }
                return Ok(Some(shown));
            }
            tokio::select! {
                batch = self.wake.recv() => match batch {
                    Ok(batch) => self.notice_batch(&batch).await?,
                    // Missed announcements: the log read covers them.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Ok(None),
                },
                _ = tokio::time::sleep(POLL_INTERVAL * 4) => {}
                _ = self.stopping.cancelled() => return Ok(None),
            }
        }
    }

    /// Acts on a batch's news about the reader at once when the stream is
    /// too far behind to read it next: it still closes the moment its
    /// session ends. Otherwise the next read shows the event, then closes.
    async fn notice_batch(&mut self, batch: &Batch) -> anyhow::Result<()> {
        if let Some(session) = &self.session {
            let own = batch
                .ended
                .iter()
                .find(|ended| &ended.session_id == session);
            // Close at once unless the next read reaches the ending itself,
            // which the reader is then shown last.
            if own.is_some_and(|ended| ended.seq - self.cursor > STREAM_STEP) {
                self.closing = true;
            }
        }
        for event in &batch.others {
            if event.seq - self.cursor > STREAM_STEP {
                self.notice(event.kind, &event.user_id, None).await?;
            }
        }
        Ok(())
    }

    async fn notice(
        &mut self,
        kind: EventKind,
        user: &UserId,
        session: Option<&SessionId>,
    ) -> anyhow::Result<()> {
        if kind == EventKind::SessionEnded && session.is_some() && session == self.session.as_ref()
        {
            self.closing = true;
        }
        let about_reader = self.user.as_ref() == Some(user);
        if about_reader
            && matches!(
                kind,
                EventKind::UserRoleChanged | EventKind::UserDeactivated
            )
        {
            let still = self.users.find_by_id(user).await?;
            if !still.is_some_and(|user| crate::authz::holds(&user, Permission::ReadEvents)) {
                self.closing = true;
            }
        }
        Ok(())
    }
}
