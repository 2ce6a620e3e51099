//! The webhook receiver (`tests/webhook-receiver/receiver.mjs`) as another
//! process: Node.js verifying every request with the Standard Webhooks
//! reference library, deduplicating by id, checking order, and answering
//! 500 when told to.
//!
//! Outside CI, a machine without Node.js or the receiver's packages
//! (`scripts/lib.sh`, `ensure_webhook_receiver`) skips the tests that need
//! it, with a notice; in CI that is a failure.

use std::{collections::HashMap, path::PathBuf, process::Stdio, time::Duration};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// What arrived at one path (see the receiver's header comment; the
/// arrival times are the benchmarks').
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Arrivals {
    pub seqs: Vec<i64>,
    pub duplicates: u64,
    pub invalid: u64,
    pub out_of_order: u64,
    pub failed: u64,
    pub tests: u64,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The secret it verifies with (`whsec_…`).
    pub secret: String,
    client: reqwest::Client,
    _child: Child,
}

fn receiver_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook-receiver")
}

/// A fresh `whsec_` secret: 32 random bytes.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl Receiver {
    /// Starts a receiver, or `None` (after a notice) when it cannot run
    /// outside CI.
    pub async fn start(what: &str) -> Option<Receiver> {
        let dir = receiver_dir();
        let installed = dir.join("node_modules/standardwebhooks/package.json");
        let node = std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !node || !installed.exists() {
            let why = "Node.js and tests/webhook-receiver's packages are needed \
                       (scripts/lib.sh: ensure_webhook_receiver)";
            assert!(
                std::env::var_os("CI").is_none(),
                "{what}: {why}, and CI must run them"
            );
            eprintln!("SKIPPED {what}: {why}");
            return None;
        }
        let secret = new_secret();
        let mut child = Command::new("node")
            .arg(dir.join("receiver.mjs"))
            .arg("0")
            .env("WEBHOOK_SECRET", &secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the receiver starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the receiver says its port within 10 s")
        .expect("read");
        #[derive(Deserialize)]
        struct Listening {
            port: u16,
        }
        let listening: Listening = serde_json::from_str(&line).expect("its port");
        Some(Receiver {
            address: format!("http://127.0.0.1:{}", listening.port),
            secret,
            client: reqwest::Client::new(),
            _child: child,
        })
    }

    /// The URL of the receiver's endpoint `path` (`/a`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn control(&self, body: serde_json::Value) {
        let answer = self
            .client
            .post(self.url("/_control"))
            .json(&body)
            .send()
            .await
            .expect("the receiver answers");
        assert!(answer.status().is_success());
    }

    /// Answers 500 to every webhook for `duration`.
    pub async fn fail_for(&self, duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).expect("short");
        self.control(json!({"fail_for_ms": ms})).await;
    }

    /// Answers 500 to the next `count` webhooks.
    pub async fn fail_next(&self, count: u64) {
        self.control(json!({"fail_next": count})).await;
    }

    /// What arrived, per path.
    pub async fn report(&self) -> HashMap<String, Arrivals> {
        self.client
            .get(self.url("/_report"))
            .send()
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("its report")
    }

    /// What arrived at `path`.
    pub async fn arrivals(&self, path: &str) -> Arrivals {
        self.report().await.remove(path).unwrap_or_default()
    }

    /// Waits until `count` distinct events arrived at `path` (or `within`
    /// passed); returns what arrived.
    pub async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Arrivals {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrivals = self.arrivals(path).await;
            if arrivals.seqs.len() >= count || tokio::time::Instant::now() >= deadline {
                return arrivals;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
