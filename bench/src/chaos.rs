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

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use tokio::sync::watch;

use crate::{
    node::Node,
    postgres::Database,
    report::{Report, Row, Section},
    seed,
    stats::Samples,
    watcher::{self, Browser, Heard, TabLog, WatchedTab},
};

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

/// One revocation call.
#[derive(Debug, Clone)]
enum Call {
    /// `DELETE /api/admin/sessions/{id}`.
    EndSession(usize),
    /// `POST /api/admin/users/{id}/revoke`.
    RevokeUser(usize),
    /// `POST /api/admin/revoke` `{"user_ids": […]}`.
    RevokeUsers(Vec<usize>),
}

/// What one call did.
#[derive(Debug, Clone)]
struct Answered {
    call: Call,
    /// When the first attempt was sent.
    sent: Instant,
    /// When the successful attempt was answered.
    answered: Instant,
    /// Sessions ended, as the API counted them.
    ended: usize,
    /// Attempts that reached no node or failed with 5xx before one succeeded.
    retries: usize,
    /// Whether node A answered it.
    through_a: bool,
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
    let pool = seed::open(&database.url).await?;
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

    let mut a = Node::start(server, &database.url).await?;
    let b = Node::start(server, &database.url).await?;
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

/// The calls, shuffled: the kept users' sessions are never named; of the
/// rest, a third of the users lose their sessions one `DELETE` at a time, a
/// third by a per-user revoke, a third in bulk revokes.
fn plan(scale: &Scale, sessions: &[seed::Seeded], rng: &mut StdRng) -> Vec<Call> {
    let mut users: Vec<usize> = (0..scale.users).collect();
    users.shuffle(rng);
    let ending = &users[scale.kept_users.min(users.len())..];
    let third = ending.len() / 3;
    let (singles, rest) = ending.split_at(third);
    let (per_user, bulk) = rest.split_at(third);
    let mut calls = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        if singles.contains(&session.user) {
            calls.push(Call::EndSession(index));
        }
    }
    calls.extend(per_user.iter().map(|user| Call::RevokeUser(*user)));
    calls.extend(
        bulk.chunks(scale.bulk_batch.max(1))
            .map(|batch| Call::RevokeUsers(batch.to_vec())),
    );
    calls.shuffle(rng);
    calls
}

/// The sessions a call ends.
fn sessions_of<'a>(call: &'a Call, sessions: &'a [seed::Seeded]) -> Vec<usize> {
    match call {
        Call::EndSession(session) => vec![*session],
        Call::RevokeUser(user) => (0..sessions.len())
            .filter(|s| sessions[*s].user == *user)
            .collect(),
        Call::RevokeUsers(users) => (0..sessions.len())
            .filter(|s| users.contains(&sessions[*s].user))
            .collect(),
    }
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

/// Sends the calls evenly over `scale.spread_over` (later when the nodes
/// fall behind), at most `scale.in_flight` at once, alternating nodes while
/// A is up.
async fn revoke(scale: &Scale, world: &World, calls: Vec<Call>) -> anyhow::Result<Vec<Answered>> {
    let count = calls.len().max(1);
    let start = tokio::time::Instant::now();
    let results: Vec<anyhow::Result<Answered>> = stream::iter(calls.into_iter().enumerate())
        .map(|(index, call)| async move {
            let due = start + scale.spread_over.mul_f64(index as f64 / count as f64);
            tokio::time::sleep_until(due).await;
            send(world, call, index % 2 == 0).await
        })
        .buffer_unordered(scale.in_flight.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Sends one call, through A when `prefer_a` and A is up, else B; a call
/// that reaches no node or gets a 5xx is retried on the other node, as a
/// load balancer would.
async fn send(world: &World, call: Call, prefer_a: bool) -> anyhow::Result<Answered> {
    let sent = Instant::now();
    let mut through_a = prefer_a && world.a_up.load(Ordering::Relaxed);
    let mut retries = 0;
    loop {
        let request = match &call {
            Call::EndSession(session) => world.admin.delete(world.node_url(
                through_a,
                &format!(
                    "/api/admin/sessions/{}",
                    world.sessions[*session].session_id
                ),
            )),
            Call::RevokeUser(user) => world.admin.post(world.node_url(
                through_a,
                &format!("/api/admin/users/{}/revoke", world.user_ids[*user]),
            )),
            Call::RevokeUsers(users) => world
                .admin
                .post(world.node_url(through_a, "/api/admin/revoke"))
                .json(&serde_json::json!({
                    "user_ids": users.iter().map(|u| &world.user_ids[*u]).collect::<Vec<_>>()
                })),
        };
        let outcome = match request.send().await {
            Ok(response) if response.status().is_server_error() => None,
            Ok(response) => Some(response),
            Err(_) => None,
        };
        if let Some(response) = outcome {
            let status = response.status().as_u16();
            let ended = match (&call, status) {
                (Call::EndSession(_), 204) => 1,
                // A retry after an attempt whose answer was lost: that one ended it.
                (Call::EndSession(_), 404) if retries > 0 => 0,
                (Call::RevokeUser(_) | Call::RevokeUsers(_), 200) => {
                    let body: serde_json::Value = response.json().await?;
                    body["revoked"].as_u64().context("a revoked count")? as usize
                }
                _ => bail!("{call:?} answered {status}"),
            };
            return Ok(Answered {
                call,
                sent,
                answered: Instant::now(),
                ended,
                retries,
                through_a,
            });
        }
        retries += 1;
        if retries > 20 {
            bail!("{call:?} reached no node in 20 attempts");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        through_a = !through_a && world.a_up.load(Ordering::Relaxed);
    }
}

/// Restarts node A and terminates the listener connections at fixed points
/// of the run: restarts at 1/(n+1), 2/(n+1)… of it, listener kills between.
async fn faults(
    scale: &Scale,
    world: &World,
    a: &mut Node,
    database: &Database,
) -> (anyhow::Result<Vec<Duration>>, anyhow::Result<Vec<usize>>) {
    let mut events: Vec<(f64, bool)> = Vec::new();
    for k in 1..=scale.restarts {
        events.push((k as f64 / (scale.restarts + 1) as f64, true));
    }
    for k in 0..scale.listener_kills {
        events.push(((k as f64 + 0.5) / (scale.listener_kills + 1) as f64, false));
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0));
    let start = tokio::time::Instant::now();
    let mut restarts = Vec::new();
    let mut kills = Vec::new();
    for (at, restart) in events {
        tokio::time::sleep_until(start + scale.spread_over.mul_f64(at)).await;
        if restart {
            world.a_up.store(false, Ordering::Relaxed);
            let down_for = a.restart().await;
            world.a_up.store(true, Ordering::Relaxed);
            match down_for {
                Ok(down_for) => restarts.push(down_for),
                Err(e) => return (Err(e.context("restarting node A")), Ok(kills)),
            }
        } else {
            match database.terminate_listeners().await {
                Ok(terminated) => kills.push(terminated),
                Err(e) => return (Ok(restarts), Err(e)),
            }
        }
    }
    (Ok(restarts), Ok(kills))
}

/// Cuts a random tab's socket every `scale.cut_every` until `stop` (a tab
/// that is reconnecting at that moment is left alone).
async fn cut_tabs(
    scale: &Scale,
    tabs: &[PlacedTab],
    mut stop: watch::Receiver<bool>,
    rng: &mut StdRng,
) {
    let mut ticks = tokio::time::interval(scale.cut_every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if let Some(placed) = tabs.choose(rng) {
            placed.tab.cut();
        }
    }
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

/// Both nodes' answers to every session's cookie at the end.
#[derive(Debug, Default)]
struct Cookies {
    /// Ended sessions whose cookie a node still accepted (per node answer).
    ended_accepted: usize,
    /// Ended sessions refused with another reason than `admin_revoked`.
    ended_wrong_reason: usize,
    ended_checked: usize,
    /// Kept sessions a node refused.
    kept_refused: usize,
    kept_checked: usize,
}

async fn check_cookies(world: &World) -> anyhow::Result<Cookies> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let answers: Vec<anyhow::Result<(usize, bool, u16, String)>> =
        stream::iter((0..world.sessions.len()).flat_map(|s| [(s, true), (s, false)]))
            .map(|(session, through_a)| {
                let http = http.clone();
                async move {
                    let response = http
                        .get(world.node_url(through_a, "/api/auth/me"))
                        .header("cookie", &world.sessions[session].cookie)
                        .send()
                        .await?;
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    let reason = body["reason"].as_str().unwrap_or_default().to_owned();
                    Ok((session, through_a, status, reason))
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
    let mut cookies = Cookies::default();
    for answer in answers {
        let (session, _, status, reason) = answer.context("checking a cookie")?;
        if world.ends[session] {
            cookies.ended_checked += 1;
            if status != 401 {
                cookies.ended_accepted += 1;
            } else if reason != "admin_revoked" {
                cookies.ended_wrong_reason += 1;
            }
        } else {
            cookies.kept_checked += 1;
            if status != 200 {
                cookies.kept_refused += 1;
            }
        }
    }
    Ok(cookies)
}

/// What the tabs went through, judged.
#[derive(Debug, Default)]
struct Outcome {
    ended_tabs: usize,
    told: usize,
    resynced: usize,
    /// Tabs of ended sessions that learnt nothing.
    lost: usize,
    /// Tabs of ended sessions that stayed open past [`LATE_AFTER`] untold.
    late: usize,
    /// Tabs told with another reason than `admin_revoked`.
    wrong_reason: usize,
    /// Tabs told before their session's revocation was even sent.
    premature: usize,
    kept_tabs: usize,
    /// Tabs of kept sessions that were told or refused.
    spurious: usize,
    /// Tabs of kept sessions not connected at the end.
    stranded: usize,
    /// From the revocation's answer to `session_ended` (0 when the tab heard
    /// first), for tabs told on their socket.
    told_after: Vec<Duration>,
    cut: usize,
    closed_by_server: usize,
    reconnects: usize,
    tabs_on_a: usize,
}

impl Outcome {
    /// Judges `tabs`, given which `sessions` were planned to end (`ends`)
    /// and the calls that ended them.
    fn tally(
        sessions: &[seed::Seeded],
        ends: &[bool],
        tabs: &[PlacedTab],
        answered: &[Answered],
    ) -> Outcome {
        // Each session's revocation: when it was sent and answered.
        let mut revoked: Vec<Option<(Instant, Instant)>> = vec![None; sessions.len()];
        for call in answered {
            for session in sessions_of(&call.call, sessions) {
                revoked[session] = Some((call.sent, call.answered));
            }
        }
        let mut outcome = Outcome::default();
        for placed in tabs {
            let log: TabLog = placed.tab.log();
            outcome.cut += log.cut;
            outcome.closed_by_server += log.closed_by_server;
            outcome.reconnects += log.connections.len().saturating_sub(1);
            outcome.tabs_on_a += usize::from(placed.on_a);
            if !ends[placed.session] {
                outcome.kept_tabs += 1;
                outcome.spurious += usize::from(log.ending.is_some());
                outcome.stranded += usize::from(!log.connected());
                continue;
            }
            outcome.ended_tabs += 1;
            let Some((sent, answered)) = revoked[placed.session] else {
                // Planned to end but no call answered for it: the run
                // failed earlier; count the tab as lost rather than guess.
                outcome.lost += 1;
                continue;
            };
            if log.open_throughout(answered, answered + LATE_AFTER) {
                outcome.late += 1;
            }
            match &log.ending {
                None => outcome.lost += 1,
                Some(ending) => {
                    if ending.at < sent {
                        outcome.premature += 1;
                    }
                    if ending.reason != "admin_revoked" {
                        outcome.wrong_reason += 1;
                    }
                    match ending.heard {
                        Heard::Told => {
                            outcome.told += 1;
                            outcome
                                .told_after
                                .push(ending.at.saturating_duration_since(answered));
                        }
                        Heard::Resynced => outcome.resynced += 1,
                    }
                }
            }
        }
        outcome
    }
}

/// Everything the report says about one run.
struct Figures<'a> {
    scale: &'a Scale,
    measured: &'a Measured,
    seed_value: u64,
    /// The whole run, seeding included.
    total: Duration,
}

/// What one run measured.
struct Measured {
    answered: Vec<Answered>,
    /// How long node A did not answer, per restart.
    restarts: Vec<Duration>,
    /// Listener connections terminated, per round.
    kills: Vec<usize>,
    outcome: Outcome,
    cookies: Cookies,
    /// How long the tabs took to settle after the last revocation.
    settled: Duration,
    /// From the tabs' connecting to the last revocation's answer.
    revoking: Duration,
}

impl Figures<'_> {
    fn report(&self, report: &mut Report) {
        let m = self.measured;
        let (o, c) = (&m.outcome, &m.cookies);
        let ended_sessions = c.ended_checked / 2;
        let api_ended: usize = m.answered.iter().map(|a| a.ended).sum();
        let count = |f: fn(&Call) -> bool| m.answered.iter().filter(|a| f(&a.call)).count();
        let singles = count(|c| matches!(c, Call::EndSession(_)));
        let per_user = count(|c| matches!(c, Call::RevokeUser(_)));
        let bulk = count(|c| matches!(c, Call::RevokeUsers(_)));
        let through_a = m.answered.iter().filter(|a| a.through_a).count();
        let retried = m.answered.iter().filter(|a| a.retries > 0).count();
        let spurious = o.spurious + o.premature + c.kept_refused;
        let wrong_reason = o.wrong_reason + c.ended_wrong_reason;
        let told_after = Samples::new("revoke → tab during the chaos run", &o.told_after);
        let down: Vec<String> = m
            .restarts
            .iter()
            .map(|down_for| format!("{:.1} s", down_for.as_secs_f64()))
            .collect();
        let killed: usize = m.kills.iter().sum();

        let failures = [
            (
                o.lost,
                "tabs of ended sessions were neither told nor resynced",
            ),
            (
                spurious,
                "spurious endings (kept sessions ended, or tabs told before their revocation)",
            ),
            (
                c.ended_accepted,
                "node answers accepted an ended session's cookie",
            ),
            (
                wrong_reason,
                "endings carried another reason than admin_revoked",
            ),
            (o.stranded, "tabs of kept sessions did not reconnect"),
        ];
        let mut met = true;
        for (n, what) in failures {
            if n > 0 {
                met = false;
                report.fail(format!("chaos: {n} {what}"));
            }
        }
        if m.restarts.len() < self.scale.restarts {
            met = false;
            report.fail("chaos: node A was not restarted as planned".to_owned());
        }

        report.row(Row::new(
            "8",
            format!(
                "Chaos: {ended_sessions} sessions ended through two nodes (PostgreSQL) while \
                 sockets are cut, node A restarts ×{} and the listeners are killed ×{}",
                m.restarts.len(),
                m.kills.len()
            ),
            "0 lost, 0 spurious; every ended cookie refused by both nodes",
            format!(
                "{} tabs of ended sessions: {} told, {} resynced, **{} lost**; {} spurious; \
                 {} of {} ended-cookie checks refused; {} late (> {} s); {:.0} s",
                o.ended_tabs,
                o.told,
                o.resynced,
                o.lost,
                spurious,
                c.ended_checked - c.ended_accepted,
                c.ended_checked,
                o.late,
                LATE_AFTER.as_secs(),
                self.total.as_secs_f64()
            ),
            Some(met),
            "chaos",
        ));
        let body = format!(
            "Two `bouncer serve` nodes, A and B, on one fresh PostgreSQL database. \
             Sessions are seeded over many users; a few users are *kept*: nothing ends their \
             sessions, so a spurious ending would show. Tabs behave like the browser's watcher \
             (`bench/src/watcher.rs` after `app/src/watcher.rs`): when a socket closes without \
             `session_ended` they ask `GET /api/auth/me` and reconnect with its jittered \
             backoff, asking again after each reconnect. The revocations are spread over {} s \
             through both nodes' admin APIs while random sockets are cut, node A is restarted \
             (SIGTERM, wait for exit, start on the same port; its calls go to B meanwhile) and \
             both nodes' `LISTEN` connections are terminated with `pg_terminate_backend`. \
             Afterwards the tabs get up to {} s to settle, then every session's cookie is \
             asked for `GET /api/auth/me` on both nodes.\n\n\
             A tab is **told** when `session_ended` reached it, **resynced** when a 401 from \
             `/api/auth/me` did (after its socket was cut or its node restarted), **lost** when \
             neither happened. **Spurious**: a kept session's tab told or refused, a kept \
             cookie refused, or a tab told before its revocation was sent. **Late**: a tab \
             whose socket stayed open {} s after its revocation's answer without being told.\n\n\
             | | |\n| --- | --- |\n\
             | sessions | {} seeded for {} users; {} ended, {} kept |\n\
             | revocation calls | {} (`DELETE /api/admin/sessions/{{id}}` {}, per-user revoke {}, \
             bulk revoke of {} users {}); {} through A, {} through B; {} retried on the other \
             node; the API reported {} sessions ended |\n\
             | tabs | {} ({} on A, {} on B; {} sessions with a tab on each node) |\n\
             | faults | {} sockets cut; node A restarted ×{} (down {}); {} listener \
             connections terminated in {} rounds |\n\
             | tabs of ended sessions | {} told, {} resynced, **{} lost**, {} late, {} with \
             another reason |\n\
             | tabs of kept sessions | {}: {} spurious endings, {} not reconnected |\n\
             | sockets | {} closed by a node without `session_ended`, {} reconnects |\n\
             | cookies at the end | ended: {} of {} node answers refused ({} with another \
             reason than `admin_revoked`); kept: {} of {} accepted |\n\
             | push during the run | {} |\n\
             | time | {:.1} s revoking, {:.1} s to settle, {:.0} s in all (seeding included) |\n\
             | random seed | {} (`--seed` replays the plan; the faults' timing is the machine's) |",
            self.scale.spread_over.as_secs(),
            SETTLE_WITHIN.as_secs(),
            LATE_AFTER.as_secs(),
            self.scale.users * self.scale.sessions_per_user,
            self.scale.users,
            ended_sessions,
            c.kept_checked / 2,
            m.answered.len(),
            singles,
            per_user,
            self.scale.bulk_batch,
            bulk,
            through_a,
            m.answered.len() - through_a,
            retried,
            api_ended,
            o.ended_tabs + o.kept_tabs,
            o.tabs_on_a,
            o.ended_tabs + o.kept_tabs - o.tabs_on_a,
            self.scale.second_tabs,
            o.cut,
            m.restarts.len(),
            if down.is_empty() {
                "—".to_owned()
            } else {
                down.join(", ")
            },
            killed,
            m.kills.len(),
            o.told,
            o.resynced,
            o.lost,
            o.late,
            o.wrong_reason,
            o.kept_tabs,
            o.spurious + o.premature + c.kept_refused,
            o.stranded,
            o.closed_by_server,
            o.reconnects,
            c.ended_checked - c.ended_accepted,
            c.ended_checked,
            c.ended_wrong_reason,
            c.kept_checked - c.kept_refused,
            c.kept_checked,
            told_after.summary(),
            m.revoking.as_secs_f64(),
            m.settled.as_secs_f64(),
            self.total.as_secs_f64(),
            self.seed_value,
        );
        report.section(
            "chaos",
            Section {
                title: "Chaos run".to_owned(),
                body,
                chart: None,
            },
        );
        report.chart("chaos", told_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(users: usize, per_user: usize) -> Vec<seed::Seeded> {
        (0..per_user)
            .flat_map(|round| {
                (0..users).map(move |user| seed::Seeded {
                    cookie: format!("c{round}-{user}"),
                    session_id: format!("s{round}-{user}"),
                    user,
                })
            })
            .collect()
    }

    #[test]
    fn the_plan_ends_every_session_but_the_kept_users_once() {
        let scale = Scale::of(true);
        let sessions = seeded(scale.users, scale.sessions_per_user);
        let calls = plan(&scale, &sessions, &mut StdRng::seed_from_u64(7));
        let mut ended = vec![0; sessions.len()];
        for call in &calls {
            for session in sessions_of(call, &sessions) {
                ended[session] += 1;
            }
        }
        let kept = ended.iter().filter(|n| **n == 0).count();
        assert_eq!(kept, scale.kept_users * scale.sessions_per_user);
        assert!(ended.iter().all(|n| *n <= 1), "a session is named twice");
        assert!(ended.iter().sum::<usize>() >= 300);
        // Whole users are kept: none of a kept user's sessions ends.
        for user in 0..scale.users {
            let of_user: Vec<usize> = (0..sessions.len())
                .filter(|s| sessions[*s].user == user)
                .map(|s| ended[s])
                .collect();
            assert!(of_user.iter().all(|n| *n == of_user[0]), "user {user}");
        }
        for kind in [
            |c: &Call| matches!(c, Call::EndSession(_)),
            |c: &Call| matches!(c, Call::RevokeUser(_)),
            |c: &Call| matches!(c, Call::RevokeUsers(_)),
        ] {
            assert!(calls.iter().any(kind), "every kind of call is in the plan");
        }
    }

    #[test]
    fn every_tab_is_judged_by_what_it_heard_and_when() {
        use crate::watcher::Ending;
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // Two users, two sessions each: user 0's end (sessions 0 and 2), user 1's are kept.
        let sessions = seeded(2, 2);
        let ends = [true, false, true, false];
        let answered = [Answered {
            call: Call::RevokeUser(0),
            sent: at(10_000),
            answered: at(10_020),
            ended: 2,
            retries: 0,
            through_a: true,
        }];
        let ending = |heard, ms, reason: &str| {
            Some(Ending {
                heard,
                at: at(ms),
                reason: reason.to_owned(),
            })
        };
        let tab = |session, log: TabLog| PlacedTab {
            session,
            on_a: session % 2 == 0,
            tab: WatchedTab::with_log(log),
        };
        let tabs = [
            // Told 5 ms after the answer.
            tab(
                0,
                TabLog {
                    ending: ending(Heard::Told, 10_025, "admin_revoked"),
                    connections: vec![(at(0), Some(at(10_025)))],
                    ..TabLog::default()
                },
            ),
            // Cut before the ending, then resynced.
            tab(
                0,
                TabLog {
                    ending: ending(Heard::Resynced, 10_500, "admin_revoked"),
                    connections: vec![(at(0), Some(at(9_000)))],
                    cut: 1,
                    ..TabLog::default()
                },
            ),
            // Still open, never told: lost, and late.
            tab(
                2,
                TabLog {
                    connections: vec![(at(0), None)],
                    ..TabLog::default()
                },
            ),
            // Told before the revocation was sent, with another reason.
            tab(
                2,
                TabLog {
                    ending: ending(Heard::Told, 5_000, "idle_timeout"),
                    connections: vec![(at(0), Some(at(5_000)))],
                    ..TabLog::default()
                },
            ),
            // A kept session's tab that was told: spurious.
            tab(
                1,
                TabLog {
                    ending: ending(Heard::Told, 10_030, "admin_revoked"),
                    connections: vec![(at(0), Some(at(10_030)))],
                    ..TabLog::default()
                },
            ),
            // A kept session's tab that reconnected, and one that did not.
            tab(
                3,
                TabLog {
                    connections: vec![(at(0), Some(at(3_000))), (at(4_000), None)],
                    closed_by_server: 1,
                    ..TabLog::default()
                },
            ),
            tab(
                3,
                TabLog {
                    connections: vec![(at(0), Some(at(3_000)))],
                    ..TabLog::default()
                },
            ),
        ];
        let outcome = Outcome::tally(&sessions, &ends, &tabs, &answered);
        assert_eq!(outcome.ended_tabs, 4);
        assert_eq!((outcome.told, outcome.resynced, outcome.lost), (2, 1, 1));
        assert_eq!(outcome.late, 1);
        assert_eq!(outcome.premature, 1);
        assert_eq!(outcome.wrong_reason, 1);
        assert_eq!(outcome.kept_tabs, 3);
        assert_eq!(outcome.spurious, 1);
        assert_eq!(outcome.stranded, 2);
        assert_eq!(outcome.reconnects, 1);
        assert_eq!(outcome.cut, 1);
        assert_eq!(outcome.closed_by_server, 1);
        assert_eq!(
            outcome.told_after,
            [Duration::from_millis(5), Duration::ZERO]
        );
    }

    #[test]
    fn the_full_run_ends_at_least_ten_thousand_sessions() {
        let scale = Scale::of(false);
        let ending = (scale.users - scale.kept_users) * scale.sessions_per_user;
        assert!(ending >= 10_000, "{ending}");
    }
}
