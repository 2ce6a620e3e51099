//! The session watcher: the one component in the app shell that owns the
//! tab's WebSocket.
//!
//! On `session_ended` it tells the sibling tabs (BroadcastChannel), drops the
//! socket and navigates client-side to `/login?reason=…` — no reload. It
//! reconnects with jittered backoff (within a second when a node closes it
//! for shutting down, 4002), and after every reconnect and whenever a
//! hidden tab becomes visible it asks `GET /api/auth/me`, so a missed message
//! never leaves a tab signed in. It shows the idle warning with a countdown
//! and a `Stay signed in` button, and sends `activity` on real user input,
//! throttled.
//!
//! On the server this renders the (hidden) banner only; everything else runs
//! in the browser.

use leptos::prelude::*;

/// Bumped on every `sessions_changed`: live lists re-fetch when it moves.
#[derive(Debug, Clone, Copy)]
pub struct SessionsVersion(pub RwSignal<u64>);

/// Seconds left as "1:05".
pub fn countdown_text(seconds: u64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[component]
pub fn SessionWatcher() -> impl IntoView {
    // The idle deadline the server warned about (ms since the epoch), if any.
    let deadline = RwSignal::new(None::<f64>);
    // The browser's clock, ticking once a second while the banner shows.
    let now = RwSignal::new(0.0_f64);
    let version = RwSignal::new(0_u64);
    provide_context(SessionsVersion(version));

    #[cfg(feature = "hydrate")]
    {
        use leptos_router::{hooks::use_location, NavigateOptions};

        let navigate = leptos_router::hooks::use_navigate();
        let hooks = client::Hooks {
            warning: Box::new(move |at| {
                now.set(js_sys::Date::now());
                deadline.set(at);
            }),
            changed: Box::new(move || version.update(|v| *v += 1)),
            ended: Box::new(move |target: String| {
                deadline.set(None);
                navigate(
                    &target,
                    NavigateOptions {
                        replace: true,
                        ..NavigateOptions::default()
                    },
                );
            }),
        };
        client::install(hooks);
        let location = use_location();
        Effect::new(move |_| {
            if location.pathname.get() == "/login" {
                client::stop();
            } else {
                client::start();
            }
        });
        let ticker = set_interval_with_handle(
            move || now.set(js_sys::Date::now()),
            std::time::Duration::from_secs(1),
        );
        on_cleanup(move || {
            if let Ok(handle) = ticker {
                handle.clear();
            }
        });
    }

    let seconds_left = move || {
        deadline.get().map(|at| {
            let left = ((at - now.get()) / 1000.0).ceil();
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
        <div class="idle-banner-slot" aria-live="polite">
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
    }
}

#[cfg(feature = "hydrate")]
mod client {
    //! The browser side. State lives in a thread-local: wasm has one thread,
    //! and the socket's callbacks outlive any component scope.

    use std::cell::RefCell;

    use bouncer_wire::{ClientMessage, ServerMessageHead, ServerMessageKind, CLOSE_SHUTTING_DOWN};
    use wasm_bindgen::{prelude::*, JsCast};
    use web_sys::{BroadcastChannel, CloseEvent, MessageEvent, WebSocket};

    /// User input sends `activity` at most this often.
    const ACTIVITY_EVERY_MS: f64 = 15_000.0;
    /// The BroadcastChannel all tabs of this origin (one cookie, one session) share.
    const CHANNEL: &str = "bouncer-session";

    /// What the watcher component does with what the socket says.
    pub struct Hooks {
        pub warning: Box<dyn Fn(Option<f64>)>,
        pub changed: Box<dyn Fn()>,
        /// Navigate to this login URL.
        pub ended: Box<dyn Fn(String)>,
    }

    /// One open socket and the callbacks it needs alive.
    struct Connection {
        socket: WebSocket,
        _on_open: Closure<dyn FnMut()>,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
    }

    #[derive(Default)]
    struct Watcher {
        hooks: Option<Hooks>,
        connection: Option<Connection>,
        /// Whether this page should hold a socket (not on `/login`).
        active: bool,
        /// Set once an ending is being handled, so it is handled once.
        ending: bool,
        /// Failed connections in a row, for the backoff.
        attempts: u32,
        /// Whether a socket was ever open on this page (so the next one is a reconnect).
        connected_before: bool,
        last_activity_sent: f64,
        channel: Option<BroadcastChannel>,
        /// Document listeners, installed once.
        _listeners: Vec<Closure<dyn FnMut()>>,
        _channel_listener: Option<Closure<dyn FnMut(MessageEvent)>>,
    }

    thread_local! {
        static WATCHER: RefCell<Watcher> = RefCell::new(Watcher::default());
    }

    fn with<R>(f: impl FnOnce(&mut Watcher) -> R) -> R {
        WATCHER.with(|w| f(&mut w.borrow_mut()))
    }

    /// Installs the hooks and the page-wide listeners (once per page load).
    pub fn install(hooks: Hooks) {
        let first = with(|w| {
            let first = w.hooks.is_none();
            w.hooks = Some(hooks);
            first
        });
        if !first {
            return;
        }
        let document = leptos::prelude::document();
        let mut listeners = Vec::new();
        for event in ["keydown", "pointerdown", "wheel", "touchstart"] {
            let on_input = Closure::<dyn FnMut()>::new(|| send_activity(false));
            let _ =
                document.add_event_listener_with_callback(event, on_input.as_ref().unchecked_ref());
            listeners.push(on_input);
        }
        let on_visible = Closure::<dyn FnMut()>::new(|| {
            if leptos::prelude::document().visibility_state() == web_sys::VisibilityState::Visible
                && with(|w| w.active && !w.ending)
            {
                resync();
            }
        });
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_visible.as_ref().unchecked_ref(),
        );
        listeners.push(on_visible);
        let channel = BroadcastChannel::new(CHANNEL).ok();
        let channel_listener = channel.as_ref().map(|channel| {
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
                if let Some(target) = event.data().as_string() {
                    // A sibling tab learned first: follow it without re-broadcasting.
                    finish(target, false);
                }
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message
        });
        with(|w| {
            w._listeners = listeners;
            w.channel = channel;
            w._channel_listener = channel_listener;
        });
    }

    /// This page wants a socket.
    pub fn start() {
        let connect_now = with(|w| {
            w.active = true;
            w.ending = false;
            w.connection.is_none()
        });
        if connect_now {
            connect();
        }
    }

    /// This page (`/login`) needs no socket.
    pub fn stop() {
        let connection = with(|w| {
            w.active = false;
            w.connected_before = false;
            w.attempts = 0;
            w.connection.take()
        });
        if let Some(connection) = connection {
            connection.socket.set_onclose(None);
            let _ = connection.socket.close_with_code(1000);
            mark_socket("closed");
        }
        if let Some(hooks) = with(|w| w.hooks.take()) {
            (hooks.warning)(None);
            with(|w| w.hooks = Some(hooks));
        }
    }

    fn socket_url() -> Option<String> {
        let location = leptos::prelude::window().location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/api/ws", location.host().ok()?))
    }

    fn connect() {
        if !with(|w| w.active && !w.ending && w.connection.is_none()) {
            return;
        }
        let Some(url) = socket_url() else { return };
        let Ok(socket) = WebSocket::new(&url) else {
            schedule_reconnect();
            return;
        };
        let on_open = Closure::<dyn FnMut()>::new(|| {
            mark_socket("open");
            let reconnect = with(|w| {
                w.attempts = 0;
                std::mem::replace(&mut w.connected_before, true)
            });
            if reconnect {
                resync();
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            // The head only: see `ServerMessageHead` for why not the full enum.
            let Ok(message) = serde_json::from_str::<ServerMessageHead>(&text) else {
                return;
            };
            handle(message);
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(|event: CloseEvent| {
            mark_socket("closed");
            with(|w| w.connection = None);
            if !with(|w| w.active && !w.ending) {
                return;
            }
            if event.code() == CLOSE_SHUTTING_DOWN {
                // The node is going away and the session is fine: reconnect
                // soon (a balancer sends us to a live node), spread over a
                // second so a node's tabs do not all land at once; the
                // reconnect resyncs.
                let delay = 100.0 + 900.0 * js_sys::Math::random();
                leptos::prelude::set_timeout(
                    connect,
                    std::time::Duration::from_millis(delay as u64),
                );
            } else {
                // Whatever else closed it — a crash, a network cut, a refused
                // upgrade — ask the server how the session stands, then retry.
                resync();
                schedule_reconnect();
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        with(|w| {
            w.connection = Some(Connection {
                socket,
                _on_open: on_open,
                _on_message: on_message,
                _on_close: on_close,
            })
        });
    }

    /// Exposes the socket's state on `<html data-session-socket>` for scripts
    /// and browser tests (it carries nothing secret).
    fn mark_socket(state: &str) {
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.set_attribute("data-session-socket", state);
        }
    }

    fn schedule_reconnect() {
        let attempts = with(|w| {
            w.attempts = w.attempts.saturating_add(1);
            w.attempts
        });
        // 0.5 s, 1 s, 2 s … up to 15 s, each ±50 % so tabs do not reconnect in lockstep.
        let base = (500.0 * 2f64.powi(attempts.min(5) as i32 - 1)).min(15_000.0);
        let delay = base * (0.5 + js_sys::Math::random());
        leptos::prelude::set_timeout(connect, std::time::Duration::from_millis(delay as u64));
    }

    fn handle(message: ServerMessageHead) {
        match message.kind {
            ServerMessageKind::SessionEnded => {
                let reason = message.reason.map(|reason| reason.as_str());
                finish(login_url(reason), true)
            }
            ServerMessageKind::IdleWarning => {
                if let Some(seconds_left) = message.seconds_left {
                    let at = js_sys::Date::now() + (seconds_left as f64) * 1000.0;
                    call(|hooks| (hooks.warning)(Some(at)));
                }
            }
            ServerMessageKind::Extended => call(|hooks| (hooks.warning)(None)),
            ServerMessageKind::SessionsChanged => call(|hooks| (hooks.changed)()),
            ServerMessageKind::Hello | ServerMessageKind::Error | ServerMessageKind::Unknown => {}
        }
    }

    fn call(f: impl FnOnce(&Hooks)) {
        let hooks = with(|w| w.hooks.take());
        if let Some(hooks) = hooks {
            f(&hooks);
            with(|w| w.hooks = Some(hooks));
        }
    }

    /// `/login` with the reason and the page to come back to.
    fn login_url(reason: Option<&str>) -> String {
        let location = leptos::prelude::window().location();
        let here = format!(
            "{}{}",
            location.pathname().unwrap_or_else(|_| "/".into()),
            location.search().unwrap_or_default()
        );
        let next = js_sys::encode_uri_component(&here)
            .as_string()
            .unwrap_or_else(|| "/".into());
        match reason {
            Some(reason) => format!("/login?reason={reason}&next={next}"),
            None => format!("/login?next={next}"),
        }
    }

    /// The session is over: tell the siblings, drop the socket, leave.
    fn finish(target: String, broadcast: bool) {
        let (first, connection) = with(|w| {
            let first = !w.ending;
            w.ending = true;
            (first, w.connection.take())
        });
        if !first {
            return;
        }
        if broadcast {
            if let Some(channel) = with(|w| w.channel.clone()) {
                let _ = channel.post_message(&JsValue::from_str(&target));
            }
        }
        if let Some(connection) = connection {
            connection.socket.set_onclose(None);
            let _ = connection.socket.close_with_code(1000);
        }
        call(|hooks| (hooks.ended)(target));
    }

    /// Asks the server whether the session is still live.
    fn resync() {
        leptos::task::spawn_local(async {
            // Live, or the server is unreachable: the reconnect loop goes on.
            if let Some(Some(target)) = check_me().await {
                finish(target, true);
            }
        });
    }

    /// `Some(Some(login url))` when the session is over, `Some(None)` when
    /// live, `None` when the server could not be asked.
    async fn check_me() -> Option<Option<String>> {
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        init.set_credentials(web_sys::RequestCredentials::SameOrigin);
        let promise = leptos::prelude::window().fetch_with_str_and_init("/api/auth/me", &init);
        let response: web_sys::Response = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .ok()?
            .dyn_into()
            .ok()?;
        match response.status() {
            200 => Some(None),
            401 => {
                let body = wasm_bindgen_futures::JsFuture::from(response.json().ok()?)
                    .await
                    .ok()?;
                let reason = js_sys::Reflect::get(&body, &JsValue::from_str("reason"))
                    .ok()
                    .and_then(|r| r.as_string());
                Some(Some(login_url(reason.as_deref())))
            }
            _ => None,
        }
    }

    /// User input: at most one `activity` per [`ACTIVITY_EVERY_MS`], unless forced.
    fn send_activity(force: bool) {
        let now = js_sys::Date::now();
        let socket = with(|w| {
            if !w.active || w.ending || (!force && now - w.last_activity_sent < ACTIVITY_EVERY_MS) {
                return None;
            }
            w.last_activity_sent = now;
            w.connection.as_ref().map(|c| c.socket.clone())
        });
        let Ok(text) = serde_json::to_string(&ClientMessage::Activity) else {
            return;
        };
        match socket {
            Some(socket) if socket.ready_state() == WebSocket::OPEN => {
                let _ = socket.send_with_str(&text);
            }
            // No socket right now: the HTTP endpoint counts the same.
            _ if with(|w| w.active && !w.ending) => leptos::task::spawn_local(async {
                let init = web_sys::RequestInit::new();
                init.set_method("POST");
                init.set_credentials(web_sys::RequestCredentials::SameOrigin);
                let promise =
                    leptos::prelude::window().fetch_with_str_and_init("/api/auth/activity", &init);
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            }),
            _ => {}
        }
    }

    /// The banner's button: activity now, whatever the throttle says.
    pub fn stay_signed_in() {
        send_activity(true);
    }
}

#[cfg(test)]
mod tests {
    use super::countdown_text;

    #[test]
    fn countdown_reads_minutes_and_seconds() {
        assert_eq!(countdown_text(65), "1:05");
        assert_eq!(countdown_text(9), "0:09");
        assert_eq!(countdown_text(0), "0:00");
    }
}
