//! The event feed's benchmarks: webhooks delivered to a real receiver
//! (`receiver.rs`: Node.js verifying each request with the Standard
//! Webhooks reference library) and the SSE stream.
//!
//! - `--only webhooks` (one node on SQLite): events delivered per second to
//!   one endpoint; the lag from an ending's commit to its webhook's arrival
//!   and to its SSE message, while idle; ending everyone with and without a
//!   webhook endpoint.
//! - `--only webhook-nodes` (two nodes on PostgreSQL): thousands of
//!   sessions ended through both nodes while the delivering node is killed
//!   twice and the receiver answers 500 for a while; every event must
//!   arrive, in order, verified, repeated only by id.
//!
//! "Commit" is read as the revoking call's response: the commit happens
//! just before it, so a lag is measured from a moment slightly after the
//! commit (and counted as 0 when the event arrived before the response).

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context};
use bouncer_wire as wire;

use crate::{
    node::Node,
    postgres::Database,
    receiver::{add_webhook, Receiver},
    report::{Report, Row, Section},
    revoke_all, seed, signed_in_admin,
    stats::Samples,
    tempdir,
};

/// The scale of one run.
#[derive(Debug)]
pub struct Scale {
    /// Sessions ended at once for the delivery rate.
    burst: usize,
    /// Endings, one at a time, for the lags.
    lag_samples: usize,
    /// Sessions of "end everyone".
    everyone: usize,
    /// How often each side of "end everyone" is measured.
    repeats: usize,
    /// Sessions ended through two nodes.
    nodes_sessions: usize,
}

impl Scale {
    pub fn of(smoke: bool) -> Scale {
        if smoke {
            Scale {
                burst: 300,
                lag_samples: 20,
                everyone: 300,
                repeats: 1,
                nodes_sessions: 300,
            }
        } else {
            Scale {
                burst: 10_000,
                lag_samples: 300,
                everyone: 15_000,
                repeats: 3,
                nodes_sessions: 10_000,
            }
        }
    }
}

/// Wall-clock milliseconds since the epoch (the receiver stamps arrivals
/// with the same clock).
fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// A fresh SQLite database with `sessions` seeded sessions (and the admin).
async fn seeded_sqlite(
    sessions: usize,
) -> anyhow::Result<(std::path::PathBuf, String, Vec<seed::Seeded>)> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, sessions.div_ceil(10)).await?;
    let mut seeded = seed::sessions(&pool, &users, 10).await?;
    seeded.truncate(sessions);
    pool.close().await;
    Ok((dir, url, seeded))
}

/// Ends every session but the admin's; returns how long the call took.
async fn end_everyone(node: &Node, admin: &reqwest::Client) -> anyhow::Result<Duration> {
    let (_, sent, answered) = revoke_all(node, admin).await?;
    Ok(answered - sent)
}

/// Row 15's ceiling: events per second the receiver takes when a client
/// that does nothing else sends it `count` signed events, shaped like
/// Bouncer's, one request at a time over one kept-alive connection (bodies
/// and signatures made beforehand). Delivery in order is one request at a
/// time, so no sender gets further than this with this receiver.
async fn receiver_ceiling(receiver: &Receiver, count: usize) -> anyhow::Result<f64> {
    let key = bouncer::webhooks::signature::SigningKey::parse(&receiver.secret)?;
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // An ending by an admin, as the feed writes one.
    let template: wire::Event = serde_json::from_value(serde_json::json!({
        "seq": 0,
        "id": "evt_0",
        "type": "session.ended",
        "at": "2026-11-29T12:00:00.123Z",
        "user_id": "u_0",
        "actor": {"kind": "staff", "name": "admin", "id": format!("u_{:032}", 1)},
        "session_id": "s_0",
        "reason": "admin_revoked",
    }))?;
    let requests = (1..=i64::try_from(count)?)
        .map(|seq| {
            let mut event = template.clone();
            event.seq = seq;
            event.id = wire::Event::id_of(seq);
            event.user_id = format!("u_{seq:032}");
            event.session_id = Some(format!("s_{seq:032}"));
            let id = event.id.clone();
            let body = serde_json::to_vec(&event)?;
            let signature = key.sign(&id, timestamp, &body);
            Ok((id, body, signature))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .no_proxy()
        .build()?;
    let url = receiver.url("/ceiling");
    let started = Instant::now();
    for (id, body, signature) in requests {
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!(
                "the receiver refused a ceiling request: {}",
                answer.status()
            );
        }
        answer.bytes().await?;
    }
    let took = started.elapsed();
    let counts = receiver.counts("/ceiling").await?;
    if counts.received != count || counts.invalid > 0 {
        bail!("the receiver's ceiling run: {counts:?} of {count}");
    }
    Ok(count as f64 / took.as_secs_f64().max(1e-9))
}

/// Rows 11–14.
pub async fn run(server: &Path, scale: &Scale, report: &mut Report) -> anyhow::Result<()> {
    let receiver = Receiver::spawn().await?;
    let (dir, url, seeded) = seeded_sqlite(scale.burst + scale.lag_samples).await?;
    add_webhook(
        server,
        &url,
        &receiver.url("/ended"),
        "session.ended",
        &receiver.secret,
    )
    .await?;
    let node = Node::start(server, &url).await?;
    let admin = signed_in_admin(&node).await?;

    // 12, 13: one ending at a time, idle between.
    let (singles, burst) = seeded.split_at(scale.lag_samples);
    let (webhook_lag, sse_lag) = lags(&node, &admin, &receiver, singles).await?;
    let webhook = Samples::new("ending → webhook arrival", &webhook_lag);
    let sse = Samples::new("ending → SSE message", &sse_lag);
    for (number, what, samples, target_ms) in [
        ("16", "webhook's arrival", &webhook, 50.0),
        ("17", "SSE message", &sse, 10.0),
    ] {
        report.row(Row::new(
            number,
            format!("An ending's commit → its {what}, idle (one node, SQLite)"),
            &format!("p99 ≤ {target_ms} ms"),
            samples.summary(),
            Some(samples.percentile(99.0) <= target_ms && samples.len() == singles.len()),
            "webhooks",
        ));
    }

    // 11: the rest at once, one transaction: the endpoint's backlog.
    let committed = wall_ms();
    end_everyone(&node, &admin).await?;
    let total = singles.len() + burst.len();
    let counts = receiver
        .until("/ended", total, Duration::from_secs(300))
        .await?;
    let arrivals = receiver.arrivals("/ended").await?;
    let times = &arrivals.arrived_at[singles.len().min(arrivals.arrived_at.len())..];
    let (first, last) = (
        times.first().copied().unwrap_or(committed),
        times.last().copied().unwrap_or(committed),
    );
    let rate = times.len().saturating_sub(1) as f64 / ((last - first) / 1e3).max(1e-9);
    let complete = counts.received == total && counts.invalid == 0 && counts.out_of_order == 0;
    if !complete {
        report.fail(format!("webhook burst: {counts:?} of {total}"));
    }
    let ceiling = receiver_ceiling(&receiver, times.len()).await?;
    report.row(Row::new(
        "15",
        "Webhooks delivered to one endpoint on loopback (one event per request, kept-alive)",
        "≥ 5,000 events/s",
        format!(
            "{rate:.0} events/s: {} `session.ended` events committed at once, first to last \
             arrival {:.0} ms (the last {:.0} ms after the commit); each verified by the \
             receiver, {} repeated, {} out of order; the receiver alone, fed the same number \
             of signed requests one at a time by a client doing nothing else: {ceiling:.0} \
             events/s",
            times.len(),
            last - first,
            last - committed,
            counts.duplicates,
            counts.out_of_order
        ),
        Some(rate >= 5_000.0 && complete),
        "webhooks",
    ));
    report.chart("webhooks", webhook);
    report.chart("webhooks", sse);
    drop(node);
    std::fs::remove_dir_all(&dir).ok();

    // 14: end everyone, without and with an endpoint, alternately.
    let mut without = Vec::new();
    let mut with = Vec::new();
    for round in 0..scale.repeats {
        for delivering in [false, true] {
            let (dir, url, seeded) = seeded_sqlite(scale.everyone).await?;
            let path = format!("/everyone{round}");
            if delivering {
                add_webhook(
                    server,
                    &url,
                    &receiver.url(&path),
                    "session.ended",
                    &receiver.secret,
                )
                .await?;
            }
            let node = Node::start(server, &url).await?;
            let admin = signed_in_admin(&node).await?;
            let took = end_everyone(&node, &admin).await?;
            if delivering {
                let counts = receiver
                    .until(&path, seeded.len(), Duration::from_secs(300))
                    .await?;
                if counts.received != seeded.len() || counts.invalid > 0 {
                    report.fail(format!("end everyone with webhooks: {counts:?}"));
                }
                with.push(took);
            } else {
                without.push(took);
            }
            drop(node);
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    let median = |d: &mut Vec<Duration>| {
        d.sort_unstable();
        d[d.len() / 2]
    };
    let (without, with) = (median(&mut without), median(&mut with));
    let slower = with.as_secs_f64() / without.as_secs_f64() - 1.0;
    report.row(Row::new(
        "18",
        format!(
            "End everyone ({} sessions) with a webhook endpoint vs without",
            scale.everyone
        ),
        "≤ 10 % slower",
        format!(
            "{:.0} ms with, {:.0} ms without ({:+.1} %; median of {} each, alternating); \
             every ending then delivered and verified",
            with.as_secs_f64() * 1e3,
            without.as_secs_f64() * 1e3,
            slower * 100.0,
            scale.repeats
        ),
        Some(slower <= 0.10),
        "webhooks",
    ));
    report.section(
        "webhooks",
        Section {
            title: "Webhooks and the event stream".to_owned(),
            body: METHOD.to_owned(),
            chart: None,
        },
    );
    Ok(())
}

const METHOD: &str = "One `bouncer serve` on SQLite, one endpoint subscribed to \
`session.ended` at a receiver on loopback (`tests/webhook-receiver`: Node.js verifying every \
request with the `standardwebhooks` npm library, deduplicating by `webhook-id` and stamping \
first arrivals with the wall clock). Rows 12–13 end one session at a time \
(`DELETE /api/admin/sessions/{id}`), 20 ms apart, with an admin's \
`GET /api/admin/events/stream` open; the lag runs from the revoking call's response (just \
after the commit) to the receiver's stamp, or to the SSE message read here. Row 15 then ends \
the other seeded sessions in one `POST /api/admin/revoke-all` and divides the events by the \
time from their first arrival to the last: one request per event, in order, each waiting for \
the previous one's answer. Row 18 \
times `POST /api/admin/revoke-all` on a fresh node with and without the endpoint; the \
deliveries run behind the call, on the same two cores.";

/// Ends `sessions` one at a time; returns each ending's webhook lag and
/// SSE lag.
async fn lags(
    node: &Node,
    admin: &reqwest::Client,
    receiver: &Receiver,
    sessions: &[seed::Seeded],
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut stream = admin
        .get(node.url("/api/admin/events/stream"))
        .send()
        .await?;
    if stream.status() != 200 {
        bail!("the event stream answered {}", stream.status());
    }
    let mut buffer = String::new();
    let mut answered = Vec::with_capacity(sessions.len());
    let mut sse = Vec::with_capacity(sessions.len());
    for session in sessions {
        let sent = admin.delete(node.url(&format!("/api/admin/sessions/{}", session.session_id)));
        let response = sent.send().await?;
        let (at, wall) = (Instant::now(), wall_ms());
        if response.status() != 204 {
            bail!(
                "revoking {} answered {}",
                session.session_id,
                response.status()
            );
        }
        answered.push(wall);
        // The next message block with data (heartbeats are comments).
        let heard = loop {
            if let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if block.contains("\ndata:") || block.starts_with("data:") {
                    break Instant::now();
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
                .await
                .context("no SSE message within 5 s")??
                .context("the event stream closed")?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        };
        sse.push(heard.saturating_duration_since(at));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver
        .until("/ended", sessions.len(), Duration::from_secs(30))
        .await?;
    let arrivals = receiver.arrivals("/ended").await?;
    let webhook = arrivals
        .arrived_at
        .iter()
        .zip(&answered)
        .map(|(arrived, answered)| Duration::from_secs_f64(((arrived - answered) / 1e3).max(0.0)))
        .collect();
    Ok((webhook, sse))
}

/// Row 19: two nodes on PostgreSQL, the delivering node killed twice.
pub async fn two_nodes(
    server: &Path,
    postgres: &str,
    scale: &Scale,
    report: &mut Report,
) -> anyhow::Result<()> {
    let database = Database::create(postgres, "webhooks").await?;
    let pool = seed::open(database.url()).await?;
    let users = seed::users(&pool, scale.nodes_sessions.div_ceil(10)).await?;
    seed::sessions(&pool, &users, 10).await?;
    let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
        .fetch_one(&pool)
        .await?;
    let receiver = Receiver::spawn().await?;
    add_webhook(
        server,
        database.url(),
        &receiver.url("/ended"),
        "session.ended",
        &receiver.secret,
    )
    .await?;
    let mut nodes = [
        Node::start(server, database.url()).await?,
        Node::start(server, database.url()).await?,
    ];
    let admins = [
        signed_in_admin(&nodes[0]).await?,
        signed_in_admin(&nodes[1]).await?,
    ];
    let started = Instant::now();
    let mut crashes = Vec::new();
    let quarters: Vec<_> = users.chunks(users.len().div_ceil(4)).collect();
    for (quarter, users) in quarters.iter().enumerate() {
        for (i, user) in users.iter().enumerate() {
            let n = i % 2;
            let response = admins[n]
                .post(nodes[n].url(&format!("/api/admin/users/{}/revoke", user.id)))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("revoking {} answered {}", user.id, response.status());
            }
        }
        match quarter {
            0 | 2 => {
                let holder = delivering(&pool, &nodes).await?;
                crashes.push(nodes[holder].crash_and_restart().await?);
            }
            1 => receiver.fail_for(Duration::from_secs(3)).await?,
            _ => {}
        }
    }
    let ended_in = started.elapsed();
    let expected: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM events WHERE type = 'session.ended' AND seq > $1 ORDER BY seq",
    )
    .bind(before)
    .fetch_all(&pool)
    .await?;
    let counts = receiver
        .until("/ended", expected.len(), Duration::from_secs(300))
        .await?;
    let drained = started.elapsed();
    let arrivals = receiver.arrivals("/ended").await?;
    let in_order = arrivals.seqs == expected;
    let met = in_order && counts.invalid == 0 && counts.out_of_order == 0;
    if !met {
        report.fail(format!(
            "webhooks through two nodes: {} of {} events, {counts:?}",
            arrivals.seqs.len(),
            expected.len()
        ));
    }
    report.row(Row::new(
        "19",
        format!(
            "Webhooks: {} sessions ended through two nodes (PostgreSQL), the delivering node \
             killed twice, the receiver failing for 3 s",
            expected.len()
        ),
        "every event, in order, verified; repeats only by id",
        format!(
            "{} of {} arrived in order, {} failed verification, {} repeated by id, {} answered \
             500; ended in {:.1} s, all delivered {:.1} s after the first ending; node down \
             {:.1} s and {:.1} s",
            arrivals.seqs.len(),
            expected.len(),
            counts.invalid,
            counts.duplicates,
            counts.failed,
            ended_in.as_secs_f64(),
            drained.as_secs_f64(),
            crashes.first().map_or(0.0, Duration::as_secs_f64),
            crashes.get(1).map_or(0.0, Duration::as_secs_f64),
        ),
        Some(met),
        "webhook-nodes",
    ));
    drop(nodes);
    pool.close().await;
    database.drop_database().await?;
    Ok(())
}

/// Which of `nodes` holds the webhook lease (waiting up to 10 s for one).
async fn delivering(pool: &bouncer_engine::db::Pool, nodes: &[Node; 2]) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holder: Option<String> =
            sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'webhooks'")
                .fetch_optional(pool)
                .await?;
        if let Some(holder) = holder {
            if let Some(n) = nodes
                .iter()
                .position(|node| holder.starts_with(&format!("pid{}-", node.pid())))
            {
                return Ok(n);
            }
        }
        if Instant::now() > deadline {
            bail!("no node holds the webhook lease");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
