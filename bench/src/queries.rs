//! Counts the database statements this process runs: sqlx reports each one as
//! a `tracing` event with the target `sqlx::query`. Every other event is
//! disabled at its call site, so counting costs the benchmark nothing else.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tracing::{subscriber::Interest, Metadata};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// The running count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting(Counter);

fn is_query(metadata: &Metadata<'_>) -> bool {
    metadata.target() == "sqlx::query"
}

impl<S: tracing::Subscriber> Layer<S> for Counting {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_query(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        is_query(metadata)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if is_query(event.metadata()) {
            (self.0).0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the counter as this process's only subscriber.
pub fn install() -> Counter {
    let counter = Counter::default();
    tracing_subscriber::registry()
        .with(Counting(counter.clone()))
        .init();
    counter
}
