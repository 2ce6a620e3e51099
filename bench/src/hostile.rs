//! The hostile flood (`--only hostile`): issue 15's attacker, all at once,
//! while a real person signs in.
//!
//! `in_flight` clients from `sources` loopback addresses keep a login each in
//! flight for `seconds`, sending the next as soon as the last is answered
//! (an attacker ignores `Retry-After`). The logins take turns at four kinds:
//!
//! - a 1 MB password for the victim's account, and a 1 MB username: the body
//!   limit must refuse them before anything reads them;
//! - a wrong password for the victim: the throttle must keep all but a few
//!   from reaching argon2;
//! - a wrong password for a name nobody has (a new one each time): each
//!   costs a hash until its address's limit, so the password queue fills.
//!
//! Meanwhile the victim, from the address they signed in from the day
//! before, signs in once a second with a new connection, as a browser does.
//! Targets (issue 15): their sign-in's p99 ≤ 1 s from the request sent;
//! the node's peak RSS ≤ 150 MB; the guesses at the victim that reach
//! argon2 no more than the throttle allows one account in that time.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use bouncer_engine::throttle::Limits;
use reqwest::{header, StatusCode};

use crate::{
    memory::{self, mb, Sampler},
    node::Node,
    report::{Report, Row, Section},
    seed,
    stats::Samples,
    tabs::source_address,
    tempdir,
};

/// The size of one run.
#[derive(Debug, Clone)]
pub struct Scale {
    in_flight: usize,
    sources: u8,
    seconds: u64,
}

impl Scale {
    pub fn of(smoke: bool) -> Scale {
        if smoke {
            Scale {
                in_flight: 100,
                sources: 10,
                seconds: 5,
            }
        } else {
            Scale {
                in_flight: 2_000,
                sources: 100,
                seconds: 30,
            }
        }
    }
}

/// The targets.
const PERSON_P99: Duration = Duration::from_secs(1);
const PEAK_RSS: u64 = 150 * 1000 * 1000;

/// A field of the flood's huge logins.
const HUGE: usize = 1_000_000;

/// The kinds of hostile login, in the order the clients take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    HugePassword,
    HugeUsername,
    Guess,
    Nobody,
}

const KINDS: [Kind; 4] = [
    Kind::HugePassword,
    Kind::HugeUsername,
    Kind::Guess,
    Kind::Nobody,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::HugePassword => "1 MB password",
            Kind::HugeUsername => "1 MB username",
            Kind::Guess => "guess at the victim",
            Kind::Nobody => "unknown name",
        }
    }
}

/// How the flood's logins were answered: per kind, per status (`0`: the
/// connection closed before an answer, as it may when a server refuses a
/// body it will not read).
#[derive(Debug, Default)]
struct Tally(Mutex<HashMap<(Kind, u16), usize>>);

impl Tally {
    fn add(&self, kind: Kind, status: u16) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((kind, status))
            .or_default() += 1;
    }

    fn of(&self, kind: Kind, status: u16) -> usize {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&(kind, status)).copied().unwrap_or(0)
    }

    /// `413 × 12000, closed × 40` for one kind.
    fn describe(&self, kind: Kind) -> String {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut of_kind: Vec<(u16, usize)> = counts
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, status), n)| (*status, *n))
            .collect();
        of_kind.sort_unstable();
        let parts: Vec<String> = of_kind
            .iter()
            .map(|(status, n)| match status {
                0 => format!("closed × {n}"),
                s => format!("{s} × {n}"),
            })
            .collect();
        parts.join(", ")
    }

    fn total(&self) -> usize {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.values().sum()
    }
}

/// The most password checks one account lets through from addresses new to
/// it in `run`: its free failures, then one per doubling delay that fits
/// (`engine/src/throttle.rs`).
fn account_allowance(limits: &Limits, run: Duration) -> usize {
    let mut allowed = limits.per_account_free;
    let mut delay = limits.first_delay;
    let mut waited = Duration::ZERO;
    while waited + delay <= run {
        waited += delay;
        allowed += 1;
        delay = (delay * 2).min(limits.max_delay);
    }
    allowed
}

pub async fn run(
    server: &std::path::Path,
    scale: &Scale,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite://{}", dir.join("hostile.db").display());
    let pool = seed::open(&url).await?;
    let users = seed::users(&pool, 1).await?;
    pool.close().await;
    let victim = users[0].username.to_string();
    let node = Node::start(server, &url).await?;

    // The victim signed in from home before: the address is known to the
    // account, as a real person's usually is.
    let home = Ipv4Addr::LOCALHOST;
    let first = sign_in(&node.url("/api/auth/login"), home, &victim).await?;
    if first.0 != StatusCode::OK {
        bail!("the victim's first sign-in answered {}", first.0);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = node.rss()?;
    let sampler = Sampler::start(node.pid(), Duration::from_millis(20));

    let huge_password = serde_json::json!({"username": victim, "password": "p".repeat(HUGE)});
    let huge_username = serde_json::json!({"username": "u".repeat(HUGE), "password": "x"});
    let bodies = Arc::new([bytes_of(&huge_password), bytes_of(&huge_username)]);
    let tally = Arc::new(Tally::default());
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(scale.seconds);
    let mut clients = HashMap::new();
    for k in 0..usize::from(scale.sources) {
        let source = source_address(k, scale.sources);
        clients.insert(source, client_from(source)?);
    }
    let login = node.url("/api/auth/login");
    let mut workers = Vec::with_capacity(scale.in_flight);
    for k in 0..scale.in_flight {
        let client = clients[&source_address(k, scale.sources)].clone();
        let (login, bodies, tally, sent, victim) = (
            login.clone(),
            Arc::clone(&bodies),
            Arc::clone(&tally),
            Arc::clone(&sent),
            victim.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut turn = k;
            while Instant::now() < until {
                let kind = KINDS[turn % KINDS.len()];
                turn += 1;
                let n = sent.fetch_add(1, Ordering::Relaxed);
                let request = client
                    .post(&login)
                    .header(header::CONTENT_TYPE, "application/json");
                let request = match kind {
                    Kind::HugePassword => request.body(bodies[0].clone()),
                    Kind::HugeUsername => request.body(bodies[1].clone()),
                    Kind::Guess => request.json(&serde_json::json!({
                        "username": victim, "password": format!("guess-{n}")})),
                    Kind::Nobody => request.json(&serde_json::json!({
                        "username": format!("nobody{n}"), "password": "guess"})),
                };
                let status = request.send().await.map_or(0, |r| r.status().as_u16());
                tally.add(kind, status);
            }
        }));
    }

    // The person: once a second, a new connection from home, on a thread
    // and runtime of their own. A real person's browser does not queue
    // behind the attacker's tasks: sharing the load generator's runtime
    // would count the flood's own scheduling in the person's wait.
    let person_url = node.url("/api/auth/login");
    let person_victim = victim.clone();
    let person = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut took = Vec::new();
            let mut failed = 0;
            let mut next = Instant::now();
            while next < until {
                tokio::time::sleep_until(next.into()).await;
                next += Duration::from_secs(1);
                match sign_in(&person_url, home, &person_victim).await {
                    Ok((StatusCode::OK, time)) => took.push(time),
                    Ok((status, time)) => {
                        eprintln!("hostile: the person's sign-in answered {status} after {time:?}");
                        failed += 1;
                    }
                    Err(e) => {
                        eprintln!("hostile: the person's sign-in failed: {e:#}");
                        failed += 1;
                    }
                }
            }
            anyhow::Ok((took, failed))
        })
    });
    let (person, person_failed) = tokio::task::spawn_blocking(move || person.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the person's thread panicked"))??;
    for worker in workers {
        worker.await?;
    }
    let took = started.elapsed();
    let samples = sampler.finish().await?;
    let peak = memory::peak(&samples).max(before);
    drop(node);
    std::fs::remove_dir_all(&dir).ok();

    let allowance = account_allowance(&Limits::default(), took);
    let guesses = tally.of(Kind::Guess, 401);
    let wrong_accepted: usize = KINDS.iter().map(|kind| tally.of(*kind, 200)).sum();
    if wrong_accepted > 0 {
        report.fail(format!(
            "hostile: {wrong_accepted} hostile logins were accepted"
        ));
    }
    let person = Samples::new("", &person);
    let p99 = Duration::from_secs_f64(person.percentile(99.0) / 1e3);
    let met = person_failed == 0
        && person.len() > 0
        && p99 <= PERSON_P99
        && peak <= PEAK_RSS
        && guesses <= allowance
        && wrong_accepted == 0;
    let total = tally.total();
    report.row(Row::new(
        "13",
        format!(
            "Hostile flood: {} logins in flight from {} addresses for {} s (1 MB fields, guesses \
             at one account, unknown names) while the account's owner signs in every second",
            scale.in_flight, scale.sources, scale.seconds
        ),
        "the person's sign-in p99 ≤ 1 s; peak RSS ≤ 150 MB; guesses reaching argon2 for the \
         account ≤ the throttle's limit",
        format!(
            "person: {} ({} failed); RSS {:.1} MB before, peak {:.1} MB; {} guesses at the \
             account reached argon2 (the throttle's limit in {:.0} s: {}); {} hostile logins \
             answered ({:.0}/s), 0 accepted",
            person.summary(),
            person_failed,
            mb(before),
            mb(peak),
            guesses,
            took.as_secs_f64(),
            allowance,
            total,
            total as f64 / took.as_secs_f64(),
        ),
        Some(met),
        "hostile",
    ));
    let kinds: String = KINDS
        .iter()
        .map(|kind| format!("| {} | {} |\n", kind.label(), tally.describe(*kind)))
        .collect();
    let body = format!(
        "One node on SQLite, release build. {} clients from {} loopback addresses each keep one \
         login in flight for {} s, sending the next as soon as the last is answered, taking \
         turns at four kinds: a 1 MB password for the victim's account, a 1 MB username, a \
         wrong password for the victim, a wrong password for a new unknown name. The victim \
         signs in once a second from 127.0.0.1, where they signed in before the flood, each \
         time on a new connection; the latency is from sending the request to its answer. RSS \
         sampled every 20 ms.\n\n\
         | | |\n| --- | --- |\n\
         | the person's sign-ins | {} ({} failed) |\n\
         | RSS | {:.1} MB before, peak {:.1} MB |\n\
         | guesses at the victim that reached argon2 | {} (answered 401); the throttle allows one \
         account {} from addresses new to it in {:.0} s: 10 free failures, then one per doubling \
         delay |\n\
         {}\
         | hostile logins | {} in {:.1} s, 0 accepted |\n\n\
         `closed` is a connection the server closed before the client had finished sending: \
         the body limit answers 413 on `Content-Length` without reading the megabyte. Statuses: \
         401 a hash ran and refused; 429 the throttle refused before hashing; 503 the password \
         queue was full (`engine/src/hash_queue.rs`); 400 a field too long.",
        scale.in_flight,
        scale.sources,
        scale.seconds,
        person.summary(),
        person_failed,
        mb(before),
        mb(peak),
        guesses,
        allowance,
        took.as_secs_f64(),
        kinds,
        total,
        took.as_secs_f64(),
    );
    report.section(
        "hostile",
        Section {
            title: "Hostile flood".to_owned(),
            body,
            chart: None,
        },
    );
    Ok(())
}

/// A body sent many times without a copy each time.
fn bytes_of(value: &serde_json::Value) -> bytes::Bytes {
    bytes::Bytes::from(value.to_string())
}

/// A client whose connections come from `source`, with a generous timeout
/// (a flood's answer may be slow; a hung one must still end the run).
fn client_from(source: Ipv4Addr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// The victim signs in from `source` on a new connection: the status and
/// how long from sending to the answer.
async fn sign_in(
    login: &str,
    source: Ipv4Addr,
    victim: &str,
) -> anyhow::Result<(StatusCode, Duration)> {
    let client = client_from(source)?;
    let sent = Instant::now();
    let answer = client
        .post(login)
        .json(&serde_json::json!({"username": victim, "password": seed::ADMIN_PASSWORD}))
        .send()
        .await?;
    Ok((answer.status(), sent.elapsed()))
}
