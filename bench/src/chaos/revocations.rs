//! The revocation calls of the chaos run: spread evenly over the run,
//! through both nodes' admin APIs, retried on the other node when one is
//! down, as a load balancer would.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt};

use super::{plan::Call, Scale, World};

/// What one call did.
#[derive(Debug, Clone)]
pub(super) struct Answered {
    pub(super) call: Call,
    /// When the first attempt was sent.
    pub(super) sent: Instant,
    /// When the successful attempt was answered.
    pub(super) answered: Instant,
    /// Sessions ended, as the API counted them.
    pub(super) ended: usize,
    /// Attempts that reached no node or failed with 5xx before one succeeded.
    pub(super) retries: usize,
    /// Whether node A answered it.
    pub(super) through_a: bool,
}

/// Sends the calls evenly over `scale.spread_over` (later when the nodes
/// fall behind), at most `scale.in_flight` at once, alternating nodes while
/// A is up.
pub(super) async fn revoke(
    scale: &Scale,
    world: &World,
    calls: Vec<Call>,
) -> anyhow::Result<Vec<Answered>> {
    let count = calls.len().max(1);
    let start = tokio::time::Instant::now();
    let results: Vec<anyhow::Result<Answered>> = stream::iter(calls.into_iter().enumerate())
        .map(|(index, call)| async move {
            let due = start + scale.spread_over.mul_f64(index as f64 / count as f64);
            tokio::time::sleep_until(due).await;
            send(world, call, index % 2 == 0).await
        })
        .buffer_unordered(scale.in_flight.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Sends one call, through A when `prefer_a` and A is up, else B; a call
/// that reaches no node or gets a 5xx is retried on the other node, as a
/// load balancer would.
async fn send(world: &World, call: Call, prefer_a: bool) -> anyhow::Result<Answered> {
    let sent = Instant::now();
    let mut through_a = prefer_a && world.a_up.load(Ordering::Relaxed);
    let mut retries = 0;
    loop {
        let request = match &call {
            Call::EndSession(session) => world.admin.delete(world.node_url(
                through_a,
                &format!(
                    "/api/admin/sessions/{}",
                    world.sessions[*session].session_id
                ),
            )),
            Call::RevokeUser(user) => world.admin.post(world.node_url(
                through_a,
                &format!("/api/admin/users/{}/revoke", world.user_ids[*user]),
            )),
            Call::RevokeUsers(users) => world
                .admin
                .post(world.node_url(through_a, "/api/admin/revoke"))
                .json(&serde_json::json!({
                    "user_ids": users.iter().map(|u| &world.user_ids[*u]).collect::<Vec<_>>()
                })),
        };
        let outcome = match request.send().await {
            Ok(response) if response.status().is_server_error() => None,
            Ok(response) => Some(response),
            Err(_) => None,
        };
        if let Some(response) = outcome {
            let status = response.status().as_u16();
            let ended = match (&call, status) {
                (Call::EndSession(_), 204) => 1,
                // A retry after an attempt whose answer was lost: that one ended it.
                (Call::EndSession(_), 404) if retries > 0 => 0,
                (Call::RevokeUser(_) | Call::RevokeUsers(_), 200) => {
                    let body: serde_json::Value = response.json().await?;
                    body["revoked"].as_u64().context("a revoked count")? as usize
                }
                _ => bail!("{call:?} answered {status}"),
            };
            return Ok(Answered {
                call,
                sent,
                answered: Instant::now(),
                ended,
                retries,
                through_a,
            });
        }
        retries += 1;
        if retries > 20 {
            bail!("{call:?} reached no node in 20 attempts");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        through_a = !through_a && world.a_up.load(Ordering::Relaxed);
    }
}
