//! The webhook receiver process of the webhook benchmarks
//! (`tests/webhook-receiver/receiver.mjs`, installed by `scripts/lib.sh`):
//! Node.js verifying every request with the Standard Webhooks reference
//! library, deduplicating by id and stamping each first arrival with the
//! wall clock, which this process shares.

use std::{collections::HashMap, path::PathBuf, process::Stdio, time::Duration};

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::{de::DeserializeOwned, Deserialize};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// One path's counters (`GET /_count`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counts {
    pub received: usize,
    pub duplicates: u64,
    pub invalid: u64,
    pub out_of_order: u64,
    pub failed: u64,
}

/// One path's arrivals (`GET /_report`): each event's seq and the epoch
/// milliseconds of its first arrival, in arrival order.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Arrivals {
    pub seqs: Vec<i64>,
    pub arrived_at: Vec<f64>,
}

/// A running receiver; killed when dropped.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The `whsec_` secret it verifies with.
    pub secret: String,
    http: reqwest::Client,
    _process: Child,
}

impl Receiver {
    pub async fn spawn() -> anyhow::Result<Receiver> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/webhook-receiver");
        if !dir.join("node_modules/standardwebhooks").is_dir() {
            bail!(
                "the webhook receiver's packages are missing: run scripts/bench.sh \
                 (scripts/lib.sh, ensure_webhook_receiver)"
            );
        }
        let key: [u8; 32] = rand::random();
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let mut process = Command::new("node")
            .arg(dir.join("receiver.mjs"))
            .env("WEBHOOK_SECRET", &secret)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start node (the webhook receiver)")?;
        let stdout = process.stdout.take().context("the receiver's stdout")?;
        let mut first = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut first),
        )
        .await
        .context("the receiver did not start within 10 s")??;
        let port = serde_json::from_str::<serde_json::Value>(&first)?["port"]
            .as_u64()
            .context("the receiver printed no port")?;
        Ok(Receiver {
            base: format!("http://127.0.0.1:{port}"),
            secret,
            http: reqwest::Client::new(),
            _process: process,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn counts(&self, path: &str) -> anyhow::Result<Counts> {
        self.read("/_count", path).await
    }

    pub async fn arrivals(&self, path: &str) -> anyhow::Result<Arrivals> {
        self.read("/_report", path).await
    }

    /// One path's part of the receiver's `what` (`/_count`, `/_report`).
    async fn read<T: DeserializeOwned + Default>(
        &self,
        what: &str,
        path: &str,
    ) -> anyhow::Result<T> {
        let answer = self.http.get(self.url(what)).send().await?;
        let mut all: HashMap<String, T> = answer.json().await?;
        Ok(all.remove(path).unwrap_or_default())
    }

    /// Polls until `path` has `count` distinct events or `within` passes.
    pub async fn until(
        &self,
        path: &str,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Counts> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let counts = self.counts(path).await?;
            if counts.received >= count || tokio::time::Instant::now() > deadline {
                return Ok(counts);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Answers 500 to every webhook for `duration`.
    pub async fn fail_for(&self, duration: Duration) -> anyhow::Result<()> {
        let ms = duration.as_millis() as u64;
        self.http
            .post(self.url("/_control"))
            .json(&serde_json::json!({ "fail_for_ms": ms }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// `bouncer webhook add <url> --events <events> --secret-stdin
/// --allow-private` with the server binary, on `database_url`.
pub async fn add_webhook(
    server: &std::path::Path,
    database_url: &str,
    url: &str,
    events: &str,
    secret: &str,
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(server)
        .args([
            "webhook",
            "add",
            url,
            "--events",
            events,
            "--secret-stdin",
            "--allow-private",
        ])
        .env("BOUNCER_DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(secret.as_bytes()).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!(
            "webhook add failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
