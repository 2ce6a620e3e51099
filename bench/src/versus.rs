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

/// The application with one seeded session, and a bare router beside it.
/// Dropping it stops both, so one contest's background work never weighs
/// on the next.
pub struct Contest {
    app_port: u16,
    bare_port: u16,
    /// The seeded session's `Cookie` header.
    cookie: String,
    dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    bare: tokio::task::JoinHandle<std::io::Result<()>>,
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
        let app = Application::build(settings).await?;
        let app_port = app.port();
        let pool = seed::open(&database_url).await?;
        let users = seed::users(&pool, 1).await?;
        let session = seed::sessions(&pool, &users, 1).await?.remove(0);
        pool.close().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare_port = listener.local_addr()?.port();
        let bare = tokio::spawn(async move { axum::serve(listener, bare).await });
        Ok(Contest {
            app_port,
            bare_port,
            cookie: session.cookie,
            dir,
            stop: Some(stop),
            bare,
        })
    }

    /// The application's address, for other requests than the contest's.
    pub fn app_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.app_port)
    }

    /// `method app_path` with the session's cookie against `method
    /// bare_path`, each for `how_long` after a second's warm-up (the first
    /// check of a session reads it from the database); both must answer
    /// `expect`. Background statements (the tailer's poll) are measured in
    /// an idle window as long, and subtracted.
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
        let before = queries.count();
        let app_requests = app.hammer(call, how_long).await?;
        let app_queries = (queries.count() - before).saturating_sub(background);
        let bare_requests = bare.hammer(call, how_long).await?;
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.bare.abort();
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
