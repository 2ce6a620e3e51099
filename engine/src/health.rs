//! Whether this node can do its work, as a readiness check asks: the
//! database answers, its migrations are the ones this build expects, and
//! (on PostgreSQL) the `LISTEN` connection that brings other nodes' endings
//! is up. The edge adds what only it knows (whether the node is draining)
//! and answers the balancer.
//!
//! A finding names its problem in a word; the cause is logged here, never
//! returned: the answer goes to whoever asks.

use std::time::Duration;

use crate::{db, measures::ListenerState};

/// How long the database may take to answer before it counts as down: a
/// balancer's probe must get its answer well within its own timeout.
pub const DATABASE_WITHIN: Duration = Duration::from_secs(2);

/// One check's name and, if it failed, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub problem: Option<&'static str>,
}

impl Finding {
    fn new(check: &'static str, problem: Option<&'static str>) -> Self {
        Finding { check, problem }
    }
}

/// The checks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    pub(crate) pool: db::Pool,
    /// `None` on SQLite: there is no `LISTEN` connection to check.
    pub(crate) listener: Option<ListenerState>,
}

impl Health {
    /// Runs every check: `database`, `migrations` and, on PostgreSQL,
    /// `listener`.
    pub async fn check(&self) -> Vec<Finding> {
        let missing = tokio::time::timeout(DATABASE_WITHIN, db::missing_migrations(&self.pool));
        let (database, migrations) = match missing.await {
            Ok(Ok(missing)) if missing.is_empty() => (None, None),
            Ok(Ok(missing)) => {
                tracing::warn!(?missing, "The database lacks migrations this node needs");
                (None, Some("behind"))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "The readiness check's query failed");
                (Some("failed"), Some("unknown"))
            }
            Err(_) => {
                tracing::warn!(within = ?DATABASE_WITHIN, "The database did not answer the readiness check in time");
                (Some("timeout"), Some("unknown"))
            }
        };
        let mut findings = vec![
            Finding::new("database", database),
            Finding::new("migrations", migrations),
        ];
        if let Some(listener) = &self.listener {
            findings.push(Finding::new(
                "listener",
                (!listener.is_up()).then_some("down"),
            ));
        }
        findings
    }
}
