//! Building and running the application: database, engine, router, listener.
//!
//! `Application::build` binds the listener first, so tests start the real app
//! on port 0 and read the port back.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use app::shell;
use axum::{
    extract::FromRef,
    http::{header, HeaderValue, StatusCode},
    middleware,
    routing::get,
    Router,
};
use bouncer_engine::{
    clock::{Clock, SystemClock},
    db,
    policy::{Policy, TabLimits},
    Engine,
};
use bouncer_web::{Edge, RequestIdLayer, SessionLayer};
use bouncer_wire::CLOSE_SHUTTING_DOWN;
use leptos::prelude::*;
use leptos_axum::LeptosRoutes;
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;
use tower_http::{
    classify::ServerErrorsFailureClass, services::ServeDir, set_header::SetResponseHeaderLayer,
    timeout::RequestBodyTimeoutLayer, trace::TraceLayer,
};

use crate::{
    api,
    config::{PublicOrigin, Settings},
    exporter::Exporter,
    health::{self, Readiness},
    pages,
    webhooks::HttpTransport,
};

/// What every handler can reach. Cheap to clone: every `State` extractor
/// clones it, so on every request (LeptosOptions, a dozen fields, behind an
/// `Arc` for that reason; only Leptos' own handlers take a copy).
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
    pub settings: Arc<Settings>,
    pub leptos_options: Arc<LeptosOptions>,
    /// The session layer's shared part (engine, cookie, origin).
    pub edge: Arc<Edge>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        LeptosOptions::clone(&state.leptos_options)
    }
}

/// The engine's policy from the settings.
pub fn policy_from(settings: &Settings) -> Policy {
    Policy {
        session_limit: settings.session_limit,
        on_limit: settings.on_limit,
        logout_everywhere: settings.logout_everywhere,
        idle_timeout: settings.idle_timeout,
        absolute_timeout: settings.absolute_timeout,
        idle_warning: settings.idle_warning,
        last_seen_write_interval: Policy::write_interval_for(settings.idle_timeout),
        tombstone_retention: settings.retention,
        ip_privacy: settings.ip_privacy,
        auto_logout_message: settings.auto_logout_message.clone(),
        reauth_window: settings.reauth_window,
        tab_limits: TabLimits {
            per_session: settings.max_tabs_per_session,
            per_user: settings.max_tabs_per_user,
            total: crate::serve::connection_caps(settings.max_connections).tabs,
        },
    }
}

/// Opens and migrates the database, and builds the engine on it.
pub async fn open_engine(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Engine> {
    let url = &settings.database_url;
    let pool = db::connect(url).await?;
    db::migrate(&pool).await?;
    let listen_url = (db::Backend::of_url(url) == Some(db::Backend::Postgres)).then(|| url.clone());
    // As many hashes at once as there are cores: more only queues in memory.
    let hash_limit = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    Engine::new(pool, policy_from(settings), clock, hash_limit, listen_url).await
}

/// Where the compiled browser bundle lives: `BOUNCER_SITE_ROOT`, else
/// `target/site` under the working directory, else the `site` folder beside
/// the binary's own build directory (`target/release/bouncer` →
/// `target/site`), so the binary works from any directory.
fn site_root() -> PathBuf {
    if let Some(root) = std::env::var_os("BOUNCER_SITE_ROOT") {
        return PathBuf::from(root);
    }
    let local = PathBuf::from("target/site");
    if local.join("pkg").is_dir() {
        return local;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("site")))
        .filter(|root| root.join("pkg").is_dir())
        .unwrap_or(local)
}

/// The plain-CSS stylesheet, compiled in so the pages are styled even when
/// the site root is elsewhere.
const STYLESHEET: &str = include_str!("../style/main.css");

/// The built application, bound to its port, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    engine: Engine,
    port: u16,
    public_origin: PublicOrigin,
    /// The HTTP connection limits (see `serve`).
    limits: crate::serve::Limits,
    /// Where the command line wakes this server (SQLite; see `wake`).
    wake_socket: Option<PathBuf>,
    /// What `/readyz` answers; turned to draining first when stopping.
    readiness: Readiness,
    /// How long to stay up, draining, before closing (`BOUNCER_SHUTDOWN_DELAY`).
    shutdown_delay: Duration,
    /// The metrics listener, when `BOUNCER_METRICS_ADDR` is set.
    exporter: Option<Exporter>,
    /// What sends the webhooks this node delivers.
    webhooks: HttpTransport,
}

impl Application {
    /// Builds on the wall clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with the given clock (tests pass a manual one).
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let engine = open_engine(&settings, clock).await?;
        let database_url = settings.database_url.clone();
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("Failed to listen on {} (BOUNCER_ADDR)", settings.addr))?;
        let bound = listener
            .local_addr()
            .context("Failed to read the bound address")?;
        let port = bound.port();
        // Port 0 (tests) means "any free port": the default origin follows the real one.
        if settings.addr.port() == 0
            && settings.public_origin == PublicOrigin::for_listen_addr(settings.addr)
        {
            settings.public_origin = PublicOrigin::for_listen_addr(bound);
        }
        let public_origin = settings.public_origin.clone();
        let caps = crate::serve::connection_caps(settings.max_connections);
        if caps.tabs < settings.max_connections || caps.http < settings.max_connections {
            tracing::warn!(
                wanted = settings.max_connections,
                tabs = caps.tabs,
                http = caps.http,
                "BOUNCER_MAX_CONNECTIONS is above what the file handle limit allows; using these"
            );
        }
        let (max_per_address, header_timeout, proxies) = (
            settings.max_connections_per_address,
            settings.header_timeout,
            settings.proxies(),
        );
        let leptos_options = LeptosOptions::builder()
            .output_name("bouncer")
            .site_root(site_root().to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(
                listener
                    .local_addr()
                    .context("Failed to read the bound address")?,
            )
            .build();
        let edge = Edge::new(
            engine.clone(),
            settings.public_origin.clone(),
            api::PASSIVE_PATHS,
        )
        .trusting(settings.proxies());
        let exporter = match settings.metrics_addr {
            Some(addr) => Some(Exporter::bind(addr, engine.clone()).await?),
            None => None,
        };
        let readiness = Readiness::new(engine.clone());
        let shutdown_delay = settings.shutdown_delay;
        let state = AppState {
            engine: engine.clone(),
            settings: Arc::new(settings),
            leptos_options: Arc::new(leptos_options),
            edge: Arc::new(edge),
        };
        let router = router(state, readiness.clone());
        Ok(Application {
            listener,
            router,
            limits: crate::serve::Limits {
                total: caps.http,
                per_address: max_per_address.min(caps.http),
                header_timeout,
                proxies,
            },
            wake_socket: crate::wake::socket_path(&database_url),
            engine,
            port,
            public_origin,
            readiness,
            shutdown_delay,
            exporter,
            webhooks: HttpTransport::new()?,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The origin browsers use (after resolving port 0).
    pub fn public_origin(&self) -> &PublicOrigin {
        &self.public_origin
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The metrics listener's address, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref()?.local_addr().ok()
    }

    /// Serves until Ctrl-C or SIGTERM; a second one skips the shutdown delay.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run(shutdown_signal(), shutdown_signal()).await
    }

    /// Serves until `stop` completes, then shuts down gracefully:
    ///
    /// 0. `/readyz` answers 503 (`draining`) while the node serves on for
    ///    the shutdown delay, so the balancers' health checks take it out
    ///    of their pools before anything closes;
    /// 1. stops accepting connections and closes every tab's socket with
    ///    [`CLOSE_SHUTTING_DOWN`], so browsers reconnect at once — behind a
    ///    balancer, to a live node — and resync;
    /// 2. lets in-flight requests finish (at most [`DRAIN_LIMIT`]);
    /// 3. waits for the sockets' close frames to go out (at most [`CLOSE_LIMIT`]);
    /// 4. stops the engine's workers, which write the activity still owed.
    ///
    /// Nothing is lost by stopping: every ending is durable before anyone is
    /// told, and the other nodes read the log, not this node's memory.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run(stop, std::future::pending()).await
    }

    /// [`Application::run_until`], where `hurry` completing during the
    /// shutdown delay ends the delay.
    async fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
        hurry: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let workers = self
            .engine
            .start_workers_delivering(Arc::new(self.webhooks.clone()));
        let wake_stop = CancellationToken::new();
        let wake = self.wake_socket.map(|path| {
            tokio::spawn(crate::wake::serve(
                path,
                self.engine.clone(),
                wake_stop.clone(),
            ))
        });
        let metrics_stop = CancellationToken::new();
        let metrics = self
            .exporter
            .map(|exporter| tokio::spawn(exporter.serve(metrics_stop.clone())));
        let (stopping_tx, mut stopping) = watch::channel(false);
        let signal = {
            let engine = self.engine.clone();
            let readiness = self.readiness.clone();
            let delay = self.shutdown_delay;
            async move {
                stop.await;
                readiness.drain();
                if !delay.is_zero() {
                    tracing::info!(
                        ?delay,
                        "Shutting down: /readyz answers 503; serving on meanwhile"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = hurry => {}
                    }
                }
                let tabs = engine.tabs();
                tracing::info!(
                    tabs = tabs.count(),
                    "Shutting down: closing the tabs' sockets"
                );
                tabs.close_all(CLOSE_SHUTTING_DOWN, "server shutting down");
                engine.feed().close_streams();
                let _ = stopping_tx.send(true);
            }
        };
        let serve = crate::serve::serve(self.listener, self.router, self.limits, signal);
        let drain_limit = async move {
            if stopping.wait_for(|stopping| *stopping).await.is_ok() {
                tokio::time::sleep(DRAIN_LIMIT).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            served = serve => served.context("The server failed"),
            () = drain_limit => {
                tracing::warn!(limit = ?DRAIN_LIMIT, "Requests still in flight at the drain limit; stopping anyway");
                Ok(())
            }
        };
        let open = self.engine.tabs().wait_closed(CLOSE_LIMIT).await;
        if open > 0 {
            tracing::warn!(
                open,
                "Sockets still open at the close limit; stopping anyway"
            );
        }
        wake_stop.cancel();
        if let Some(wake) = wake {
            let _ = wake.await;
        }
        workers.stop().await;
        metrics_stop.cancel();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        served
    }
}

/// How long a stopping node waits for in-flight requests. Longer than any
/// request takes (a login's hash is well under a second); shorter than the
/// usual 30 s before an orchestrator kills a process that ignores SIGTERM.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);

/// How long a stopping node waits for its sockets' close frames to go out.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// The whole router: API and pages behind the session layer (origin check
/// and session check) and, for pages, the page guard; static files and the
/// health checks beside them, unchecked; a request id around everything.
fn router(state: AppState, readiness: Readiness) -> Router {
    let request_ids = RequestIdLayer::new(state.edge.proxies.clone());
    let engine = state.engine.clone();
    let edge = Arc::clone(&state.edge);
    let routes = pages::app_routes();
    let leptos_options = LeptosOptions::clone(&state.leptos_options);
    let context = move || provide_context(engine.clone());
    // The page guard wraps the pages and the fallback only: the API answers
    // 401 itself, and a layer it would pass through costs every API request.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context, {
            let leptos_options = leptos_options.clone();
            move || shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(pages::guard_pages));
    let dynamic = Router::new()
        .merge(api::router())
        .merge(pages)
        .with_state(state)
        .layer(SessionLayer::new(edge))
        // A body that stalls is answered 408 rather than held open.
        .layer(RequestBodyTimeoutLayer::new(crate::serve::BODY_TIMEOUT))
        // Pages and API answers depend on the cookie: never cache them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let pkg_dir = site_root().join("pkg");
    let assets = Router::new()
        .nest_service("/pkg", ServeDir::new(pkg_dir))
        .route(
            "/style/bouncer.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLESHEET,
                )
            }),
        )
        .merge(bouncer_web::script::routes());

    // The health checks are outside the trace layer too: a draining node's
    // 503 to every probe is its answer, not a failure to log.
    security_headers(dynamic.merge(assets))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .merge(health::routes(readiness))
        .layer(request_ids)
}

/// A failed request, as the trace layer reports it: a 503 is the server
/// refusing on purpose (the password queue is full, the database cannot
/// answer) and, in a flood, thousands a second; only real failures are
/// errors. A 500's cause is logged where it happened (`bouncer_web::error`).
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _: &tracing::Span) {
    match class {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(?latency, "Refused for now (503)");
        }
        class => tracing::error!(%class, ?latency, "Response failed"),
    }
}

/// Headers every answer carries: no page may be framed by another site
/// (clickjacking), no answer sniffed into another type, and no address of a
/// page of ours leaks to other sites in `Referer`.
fn security_headers(router: Router) -> Router {
    let headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; base-uri 'self'; object-src 'none'; form-action 'self'",
        ),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}
