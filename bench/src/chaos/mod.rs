//! The chaos run (`--only chaos`): two nodes on one PostgreSQL database end
//! thousands of sessions while the things that can go wrong in production
//! go wrong on purpose, and then every ending is checked.
//!
//! The sessions are seeded over many users; a few users are *kept* (nothing
//! ends their sessions) so that a spurious ending would show. Tabs behave
//! like the browser's watcher ([`crate::watcher`]) and are spread over both
//! nodes, some sessions with a tab on each. The revocations — single-session
//! `DELETE`, per-user revoke and bulk revoke, through either node's API —
//! are spread over a fixed time while:
//!
//! - random tabs' sockets are cut; they resync and reconnect after the
//!   watcher's backoff;
//! - node A is restarted (SIGTERM, wait, start on the same port): its tabs
//!   lose their sockets and reconnect, its revocations go to B meanwhile;
//! - the nodes' PostgreSQL `LISTEN` connections are terminated.
//!
//! The verdict, after the tabs had time to settle: every ended session's
//! cookie is refused by both nodes; every tab of an ended session was told
//! (`session_ended`) or resynced (a 401 from `/api/auth/me`) — none lost;
//! no tab or cookie of a kept session was ended (none spurious); every kept
//! tab is connected again. Any miss fails the run, at smoke scale too.
//!
//! # Layout
//!
//! - this file: the scale, the world (seeded sessions, two nodes, tabs) and
//!   the run from seeding to verdict;
//! - `plan.rs`: which sessions end by which kind of call;
//! - `revocations.rs`: the calls, paced and retried across nodes;
//! - `faults.rs`: the restarts, listener kills and cut sockets;
//! - `verdict.rs`: told, resynced, lost, spurious — and the cookies' answers;
//! - `figures.rs`: the report's row and section.

mod faults;
mod figures;
mod plan;
mod revocations;
mod verdict;

use std::{
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use anyhow::bail;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::sync::watch;

use crate::{
    node::Node,
    postgres::Database,
    report::Report,
    seed,
    watcher::{self, Browser, WatchedTab},
};
use faults::{cut_tabs, faults};
use figures::{Figures, Measured};
use plan::{plan, sessions_of};
use revocations::revoke;
use verdict::{check_cookies, Outcome};

/// A tab still open this long after its session's revocation was answered,
/// without having been told, is counted as *late* (the push missed it; only
/// a resync could catch it). The tailer polls every 250 ms, so a push is
/// never legitimately this slow.
const LATE_AFTER: Duration = Duration::from_secs(5);

/// How long tabs may take, after the last revocation and the last fault,
/// to learn their endings and reconnect. The watcher's backoff tops out at
/// 12 s.
const SETTLE_WITHIN: Duration = Duration::from_secs(45);

/// The size of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    users: usize,
    /// Users whose sessions nothing ends.
    kept_users: usize,
    sessions_per_user: usize,
    /// Tabs, one per session, on the first sessions (alternating nodes).
    tabs: usize,
    /// Of those sessions, how many also have a tab on the other node.
    second_tabs: usize,
    /// Users per bulk revoke.
    bulk_batch: usize,
    /// The revocations are spread evenly over this long.
    spread_over: Duration,
    /// Revocation calls in flight at once.
    in_flight: usize,
    restarts: usize,
    listener_kills: usize,
    /// One random tab's socket is cut this often.
    cut_every: Duration,
}

impl Scale {
    pub fn of(smoke: bool) -> Scale {
        if smoke {
            Scale {
                users: 40,
                kept_users: 4,
                sessions_per_user: 10,
                tabs: 150,
                second_tabs: 30,
                bulk_batch: 4,
                spread_over: Duration::from_secs(8),
                in_flight: 4,
                restarts: 1,
                listener_kills: 1,
                cut_every: Duration::from_millis(20),
            }
        } else {
            Scale {
                users: 1_200,
                kept_users: 100,
                sessions_per_user: 10,
                tabs: 3_000,
                second_tabs: 500,
                bulk_batch: 20,
                spread_over: Duration::from_secs(60),
                in_flight: 8,
                restarts: 2,
                listener_kills: 3,
                cut_every: Duration::from_millis(10),
            }
        }
    }
}

/// The seeded world and the two nodes' ports.
struct World {
    sessions: Vec<seed::Seeded>,
    user_ids: Vec<String>,
    /// Whether each session is planned to end.
    ends: Vec<bool>,
    port_a: u16,
    port_b: u16,
    /// Cleared while node A restarts, so calls go to B.
    a_up: AtomicBool,
    admin: reqwest::Client,
}

impl World {
    fn node_url(&self, through_a: bool, path: &str) -> String {
        let port = if through_a { self.port_a } else { self.port_b };
        format!("http://127.0.0.1:{port}{path}")
    }
}

/// One tab and what it belongs to.
struct PlacedTab {
    session: usize,
    on_a: bool,
    tab: WatchedTab,
}

pub async fn run(
    server: &std::path::Path,
    postgres: &str,
    scale: &Scale,
    seed_value: Option<u64>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let seed_value = seed_value.unwrap_or_else(|| rand::thread_rng().gen());
    println!("chaos: random seed {seed_value} (--seed {seed_value} replays the plan)");
    let mut rng = StdRng::seed_from_u64(seed_value);

    let database = Database::create(postgres, "chaos").await?;
    let result = run_on(server, &database, scale, &mut rng).await;
    // Dropped whatever happened, so a failed run leaves no database behind.
    let dropped = database.drop_database().await;
    let measured = result?;
    dropped?;
    Figures {
        scale,
        measured: &measured,
        seed_value,
        total: started.elapsed(),
    }
    .report(report);
    Ok(())
}

/// The run itself, on a fresh database; [`run`] reports it.
async fn run_on(
    server: &std::path::Path,
    database: &Database,
    scale: &Scale,
    rng: &mut StdRng,
) -> anyhow::Result<Measured> {
    let pool = seed::open(database.url()).await?;
    let users = seed::users(&pool, scale.users).await?;
    let sessions = seed::sessions(&pool, &users, scale.sessions_per_user).await?;
    pool.close().await;
    let user_ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let calls = plan(scale, &sessions, rng);
    let mut ends = vec![false; sessions.len()];
    for call in &calls {
        for session in sessions_of(call, &sessions) {
            ends[session] = true;
        }
    }

    let mut a = Node::start(server, database.url()).await?;
    let b = Node::start(server, database.url()).await?;
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let login = admin
        .post(b.url("/api/auth/login"))
        .json(&serde_json::json!({ "username": seed::ADMIN, "password": seed::ADMIN_PASSWORD }))
        .send()
        .await?;
    if login.status() != 200 {
        bail!("the admin login answered {}", login.status());
    }
    let world = World {
        sessions,
        user_ids,
        ends,
        port_a: a.port,
        port_b: b.port,
        a_up: AtomicBool::new(true),
        admin,
    };

    let (stop_tabs, stop) = watch::channel(false);
    let browser = Browser {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        stop,
    };
    let tabs = open_tabs(scale, &world, &browser).await?;
    let connected_at = Instant::now();

    // The run: revocations, and the faults beside them.
    let (stop_cuts, cuts_stopped) = watch::channel(false);
    let ((answered, (restarts, kills)), ()) = tokio::join!(
        async {
            let result = tokio::join!(
                revoke(scale, &world, calls),
                faults(scale, &world, &mut a, database)
            );
            let _ = stop_cuts.send(true);
            result
        },
        cut_tabs(scale, &tabs, cuts_stopped, rng)
    );
    let answered = answered?;
    let (restarts, kills) = (restarts?, kills?);
    let revoked_at = Instant::now();

    let settled = settle(&world, &tabs).await;
    let cookies = check_cookies(&world).await?;
    let outcome = Outcome::tally(&world.sessions, &world.ends, &tabs, &answered);
    let _ = stop_tabs.send(true);
    drop((a, b));
    Ok(Measured {
        answered,
        restarts,
        kills,
        outcome,
        cookies,
        settled,
        revoking: revoked_at - connected_at,
    })
}

/// Opens the tabs, alternating nodes (a session's second tab goes to the
/// other node), and waits until each has had its `hello`.
async fn open_tabs(
    scale: &Scale,
    world: &World,
    browser: &Browser,
) -> anyhow::Result<Vec<PlacedTab>> {
    let mut placements = Vec::new();
    for session in 0..scale.tabs.min(world.sessions.len()) {
        placements.push((session, session % 2 == 0));
    }
    for session in 0..scale.second_tabs.min(placements.len()) {
        placements.push((session, session % 2 != 0));
    }
    let opened = watcher::open_all(
        browser,
        placements.iter().map(|(session, on_a)| {
            let port = if *on_a { world.port_a } else { world.port_b };
            (port, world.sessions[*session].cookie.clone())
        }),
        8,
        256,
    )
    .await?;
    Ok(placements
        .into_iter()
        .zip(opened)
        .map(|((session, on_a), tab)| PlacedTab { session, on_a, tab })
        .collect())
}

/// Waits until every tab of an ended session knows and every tab of a kept
/// session is connected, or [`SETTLE_WITHIN`] passed; returns how long it took.
async fn settle(world: &World, tabs: &[PlacedTab]) -> Duration {
    let started = Instant::now();
    while started.elapsed() < SETTLE_WITHIN {
        let done = tabs.iter().all(|t| {
            if world.ends[t.session] {
                t.tab.ended()
            } else {
                t.tab.connected()
            }
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
