//! The logs an operator reads (`BOUNCER_LOG_FORMAT=json`): every line of a
//! request names its id, the one its answer carried, and one ending can be
//! followed from the node that committed it to the node whose tab was told,
//! by its log sequence number. Two processes on PostgreSQL (skipped with a
//! notice without it, except in CI).

use std::time::Duration;

use bouncer_wire::{Reason, ServerMessage};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{cookie_header_from, database_with_users, eventually, Node};

const PASSWORD: &str = "correct-horse-battery";

#[tokio::test]
async fn one_ending_is_followed_through_the_json_logs_of_two_nodes() {
    let users = [("alice", "user"), ("root", "admin")];
    let Some(database) = database_with_users("the log test", &users, PASSWORD).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = [("BOUNCER_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let (a_log, b_log) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let a = Node::start_logging(&database.url, &json, &a_log).await;
    let b = Node::start_logging(&database.url, &json, &b_log).await;

    // Alice's tab is on B; root ends her session through A.
    let answer = a.browser().login_as("alice", PASSWORD).await;
    let cookie = cookie_header_from(&answer.headers);
    let session = answer.expect("alice signs in").session.id;
    let mut tab = b.open_tab(&cookie).await;
    let root = a.browser();
    assert_eq!(root.login_as("root", PASSWORD).await.status, StatusCode::OK);
    let revoke = root.admin_end_session(&session).await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let request_id = revoke.headers["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    match tab.next_event(Duration::from_secs(2)).await {
        Some(ServerMessage::SessionEnded { reason, .. }) => {
            assert_eq!(reason, Reason::AdminRevoked)
        }
        other => panic!("not told: {other:?}"),
    }

    // A: the commit, in the revoking request's span.
    let ended = line_saying(&a_log, "Sessions ended").await;
    let spans = ended["spans"].as_array().expect("spans");
    assert_eq!(spans[0]["name"], "request", "{ended}");
    assert_eq!(spans[0]["id"], request_id.as_str(), "{ended}");
    assert_eq!(ended["fields"]["reasons"], "admin_revoked:1", "{ended}");
    let seq = ended["fields"]["last_seq"]
        .as_i64()
        .expect("a sequence number");
    assert_eq!(ended["fields"]["first_seq"].as_i64(), Some(seq));

    // B: the same sequence number where the tab was told.
    let told = line_saying(&b_log, "Told this node's tabs of endings").await;
    assert_eq!(told["fields"]["first_seq"].as_i64(), Some(seq), "{told}");
    assert_eq!(told["fields"]["tabs"].as_u64(), Some(1), "{told}");
    // Every line either node wrote is one JSON object with a level.
    for line in lines(&a_log).iter().chain(&lines(&b_log)) {
        assert!(line["level"].is_string(), "{line}");
    }
}

/// The JSON lines of a log file (every line must be one).
fn lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the log");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The first line whose message is `message`, waiting up to five seconds
/// for it to be written.
async fn line_saying(path: &std::path::Path, message: &str) -> Value {
    let find = async || {
        lines(path)
            .into_iter()
            .find(|line| line["fields"]["message"] == message)
    };
    let pause = Duration::from_millis(50);
    eventually(Duration::from_secs(5), pause, find, || {
        format!("no {message:?} in {}", path.display())
    })
    .await
}
