//! The `bouncer` binary run as another process, as an operator or a billing
//! script would, against the same database as the server under test.

use std::process::{Output, Stdio};

use tokio::{io::AsyncWriteExt, process::Command};

use super::app::{shared_postgres_database, PostgresDatabase};

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

/// Adds each `(name, role)` with `password` and no session limit, as an
/// operator would with `bouncer user add`.
pub async fn add_users(database_url: &str, users: &[(&str, &str)], password: &str) {
    for (name, role) in users {
        let args = [
            "user",
            "add",
            name,
            "--role",
            role,
            "--max-sessions",
            "0",
            "--password-stdin",
        ];
        let output = bouncer(database_url, &args, Some(password)).await;
        assert!(
            output.status.success(),
            "user add {name}: {}",
            text(&output.stderr)
        );
    }
}

/// A fresh PostgreSQL database holding `users` (see [`add_users`]) for the
/// nodes a test starts; `None` when `what` is skipped (see
/// [`shared_postgres_database`]).
pub async fn database_with_users(
    what: &str,
    users: &[(&str, &str)],
    password: &str,
) -> Option<PostgresDatabase> {
    let database = shared_postgres_database(what).await?;
    add_users(&database.url, users, password).await;
    Some(database)
}
