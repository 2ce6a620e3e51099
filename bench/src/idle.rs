//! The idle cost (`--only idle`): what a node with thousands of connected,
//! quiet tabs spends on its own, and how much of it is the deadline clock.
//!
//! The same seeded sessions are held open twice for the same time by a
//! fresh node: once with the default timeouts (every session has an idle
//! and an absolute deadline, none due during the run) and once with both
//! timeouts off (no deadlines at all). Both nodes ping every tab alike (the
//! heartbeat), so the difference is the deadline clock's cost; the first
//! run's total is the whole idle cost.

use std::{path::Path, time::Duration};

use crate::{
    node::Node,
    report::{Report, Row, Section},
    seed, tabs, tempdir,
};

/// The target: the deadline clock's share of a core with every tab idle.
const TARGET: f64 = 0.005;

/// The pause between connecting the tabs and measuring (full scale). Connecting is a
/// request of each session: its "last seen" is written behind, at most one
/// write interval (30 s) later, unless the stored one is older than that
/// already — true of the seeded sessions in the second run, not in the
/// first. So the window starts once those writes are made in both runs, and
/// holds the idle cost alone.
const SETTLE: Duration = Duration::from_secs(35);

/// The size of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    tabs: usize,
    seconds: u64,
    settle: Duration,
}

impl Scale {
    pub fn of(smoke: bool) -> Scale {
        if smoke {
            Scale {
                tabs: 200,
                seconds: 3,
                settle: Duration::from_secs(1),
            }
        } else {
            // Three heartbeat intervals (25 s): every tab is pinged exactly
            // three times in any window this long, whatever the phase, so
            // the two runs differ by the deadlines alone.
            Scale {
                tabs: 15_000,
                seconds: 75,
                settle: SETTLE,
            }
        }
    }
}

pub async fn run(server: &Path, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("idle.db").display());
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, scale.tabs.div_ceil(10)).await?;
    let sessions = seed::sessions(&pool, &users, 10).await?;
    pool.close().await;
    let cookies: Vec<String> = sessions[..scale.tabs]
        .iter()
        .map(|s| s.cookie.clone())
        .collect();

    let with = idle_share(server, &url, &cookies, scale, &[]).await?;
    let timeouts_off = [
        ("BOUNCER_IDLE_TIMEOUT", "off"),
        ("BOUNCER_ABSOLUTE_TIMEOUT", "off"),
    ];
    let without = idle_share(server, &url, &cookies, scale, &timeouts_off).await?;
    std::fs::remove_dir_all(&dir).ok();

    let clock = (with - without).max(0.0);
    let percent = |share: f64| share * 100.0;
    report.row(Row::new(
        "14",
        format!("Deadline clock CPU with {} idle tabs", scale.tabs),
        "≤ 0.5 % of a core",
        format!(
            "{:.2} % of a core (the node: {:.2} % with the timeouts on, {:.2} % with them off, \
             over {} s each)",
            percent(clock),
            percent(with),
            percent(without),
            scale.seconds
        ),
        Some(clock <= TARGET),
        "idle",
    ));
    report.section(
        "idle",
        Section {
            title: "Idle tabs".to_owned(),
            body: format!(
                "A fresh node on SQLite holds {} seeded sessions, one quiet tab each, for {} s \
                 after a settling pause of {} s (the connections' own \"last seen\" writes, \
                 made behind within 30 s, fall before it); its CPU time is read from `/proc/<pid>/stat` before and \
                 after. Twice: with the default timeouts (30 min idle, 12 h absolute; none falls \
                 due during the run) and with both off, so there is no deadline to keep. Both \
                 nodes ping every tab every 25 s (the heartbeat; the window is three of those, \
                 so every tab is pinged exactly three times in each run) and write nothing \
                 else. The \
                 deadline clock (`engine/src/deadlines.rs`) keeps the deadlines in order and \
                 sleeps until the next one is due, so with every tab idle it does nothing: the \
                 difference between the two runs is its cost, within the measurement's \
                 resolution (one clock tick, 10 ms, of {} s).",
                scale.tabs,
                scale.seconds,
                scale.settle.as_secs(),
                scale.seconds
            ),
            chart: None,
        },
    );
    Ok(())
}

/// Connects the tabs to a fresh node started with `env`, lets it settle,
/// and returns the share of a core it used over `scale.seconds`.
async fn idle_share(
    server: &Path,
    url: &str,
    cookies: &[String],
    scale: &Scale,
    env: &[(&str, &str)],
) -> anyhow::Result<f64> {
    let node = Node::start_with(server, url, env).await?;
    let tabs = tabs::connect_all(node.port, cookies, 4, 256).await?;
    tokio::time::sleep(scale.settle).await;
    let before = node.cpu()?;
    tokio::time::sleep(Duration::from_secs(scale.seconds)).await;
    let used = node.cpu()?.saturating_sub(before);
    drop(tabs);
    drop(node);
    Ok(used.as_secs_f64() / scale.seconds as f64)
}
