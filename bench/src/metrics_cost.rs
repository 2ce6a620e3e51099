//! Row 5 with the Prometheus metrics on: the same authenticated call
//! (`POST /api/auth/activity`, 32 keep-alive clients) against two
//! `bouncer serve` processes, one with `BOUNCER_METRICS_ADDR` and one
//! without — the metrics recorder is one per process, so one process cannot
//! hold both. Each serves its own seeded SQLite file; they are measured in
//! alternating rounds (off, on, then on, off, …) so a machine getting
//! busier or quieter weighs on both alike, and the metrics endpoint is
//! scraped after each of its rounds, as Prometheus would.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context};

use reqwest::{Method, StatusCode};

use crate::{
    node,
    report::{Report, Row},
    seed,
    versus::Target,
};

/// Row 5's call: `POST /api/auth/activity` as `side`'s session, 204 each.
async fn hammer(side: &Side, how_long: Duration) -> anyhow::Result<u64> {
    let target = Target {
        url: activity_url(side),
        cookie: &side.cookie,
    };
    target
        .hammer((&Method::POST, StatusCode::NO_CONTENT), how_long)
        .await
}

/// The most row 5 may lose with the metrics on (issue 20).
const MAX_LOSS: f64 = 0.03;

/// One server under test and what it answered.
struct Side {
    node: node::Node,
    cookie: String,
    /// Where its metrics are served, when they are on.
    metrics_port: Option<u16>,
    requests: u64,
}

/// Starts a node on a freshly seeded database in `dir` (metrics on when
/// `metrics_port` is given).
async fn side(server: &Path, dir: &Path, metrics_port: Option<u16>) -> anyhow::Result<Side> {
    let name = if metrics_port.is_some() { "on" } else { "off" };
    let url = format!(
        "sqlite://{}",
        dir.join(format!("metrics-{name}.db")).display()
    );
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, 1).await?;
    let session = seed::sessions(&pool, &users, 1).await?.remove(0);
    pool.close().await;
    let addr = metrics_port.map(|port| format!("127.0.0.1:{port}"));
    let env: Vec<(&str, &str)> = addr
        .iter()
        .map(|addr| ("BOUNCER_METRICS_ADDR", addr.as_str()))
        .collect();
    let node = node::Node::start_with(server, &url, &env).await?;
    Ok(Side {
        node,
        cookie: session.cookie,
        metrics_port,
        requests: 0,
    })
}

/// Scrapes the metrics once and checks they are the server's.
async fn scrape(port: u16) -> anyhow::Result<()> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await?
        .text()
        .await?;
    if !text.contains("bouncer_tabs_connected") {
        bail!("the metrics endpoint answered something else: {text:.200}");
    }
    Ok(())
}

/// Measures `rounds` rounds of `seconds` on each side and adds row 5b.
pub async fn run(
    server: &Path,
    seconds: Duration,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = crate::tempdir()?;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut sides = [
        side(server, &dir, None).await?,
        side(server, &dir, Some(metrics_port)).await?,
    ];
    for side in &sides {
        // Warm up (the first check of a session reads it from the database).
        hammer(side, Duration::from_secs(1)).await?;
    }
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let side = &mut sides[i];
            side.requests += hammer(side, seconds).await?;
            if let Some(port) = side.metrics_port {
                scrape(port).await.context("the metrics under load")?;
            }
        }
    }
    let total = seconds.as_secs_f64() * rounds as f64;
    let [off, on] = [&sides[0], &sides[1]].map(|side| side.requests as f64 / total);
    let loss = 1.0 - on / off;
    report.row(Row::new(
        "5b",
        "Row 5's call with metrics on (BOUNCER_METRICS_ADDR, scraped) vs off, two bouncer serve processes",
        "≤ 3 % slower",
        format!(
            "{on:.0} vs {off:.0} requests/s: {:+.1} % ({rounds} alternating rounds of {} s each)",
            -loss * 100.0,
            seconds.as_secs()
        ),
        Some(loss <= MAX_LOSS),
        "throughput",
    ));
    drop(sides);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn activity_url(side: &Side) -> String {
    side.node.url("/api/auth/activity")
}
