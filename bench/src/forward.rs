//! Putting an app behind Bouncer (`--only forward-auth`): row 11, forward
//! authentication (`GET /api/auth/verify`, asked by a reverse proxy before
//! every request of the app) against a bare axum handler, with the database
//! statements it ran; row 12, the size of `/bouncer.js` as served gzipped.

use std::time::Duration;

use anyhow::Context;
use axum::{
    http::{header, Method, StatusCode},
    routing::get,
    Router,
};

use crate::{
    queries,
    report::{Report, Row},
    versus::Contest,
};

/// The most `/bouncer.js` may weigh, gzipped (issue 16).
const SCRIPT_BUDGET: usize = 4 * 1024;

pub async fn run(
    how_long: Duration,
    queries: &queries::Counter,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bare = Router::new().route("/bare", get(|| async { StatusCode::OK }));
    let contest = Contest::start(bare).await?;
    let outcome = contest
        .run(
            (Method::GET, StatusCode::OK),
            "/api/auth/verify?role=user",
            "/bare",
            how_long,
            queries,
        )
        .await?;
    report.row(Row::new(
        "11",
        "Forward authentication (GET /api/auth/verify, a live session) vs a bare axum handler",
        "≥ 0.8×, 0 queries per call",
        outcome.summary("call"),
        Some(outcome.ratio() >= 0.8 && outcome.app_queries == 0),
        "forward-auth",
    ));

    // reqwest decompresses nothing here (no `gzip` feature): the bytes are
    // what the browser downloads.
    let client = reqwest::Client::new();
    let fetch = |gzip: bool| {
        let mut request = client.get(contest.app_url("/bouncer.js"));
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        request.send()
    };
    let plain = fetch(false).await?.bytes().await?.len();
    let served = fetch(true).await?;
    let encoding = served.headers().get(header::CONTENT_ENCODING).cloned();
    let gzipped = served.bytes().await?.len();
    if encoding.as_ref().and_then(|e| e.to_str().ok()) != Some("gzip") {
        return Err(anyhow::anyhow!("/bouncer.js was not served gzipped")).context("row 12");
    }
    report.row(Row::new(
        "12",
        "/bouncer.js, the tab watcher for an app's pages, as served",
        "≤ 4 KB gzip",
        format!("{plain} B, {gzipped} B gzip"),
        Some(gzipped <= SCRIPT_BUDGET),
        "forward-auth",
    ));
    Ok(())
}
