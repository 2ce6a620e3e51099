//! A `bouncer serve` process under test, and its memory.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

/// How long a node may take to answer after it was started.
const START_WITHIN: Duration = Duration::from_secs(60);

/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// One server process.
#[derive(Debug)]
pub struct Node {
    child: Child,
    pub port: u16,
    /// Kept to start the same node again ([`Node::restart`]).
    binary: PathBuf,
    database_url: String,
    env: Vec<(String, String)>,
}

impl Node {
    /// Starts `binary serve` on a free port with `database_url` and waits
    /// until it answers.
    pub async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Node> {
        Node::start_with(binary, database_url, &[]).await
    }

    /// [`Node::start`] with extra environment variables for the process.
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Node> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = spawn(binary, database_url, port, &env)?;
        let node = Node {
            child,
            port,
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            env,
        };
        node.wait_until_answering().await?;
        Ok(node)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The CPU time the node has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_of(self.pid())
    }

    /// The resident set size, in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        rss_of(self.pid())
    }

    /// The process id (it changes with [`Node::restart`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process the way an orchestrator does (SIGTERM, then waits
    /// for it to exit) and starts it again on the same port. Returns how long
    /// the node did not answer. A node that ignores SIGTERM for
    /// [`STOP_WITHIN`] is killed and the restart fails: that is a finding.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        let stopped = Instant::now();
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("Failed to send SIGTERM")?;
        let deadline = stopped + STOP_WITHIN;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "the node on port {} did not exit within {STOP_WITHIN:?} of SIGTERM",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = spawn(&self.binary, &self.database_url, self.port, &self.env)?;
        self.wait_until_answering().await?;
        Ok(stopped.elapsed())
    }

    /// Kills the process (SIGKILL: a crash, nothing released) and starts
    /// it again on the same port. Returns how long the node did not answer.
    pub async fn crash_and_restart(&mut self) -> anyhow::Result<Duration> {
        let crashed = Instant::now();
        self.child.kill()?;
        self.child.wait()?;
        self.child = spawn(&self.binary, &self.database_url, self.port, &self.env)?;
        self.wait_until_answering().await?;
        Ok(crashed.elapsed())
    }

    async fn wait_until_answering(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_WITHIN;
        while reqwest::get(self.url("/api/auth/me")).await.is_err() {
            if Instant::now() > deadline {
                bail!("the server on port {} did not start", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// The CPU time process `pid` has used so far (user and system).
pub fn cpu_of(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its `)`
    // start with field 3, so utime and stime (14, 15) are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no ) in /proc/<pid>/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("a short /proc/<pid>/stat")?.parse()?)
    };
    let per_second = rustix::param::clock_ticks_per_second();
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / per_second as f64))
}

/// The resident set size of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kb * 1024)
}

fn spawn(
    binary: &Path,
    database_url: &str,
    port: u16,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    Command::new(binary)
        .arg("serve")
        .env("BOUNCER_DATABASE_URL", database_url)
        .env("BOUNCER_ADDR", format!("127.0.0.1:{port}"))
        // Sessions are seeded; no login runs through the limit.
        .env("BOUNCER_SESSION_LIMIT", "0")
        // No balancer to tell: a restart stops at once.
        .env("BOUNCER_SHUTDOWN_DELAY", "0")
        // BENCH_SERVER_LOG=sqlx=debug shows each statement and its time.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "error".to_owned()),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("Failed to start {}", binary.display()))
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
