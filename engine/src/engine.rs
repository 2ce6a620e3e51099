//! [`Engine`]: the one handle the HTTP edge and the command line hold. It
//! builds the stores and services on one database and hands out the
//! services — each a small type with one job — plus the request-path check
//! itself. It holds no logic of its own and exposes no store, pool or map.

use std::sync::Arc;

use crate::{
    accounts::Accounts,
    activity::ActivityWriter,
    change::Changes,
    check::{Check, Visitor},
    clock::{Clock, Timestamp},
    console::Console,
    credentials::Credentials,
    db::{Backend, Pool},
    deadlines::Deadlines,
    delivery::{Delivery, Transport},
    devices::Devices,
    feed::Feed,
    health::Health,
    hub::Hub,
    ids::SecretHash,
    leases::Leases,
    log::EventLog,
    login::Login,
    measures::{Gauges, ListenerState},
    password::PasswordHasher,
    policy::Policy,
    privacy::approximate_ip,
    pusher::Pusher,
    service_tokens::ServiceTokens,
    sessions::Sessions,
    snapshot::Snapshots,
    sweeper::Sweeper,
    tabs::Tabs,
    tailer::Tailer,
    throttle::{Limits, LoginThrottle},
    timeouts::Timeouts,
    tokens::TokenStore,
    users::{UserRecord, Users},
    view::{LiveSession, View},
    webhooks::Webhooks,
    workers::{Loops, Workers},
};

/// The session engine. Cheap to clone: every field is shared.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    policy: Arc<Policy>,
    /// Where "now" comes from (a manual clock in tests).
    clock: Arc<dyn Clock>,
    users: Users,
    sessions: Sessions,
    log: EventLog,
    check: Check,
    login: Login,
    devices: Devices,
    accounts: Accounts,
    console: Console,
    tabs: Tabs,
    snapshots: Snapshots,
    tokens: ServiceTokens,
    feed: Feed,
    /// The background loops' parts, until [`Engine::start_workers`].
    tailer: Tailer,
    pusher: Pusher,
    deadlines: Deadlines,
    activity: ActivityWriter,
    sweeper: Sweeper,
    delivery: Delivery,
    /// Where other nodes' endings are announced (PostgreSQL's LISTEN), if shared.
    listen_url: Option<String>,
    /// Whether that LISTEN connection is up.
    listener_state: ListenerState,
    /// The readiness checks.
    health: Health,
    /// The levels the metrics read at each scrape.
    gauges: Gauges,
}

/// Where the sign-in that replaced a session came from, as shown to the
/// person it displaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displacement {
    pub device: String,
    /// Approximate: the host part is hidden.
    pub ip: String,
    pub at: String,
}

impl Engine {
    /// Builds the engine on a migrated database. `hash_limit` bounds the number
    /// of argon2 hashes computed at once. With a `listen_url` (PostgreSQL
    /// shared by several nodes) the workers include a listener for the other
    /// nodes' endings.
    pub async fn new(
        pool: Pool,
        policy: Policy,
        clock: Arc<dyn Clock>,
        hash_limit: usize,
        listen_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let backend = Backend::of(&*pool.acquire().await.map_err(anyhow::Error::new)?);
        let policy = Arc::new(policy);
        let users = Users::new(pool.clone());
        let sessions = Sessions::new(pool.clone());
        let log = EventLog::new(pool.clone(), backend);
        let keyed = users.fill_missing_keys().await?;
        if keyed > 0 {
            tracing::info!(keyed, "Gave older usernames their uniqueness keys");
        }
        let rewritten = sessions.apply_privacy(policy.ip_privacy).await?
            + log.apply_privacy(policy.ip_privacy).await?;
        if rewritten > 0 {
            tracing::info!(
                rewritten,
                privacy = policy.ip_privacy.as_str(),
                "Rewrote stored addresses"
            );
        }
        let view = View::default();
        let hub = Hub::new(policy.tab_limits);
        let tailer =
            Tailer::start_at_end(log.clone(), view.clone(), users.clone(), Arc::clone(&clock))
                .await?;
        let listener_state = ListenerState::default();
        let listener = listen_url.as_ref().map(|_| listener_state.clone());
        let health = Health {
            pool: pool.clone(),
            listener: listener.clone(),
        };
        let hasher = PasswordHasher::new(hash_limit);
        let gauges = Gauges {
            hub: hub.clone(),
            view: view.clone(),
            pool: pool.clone(),
            listener,
            last_read: tailer.last_read(),
            hashes: hasher.clone(),
        };
        let tokens = ServiceTokens::new(Arc::clone(&clock), TokenStore::new(pool.clone()));
        let webhooks = Webhooks::new(pool.clone());
        let delivery = Delivery {
            webhooks: webhooks.clone(),
            leases: Leases::new(pool.clone(), backend),
            log: log.clone(),
            tailer: tailer.clone(),
            clock: Arc::clone(&clock),
            node: crate::delivery::node_name(),
        };
        let feed = Feed {
            clock: Arc::clone(&clock),
            log: log.clone(),
            users: users.clone(),
            webhooks,
            tailer: tailer.clone(),
            stopping: tokio_util::sync::CancellationToken::new(),
        };
        let changes = Changes::new(pool, Arc::clone(&clock), tailer.clone());
        let timeouts = Timeouts::new(
            Arc::clone(&policy),
            sessions.clone(),
            view.clone(),
            changes.clone(),
        );
        let activity = ActivityWriter::new(
            sessions.clone(),
            Arc::clone(&clock),
            policy.last_seen_write_interval,
        );
        let deadlines = Deadlines::new(
            Arc::clone(&policy),
            Arc::clone(&clock),
            hub.clone(),
            view.clone(),
            timeouts.clone(),
        );
        let snapshots = Snapshots::new(Arc::clone(&policy), view.clone(), hub.clone());
        let credentials = Credentials::new(
            Arc::clone(&clock),
            users.clone(),
            hasher,
            Arc::new(LoginThrottle::new(Limits::default())),
        );
        let accounts = Accounts {
            users: users.clone(),
            credentials: credentials.clone(),
            changes: changes.clone(),
        };
        let shared = Shared {
            check: Check {
                clock: Arc::clone(&clock),
                view: view.clone(),
                sessions: sessions.clone(),
                users: users.clone(),
                timeouts: timeouts.clone(),
                activity: activity.clone(),
            },
            login: Login {
                policy: Arc::clone(&policy),
                credentials: credentials.clone(),
                users: users.clone(),
                sessions: sessions.clone(),
                clock: Arc::clone(&clock),
                view: view.clone(),
                changes: changes.clone(),
                snapshots: snapshots.clone(),
            },
            devices: Devices {
                policy: Arc::clone(&policy),
                clock: Arc::clone(&clock),
                users: users.clone(),
                sessions: sessions.clone(),
                credentials,
                changes: changes.clone(),
                snapshots: snapshots.clone(),
            },
            console: Console {
                clock: Arc::clone(&clock),
                users: users.clone(),
                sessions: sessions.clone(),
                log: log.clone(),
                hub: hub.clone(),
                changes,
                accounts: accounts.clone(),
                snapshots: snapshots.clone(),
            },
            tabs: Tabs {
                policy: Arc::clone(&policy),
                clock: Arc::clone(&clock),
                hub: hub.clone(),
                view: view.clone(),
                deadlines: deadlines.clone(),
                timeouts: timeouts.clone(),
                activity: activity.clone(),
            },
            pusher: Pusher::new(hub.clone(), view.clone(), log.clone(), Arc::clone(&policy)),
            sweeper: Sweeper {
                policy: Arc::clone(&policy),
                clock: Arc::clone(&clock),
                sessions: sessions.clone(),
                log: log.clone(),
                view,
                timeouts,
            },
            accounts,
            snapshots,
            tokens,
            feed,
            delivery,
            tailer,
            deadlines,
            activity,
            listen_url,
            listener_state,
            health,
            gauges,
            users,
            sessions,
            log,
            policy,
            clock,
        };
        Ok(Engine {
            shared: Arc::new(shared),
        })
    }

    /// Starts the background loops; the caller owns them and stops them.
    /// No webhook is delivered (see [`Engine::start_workers_delivering`]).
    pub fn start_workers(&self) -> Workers {
        self.workers(None)
    }

    /// Starts the background loops, webhook delivery included, whose
    /// requests `transport` sends.
    pub fn start_workers_delivering(&self, transport: Arc<dyn Transport>) -> Workers {
        self.workers(Some(transport))
    }

    fn workers(&self, transport: Option<Arc<dyn Transport>>) -> Workers {
        let shared = &self.shared;
        Workers::start(Loops {
            tailer: shared.tailer.clone(),
            pusher: shared.pusher.clone(),
            deadlines: shared.deadlines.clone(),
            activity: shared.activity.clone(),
            sweeper: shared.sweeper.clone(),
            listen_url: shared.listen_url.clone(),
            listener_state: shared.listener_state.clone(),
            delivery: transport.map(|transport| (shared.delivery.clone(), transport)),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The request-path check from memory alone (see [`Check::check_cached`]).
    pub fn check_cached(&self, secret: &SecretHash, activity: bool) -> Option<Visitor> {
        self.shared.check.check_cached(secret, activity)
    }

    /// The request-path check (see [`Check::check`]).
    pub async fn check(&self, secret: &SecretHash, activity: bool) -> anyhow::Result<Visitor> {
        self.shared.check.check(secret, activity).await
    }

    /// The account behind a live session (`None` if it was deleted).
    pub async fn user_of(&self, live: &LiveSession) -> anyhow::Result<Option<UserRecord>> {
        self.shared.users.find_by_id(&live.user_id).await
    }

    /// For a browser whose session was replaced by a newer sign-in
    /// (`signed_in_elsewhere`): where that sign-in came from, read from the
    /// log by the browser's own (ended) cookie.
    pub async fn displaced_by(&self, secret: &SecretHash) -> anyhow::Result<Option<Displacement>> {
        let Some(id) = self.shared.sessions.ended_id_by_secret(secret).await? else {
            return Ok(None);
        };
        let detail = self.shared.log.detail_of(&id).await?;
        Ok(detail.and_then(|d| {
            Some(Displacement {
                device: d.get("device")?.as_str()?.to_owned(),
                ip: approximate_ip(d.get("ip")?.as_str()?),
                at: d.get("at")?.as_str()?.to_owned(),
            })
        }))
    }

    pub fn login(&self) -> &Login {
        &self.shared.login
    }

    pub fn devices(&self) -> &Devices {
        &self.shared.devices
    }

    pub fn accounts(&self) -> &Accounts {
        &self.shared.accounts
    }

    pub fn console(&self) -> &Console {
        &self.shared.console
    }

    pub fn tabs(&self) -> &Tabs {
        &self.shared.tabs
    }

    pub fn snapshots(&self) -> &Snapshots {
        &self.shared.snapshots
    }

    /// The readiness checks (database, migrations, listener).
    pub fn health(&self) -> &Health {
        &self.shared.health
    }

    /// Sets the metrics' gauges to their levels now (a scrape calls it).
    pub fn record_gauges(&self) {
        self.shared.gauges.record();
    }

    /// Service tokens: made, listed, revoked, and checked on the admin API.
    pub fn tokens(&self) -> &ServiceTokens {
        &self.shared.tokens
    }

    /// The event feed and the webhook endpoints.
    pub fn feed(&self) -> &Feed {
        &self.shared.feed
    }

    /// The in-memory view, for tests that check it against the database.
    #[cfg(feature = "test-util")]
    pub fn view(&self) -> &View {
        self.shared.check.view()
    }

    /// Reads and applies the event log now (the command line wrote to it:
    /// see the server's wake socket), before answering.
    pub async fn apply_log(&self) -> anyhow::Result<()> {
        self.shared.tailer.catch_up().await.map(|_| ())
    }

    /// One pass of the deadline clock (the workers run it on their own;
    /// tests drive it).
    pub async fn check_deadlines(&self) -> anyhow::Result<()> {
        self.shared.deadlines.check_due().await
    }

    /// One sweep (the workers run it every minute; tests drive it).
    pub async fn sweep(&self) -> anyhow::Result<()> {
        self.shared.sweeper.sweep().await
    }
}
