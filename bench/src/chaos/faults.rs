//! What goes wrong on purpose during the chaos run: node A restarts, the
//! PostgreSQL listener connections are terminated, tabs' sockets are cut.

use std::{sync::atomic::Ordering, time::Duration};

use rand::{rngs::StdRng, seq::SliceRandom};
use tokio::sync::watch;

use super::{PlacedTab, Scale, World};
use crate::{node::Node, postgres::Database};

/// Restarts node A and terminates the listener connections at fixed points
/// of the run: restarts at 1/(n+1), 2/(n+1)… of it, listener kills between.
pub(super) async fn faults(
    scale: &Scale,
    world: &World,
    a: &mut Node,
    database: &Database,
) -> (anyhow::Result<Vec<Duration>>, anyhow::Result<Vec<usize>>) {
    let mut events: Vec<(f64, bool)> = Vec::new();
    for k in 1..=scale.restarts {
        events.push((k as f64 / (scale.restarts + 1) as f64, true));
    }
    for k in 0..scale.listener_kills {
        events.push(((k as f64 + 0.5) / (scale.listener_kills + 1) as f64, false));
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0));
    let start = tokio::time::Instant::now();
    let mut restarts = Vec::new();
    let mut kills = Vec::new();
    for (at, restart) in events {
        tokio::time::sleep_until(start + scale.spread_over.mul_f64(at)).await;
        if restart {
            world.a_up.store(false, Ordering::Relaxed);
            let down_for = a.restart().await;
            world.a_up.store(true, Ordering::Relaxed);
            match down_for {
                Ok(down_for) => restarts.push(down_for),
                Err(e) => return (Err(e.context("restarting node A")), Ok(kills)),
            }
        } else {
            match database.terminate_listeners().await {
                Ok(terminated) => kills.push(terminated),
                Err(e) => return (Ok(restarts), Err(e)),
            }
        }
    }
    (Ok(restarts), Ok(kills))
}

/// Cuts a random tab's socket every `scale.cut_every` until `stop` (a tab
/// that is reconnecting at that moment is left alone).
pub(super) async fn cut_tabs(
    scale: &Scale,
    tabs: &[PlacedTab],
    mut stop: watch::Receiver<bool>,
    rng: &mut StdRng,
) {
    let mut ticks = tokio::time::interval(scale.cut_every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if let Some(placed) = tabs.choose(rng) {
            placed.tab.cut();
        }
    }
}
