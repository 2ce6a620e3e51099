//! The session watcher: the one component in the app shell that owns the
//! tab's WebSocket.
//!
//! On `session_ended` it tells the sibling tabs (BroadcastChannel), drops the
//! socket and navigates client-side to `/login?reason=…` — no reload. An idle
//! timeout on a page with unsaved input locks the tab in place instead
//! ([`lock`]). It reconnects with jittered backoff (within a second when a
//! node closes it for shutting down, 4002), and after every reconnect and
//! whenever a hidden tab becomes visible it asks `GET /api/auth/me`, so a
//! missed message never leaves a tab signed in. It shows the idle warning
//! with a countdown and a `Stay signed in` button, the notice of a new
//! sign-in elsewhere ([`notice`]), and sends `activity` on real user input,
//! throttled.
//!
//! On the server this renders the (hidden) banner slot only; everything else
//! runs in the browser.
//!
//! # Layout
//!
//! - `client` — the socket, the sibling tabs, the resync (browser only).
//! - `unsaved` — which fields hold input not yet submitted (browser only).
//! - [`lock`] — the lock screen and the [`Lock`] state.
//! - [`notice`] — the notice of a new sign-in.

#[cfg(feature = "hydrate")]
mod client;
pub mod lock;
pub mod notice;
#[cfg(feature = "hydrate")]
mod unsaved;

use leptos::prelude::*;

pub use self::lock::{Lock, LockScreen};
use crate::time::Clock;

/// Bumped on every `sessions_changed`: live lists re-fetch when it moves.
#[derive(Debug, Clone, Copy)]
pub struct SessionsVersion(pub RwSignal<u64>);

impl SessionsVersion {
    pub fn provide() -> SessionsVersion {
        let version = SessionsVersion(RwSignal::new(0));
        provide_context(version);
        version
    }
}

/// Seconds left as "1:05".
pub fn countdown_text(seconds: u64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// Tells this browser's other tabs that it signed in as `username` (a
/// locked tab of the same person unlocks, a stale sign-in page moves on).
pub fn announce_sign_in(username: &str) {
    #[cfg(feature = "hydrate")]
    client::announce_sign_in(username);
    #[cfg(not(feature = "hydrate"))]
    let _ = username;
}

#[component]
pub fn SessionWatcher() -> impl IntoView {
    // The idle deadline the server warned about (ms since the epoch), if any.
    let deadline = RwSignal::new(None::<f64>);
    // The latest sign-in elsewhere (the message as sent), until dismissed.
    let new_sign_in = RwSignal::new(None::<String>);
    let clock = Clock::get();

    #[cfg(feature = "hydrate")]
    {
        use leptos_router::{
            hooks::{use_location, use_navigate},
            NavigateOptions,
        };

        let navigate = use_navigate();
        let location = use_location();
        let version = use_context::<SessionsVersion>().map(|v| v.0);
        let lock = Lock::get();
        let go = move |target: &str| {
            navigate(
                target,
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            )
        };
        let hooks = client::Hooks {
            warning: Box::new(move |at| deadline.set(at)),
            changed: Box::new(move || {
                if let Some(version) = version {
                    version.update(|v| *v += 1);
                }
            }),
            ended: Box::new({
                let go = go.clone();
                move |target: String| {
                    deadline.set(None);
                    new_sign_in.set(None);
                    go(&target);
                }
            }),
            lock: Box::new(move || {
                deadline.set(None);
                new_sign_in.set(None);
                if let Some(lock) = lock {
                    lock.lock();
                }
            }),
            new_sign_in: Box::new(move |notice| new_sign_in.set(Some(notice))),
            signed_in: Box::new(move |username: String| {
                if let Some(lock) = lock.filter(|lock| lock.is_locked_untracked()) {
                    lock.signed_in_again(&username);
                } else if location.pathname.with_untracked(|path| path == "/login") {
                    // A sign-in page left open: this browser is signed in now.
                    let next = location.query.with_untracked(|q| q.get("next"));
                    go(&crate::next::after_sign_in(next.as_deref()));
                }
            }),
        };
        client::install(hooks);
        Effect::new(move |_| {
            let path = location.pathname.get();
            let search = location.search.get();
            client::set_path(if search.is_empty() {
                path.clone()
            } else {
                format!("{path}?{search}")
            });
            crate::hydration::when_hydrated(move || {
                if path == "/login" {
                    client::stop();
                } else if !lock.is_some_and(|lock| lock.is_locked_untracked()) {
                    client::start();
                }
            });
        });
    }

    let seconds_left = move || {
        deadline.get().map(|at| {
            let left = ((at - clock.now.get()) / 1000.0).ceil();
            if left.is_finite() && left > 0.0 {
                left as u64
            } else {
                0
            }
        })
    };
    let stay = move |_| {
        #[cfg(feature = "hydrate")]
        client::stay_signed_in();
    };

    view! {
        <div class="live-slot">
            <div aria-live="polite">
                <Show when=move || deadline.get().is_some()>
                    <div class="idle-banner" role="status" data-testid="idle-banner">
                        <p>
                            "You will be signed out in "
                            <strong data-testid="idle-countdown">{move || seconds_left().map(countdown_text)}</strong>
                            " because of inactivity."
                        </p>
                        <button type="button" class="button primary" on:click=stay>
                            "Stay signed in"
                        </button>
                    </div>
                </Show>
            </div>
            {move || new_sign_in.get().map(|notice| Suspend::new(notice::notice_view(notice, new_sign_in)))}
        </div>
    }
}

/// The sign-in URL the watcher would leave for right now, for `reason`.
#[cfg(feature = "hydrate")]
pub(crate) fn login_url(reason: Option<bouncer_wire::Reason>) -> String {
    client::login_url(reason)
}

/// A locked tab was signed in again as the same person: reconnect.
#[cfg(feature = "hydrate")]
pub(crate) fn resume() {
    client::resume();
}

#[cfg(test)]
mod tests {
    use super::countdown_text;

    #[test]
    fn countdown_reads_minutes_and_seconds() {
        for (seconds, text) in [(65, "1:05"), (9, "0:09"), (0, "0:00"), (600, "10:00")] {
            assert_eq!(countdown_text(seconds), text);
        }
    }
}
