//! Graceful shutdown: a stopping node closes every tab's socket with 4002 (so
//! browsers reconnect to a live node and resync), finishes the requests in
//! flight, and then stops. `multinode.rs` shows a tab resuming on another node.

use std::time::Duration;

use bouncer_wire::{Role, CLOSE_SHUTTING_DOWN};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::spawn_app;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_stopping_node_closes_tabs_with_4002_and_finishes_requests_in_flight() {
    let mut app = spawn_app().await;
    let alice = app.add_user("alice", Role::User, Some(0)).await;
    let (_, cookie) = app.signed_in(&alice).await;
    let mut tab = app
        .connect(Some(&cookie), Some(&app.address))
        .await
        .expect("the tab connects");
    tab.hello(WAIT).await;

    // A login whose body is only half sent when the stop comes: it is in
    // flight, and must still be answered. Written by hand, byte by byte.
    let body = json!({ "username": "alice", "password": alice.password }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut in_flight = TcpStream::connect(&host).await.expect("connects");
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        app.address,
        body.len()
    );
    in_flight
        .write_all(request.as_bytes())
        .await
        .expect("the first half is sent");
    // Let the server read the head and wait in the body.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server = app.begin_shutdown();
    assert_eq!(
        tab.close_code(WAIT).await,
        Some(CLOSE_SHUTTING_DOWN),
        "the tab is told the node is going away, not that its session ended"
    );

    in_flight
        .write_all(tail.as_bytes())
        .await
        .expect("the rest is sent");
    let mut response = String::new();
    tokio::time::timeout(WAIT, in_flight.read_to_string(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the request in flight finished: {response}"
    );

    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .expect("the server task ran")
        .expect("the server stopped cleanly");
    assert!(
        TcpStream::connect(&host).await.is_err(),
        "no new connections are accepted"
    );
    // Both sessions are stored and live: stopping ended nothing.
    assert_eq!(app.live_sessions(&alice).await, 2);
}
