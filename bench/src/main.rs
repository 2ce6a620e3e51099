//! `bouncer-bench`: runs Bouncer's benchmarks and writes the report.
//!
//! Every figure comes from a real server: `bouncer serve` processes for the
//! push benchmarks (so their memory is the server's alone), the engine or the
//! whole application in this process where the benchmark is about the code
//! path rather than the network. `scripts/bench.sh` is the one command; with
//! `--smoke` (CI) everything runs at a small scale and the targets are not
//! judged, only that no ending was lost and none was spurious.
//!
//! # Layout
//!
//! - this file: the arguments, the dispatch, and the original benchmarks
//!   (push, end-user, throughput, two-nodes, wasm);
//! - `chaos/`, `soak.rs`, `login_flood.rs`, `hostile.rs`, `idle.rs`,
//!   `forward.rs`, `webhooks.rs`: one benchmark each (`webhooks.rs` two:
//!   `webhooks` and `webhook-nodes`); `metrics_cost.rs`: row 5 with the
//!   metrics on and off;
//! - `node.rs` (server processes), `postgres.rs` (a database per benchmark),
//!   `seed.rs` (users and sessions), `tabs.rs` (tabs that listen once),
//!   `watcher.rs` (tabs that reconnect and resync like the browser),
//!   `memory.rs` (RSS over time), `queries.rs` (statement counter),
//!   `versus.rs` (an endpoint of the app against a bare axum handler);
//!   `receiver.rs` (the webhook receiver process);
//! - `stats.rs` and `report.rs`: percentiles, charts and BENCHMARKS.md.

mod chaos;
mod forward;
mod hostile;
mod idle;
mod login_flood;
mod memory;
mod metrics_cost;
mod node;
mod postgres;
mod queries;
mod receiver;
mod report;
mod seed;
mod soak;
mod stats;
mod tabs;
mod versus;
mod watcher;
mod webhooks;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use clap::Parser;
use report::{Report, Row};
use stats::Samples;

#[derive(Debug, Parser)]
#[command(about = "Runs Bouncer's benchmarks and writes BENCHMARKS.md")]
struct Args {
    /// The `bouncer` binary to benchmark (a release build).
    #[arg(long, default_value = "target/release/bouncer")]
    server: PathBuf,
    /// Where to write the report (and the SVG chart beside it).
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The release hydrate wasm to measure, if built.
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// A PostgreSQL server for the two-node and chaos benchmarks (each makes
    /// its own database there and drops it after).
    #[arg(long, env = "TEST_DATABASE_URL")]
    postgres: Option<String>,
    /// Small numbers, targets not judged: the CI check that the harness works.
    #[arg(long)]
    smoke: bool,
    /// Run only these benchmarks (`push`, `end-user`, `throughput`,
    /// `two-nodes`, `wasm`, `chaos`, `soak`, `login-flood`, `hostile`, `idle`,
    /// `forward-auth`, `webhooks`, `webhook-nodes`); the report keeps the
    /// others' figures from earlier runs.
    #[arg(long)]
    only: Vec<String>,
    /// How long the soak runs, in minutes (default 10; 20 s with `--smoke`).
    #[arg(long, env = "BENCH_SOAK_MINUTES")]
    soak_minutes: Option<f64>,
    /// Replays the chaos run's plan (which sessions end how, in which order,
    /// which sockets are cut); by default a random seed, printed.
    #[arg(long)]
    seed: Option<u64>,
}

/// The scale of one run.
struct Scale {
    tabs: usize,
    revocations: usize,
    stored_users: usize,
    throughput_secs: u64,
    /// Rounds of `throughput_secs` on each side of the metrics comparison.
    metrics_rounds: usize,
    pg_tabs: usize,
    pg_revocations: usize,
}

impl Scale {
    fn of(args: &Args) -> Scale {
        if args.smoke {
            Scale {
                tabs: 300,
                revocations: 50,
                stored_users: 1_000,
                throughput_secs: 1,
                metrics_rounds: 1,
                pg_tabs: 100,
                pg_revocations: 30,
            }
        } else {
            Scale {
                tabs: 15_000,
                revocations: 1_000,
                stored_users: 100_000,
                throughput_secs: 5,
                metrics_rounds: 8,
                pg_tabs: 2_000,
                pg_revocations: 1_000,
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(unknown) = args
        .only
        .iter()
        .find(|name| !report::BENCHMARKS.contains(&name.as_str()))
    {
        bail!(
            "no benchmark named {unknown:?}; there are {}",
            report::BENCHMARKS.join(", ")
        );
    }
    let queries = queries::install();
    let scale = Scale::of(&args);
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut report = Report::new(args.smoke, &args.out);

    if wanted("push") {
        push(&args, &scale, &mut report)
            .await
            .context("the push benchmarks")?;
    }
    if wanted("end-user") {
        end_user(&scale, &mut report)
            .await
            .context("the end-user benchmark")?;
    }
    if wanted("throughput") {
        throughput(&scale, &queries, &mut report)
            .await
            .context("the throughput benchmark")?;
        let seconds = Duration::from_secs(scale.throughput_secs);
        metrics_cost::run(&args.server, seconds, scale.metrics_rounds, &mut report)
            .await
            .context("the metrics' cost")?;
    }
    if wanted("two-nodes") {
        match postgres::required(args.postgres.as_deref(), "two-node")? {
            Some(url) => two_nodes(&args, &scale, &url, &mut report)
                .await
                .context("the two-node benchmark")?,
            None => report.skipped(
                "two-nodes",
                "6",
                "Revoke → tab across two nodes (PostgreSQL)",
                "no TEST_DATABASE_URL",
            ),
        }
    }
    if wanted("wasm") {
        match &args.wasm {
            Some(path) => wasm(path, &mut report)?,
            None => report.skipped(
                "wasm",
                "7",
                "Hydrate wasm size (release)",
                "no --wasm bundle given",
            ),
        }
    }
    if wanted("chaos") {
        match postgres::required(args.postgres.as_deref(), "chaos")? {
            Some(url) => chaos::run(
                &args.server,
                &url,
                &chaos::Scale::of(args.smoke),
                args.seed,
                &mut report,
            )
            .await
            .context("the chaos run")?,
            None => report.skipped(
                "chaos",
                "8",
                "Chaos run (two nodes on PostgreSQL)",
                "no TEST_DATABASE_URL",
            ),
        }
    }
    if wanted("soak") {
        soak::run(
            &args.server,
            &soak::Scale::of(args.smoke, args.soak_minutes),
            &mut report,
        )
        .await
        .context("the soak")?;
    }
    if wanted("webhooks") {
        webhooks::run(&args.server, &webhooks::Scale::of(args.smoke), &mut report)
            .await
            .context("the webhook benchmarks")?;
    }
    if wanted("webhook-nodes") {
        match postgres::required(args.postgres.as_deref(), "webhook-nodes")? {
            Some(url) => webhooks::two_nodes(
                &args.server,
                &url,
                &webhooks::Scale::of(args.smoke),
                &mut report,
            )
            .await
            .context("the two-node webhook run")?,
            None => report.skipped(
                "webhook-nodes",
                "15",
                "Webhooks through two nodes (PostgreSQL)",
                "no TEST_DATABASE_URL",
            ),
        }
    }
    if wanted("login-flood") {
        login_flood::run(
            &args.server,
            &login_flood::Scale::of(args.smoke),
            &mut report,
        )
        .await
        .context("the login flood")?;
    }
    if wanted("idle") {
        idle::run(&args.server, &idle::Scale::of(args.smoke), &mut report)
            .await
            .context("the idle benchmark")?;
    }
    if wanted("hostile") {
        hostile::run(&args.server, &hostile::Scale::of(args.smoke), &mut report)
            .await
            .context("the hostile flood")?;
    }
    if wanted("forward-auth") {
        forward::run(
            Duration::from_secs(scale.throughput_secs),
            &queries,
            &mut report,
        )
        .await
        .context("the forward authentication benchmark")?;
    }
    report.write(&args.out, !args.only.is_empty())?;
    println!("Wrote {}", args.out.display());
    if !report.failures().is_empty() {
        bail!(
            "the benchmarks found failures: {}",
            report.failures().join("; ")
        );
    }
    Ok(())
}

/// 1–3: one node on SQLite with `scale.tabs` tabs: revoke → tab latency,
/// memory per idle tab, end everyone.
async fn push(args: &Args, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let pool = seed::open(&url).await?;
    // `scale.revocations` more sessions than tabs: their tabs replace the
    // revoked ones before everyone is ended, so that ending meets every tab.
    let wanted = scale.tabs + scale.revocations;
    let users = seed::users(&pool, wanted.div_ceil(10)).await?;
    let seeded = seed::sessions(&pool, &users, 10).await?;
    let (sessions, spare) = seeded[..wanted].split_at(scale.tabs);
    pool.close().await;

    let node = node::Node::start(&args.server, &url).await?;
    let admin = signed_in_admin(&node).await?;
    let rss_before = node.rss()?;
    let cookies: Vec<String> = sessions.iter().map(|s| s.cookie.clone()).collect();
    let started = Instant::now();
    let mut tabs = tabs::connect_all(node.port, &cookies, 4, 256).await?;
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = node.rss()?;
    let per_tab = rss_after.saturating_sub(rss_before) as f64 / scale.tabs as f64;
    report.row(Row::new(
        "2",
        "Server memory per idle connected tab",
        "≤ 6 KB",
        format!(
            "{:.1} KB (RSS {:.1} → {:.1} MB with {} tabs, connected in {:.1} s)",
            per_tab / 1024.0,
            rss_before as f64 / 1e6,
            rss_after as f64 / 1e6,
            scale.tabs,
            connect_time.as_secs_f64()
        ),
        Some(per_tab <= 6.0 * 1024.0),
        "push",
    ));

    let Revocations {
        from_response,
        from_request,
        early,
        lost,
    } = revoke_one_at_a_time(&node, &admin, sessions, &mut tabs, scale.revocations).await?;
    let latency = Samples::new("revoke → tab, one node (from the request)", &from_request);
    let target_met = latency.percentile(99.0) <= 3.0;
    report.row(Row::new(
        "1",
        format!("Revoke → tab, one node, {} tabs connected", scale.tabs),
        "from the request: p99 ≤ 3 ms",
        format!(
            "from the request: {}; from the API response: {} ({} of {} tabs were told before \
             the response arrived, counted as 0)",
            latency.summary(),
            Samples::new("", &from_response).summary(),
            early,
            from_response.len(),
        ),
        Some(target_met && lost == 0),
        "push",
    ));
    report.lost_messages(lost);
    report.chart("push", latency);

    let spare: Vec<String> = spare.iter().map(|s| s.cookie.clone()).collect();
    tabs.drain(..scale.revocations);
    tabs.extend(tabs::connect_all(node.port, &spare, 4, 256).await?);
    let remaining = &mut tabs[..];
    let (revoked, sent, answered) = revoke_all(&node, &admin).await?;
    let mut first = None::<Instant>;
    let mut last = sent;
    let mut lost = 0;
    // One deadline for all: a tab that is never told must not cost 30 s each.
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = || deadline.saturating_duration_since(Instant::now());
    for tab in remaining.iter_mut() {
        match tab.told(left()).await {
            Some(told) if told.reason == "admin_revoked" => {
                first = Some(first.map_or(told.at, |f| f.min(told.at)));
                last = last.max(told.at);
            }
            _ => lost += 1,
        }
    }
    // Each tab kept reading after its ending, to the server's close.
    let mut last_closed = last;
    let mut not_closed = 0;
    for tab in remaining.iter_mut() {
        match tab.closed(left()).await {
            Some(at) => last_closed = last_closed.max(at),
            None => not_closed += 1,
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let all_told = last - sent;
    let call = answered - sent;
    report.row(Row::new(
        "3",
        format!("End everyone with {} tabs connected", remaining.len()),
        "every tab told within 150 ms",
        format!(
            "last tab told {:.0} ms after the request: {:.0} ms for the API call ({} sessions ended), \
             then {:.0} ms until the last tab was told (the first {:.0} ms after the request); {} not told; \
             the last socket closed by the server {:.0} ms after the request ({} not closed)",
            ms(all_told),
            ms(call),
            revoked["revoked"],
            ms(last.saturating_duration_since(answered)),
            ms(first.unwrap_or(last) - sent),
            lost,
            ms(last_closed - sent),
            not_closed
        ),
        Some(all_told <= Duration::from_millis(150) && lost == 0),
        "push",
    ));
    let per_tab = last.saturating_duration_since(answered).as_secs_f64() * 1e6
        / remaining.len().max(1) as f64;
    report.section(
        "push",
        report::Section {
            title: "End everyone".to_owned(),
            body: format!(
                "{END_EVERYONE} This run: {per_tab:.1} µs of the two cores per tab from the \
                 answer to the last tab told."
            ),
            chart: None,
        },
    );
    report.lost_messages(lost);
    drop(node);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// `POST /api/admin/revoke-all` (admins spared) through `node`: the
/// answer (`{"revoked": n}`), when the call was sent and when answered.
async fn revoke_all(
    node: &node::Node,
    admin: &reqwest::Client,
) -> anyhow::Result<(serde_json::Value, Instant, Instant)> {
    let sent = Instant::now();
    let response = admin
        .post(node.url("/api/admin/revoke-all"))
        .json(&serde_json::json!({ "include_admins": false }))
        .send()
        .await?;
    let answered = Instant::now();
    if !response.status().is_success() {
        bail!("revoke-all answered {}", response.status());
    }
    Ok((response.json().await?, sent, answered))
}

/// What row 3's figure is made of, for the report.
const END_EVERYONE: &str = "The call `POST /api/admin/revoke-all` ends every session in one \
transaction: one `UPDATE … RETURNING` marks the rows ended, one `INSERT` appends a log row per \
session (the sessions travel as one JSON array). After the commit the node applies what it \
wrote from memory (no read-back) and the pusher tells the tabs: per tab one write (message and \
close frame together); the sockets are freed afterwards, in one go, by the reaper, and the load \
generator closes its own only after it has recorded every tab's frame and the server's close. \
The two processes share the same two cores for the whole push, so the last tab's time is their \
work for all the tabs (the server's wake and write, the client's read), not a wait; \
`revoke → tab` for one session is row 1.";

/// What [`revoke_one_at_a_time`] measured.
struct Revocations {
    /// From the revoking call's response to the tab hearing of it (0 when
    /// the tab heard first).
    from_response: Vec<Duration>,
    /// From sending the revoking call to the tab hearing of it.
    from_request: Vec<Duration>,
    /// How many tabs heard before the response arrived.
    early: usize,
    /// How many tabs never heard (within 5 s).
    lost: usize,
}

/// Ends the first `count` sessions one at a time through `node`'s admin API,
/// waiting each time for the session's tab to be told.
async fn revoke_one_at_a_time(
    node: &node::Node,
    admin: &reqwest::Client,
    sessions: &[seed::Seeded],
    tabs: &mut [tabs::Tab],
    count: usize,
) -> anyhow::Result<Revocations> {
    let mut measured = Revocations {
        from_response: Vec::new(),
        from_request: Vec::new(),
        early: 0,
        lost: 0,
    };
    for (session, tab) in sessions.iter().zip(tabs.iter_mut()).take(count) {
        let sent = Instant::now();
        let response = admin
            .delete(node.url(&format!("/api/admin/sessions/{}", session.session_id)))
            .send()
            .await?;
        let answered = Instant::now();
        if response.status() != 204 {
            bail!(
                "revoking {} answered {}",
                session.session_id,
                response.status()
            );
        }
        match tab.told(Duration::from_secs(5)).await {
            Some(told) => {
                if told.at < answered {
                    measured.early += 1;
                }
                measured
                    .from_response
                    .push(told.at.saturating_duration_since(answered));
                measured.from_request.push(told.at - sent);
            }
            None => measured.lost += 1,
        }
    }
    Ok(measured)
}

/// 4: end all sessions of one user among 1,000,000 stored (SQLite), against
/// the classic recipe of scanning every stored session.
async fn end_user(scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    use bouncer_engine::{clock::SystemClock, console::Operator, policy::Policy, Engine};
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("stored.db").display());
    let pool = seed::open(&url).await?;
    let per_user = 10;
    let user_ids = seed::bulk_sessions(&pool, scale.stored_users, per_user).await?;
    let stored = scale.stored_users * per_user;
    let engine = Engine::new(
        pool.clone(),
        Policy::default(),
        std::sync::Arc::new(SystemClock),
        2,
        None,
    )
    .await?;

    let mut bouncer = Vec::new();
    for user in user_ids
        .iter()
        .step_by((user_ids.len() / 20).max(1))
        .take(20)
    {
        let started = Instant::now();
        let ended = engine
            .console()
            .revoke_users(&Operator::CommandLine, std::slice::from_ref(user))
            .await?;
        bouncer.push(started.elapsed());
        if ended != per_user {
            bail!("ended {ended} sessions of {user}, expected {per_user}");
        }
    }
    let mut classic = Vec::new();
    for user in user_ids.iter().rev().take(3) {
        let started = Instant::now();
        classic_end_user(&pool, user).await?;
        classic.push(started.elapsed());
    }
    let bouncer = Samples::new("bouncer", &bouncer);
    let classic = Samples::new("classic", &classic);
    let ratio = classic.percentile(50.0) / bouncer.percentile(50.0);
    report.row(Row::new(
        "4",
        format!("End all sessions of one user, {stored} stored sessions (SQLite)"),
        "≤ 10 ms, ≥ 100× the classic recipe",
        format!(
            "median {:.2} ms (max {:.2} ms over {} users); classic scan-and-decode median {:.0} ms: {:.0}×",
            bouncer.percentile(50.0),
            bouncer.max(),
            bouncer.len(),
            classic.percentile(50.0),
            ratio
        ),
        Some(bouncer.percentile(50.0) <= 10.0 && ratio >= 100.0),
        "end-user",
    ));
    pool.close().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// The classic recipe: read every stored session, decode its data, compare
/// the user, delete the matches.
async fn classic_end_user(pool: &bouncer_engine::db::Pool, user: &str) -> anyhow::Result<usize> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, data FROM classic_store")
        .fetch_all(pool)
        .await?;
    let mut matches = Vec::new();
    for (id, data) in rows {
        let data: serde_json::Value = serde_json::from_str(&data)?;
        if data["user_id"] == user {
            matches.push(id);
        }
    }
    for id in &matches {
        sqlx::query("DELETE FROM classic_store WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(matches.len())
}

/// 5: an authenticated API call through the session check, against a bare
/// axum handler, both served by this process; database queries counted.
async fn throughput(
    scale: &Scale,
    queries: &queries::Counter,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bare = axum::Router::new().route(
        "/bare",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    let contest = versus::Contest::start(bare).await?;
    let outcome = contest
        .run(
            (axum::http::Method::POST, axum::http::StatusCode::NO_CONTENT),
            "/api/auth/activity",
            "/bare",
            Duration::from_secs(scale.throughput_secs),
            queries,
        )
        .await?;
    // The calls are user activity: the session's "last seen" is written
    // behind them, at most once per 30 s (`engine/src/activity.rs`).
    let write_behind = scale.throughput_secs.div_ceil(30);
    report.row(Row::new(
        "5",
        "Authenticated API call (POST /api/auth/activity) vs a bare axum handler",
        "≥ 0.85×, 0 queries per request (but the last-seen write-behind: one per session per 30 s)",
        outcome.summary("request"),
        Some(outcome.ratio() >= 0.85 && outcome.app_queries <= write_behind),
        "throughput",
    ));
    Ok(())
}

/// 6: two nodes on one PostgreSQL database; tabs on A, revocations through B.
async fn two_nodes(
    args: &Args,
    scale: &Scale,
    admin_url: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let database = postgres::Database::create(admin_url, "two_nodes").await?;
    let url = database.url().to_owned();
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, scale.pg_tabs.div_ceil(10)).await?;
    let sessions = seed::sessions(&pool, &users, 10).await?;
    let sessions = &sessions[..scale.pg_tabs];
    pool.close().await;

    let a = node::Node::start(&args.server, &url).await?;
    let b = node::Node::start(&args.server, &url).await?;
    let admin = signed_in_admin(&b).await?;
    let cookies: Vec<String> = sessions.iter().map(|s| s.cookie.clone()).collect();
    let mut tabs = tabs::connect_all(a.port, &cookies, 2, 128).await?;
    let Revocations {
        from_response: latencies,
        lost,
        ..
    } = revoke_one_at_a_time(&b, &admin, sessions, &mut tabs, scale.pg_revocations).await?;
    let latency = Samples::new("revoke → tab, two nodes on PostgreSQL", &latencies);
    report.row(Row::new(
        "6",
        format!(
            "Revoke → tab across two nodes (PostgreSQL), {} tabs on A",
            scale.pg_tabs
        ),
        "p99 ≤ 15 ms",
        latency.summary(),
        Some(latency.percentile(99.0) <= 15.0 && lost == 0),
        "two-nodes",
    ));
    report.lost_messages(lost);
    report.chart("two-nodes", latency);
    drop((a, b));
    database.drop_database().await?;
    Ok(())
}

/// 7: the release hydrate bundle, raw and gzip -9.
fn wasm(path: &std::path::Path, report: &mut Report) -> anyhow::Result<()> {
    let (raw, gzipped) = sizes(path)?;
    // The lazy pages' chunks beside it (scripts/lib.sh, build_frontend): a
    // page loads the main module and only the chunks it needs.
    let mut chunks = (0, 0, 0);
    let dir = path.parent().context("the wasm's folder")?;
    for entry in std::fs::read_dir(dir)? {
        let chunk = entry?.path();
        if chunk != path && chunk.extension().is_some_and(|e| e == "wasm") {
            let (r, g) = sizes(&chunk)?;
            chunks = (chunks.0 + 1, chunks.1 + r, chunks.2 + g);
        }
    }
    report.row(Row::new(
        "7",
        "Hydrate wasm (release, wasm-opt -Oz)",
        "≤ 250 KB gzip",
        format!(
            "main module {raw} B raw, {gzipped} B gzip; the lazy pages' {} chunks, \
             fetched when a page needs them: {} B raw, {} B gzip",
            chunks.0, chunks.1, chunks.2
        ),
        Some(gzipped <= 250 * 1024),
        "wasm",
    ));
    Ok(())
}

/// A file's size, raw and gzipped at the best level.
fn sizes(path: &std::path::Path) -> anyhow::Result<(usize, usize)> {
    use std::io::Write;
    let bytes =
        std::fs::read(path).with_context(|| format!("Failed to read {}", path.display()))?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&bytes)?;
    Ok((bytes.len(), gzip.finish()?.len()))
}

/// A client signed in as the seeded admin on `node`.
async fn signed_in_admin(node: &node::Node) -> anyhow::Result<reqwest::Client> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let response = client
        .post(node.url("/api/auth/login"))
        .json(&serde_json::json!({ "username": seed::ADMIN, "password": seed::ADMIN_PASSWORD }))
        .send()
        .await?;
    if response.status() != 200 {
        bail!("the admin login answered {}", response.status());
    }
    Ok(client)
}

fn tempdir() -> anyhow::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bouncer-bench-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
