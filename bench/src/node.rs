//! A `bouncer serve` process under test, and its memory.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

/// One server process.
pub struct Node {
    child: Child,
    pub port: u16,
}

impl Node {
    /// Starts `binary serve` on a free port with `database_url` and waits
    /// until it answers.
    pub async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Node> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .arg("serve")
            .env("BOUNCER_DATABASE_URL", database_url)
            .env("BOUNCER_ADDR", format!("127.0.0.1:{port}"))
            // Sessions are seeded; no login runs through the limit.
            .env("BOUNCER_SESSION_LIMIT", "0")
            // BENCH_SERVER_LOG=sqlx=debug shows each statement and its time.
            .env(
                "RUST_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "error".to_owned()),
            )
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("Failed to start {}", binary.display()))?;
        let node = Node { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(node.url("/api/auth/me")).await.is_err() {
            if Instant::now() > deadline {
                bail!("the server on port {port} did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(node)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The resident set size, in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("no VmRSS in /proc/<pid>/status")?;
        Ok(kb * 1024)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
