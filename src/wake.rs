//! The command line telling the server beside it to read the event log now.
//!
//! On PostgreSQL every write notifies the nodes (`LISTEN/NOTIFY`). On SQLite
//! the server would only notice the command line's writes at its next poll
//! (a quarter of a second), and a revoked cookie would keep working until
//! then. So a server on a SQLite file listens on a Unix socket beside it
//! (`bouncer.db.wake`); after writing, the command line connects, asks, and
//! waits until the server has applied the log: when `bouncer user revoke`
//! returns, the very next request with a revoked cookie is refused.
//!
//! The socket is the file system's to guard (mode 0600, the database's
//! owner), and all it can do is make the server read the log early.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bouncer_engine::Engine;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tokio_util::sync::CancellationToken;

/// What the command line asks, and what the server answers when done.
const ASK: &[u8] = b"catch-up\n";
const DONE: &str = "ok";

/// How long the command line waits for a server that is slow to answer.
const WAIT: Duration = Duration::from_secs(5);

/// The socket beside a SQLite database file (`None` for other databases,
/// in-memory ones, and paths too long for a socket address).
pub fn socket_path(database_url: &str) -> Option<PathBuf> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    let socket = PathBuf::from(format!("{path}.wake"));
    // A Unix socket's address holds about a hundred bytes.
    (socket.as_os_str().len() < 100).then_some(socket)
}

/// Serves the wake socket at `path` for `engine` until `stop`. Another live
/// server on the same file keeps its socket (this one then goes without);
/// a socket left by a server that is gone is replaced.
pub async fn serve(path: PathBuf, engine: Engine, stop: CancellationToken) {
    if UnixStream::connect(&path).await.is_ok() {
        tracing::warn!(path = %path.display(), "Another server answers on the wake socket; this one will notice the command line at its next poll");
        return;
    }
    let _ = std::fs::remove_file(&path);
    let listener = match bind(&path) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "Could not open the wake socket");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let engine = engine.clone();
                    tokio::spawn(async move { answer(stream, &engine).await });
                }
            }
            () = stop.cancelled() => break,
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// One question: read the log now, then say so.
async fn answer(stream: UnixStream, engine: &Engine) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(WAIT, stream.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(_))) || line.as_bytes() != ASK {
        return;
    }
    match engine.apply_log().await {
        Ok(()) => {
            let _ = stream
                .get_mut()
                .write_all(format!("{DONE}\n").as_bytes())
                .await;
        }
        Err(e) => tracing::warn!(error = ?e, "Failed to read the event log for the command line"),
    }
}

/// Asks the server on `database_url`'s file, if one runs, to apply the log
/// now, and waits until it has. Quietly does nothing without a server.
pub async fn server_beside(database_url: &str) {
    let Some(path) = socket_path(database_url) else {
        return;
    };
    let asked = async {
        let mut stream = UnixStream::connect(&path).await.ok()?;
        stream.write_all(ASK).await.ok()?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await.ok()?;
        (answer.trim() == DONE).then_some(())
    };
    match tokio::time::timeout(WAIT, asked).await {
        Ok(Some(())) => {}
        Ok(None) => {}
        Err(_) => eprintln!(
            "bouncer: the running server did not confirm within {}s; it will notice at its next poll",
            WAIT.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_sits_beside_a_sqlite_file_only() {
        assert_eq!(
            socket_path("sqlite://bouncer.db"),
            Some(PathBuf::from("bouncer.db.wake"))
        );
        assert_eq!(
            socket_path("sqlite:/var/lib/bouncer/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/bouncer/db.sqlite.wake"))
        );
        assert_eq!(socket_path("sqlite::memory:"), None);
        assert_eq!(socket_path("postgres://db/bouncer"), None);
        assert_eq!(socket_path(&format!("sqlite:///{}", "x".repeat(200))), None);
    }
}
