//! Waiting for what happens behind an answer (a socket's teardown, a log
//! line written, a listener up), without sleeping longer than it takes.

use std::time::{Duration, Instant};

/// Asks `attempt` until it gives an answer, pausing `pause` between asks,
/// for at most `limit`; then panics with `what()`.
pub async fn eventually<T>(
    limit: Duration,
    pause: Duration,
    mut attempt: impl AsyncFnMut() -> Option<T>,
    what: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(answer) = attempt().await {
            return answer;
        }
        assert!(Instant::now() < deadline, "{}", what());
        tokio::time::sleep(pause).await;
    }
}
