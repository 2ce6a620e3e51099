//! Work that must wait until the whole page has hydrated.
//!
//! The first page's code may still be loading (a lazy route's chunk) while
//! the app's effects already run. Hydration keeps the server's HTML as it
//! is, and a page component created late hydrates from the values the
//! server serialised; so anything that changes what the page shows — the
//! clock of relative times, the socket whose `sessions_changed` refetches
//! the lists — starts only once everything is hydrated, or its first change
//! is lost on the parts that were not there yet.

#[cfg(feature = "hydrate")]
use std::cell::{Cell, RefCell};

#[cfg(feature = "hydrate")]
thread_local! {
    static HYDRATED: Cell<bool> = const { Cell::new(false) };
    static WAITING: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` once the page has hydrated: now if it has, else then.
#[cfg(feature = "hydrate")]
pub fn when_hydrated(work: impl FnOnce() + 'static) {
    if HYDRATED.get() {
        work();
    } else {
        WAITING.with_borrow_mut(|waiting| waiting.push(Box::new(work)));
    }
}

/// The whole page has hydrated (the wasm entry point says so): run what waited.
pub fn page_hydrated() {
    #[cfg(feature = "hydrate")]
    {
        HYDRATED.set(true);
        for work in WAITING.take() {
            work();
        }
    }
}
