//! The login flood (`--only login-flood`): thousands of wrong-password
//! logins at once against one node, and what they do to its memory.
//!
//! Every login costs an argon2id hash of 19 MiB (`engine/src/password.rs`);
//! unbounded, 2,000 at once would want 37 GiB. The engine lets only one hash
//! per core run at once (`src/startup.rs`); the rest wait in a queue that
//! costs a request's worth of memory each. So the peak should stay near
//! `before + bound × 19 MiB + in flight × a request`, which is the target.
//!
//! First the flood comes from many loopback addresses with distinct
//! usernames (half of them real users, half unknown: both cost a hash), so
//! the throttle's counts (5 failures per username and address, 50 per
//! address, per 15 minutes) let them through; its in-flight cap (8 per
//! address) and the password queue (16 waiting per hash at once, then 503)
//! decide how many wait for argon2. Then two waves come from a
//! single address, to show what the throttle does to them. Last, the same
//! flood hits a node whose allocator (glibc) returns every large block as
//! soon as it is freed, to show that what the process keeps does not depend
//! on the allocator's setting.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use anyhow::bail;
use futures_util::future::join_all;

use crate::{
    memory::{self, mb, Sampler},
    node::Node,
    report::{Report, Row, Section},
    seed,
    stats::Samples,
    tabs::source_address,
    tempdir,
};

/// argon2id's memory cost per hash (OWASP: m = 19 MiB).
const ARGON2_BYTES: u64 = 19 * 1024 * 1024;

/// What one waiting login may cost the server on top: its connection,
/// buffers, the parsed request and its task (an idle WebSocket tab costs
/// 11.7 KB; a pending HTTP request a little more).
const PER_REQUEST_BYTES: u64 = 32 * 1024;

/// The size of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Logins in the spread-out flood.
    logins: usize,
    /// Loopback addresses it comes from.
    sources: u8,
    /// Logins per wave from the single address.
    wave: usize,
}

impl Scale {
    pub fn of(smoke: bool) -> Scale {
        if smoke {
            Scale {
                logins: 40,
                sources: 10,
                wave: 10,
            }
        } else {
            Scale {
                logins: 2_000,
                sources: 100,
                wave: 500,
            }
        }
    }
}

/// How one batch of logins was answered.
#[derive(Debug, Default)]
struct Answers {
    /// 401 `invalid_credentials`: the password was hashed and refused.
    refused: usize,
    /// 429 `too_many_attempts`: the throttle answered before any hashing.
    throttled: usize,
    /// 503 `unavailable`: the password queue was full (`hash_queue`).
    busy: usize,
    /// 200: a wrong password accepted. Must never happen.
    accepted: usize,
    /// Any other status, or no answer.
    failed: usize,
    latencies: Vec<Duration>,
    took: Duration,
}

impl Answers {
    fn total(&self) -> usize {
        self.refused + self.throttled + self.busy + self.accepted + self.failed
    }

    fn throttled_share(&self) -> f64 {
        self.throttled as f64 / self.total().max(1) as f64
    }
}

/// The spread-out flood against one fresh node, with its memory.
#[derive(Debug)]
struct Measured {
    before: u64,
    peak: u64,
    /// Two seconds after the last answer.
    after: u64,
    answers: Answers,
}

impl Measured {
    fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }
}

pub async fn run(
    server: &std::path::Path,
    scale: &Scale,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("flood.db").display());
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, scale.logins.div_ceil(2).max(scale.wave * 2)).await?;
    pool.close().await;
    let names: Vec<String> = users.iter().map(|u| u.username.to_string()).collect();
    let logins: Vec<(String, Ipv4Addr)> = (0..scale.logins)
        .map(|k| {
            // Even: a real user with a wrong password; odd: nobody by that name.
            let name = if k % 2 == 0 {
                names[k / 2].clone()
            } else {
                format!("nobody{k}")
            };
            (name, source_address(k, scale.sources))
        })
        .collect();
    let bound = hash_bound();

    let node = Node::start(server, &url).await?;
    let spread = measure(&node, &logins).await?;
    // Then one address, past the spread flood's addresses, on the same node.
    let single = Ipv4Addr::new(127, 0, 0, 2 + scale.sources);
    let first_wave: Vec<(String, Ipv4Addr)> = (0..scale.wave)
        .map(|k| (names[k].clone(), single))
        .collect();
    let second_wave: Vec<(String, Ipv4Addr)> = (scale.wave..scale.wave * 2)
        .map(|k| (names[k].clone(), single))
        .collect();
    let first = flood(&node, &first_wave).await?;
    let second = flood(&node, &second_wave).await?;
    drop(node);

    // The same flood on a node whose allocator returns every large block
    // at once (glibc's mmap threshold fixed at its 128 KiB default instead
    // of rising to the size of the blocks freed): what the hashing permits
    // alone bound.
    let node = Node::start_with(server, &url, &[("MALLOC_MMAP_THRESHOLD_", "131072")]).await?;
    let fixed_threshold = measure(&node, &logins).await?;
    drop(node);
    std::fs::remove_dir_all(&dir).ok();

    let accepted = spread.answers.accepted
        + first.accepted
        + second.accepted
        + fixed_threshold.answers.accepted;
    if accepted > 0 {
        report.fail(format!(
            "login flood: {accepted} wrong passwords were accepted"
        ));
    }
    let allowance = bound as u64 * ARGON2_BYTES + scale.logins as u64 * PER_REQUEST_BYTES;
    let ceiling = spread.before + allowance;
    let answers = &spread.answers;
    let latency = Samples::new("", &answers.latencies);
    let rate = answers.total() as f64 / answers.took.as_secs_f64();
    report.row(Row::new(
        "10",
        format!(
            "Login flood: {} wrong-password logins at once from {} addresses, one node",
            scale.logins, scale.sources
        ),
        "peak RSS ≤ before + argon2 bound × 19 MiB + 32 KiB per login in flight",
        format!(
            "RSS {:.1} MB before, peak {:.1} MB (+{:.1} MB; ceiling {:.1} MB with a bound of {} \
             hashes at once), {:.1} MB after; with a fixed mmap threshold: peak +{:.1} MB; \
             {:.0} logins/s; {} refused (401), {} throttled (429: {:.1} %), {} turned away (503), \
             {} failed",
            mb(spread.before),
            mb(spread.peak),
            mb(spread.growth()),
            mb(ceiling),
            bound,
            mb(spread.after),
            mb(fixed_threshold.growth()),
            rate,
            answers.refused,
            answers.throttled,
            answers.throttled_share() * 100.0,
            answers.busy,
            answers.failed
        ),
        Some(spread.peak <= ceiling && accepted == 0 && answers.failed == 0),
        "login-flood",
    ));
    let body = format!(
        "One node on SQLite. argon2id costs 19 MiB per hash; the server runs at most one hash \
         per core at once (`src/startup.rs`: {bound} here, so at most {:.0} MiB of argon2 \
         memory in use), and every other login waits for a permit (`engine/src/password.rs`). \
         Without that bound, {} logins at once would want {:.1} GiB. The target allows the \
         bound's memory plus {} KiB per login in flight for its connection, buffers and task. \
         Before the flood the node has served one real login.\n\n\
         | | |\n| --- | --- |\n\
         | flood | {} logins with wrong passwords at once (half real users, half unknown names), \
         from {} loopback addresses, within the throttle's counts |\n\
         | RSS | {:.1} MB before, peak {:.1} MB (+{:.1} MB, sampled every 20 ms), {:.1} MB two \
         seconds after; ceiling {:.1} MB |\n\
         | answers | {} refused (401), {} throttled (429), {} turned away (503), {} failed, in \
         {:.1} s: {:.0} logins/s; latency {} |\n\
         | the same flood, `MALLOC_MMAP_THRESHOLD_=131072` | RSS {:.1} MB before, peak {:.1} MB \
         (+{:.1} MB), {:.1} MB after |\n\
         | one address, {} at once | {} refused, {} throttled ({:.0} % 429) |\n\
         | the same address, {} more | {} refused, {} throttled ({:.0} % 429) |\n\n\
         **The permits bound the memory too, because the work areas are reused.** Each \
         verification runs in one of the hasher's argon2 work areas (`engine/src/password.rs`, \
         `verify_in`), allocated once per permit. Before that, every hash allocated and freed \
         its own 19 MiB: glibc's malloc served the first with `mmap`, then raised its mmap \
         threshold to that size, so later ones came from the heap of whichever thread hashed \
         and stayed resident (at `a58e83d` this flood peaked at +558.6 MB). The second flood, \
         with the threshold fixed, shows the allocator's setting no longer matters.\n\n\
         The password queue holds 16 logins per hash at once and turns the rest away at \
         once with 503 and `Retry-After` (`engine/src/hash_queue.rs`), and the throttle counts \
         a guess when it starts, with at most 8 in flight per address: so most of the flood \
         is answered at once, and only the queue's share waits for argon2. From one address, \
         the first wave gets its 5 guesses per account and the in-flight share; the rest are \
         429 before any hashing.",
        bound as f64 * 19.0,
        scale.logins,
        scale.logins as f64 * 19.0 / 1024.0,
        PER_REQUEST_BYTES / 1024,
        scale.logins,
        scale.sources,
        mb(spread.before),
        mb(spread.peak),
        mb(spread.growth()),
        mb(spread.after),
        mb(ceiling),
        answers.refused,
        answers.throttled,
        answers.busy,
        answers.failed,
        answers.took.as_secs_f64(),
        rate,
        latency.summary(),
        mb(fixed_threshold.before),
        mb(fixed_threshold.peak),
        mb(fixed_threshold.growth()),
        mb(fixed_threshold.after),
        scale.wave,
        first.refused,
        first.throttled,
        first.throttled_share() * 100.0,
        scale.wave,
        second.refused,
        second.throttled,
        second.throttled_share() * 100.0,
    );
    report.section(
        "login-flood",
        Section {
            title: "Login flood".to_owned(),
            body,
            chart: None,
        },
    );
    Ok(())
}

/// One real login first (the server has hashed once, as any running one
/// has), then `logins` at once, with the node's RSS sampled every 20 ms.
async fn measure(node: &Node, logins: &[(String, Ipv4Addr)]) -> anyhow::Result<Measured> {
    let warm = reqwest::Client::new()
        .post(node.url("/api/auth/login"))
        .json(&serde_json::json!({ "username": seed::ADMIN, "password": seed::ADMIN_PASSWORD }))
        .send()
        .await?;
    if warm.status() != 200 {
        bail!("the admin login answered {}", warm.status());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = node.rss()?;
    let sampler = Sampler::start(node.pid(), Duration::from_millis(20));
    let answers = flood(node, logins).await?;
    let samples = sampler.finish().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Measured {
        before,
        peak: memory::peak(&samples).max(before),
        after: node.rss()?,
        answers,
    })
}

/// How many hashes the server runs at once: one per core, as
/// `src/startup.rs` decides it (the server runs on this machine).
fn hash_bound() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Sends every (username, source address) login at once, each on its own
/// connection, with a wrong password; waits for every answer.
async fn flood(node: &Node, logins: &[(String, Ipv4Addr)]) -> anyhow::Result<Answers> {
    let mut clients = std::collections::HashMap::new();
    for (_, source) in logins {
        if !clients.contains_key(source) {
            let client = reqwest::Client::builder()
                .local_address(IpAddr::V4(*source))
                .timeout(Duration::from_secs(600))
                .build()?;
            clients.insert(*source, client);
        }
    }
    let url = node.url("/api/auth/login");
    let started = Instant::now();
    let answers = join_all(logins.iter().enumerate().map(|(k, (name, source))| {
        let request = clients[source].post(&url).json(&serde_json::json!({
            "username": name,
            "password": format!("not-the-password-{k}"),
        }));
        async move {
            let sent = Instant::now();
            let status = request.send().await.map(|r| r.status().as_u16());
            (status, sent.elapsed())
        }
    }))
    .await;
    let mut tally = Answers {
        took: started.elapsed(),
        ..Answers::default()
    };
    for (status, latency) in answers {
        match status {
            Ok(401) => tally.refused += 1,
            Ok(429) => tally.throttled += 1,
            Ok(503) => tally.busy += 1,
            Ok(200) => tally.accepted += 1,
            _ => tally.failed += 1,
        }
        tally.latencies.push(latency);
    }
    Ok(tally)
}
