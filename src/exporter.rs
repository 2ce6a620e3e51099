//! The Prometheus endpoint: `GET /metrics` on a listener of its own
//! (`BOUNCER_METRICS_ADDR`), so the metrics are never on the public origin
//! and scraping never competes with the session layer.
//!
//! The engine and the edge count through the `metrics` facade
//! (`bouncer_engine::measures` names everything); this module installs the
//! process's one recorder, `metrics-exporter-prometheus`, and serves its
//! text after setting the gauges to their levels now. Without the setting
//! no recorder is installed and every count is a no-op.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use anyhow::Context;
use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use bouncer_engine::{measures, Engine};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How often the histograms' recent samples are folded in when nobody
/// scrapes (they would otherwise pile up in memory).
const UPKEEP: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use: the facade has one
/// global recorder, so applications built in one process share it.
fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let buckets = |name| Matcher::Full(String::from(name));
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(buckets(measures::PUSH_LATENCY), measures::LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(buckets(measures::TAILER_LAG), measures::LATENCY_BUCKETS)
        })
        .context("Failed to set the histograms' buckets")?
        .install_recorder()
        .context("Failed to install the metrics recorder")?;
    measures::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The bound metrics listener, not yet serving.
#[derive(Debug)]
pub struct Exporter {
    listener: TcpListener,
    handle: PrometheusHandle,
    engine: Engine,
}

impl Exporter {
    /// Installs the recorder and binds `addr`.
    pub async fn bind(addr: SocketAddr, engine: Engine) -> anyhow::Result<Exporter> {
        let handle = recorder()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("Failed to listen on {addr} (BOUNCER_METRICS_ADDR)"))?;
        Ok(Exporter {
            listener,
            handle,
            engine,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("Failed to read the metrics address")
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, stop: CancellationToken) {
        let handle = self.handle.clone();
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state((self.handle, self.engine));
        let server = axum::serve(self.listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        let upkeep = async {
            let mut tick = tokio::time::interval(UPKEEP);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        };
        tokio::select! {
            served = server => {
                if let Err(e) = served {
                    tracing::error!(error = ?e, "The metrics listener failed");
                }
            }
            () = upkeep => {}
        }
    }
}

async fn scrape(State((handle, engine)): State<(PrometheusHandle, Engine)>) -> impl IntoResponse {
    engine.record_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
