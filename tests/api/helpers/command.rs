//! The `bouncer` binary run as another process, as an operator or a billing
//! script would, against the same database as the server under test.

use std::process::{Output, Stdio};

use tokio::{io::AsyncWriteExt, process::Command};

/// Runs `bouncer <args>` on the database at `database_url`, with `stdin`
/// as its input (none when `None`); waits for it without blocking the
/// server running in this process.
pub async fn bouncer(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    bouncer_with(database_url, &[], args, stdin).await
}

/// [`bouncer`] with these variables set too: the settings the server under
/// test was given, which a deployment gives the command line alike.
pub async fn bouncer_with(
    database_url: &str,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args(args)
        .envs(env.iter().copied())
        .env("BOUNCER_DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("written");
    }
    drop(input);
    child.wait_with_output().await.expect("the binary finishes")
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
