//! A tab that behaves like the browser's session watcher
//! (`app/src/watcher.rs`), for the benchmarks that break things on purpose.
//!
//! It keeps one socket open. When the socket closes without
//! `session_ended` — a node restart, a network cut, a refused upgrade — it
//! asks `GET /api/auth/me` how the session stands and reconnects with the
//! watcher's jittered backoff, asking again after every reconnect. It stops
//! at the first sign that the session is over: `session_ended` on the socket
//! (*told*) or a 401 from `/api/auth/me` (*resynced*). Everything it went
//! through is kept in a [`TabLog`] for the verdicts; it never decides
//! whether that was right.

use std::{
    net::Ipv4Addr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::Message;

use crate::tabs::{self, Upgrade};

/// How long an upgrade may take before the tab gives up on it and retries,
/// as a browser's connection attempt would time out.
const UPGRADE_WITHIN: Duration = Duration::from_secs(10);

/// How a tab learnt that its session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// `session_ended` arrived on its socket.
    Told,
    /// `GET /api/auth/me` answered 401 after its socket closed or reopened.
    Resynced,
}

/// The end of a tab's session, as the tab learnt it.
#[derive(Debug, Clone)]
pub struct Ending {
    pub heard: Heard,
    pub at: Instant,
    /// The reason in the message or the 401 body (empty if none was given).
    pub reason: String,
}

/// What one tab went through.
#[derive(Debug, Clone, Default)]
pub struct TabLog {
    /// Set once, when the tab learns its session is over; the tab stops then.
    pub ending: Option<Ending>,
    /// Each socket's life: from its `hello` to its close (`None`: still open).
    pub connections: Vec<(Instant, Option<Instant>)>,
    /// Sockets that closed without `session_ended` while the harness did not
    /// cut them (a restarting node, the hub dropping a stuck tab).
    pub closed_by_server: usize,
    /// Sockets the harness cut ([`WatchedTab::cut`]).
    pub cut: usize,
    /// Upgrades or resyncs that reached no node (it was down).
    pub unreachable: usize,
}

impl TabLog {
    /// Whether a socket is open now.
    pub fn connected(&self) -> bool {
        self.connections
            .last()
            .is_some_and(|(_, closed)| closed.is_none())
    }

    /// Whether a socket was open all the way from `from` to `until`.
    pub fn open_throughout(&self, from: Instant, until: Instant) -> bool {
        self.connections
            .iter()
            .any(|(opened, closed)| *opened <= from && closed.is_none_or(|c| c >= until))
    }

    fn close_connection(&mut self, at: Instant) {
        if let Some((_, closed @ None)) = self.connections.last_mut() {
            *closed = Some(at);
        }
    }
}

/// What every tab of one benchmark shares.
#[derive(Debug, Clone)]
pub struct Browser {
    /// For `GET /api/auth/me` (the cookie is set per request).
    pub http: reqwest::Client,
    /// Turns true when the benchmark is over: every tab closes and stops.
    pub stop: watch::Receiver<bool>,
}

/// The handle of one running tab.
#[derive(Debug, Clone)]
pub struct WatchedTab {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    log: Mutex<TabLog>,
    /// Wakes the tab's socket loop to cut the connection.
    cut: Notify,
}

impl WatchedTab {
    /// Starts a tab for `cookie` on the node at `port`, connecting from
    /// `source`.
    pub fn spawn(browser: &Browser, port: u16, cookie: String, source: Ipv4Addr) -> WatchedTab {
        let shared = Arc::new(Shared::default());
        let tab = Tab {
            shared: shared.clone(),
            port,
            cookie,
            source,
            browser: browser.clone(),
        };
        tokio::spawn(tab.run());
        WatchedTab { shared }
    }

    /// A copy of what the tab went through so far.
    pub fn log(&self) -> TabLog {
        self.lock().clone()
    }

    /// Whether a socket is open now.
    pub fn connected(&self) -> bool {
        self.lock().connected()
    }

    /// Whether the tab learnt that its session is over.
    pub fn ended(&self) -> bool {
        self.lock().ending.is_some()
    }

    /// Cuts the tab's socket, as a network failure would: the tab resyncs
    /// and reconnects after its backoff. Nothing happens while it has no
    /// socket open.
    pub fn cut(&self) {
        self.shared.cut.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TabLog> {
        self.shared.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts one tab per (port, cookie), from `sources` loopback addresses,
/// `parallel` upgrades at a time, and returns once each has had its `hello`
/// (or learnt that its session is over).
pub async fn open_all(
    browser: &Browser,
    tabs: impl IntoIterator<Item = (u16, String)>,
    sources: u8,
    parallel: usize,
) -> anyhow::Result<Vec<WatchedTab>> {
    let mut opened: Vec<WatchedTab> = Vec::new();
    let mut tabs = tabs.into_iter().peekable();
    while tabs.peek().is_some() {
        let first = opened.len();
        for (port, cookie) in tabs.by_ref().take(parallel.max(1)) {
            let source = crate::tabs::source_address(opened.len(), sources);
            opened.push(WatchedTab::spawn(browser, port, cookie, source));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = opened[first..]
                .iter()
                .filter(|tab| !tab.connected() && !tab.ended())
                .count();
            if waiting == 0 {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("{waiting} tabs did not connect within a minute");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(opened)
}

#[cfg(test)]
impl WatchedTab {
    /// A tab that went through `log` without running, for the verdicts' tests.
    pub fn with_log(log: TabLog) -> WatchedTab {
        let shared = Arc::new(Shared::default());
        *shared.log.lock().unwrap_or_else(|p| p.into_inner()) = log;
        WatchedTab { shared }
    }
}

/// The running tab.
struct Tab {
    shared: Arc<Shared>,
    port: u16,
    cookie: String,
    source: Ipv4Addr,
    browser: Browser,
}

/// How a socket's life ended.
enum Closed {
    /// The session is over (told or resynced): the tab is done.
    SessionOver,
    /// The socket went away: resync and reconnect.
    Lost,
    /// The benchmark is over.
    Stop,
}

/// What `GET /api/auth/me` said.
enum Standing {
    Live,
    Over(String),
    /// No node answered, or it answered something else: ask again later.
    Unknown,
}

impl Tab {
    async fn run(mut self) {
        let mut attempts = 0_u32;
        let mut reconnect = false;
        loop {
            if *self.browser.stop.borrow() {
                return;
            }
            let upgrade = tokio::time::timeout(
                UPGRADE_WITHIN,
                tabs::open(self.port, &self.cookie, self.source),
            )
            .await;
            match upgrade {
                Ok(Ok(Upgrade::Open(socket))) => {
                    attempts = 0;
                    match self.serve(*socket, reconnect).await {
                        Closed::SessionOver | Closed::Stop => return,
                        Closed::Lost => {}
                    }
                    reconnect = true;
                }
                // A browser sees a refused upgrade only as a closed socket.
                Ok(Ok(Upgrade::Refused(_))) => {}
                Ok(Err(_)) | Err(_) => self.log().unreachable += 1,
            }
            // Whatever closed it, ask how the session stands, then retry.
            if self.resync().await {
                return;
            }
            attempts = attempts.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(backoff(attempts)) => {}
                _ = self.browser.stop.changed() => return,
            }
        }
    }

    /// Reads one socket until it closes. After a reconnect it resyncs at
    /// once, as the browser does when the socket opens.
    async fn serve(&mut self, mut socket: tabs::Socket, reconnect: bool) -> Closed {
        let shared = self.shared.clone();
        let me = self.me();
        tokio::pin!(me);
        let mut resyncing = reconnect;
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(json) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                            continue;
                        };
                        let now = Instant::now();
                        match json["type"].as_str() {
                            Some("hello") => self.log().connections.push((now, None)),
                            Some("session_ended") => {
                                let reason = json["reason"].as_str().unwrap_or_default();
                                self.end(Heard::Told, now, reason);
                                return Closed::SessionOver;
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    // A close frame, an error or the end of the stream.
                    _ => {
                        let mut log = self.log();
                        log.close_connection(Instant::now());
                        log.closed_by_server += 1;
                        return Closed::Lost;
                    }
                },
                _ = shared.cut.notified() => {
                    let mut log = self.log();
                    log.close_connection(Instant::now());
                    log.cut += 1;
                    return Closed::Lost;
                }
                standing = &mut me, if resyncing => {
                    resyncing = false;
                    if let Standing::Over(reason) = standing {
                        self.end(Heard::Resynced, Instant::now(), &reason);
                        return Closed::SessionOver;
                    }
                }
                _ = self.browser.stop.changed() => return Closed::Stop,
            }
        }
    }

    /// Asks how the session stands; true (and the tab is done) when it is over.
    async fn resync(&mut self) -> bool {
        match self.me().await {
            Standing::Over(reason) => {
                self.end(Heard::Resynced, Instant::now(), &reason);
                true
            }
            Standing::Live => false,
            Standing::Unknown => {
                self.log().unreachable += 1;
                false
            }
        }
    }

    fn me(&self) -> impl std::future::Future<Output = Standing> + 'static {
        let request = self
            .browser
            .http
            .get(format!("http://127.0.0.1:{}/api/auth/me", self.port))
            .header("cookie", &self.cookie);
        async move {
            let Ok(response) = request.send().await else {
                return Standing::Unknown;
            };
            match response.status().as_u16() {
                200 => Standing::Live,
                401 => {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    Standing::Over(body["reason"].as_str().unwrap_or_default().to_owned())
                }
                _ => Standing::Unknown,
            }
        }
    }

    fn end(&self, heard: Heard, at: Instant, reason: &str) {
        let mut log = self.log();
        log.close_connection(at);
        log.ending.get_or_insert(Ending {
            heard,
            at,
            reason: reason.to_owned(),
        });
    }

    fn log(&self) -> std::sync::MutexGuard<'_, TabLog> {
        self.shared.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The browser watcher's reconnect delay after `attempts` failures in a
/// row: 0.5 s, 1 s, 2 s, 4 s, then 8 s, each ±50 % so tabs do not reconnect
/// in lockstep.
fn backoff(attempts: u32) -> Duration {
    let base = 500.0 * 2_f64.powi(attempts.clamp(1, 5) as i32 - 1);
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    Duration::from_millis((base * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_half_a_second_with_jitter() {
        for (attempts, base) in [(1, 500), (2, 1_000), (3, 2_000), (5, 8_000), (9, 8_000)] {
            let delay = backoff(attempts).as_millis() as u64;
            assert!(
                delay >= base / 2 && delay < base * 3 / 2,
                "attempt {attempts}: {delay} ms"
            );
        }
    }

    #[test]
    fn a_tab_was_open_throughout_only_inside_one_connection() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let log = TabLog {
            connections: vec![(at(0), Some(at(100))), (at(200), None)],
            ..TabLog::default()
        };
        assert!(log.open_throughout(at(10), at(90)));
        assert!(!log.open_throughout(at(90), at(210)));
        assert!(log.open_throughout(at(300), at(10_000)));
        assert!(log.connected());
    }
}
