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
        let (database, migrations) = match tokio::time::timeout(
            DATABASE_WITHIN,
            self.database_and_migrations(),
        )
        .await
        {
            Ok(found) => found,
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

    /// Whether the database answers, then whether it holds every migration.
    async fn database_and_migrations(&self) -> (Option<&'static str>, Option<&'static str>) {
        if let Err(e) = sqlx::query("SELECT 1").execute(&self.pool).await {
            tracing::warn!(error = ?e, "The database did not answer the readiness check");
            return (Some("failed"), Some("unknown"));
        }
        match db::missing_migrations(&self.pool).await {
            Ok(missing) if missing.is_empty() => (None, None),
            Ok(missing) => {
                tracing::warn!(?missing, "The database lacks migrations this node needs");
                (None, Some("behind"))
            }
            Err(e) => {
                // No record of migrations at all: nothing was applied.
                tracing::warn!(error = ?e, "The database's migrations could not be read");
                (None, Some("behind"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(findings: &[Finding]) -> Vec<(&'static str, Option<&'static str>)> {
        findings.iter().map(|f| (f.check, f.problem)).collect()
    }

    #[tokio::test]
    async fn each_check_names_its_problem() {
        let pool = db::connect("sqlite::memory:").await.expect("a database");
        let listener = ListenerState::default();
        let health = Health {
            pool: pool.clone(),
            listener: Some(listener.clone()),
        };
        // Not migrated yet: it answers, and holds nothing.
        assert_eq!(
            problems(&health.check().await),
            [
                ("database", None),
                ("migrations", Some("behind")),
                ("listener", Some("down"))
            ]
        );
        db::migrate(&pool).await.expect("migrated");
        listener.set(true);
        assert_eq!(
            problems(&health.check().await),
            [("database", None), ("migrations", None), ("listener", None)]
        );
        pool.close().await;
        assert_eq!(
            health.check().await[0],
            Finding::new("database", Some("failed"))
        );
    }
}
