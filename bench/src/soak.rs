//! The soak (`--only soak`): one node holds 15,000 tabs under a steady
//! request load, with a trickle of logins and revocations, for ten minutes
//! (`--soak-minutes`), and its memory must stay flat.
//!
//! One node on SQLite, the embedded default: memory growth is a property of
//! the process (hub, session view, throttles, buffers), which the backend
//! does not change, and PostgreSQL's own memory would not show in the
//! node's RSS anyway.
//!
//! The load: `POST /api/auth/activity` round-robin over every seeded session
//! (so each one's idle deadline keeps moving, and each call pushes
//! `extended` to that session's tab) and `GET /api/auth/me` on random ones;
//! every few seconds a login through argon2 opens a new session with a tab,
//! and the oldest of those is revoked, its tab told. The node's RSS is
//! sampled throughout.
//!
//! "Flat" is judged on what remains after warm-up (allocator arenas,
//! caches and the session view filling up): the last sample within
//! [`END_TOLERANCE`] of the first one after warm-up, and the least-squares
//! trend of the second half adding less than [`TREND_TOLERANCE`] of it per
//! ten minutes. A leak of 100 bytes per request at this load would add
//! about 18 MB in ten minutes and fail both.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use rand::{seq::SliceRandom, Rng};
use tokio::sync::{watch, Semaphore};

use crate::{
    memory::{self, mb, Sample, Sampler},
    node::Node,
    report::{LineChart, Report, Row, Section},
    seed,
    stats::Samples,
    tempdir,
    watcher::{self, Browser, Heard, WatchedTab},
};

/// How far the end may be from the value after warm-up.
const END_TOLERANCE: f64 = 0.05;
/// How much the second half's trend may add per ten minutes.
const TREND_TOLERANCE: f64 = 0.02;

/// The size of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    tabs: usize,
    duration: Duration,
    sample_every: Duration,
    activity_per_second: u32,
    me_per_second: u32,
    /// One login (and, past `churn_window`, one revocation) this often.
    churn_every: Duration,
    /// Sessions opened by the trickle that stay live at once.
    churn_window: usize,
}

impl Scale {
    /// `minutes` overrides the duration (10 at full scale, 20 s at smoke).
    pub fn of(smoke: bool, minutes: Option<f64>) -> Scale {
        let mut scale = if smoke {
            Scale {
                tabs: 300,
                duration: Duration::from_secs(20),
                sample_every: Duration::from_secs(2),
                activity_per_second: 40,
                me_per_second: 20,
                churn_every: Duration::from_secs(1),
                churn_window: 5,
            }
        } else {
            Scale {
                tabs: 15_000,
                duration: Duration::from_secs(600),
                sample_every: Duration::from_secs(10),
                activity_per_second: 200,
                me_per_second: 100,
                churn_every: Duration::from_secs(2),
                churn_window: 20,
            }
        };
        if let Some(minutes) = minutes {
            scale.duration = Duration::from_secs_f64(minutes.max(0.1) * 60.0);
        }
        scale
    }

    /// The first part of the run, left out of the verdict: a minute, or a
    /// fifth of a shorter run.
    fn warm_up(&self) -> Duration {
        (self.duration / 5).min(Duration::from_secs(60))
    }
}

/// The request load's tally.
#[derive(Debug, Default)]
struct Load {
    ok: AtomicU64,
    /// 401s: a seeded session refused, which nothing in the soak ends.
    refused: AtomicU64,
    /// Other statuses and requests that failed.
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

/// The trickle's tally.
#[derive(Debug, Default)]
struct Churn {
    logins: usize,
    failed_logins: usize,
    /// Revoked, with their tab and the revocation's answer.
    revoked: Vec<(WatchedTab, Instant)>,
}

pub async fn run(
    server: &std::path::Path,
    scale: &Scale,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("soak.db").display());
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, scale.tabs.div_ceil(10)).await?;
    let sessions = seed::sessions(&pool, &users, 10).await?;
    let sessions = &sessions[..scale.tabs.min(sessions.len())];
    pool.close().await;
    let user_names: Vec<String> = users.iter().map(|u| u.username.to_string()).collect();

    let node = Node::start(server, &url).await?;
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let login = admin
        .post(node.url("/api/auth/login"))
        .json(&serde_json::json!({ "username": seed::ADMIN, "password": seed::ADMIN_PASSWORD }))
        .send()
        .await?;
    if login.status() != 200 {
        bail!("the admin login answered {}", login.status());
    }

    let (stop_tabs, stop) = watch::channel(false);
    let browser = Browser {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        stop,
    };
    let connecting = Instant::now();
    let tabs = watcher::open_all(
        &browser,
        sessions.iter().map(|s| (node.port, s.cookie.clone())),
        8,
        256,
    )
    .await?;
    let connect_time = connecting.elapsed();

    let load_before = load_average();
    let sampler = Sampler::start(node.pid(), scale.sample_every);
    let load = Load::default();
    let (stop_load, load_stopped) = watch::channel(false);
    let cookies: Vec<&str> = sessions.iter().map(|s| s.cookie.as_str()).collect();
    let started = Instant::now();
    let ((), requested, churned) = tokio::join!(
        async {
            tokio::time::sleep(scale.duration).await;
            let _ = stop_load.send(true);
        },
        requests(scale, &node, &cookies, &load, load_stopped.clone()),
        churn(
            scale,
            &node,
            &admin,
            &browser,
            &user_names,
            load_stopped.clone(),
        )
    );
    let ran_for = started.elapsed();
    let samples = sampler.finish().await?;
    let load_after = load_average();
    requested?;
    let mut churn = churned?;

    // The revoked trickle tabs get a moment to hear of it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while churn.revoked.iter().any(|(tab, _)| !tab.ended()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seeded_connected = tabs.iter().filter(|t| t.connected()).count();
    let seeded_ended = tabs.iter().filter(|t| t.ended()).count();
    let socket_closes: usize = tabs.iter().map(|t| t.log().closed_by_server).sum();
    let (mut told, mut resynced, mut lost) = (0, 0, 0);
    let mut told_after = Vec::new();
    for (tab, answered) in churn.revoked.drain(..) {
        match tab.log().ending {
            Some(ending) if ending.heard == Heard::Told => {
                told += 1;
                told_after.push(ending.at.saturating_duration_since(answered));
            }
            Some(_) => resynced += 1,
            None => lost += 1,
        }
    }
    let _ = stop_tabs.send(true);
    drop(node);
    std::fs::remove_dir_all(&dir).ok();

    let memory = Memory::of(scale, &samples);
    let requests_done = load.ok.load(Ordering::Relaxed);
    let refused = load.refused.load(Ordering::Relaxed);
    let failed = load.failed.load(Ordering::Relaxed);
    let latencies = load.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let latency = Samples::new("soak requests", &latencies);
    let told_after = Samples::new("", &told_after);
    let rate = requests_done as f64 / ran_for.as_secs_f64();

    if lost > 0 {
        report.fail(format!(
            "soak: {lost} revoked sessions' tabs were never told"
        ));
    }
    if refused > 0 || seeded_ended > 0 {
        report.fail(format!(
            "soak: {refused} requests and {seeded_ended} tabs of live sessions were refused"
        ));
    }
    let duration = if scale.duration < Duration::from_secs(120) {
        format!("{} s", scale.duration.as_secs())
    } else {
        format!("{:.0} min", scale.duration.as_secs_f64() / 60.0)
    };
    report.row(Row::new(
        "9",
        format!(
            "Soak: {} tabs + {:.0} requests/s for {duration}, one node (SQLite)",
            tabs.len(),
            rate,
        ),
        "flat memory: end within 5 % of the value after warm-up, second-half trend < 2 % per 10 min",
        format!(
            "RSS {:.1} MB after connecting, {:.1} MB after warm-up, {:.1} MB at the end \
             ({:+.1} %), max {:.1} MB; second-half trend {:+.0} KB/min ({:+.2} % per 10 min); \
             {} tabs still connected; {} of {} revoked tabs told",
            mb(memory.start),
            mb(memory.warm),
            mb(memory.end),
            memory.end_change() * 100.0,
            mb(memory.max),
            memory.slope / 1e3,
            memory.trend_per_ten_minutes() * 100.0,
            seeded_connected,
            told + resynced,
            told + resynced + lost
        ),
        Some(memory.flat() && lost == 0 && refused == 0),
        "soak",
    ));
    let body = format!(
        "One node on SQLite holds {} tabs (connected in {:.1} s from 8 loopback addresses) \
         for {:.1} min under a steady load: `POST /api/auth/activity` round-robin over every \
         session ({} per second; each pushes `extended` to that session's tab) and \
         `GET /api/auth/me` on random sessions ({} per second), at most 256 requests in \
         flight; every {} s a login (argon2) opens a new session with a tab, and past {} of \
         those the oldest is revoked. RSS is sampled every {} s.\n\n\
         **Flat** means: the last sample within {:.0} % of the first one after warm-up \
         ({} s, left out: allocator arenas and caches fill up), and the least-squares trend of \
         the second half adding less than {:.0} % of that value per ten minutes.\n\n\
         | | |\n| --- | --- |\n\
         | RSS | {:.1} MB after connecting, {:.1} MB after warm-up, {:.1} MB at the end, max \
         {:.1} MB |\n\
         | second-half trend | {:+.0} KB/min ({:+.2} % per 10 min) |\n\
         | verdict | {} |\n\
         | requests | {} answered ({:.0}/s; {}), {} refused, {} failed |\n\
         | trickle | {} logins ({} failed), {} revoked: {} told ({}), {} resynced, {} lost |\n\
         | tabs | {} of {} still connected at the end; {} sockets closed by the node, {} \
         refused |\n\
         | machine load | 1-minute load average {} at the start, {} at the end; the machine is \
         shared, so other builds may have run during the soak |",
        tabs.len(),
        connect_time.as_secs_f64(),
        ran_for.as_secs_f64() / 60.0,
        scale.activity_per_second,
        scale.me_per_second,
        scale.churn_every.as_secs_f64(),
        scale.churn_window,
        scale.sample_every.as_secs_f64(),
        END_TOLERANCE * 100.0,
        scale.warm_up().as_secs(),
        TREND_TOLERANCE * 100.0,
        mb(memory.start),
        mb(memory.warm),
        mb(memory.end),
        mb(memory.max),
        memory.slope / 1e3,
        memory.trend_per_ten_minutes() * 100.0,
        if memory.flat() {
            "flat"
        } else {
            "**not flat**"
        },
        requests_done,
        rate,
        latency.summary(),
        refused,
        failed,
        churn.logins,
        churn.failed_logins,
        told + resynced + lost,
        told,
        told_after.summary(),
        resynced,
        lost,
        seeded_connected,
        tabs.len(),
        socket_closes,
        seeded_ended,
        load_before,
        load_after,
    );
    report.section(
        "soak",
        Section {
            title: "Soak".to_owned(),
            body,
            chart: Some(LineChart {
                caption: format!("Server RSS during the soak ({} tabs)", tabs.len()),
                unit: "MB".to_owned(),
                points: samples
                    .iter()
                    .map(|s| (s.at.as_secs_f64() / 60.0, mb(s.rss)))
                    .collect(),
            }),
        },
    );
    Ok(())
}

/// The steady request load, until `stop`: every 100 ms a tenth of each
/// second's requests, at most 256 in flight.
async fn requests(
    scale: &Scale,
    node: &Node,
    cookies: &[&str],
    load: &Load,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;
    let in_flight = Arc::new(Semaphore::new(256));
    let activity_url = node.url("/api/auth/activity");
    let me_url = node.url("/api/auth/me");
    let mut next = 0_usize;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut running = tokio::task::JoinSet::new();
    // Fractions of a request per tick carry over, so the rate is exact.
    let (mut activity_owed, mut me_owed) = (0.0, 0.0);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => break,
        }
        activity_owed += f64::from(scale.activity_per_second) / 10.0;
        me_owed += f64::from(scale.me_per_second) / 10.0;
        let mut batch = Vec::new();
        while activity_owed >= 1.0 {
            activity_owed -= 1.0;
            batch.push(
                client
                    .post(&activity_url)
                    .header("cookie", cookies[next % cookies.len()]),
            );
            next += 1;
        }
        while me_owed >= 1.0 {
            me_owed -= 1.0;
            let cookie = cookies
                .choose(&mut rand::thread_rng())
                .copied()
                .unwrap_or_default();
            batch.push(client.get(&me_url).header("cookie", cookie));
        }
        for request in batch {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let sent = Instant::now();
            let done = async move {
                let _permit = permit;
                let status = request.send().await.map(|r| r.status().as_u16());
                (status, sent.elapsed())
            };
            running.spawn(done);
        }
        while let Some(finished) = running.try_join_next() {
            tally(load, finished);
        }
    }
    while let Some(finished) = running.join_next().await {
        tally(load, finished);
    }
    Ok(())
}

fn tally(
    load: &Load,
    finished: Result<(Result<u16, reqwest::Error>, Duration), tokio::task::JoinError>,
) {
    match finished {
        Ok((Ok(200 | 204), latency)) => {
            load.ok.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut latencies) = load.latencies.lock() {
                latencies.push(latency);
            }
        }
        Ok((Ok(401), _)) => {
            load.refused.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            load.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every `scale.churn_every` until `stop`: a login as a random seeded user
/// (a new session, through argon2) with a tab; past `scale.churn_window`
/// such sessions, the oldest is revoked through the admin API.
async fn churn(
    scale: &Scale,
    node: &Node,
    admin: &reqwest::Client,
    browser: &Browser,
    user_names: &[String],
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Churn> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut churn = Churn::default();
    let mut live: VecDeque<(String, WatchedTab)> = VecDeque::new();
    let mut ticks = tokio::time::interval(scale.churn_every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return Ok(churn),
        }
        let name = &user_names[rand::thread_rng().gen_range(0..user_names.len())];
        let response = client
            .post(node.url("/api/auth/login"))
            .json(&serde_json::json!({ "username": name, "password": seed::ADMIN_PASSWORD }))
            .send()
            .await?;
        if response.status() != 200 {
            churn.failed_logins += 1;
            continue;
        }
        churn.logins += 1;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("bouncer_session="))
            .and_then(|v| v.split(';').next())
            .context("the login set no session cookie")?
            .to_owned();
        let body: serde_json::Value = response.json().await?;
        let session_id = body["session"]["id"]
            .as_str()
            .context("the login named no session")?
            .to_owned();
        let source = crate::tabs::source_address(churn.logins, 8);
        live.push_back((
            session_id,
            WatchedTab::spawn(browser, node.port, cookie, source),
        ));
        if live.len() > scale.churn_window {
            let Some((oldest, tab)) = live.pop_front() else {
                continue;
            };
            let response = admin
                .delete(node.url(&format!("/api/admin/sessions/{oldest}")))
                .send()
                .await?;
            if response.status() != 204 {
                bail!("revoking {oldest} answered {}", response.status());
            }
            churn.revoked.push((tab, Instant::now()));
        }
    }
}

/// The memory figures of one run.
#[derive(Debug)]
struct Memory {
    /// Right after the tabs connected.
    start: u64,
    /// The first sample after warm-up.
    warm: u64,
    end: u64,
    max: u64,
    /// Least-squares slope of the second half, bytes per minute.
    slope: f64,
}

impl Memory {
    fn of(scale: &Scale, samples: &[Sample]) -> Memory {
        let start = samples.first().map_or(0, |s| s.rss);
        let warm = samples
            .iter()
            .find(|s| s.at >= scale.warm_up())
            .map_or(start, |s| s.rss);
        let second_half: Vec<Sample> = samples
            .iter()
            .filter(|s| s.at >= scale.duration / 2)
            .copied()
            .collect();
        Memory {
            start,
            warm,
            end: samples.last().map_or(0, |s| s.rss),
            max: memory::peak(samples),
            slope: memory::slope_per_minute(&second_half),
        }
    }

    /// The end against the value after warm-up, as a fraction.
    fn end_change(&self) -> f64 {
        self.end as f64 / self.warm.max(1) as f64 - 1.0
    }

    /// What the second half's trend adds in ten minutes, as a fraction of
    /// the value after warm-up.
    fn trend_per_ten_minutes(&self) -> f64 {
        self.slope * 10.0 / self.warm.max(1) as f64
    }

    fn flat(&self) -> bool {
        self.end_change().abs() <= END_TOLERANCE && self.trend_per_ten_minutes() < TREND_TOLERANCE
    }
}

/// The 1-minute load average, as /proc/loadavg says.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[(u64, u64)]) -> Vec<Sample> {
        values
            .iter()
            .map(|(seconds, mb)| Sample {
                at: Duration::from_secs(*seconds),
                rss: mb * 1_000_000,
            })
            .collect()
    }

    #[test]
    fn flat_is_judged_after_warm_up() {
        let scale = Scale::of(false, Some(10.0));
        // Grows while warming up, then stays.
        let steady = samples(&[
            (0, 150),
            (30, 180),
            (60, 200),
            (300, 201),
            (450, 200),
            (600, 201),
        ]);
        assert!(Memory::of(&scale, &steady).flat());
        // Keeps growing: 2 MB a minute on 200 MB is 10 % per ten minutes.
        let leaking = samples(&[(0, 150), (60, 200), (300, 208), (450, 213), (600, 218)]);
        let memory = Memory::of(&scale, &leaking);
        assert!(!memory.flat(), "{memory:?}");
        assert!((memory.slope - 2e6).abs() < 1e5, "{memory:?}");
    }
}
