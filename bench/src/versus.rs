//! An endpoint of the real application against a bare axum handler, both
//! served by this process on loopback, with the database statements the
//! application ran meanwhile counted (`queries.rs`): rows 5 (an
//! authenticated API call) and 11 (forward authentication).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use axum::http::{Method, StatusCode};

use crate::{queries, seed};

/// Rounds per contest, alternating which side goes first.
const ROUNDS: u32 = 4;

/// The application with one seeded session, and a bare router beside it.
/// Dropping it stops both, so one contest's background work never weighs
/// on the next.
///
/// Each server runs on a runtime of its own (two worker threads, as a
/// `bouncer serve` process has on this machine), not on the load
/// generator's: sharing one runtime, the split of its two workers between
/// the clients' tasks and the server's would decide the figure. In this
/// process still, so the database statements are counted (`queries.rs`).
pub struct Contest {
    app_port: u16,
    bare_port: u16,
    /// The seeded session's `Cookie` header.
    cookie: String,
    dir: PathBuf,
    /// The application and the bare router.
    servers: Option<[Served; 2]>,
}

/// A server on its own runtime, on a thread of its own; dropping it stops
/// the server and waits for the thread.
struct Served {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Runs `serve` on a fresh two-worker runtime until dropped; `serve`
    /// answers the port it listens on, then serves until the future it is
    /// given resolves.
    async fn start<S, F>(name: &str, serve: S) -> anyhow::Result<(u16, Served)>
    where
        S: FnOnce(tokio::sync::oneshot::Receiver<()>) -> F + Send + 'static,
        F: std::future::Future<Output = anyhow::Result<(u16, tokio::task::JoinHandle<()>)>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("bench-{name}"))
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("bench-{name}-main"))
            .spawn(move || {
                runtime.block_on(async move {
                    match serve(stopped).await {
                        Ok((port, serving)) => {
                            let _ = port_tx.send(Ok(port));
                            let _ = serving.await;
                        }
                        Err(e) => {
                            let _ = port_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let port = port_rx
            .await
            .context("the server's thread ended before it listened")??;
        Ok((
            port,
            Served {
                stop: Some(stop),
                thread: Some(thread),
            },
        ))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Contest {
    /// Starts the application on a fresh SQLite database holding one
    /// session, and `bare` on a port of its own.
    pub async fn start(bare: axum::Router) -> anyhow::Result<Contest> {
        use bouncer::{config::Settings, startup::Application};
        let dir = crate::tempdir()?;
        let database_url = format!("sqlite://{}", dir.join("versus.db").display());
        let settings = Settings {
            addr: "127.0.0.1:0".parse()?,
            database_url: database_url.clone(),
            ..Settings::default()
        };
        let (app_port, app) = Served::start("app", move |stopped| async move {
            let app = Application::build(settings).await?;
            let port = app.port();
            let serving = tokio::spawn(async move {
                let _ = app
                    .run_until(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
            Ok((port, serving))
        })
        .await?;
        let pool = seed::open(&database_url).await?;
        let users = seed::users(&pool, 1).await?;
        let session = seed::sessions(&pool, &users, 1).await?.remove(0);
        pool.close().await;
        // Through the application's own accept loop (`bouncer::serve`, with
        // its default limits), so the two differ only in what the
        // application adds to a request: its layers and its handler.
        let (bare_port, bare) = Served::start("bare", move |stopped| async move {
            let defaults = Settings::default();
            let limits = bouncer::serve::Limits {
                total: bouncer::serve::connection_caps(defaults.max_connections).http,
                per_address: defaults.max_connections_per_address,
                header_timeout: defaults.header_timeout,
                proxies: Default::default(),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let port = listener.local_addr()?.port();
            let serving = tokio::spawn(async move {
                let stop = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = bouncer::serve::serve(listener, bare, limits, stop).await {
                    eprintln!("versus: the bare server failed: {e:#}");
                }
            });
            Ok((port, serving))
        })
        .await?;
        Ok(Contest {
            app_port,
            bare_port,
            cookie: session.cookie,
            dir,
            servers: Some([app, bare]),
        })
    }

    /// The application's address, for other requests than the contest's.
    pub fn app_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.app_port)
    }

    /// `method app_path` with the session's cookie against `method
    /// bare_path`, each for `how_long` in all after a second's warm-up (the
    /// first check of a session reads it from the database); both must
    /// answer `expect`. The time is split into `ROUNDS` alternating rounds
    /// (app first, then bare first, …) so that a neighbour's burst on the
    /// shared machine falls on both sides alike. Background statements (the
    /// tailer's poll) are measured in an idle window as long, and subtracted.
    pub async fn run(
        &self,
        (method, expect): (Method, StatusCode),
        app_path: &str,
        bare_path: &str,
        how_long: Duration,
        queries: &queries::Counter,
    ) -> anyhow::Result<Outcome> {
        let app = Target {
            url: self.app_url(app_path),
            cookie: &self.cookie,
        };
        let bare = Target {
            url: format!("http://127.0.0.1:{}{bare_path}", self.bare_port),
            cookie: "",
        };
        let call = (&method, expect);
        app.hammer(call, Duration::from_secs(1)).await?;
        bare.hammer(call, Duration::from_secs(1)).await?;
        let idle_before = queries.count();
        tokio::time::sleep(how_long).await;
        let background = queries.count() - idle_before;
        let round = how_long / ROUNDS;
        let (mut app_requests, mut app_queries, mut bare_requests) = (0, 0, 0);
        for number in 0..ROUNDS {
            if number % 2 == 1 {
                bare_requests += bare.hammer(call, round).await?;
            }
            let before = queries.count();
            app_requests += app.hammer(call, round).await?;
            app_queries += queries.count() - before;
            if number % 2 == 0 {
                bare_requests += bare.hammer(call, round).await?;
            }
        }
        let app_queries = app_queries.saturating_sub(background);
        Ok(Outcome {
            app_requests,
            bare_requests,
            app_queries,
            background,
            how_long,
        })
    }
}

impl Drop for Contest {
    fn drop(&mut self) {
        // The servers first: the database file goes once they have stopped.
        drop(self.servers.take());
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// What a contest measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    app_requests: u64,
    bare_requests: u64,
    /// Statements during the application's run, background subtracted.
    pub app_queries: u64,
    background: u64,
    how_long: Duration,
}

impl Outcome {
    /// The application's requests per bare handler's request.
    pub fn ratio(&self) -> f64 {
        self.app_requests as f64 / self.bare_requests.max(1) as f64
    }

    /// Both rates, the ratio and the statements, as the report shows them.
    pub fn summary(&self, per: &str) -> String {
        let seconds = self.how_long.as_secs_f64();
        format!(
            "{:.0} vs {:.0} requests/s: {:.2}×; {} queries in {} {per}s ({:.4} per {per}; \
             {} background queries per {}s subtracted)",
            self.app_requests as f64 / seconds,
            self.bare_requests as f64 / seconds,
            self.ratio(),
            self.app_queries,
            self.app_requests,
            self.app_queries as f64 / self.app_requests.max(1) as f64,
            self.background,
            self.how_long.as_secs()
        )
    }
}

/// Where the load goes.
pub struct Target<'a> {
    pub url: String,
    /// Sent as `Cookie` unless empty.
    pub cookie: &'a str,
}

impl Target<'_> {
    /// Sends `method` from 32 concurrent keep-alive clients for `how_long`;
    /// returns how many requests answered `expect` (any other answer fails).
    pub async fn hammer(
        &self,
        (method, expect): (&Method, StatusCode),
        how_long: Duration,
    ) -> anyhow::Result<u64> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let deadline = Instant::now() + how_long;
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let mut request = client.request(method.clone(), &self.url);
                if !self.cookie.is_empty() {
                    request = request.header("cookie", self.cookie);
                }
                let url = self.url.clone();
                tokio::spawn(async move {
                    let mut done = 0_u64;
                    while Instant::now() < deadline {
                        let request = request.try_clone().context("a request without a body")?;
                        let response = request.send().await?;
                        if response.status() != expect {
                            bail!("{url} answered {}", response.status());
                        }
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker.await??;
        }
        Ok(total)
    }
}
