//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators.
//!
//! `/healthz` answers 200 while the process serves requests at all (a
//! liveness check: restart the process when it fails). `/readyz` answers
//! 200 only when the node can do its work — the engine's checks (database,
//! migrations, on PostgreSQL the `LISTEN` connection) pass and the node is
//! not draining — and 503 otherwise, with every check's answer
//! (`bouncer_wire::Readiness`). A stopping node turns `draining` first
//! (`startup::run_until`), while it still serves, so balancers stop sending
//! it new work before its sockets close.
//!
//! Both sit outside the session layer: no cookie is read, nothing counts as
//! activity. The engine's checks query the database, so their answer is
//! kept for [`FRESH_FOR`] and concurrent probes share one query: a flood of
//! probes costs one query a second.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bouncer_engine::{health::Finding, Engine};
use bouncer_wire::Readiness as Answer;
use tokio::{sync::Mutex, time::Instant};

/// How long the engine's findings are reused.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The engine's findings and when they were made.
type Findings = Option<(Instant, Vec<Finding>)>;

/// The readiness state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness {
    engine: Engine,
    /// Set once the node begins to stop; never cleared.
    draining: Arc<AtomicBool>,
    /// The engine's last findings, reused for [`FRESH_FOR`].
    last: Arc<Mutex<Findings>>,
}

impl Readiness {
    pub fn new(engine: Engine) -> Self {
        Readiness {
            engine,
            draining: Arc::default(),
            last: Arc::default(),
        }
    }

    /// The node is stopping: `/readyz` answers 503 from now on.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Every check's answer.
    pub async fn answer(&self) -> Answer {
        let findings = {
            let mut last = self.last.lock().await;
            match &*last {
                Some((at, findings)) if at.elapsed() < FRESH_FOR => findings.clone(),
                _ => {
                    let findings = self.engine.health().check().await;
                    *last = Some((Instant::now(), findings.clone()));
                    findings
                }
            }
        };
        let draining = self.draining.load(Ordering::Relaxed);
        let checks = findings
            .into_iter()
            .map(|finding| (finding.check, finding.problem))
            .chain([("draining", draining.then_some("draining"))])
            .map(|(check, problem)| (check.to_owned(), problem.unwrap_or(Answer::OK).to_owned()))
            .collect();
        Answer { checks }
    }
}

/// The two routes, on their own state: merge them outside the session layer.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// No cache may answer for the node.
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

async fn healthz() -> Response {
    ([NO_STORE], "ok\n").into_response()
}

async fn readyz(State(readiness): State<Readiness>) -> Response {
    let answer = readiness.answer().await;
    let status = if answer.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [NO_STORE], axum::Json(answer)).into_response()
}
