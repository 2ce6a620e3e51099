//! Debian's nginx (`scripts/lib.sh`, `ensure_nginx`) balancing between
//! nodes, as `docs/DEPLOYMENT.md` configures it: a throwaway instance whose
//! files all live in a temporary directory, on a free loopback port.
//! Without nginx the test is skipped with a notice, except in CI.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::node::free_port;

const NGINX: &str = "/usr/sbin/nginx";

/// The `location /` of `docs/DEPLOYMENT.md`'s nginx example, line for line
/// (`balancer::the_deployment_guide_shows_the_tested_nginx_configuration`
/// holds them equal).
pub const LOCATION: &[&str] = &[
    "proxy_pass http://bouncer;",
    "proxy_http_version 1.1;",
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Forwarded-For $remote_addr;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_set_header X-Request-Id $request_id;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "proxy_read_timeout 1h;",
];

/// A running nginx.
pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of the nodes on `upstreams` (loopback ports);
    /// `None`, after a notice, when nginx is not installed outside CI.
    pub async fn start(upstreams: &[u16]) -> Option<Nginx> {
        if !Path::new(NGINX).exists() {
            let missing = format!("the balancer tests: no {NGINX} (scripts/lib.sh ensure_nginx)");
            assert!(std::env::var_os("CI").is_none(), "CI needs {missing}");
            eprintln!("\n\x1b[1;33m*** SKIPPED: {missing} ***\x1b[0m\n");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Run as root, nginx's workers drop to `nobody` and must reach the
        // temporary-body directories in here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("the directory opens to nginx's workers");
        let port = free_port();
        let config = dir.path().join("nginx.conf");
        std::fs::write(&config, configuration(dir.path(), port, upstreams)).expect("written");
        let prefix = dir.path().display().to_string();
        let child = Command::new(NGINX)
            .args(["-p", &prefix, "-e", &format!("{prefix}/error.log"), "-c"])
            .arg(&config)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            let exited = nginx.child.try_wait().expect("nginx's status");
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nginx did not listen: {}",
                nginx.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(nginx)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The error log so far, for a failing assertion's message.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (a SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The whole configuration of a throwaway instance in `dir`.
fn configuration(dir: &Path, port: u16, upstreams: &[u16]) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|port| format!("        server 127.0.0.1:{port};\n"))
        .collect();
    let location: String = LOCATION
        .iter()
        .map(|line| format!("            {line}\n"))
        .collect();
    format!(
        "worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{
    worker_connections 256;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream bouncer {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{location}        }}
    }}
}}
"
    )
}
