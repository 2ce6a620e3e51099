//! `bouncer serve` as a process of its own: the nodes of a cluster
//! (`multinode`, `balancer`) and a server whose metrics are scraped
//! (`metrics`: the metrics recorder is one per process, so an in-process
//! app would share it with every other test).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{browser::Browser, tab::Tab};

/// The origin browsers see in front of every node (the load balancer's).
pub const ORIGIN: &str = "http://bouncer.test";

/// How long a node's tab may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// A free loopback port (free when asked; taken by whoever binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One `bouncer serve` process.
pub struct Node {
    child: Child,
    pub port: u16,
    database_url: String,
    env: Vec<(String, String)>,
    /// Where its standard error goes, if not to the test's.
    log: Option<PathBuf>,
}

impl Node {
    /// Starts a node on a free port with these extra variables and waits
    /// until it answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Node {
        Node::start_on(database_url, free_port(), owned(env), None).await
    }

    /// [`Node::start`] with its standard error (its logs) written to `log`.
    pub async fn start_logging(database_url: &str, env: &[(&str, &str)], log: &Path) -> Node {
        Node::start_on(database_url, free_port(), owned(env), Some(log.to_owned())).await
    }

    async fn start_on(
        database_url: &str,
        port: u16,
        env: Vec<(String, String)>,
        log: Option<PathBuf>,
    ) -> Node {
        let stderr = match &log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("the log file"),
            ),
            None => Stdio::inherit(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .arg("serve")
            .env("BOUNCER_DATABASE_URL", database_url)
            .env("BOUNCER_ADDR", format!("127.0.0.1:{port}"))
            .env("BOUNCER_PUBLIC_ORIGIN", ORIGIN)
            .env("RUST_LOG", "error")
            .env("BOUNCER_SHUTDOWN_DELAY", "0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the node starts");
        let node = Node {
            child,
            port,
            database_url: database_url.to_owned(),
            env,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/healthz", node.address()))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "node on {port} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new browser whose requests this node serves.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.address())
    }

    /// A client that presents `cookie` to this node.
    pub fn holding(&self, cookie: &str) -> Browser {
        Browser::holding(&self.address(), cookie)
    }

    /// Opens a tab's socket on this node, as a browser behind the balancer.
    pub async fn connect(
        &self,
        cookie: &str,
    ) -> Result<Tab, tokio_tungstenite::tungstenite::Error> {
        Tab::connect(&self.address(), Some(cookie), Some(ORIGIN)).await
    }

    /// A tab of the session behind `cookie`, past its hello.
    pub async fn open_tab(&self, cookie: &str) -> Tab {
        let mut tab = self.connect(cookie).await.expect("the tab connects");
        tab.hello(HELLO_WITHIN).await;
        tab
    }

    /// The process id (a webhook lease's holder names it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (no graceful shutdown: a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, as an orchestrator stops a node, and returns at once.
    pub fn begin_stop(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was sent");
    }

    /// Waits (at most 30 s) for the process to exit; true when it exited
    /// cleanly.
    pub async fn exited(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the node's status") {
                return status.success();
            }
            assert!(Instant::now() < deadline, "the node did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the process with SIGTERM and waits for it to exit; true when
    /// it exited cleanly.
    pub async fn terminate(&mut self) -> bool {
        self.begin_stop();
        self.exited().await
    }

    /// Starts the same node again, on the same port.
    pub async fn restart(mut self) -> Node {
        self.kill();
        let env = std::mem::take(&mut self.env);
        Node::start_on(&self.database_url, self.port, env, self.log.take()).await
    }
}

fn owned(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
