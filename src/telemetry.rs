//! Logging: lines on stderr, filtered by `RUST_LOG`, for people
//! (`BOUNCER_LOG_FORMAT=text`, the default) or one JSON object per line for
//! a log pipeline (`json`), each carrying its spans' fields — above all the
//! request's `id` (`bouncer_web::request_id`), so every line of a request
//! can be found by the id its answer showed.

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// How log lines are written (`BOUNCER_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One line per event for people, spans as `request{id=…}:login{…}`.
    #[default]
    Text,
    /// One JSON object per event: `timestamp`, `level`, `target`, `fields`
    /// (the message among them), `span` (the innermost) and `spans` (all of
    /// them, outermost first).
    Json,
}

/// Installs the global subscriber (once; later calls are ignored, for tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,tower_sessions=warn,tower_sessions_core=error")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
