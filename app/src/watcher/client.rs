//! The browser side of the watcher: the socket, the sibling tabs, the
//! resync, activity. State lives in a thread-local: wasm has one thread,
//! and the socket's callbacks outlive any component scope.

use std::cell::RefCell;

use bouncer_wire::{
    ClientMessage, Reason, ServerMessageHead, ServerMessageKind, CLOSE_SHUTTING_DOWN,
};
use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{BroadcastChannel, CloseEvent, MessageEvent, WebSocket};

use super::unsaved;

/// User input sends `activity` at most this often.
const ACTIVITY_EVERY_MS: f64 = 15_000.0;
/// The BroadcastChannel all tabs of this origin (one cookie, one session) share.
const CHANNEL: &str = "bouncer-session";
/// What tabs tell each other, as `PREFIX` + data: the session ended (with
/// the reason's name, or nothing when unknown), and this browser signed in
/// (with the username).
const ENDED: &str = "ended:";
const SIGNED_IN: &str = "signed_in:";

/// What the watcher component does with what the socket says.
pub struct Hooks {
    pub warning: Box<dyn Fn(Option<f64>)>,
    pub changed: Box<dyn Fn()>,
    /// Leave for this login URL.
    pub ended: Box<dyn Fn(String)>,
    /// The idle timeout passed on a page with unsaved input: lock in place.
    pub lock: Box<dyn Fn()>,
    /// Someone signed in to this account on another device: the message's
    /// text, which the notice reads in its own wasm chunk.
    pub new_sign_in: Box<dyn Fn(String)>,
    /// A tab of this browser signed in, as this username.
    pub signed_in: Box<dyn Fn(String)>,
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
    /// Set once an ending is being handled, so it is handled once; it stays
    /// set while the tab is locked.
    ending: bool,
    /// Failed connections in a row, for the backoff.
    attempts: u32,
    /// Whether a socket was ever open on this page (so the next one is a reconnect).
    connected_before: bool,
    last_activity_sent: f64,
    /// The page as the router shows it (path and query). The address bar
    /// lags behind while a lazy page's code loads, so `next` is taken from
    /// here, never from `window.location`.
    path: String,
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
        let _ = document.add_event_listener_with_callback(event, on_input.as_ref().unchecked_ref());
        listeners.push(on_input);
    }
    let on_visible = Closure::<dyn FnMut()>::new(|| {
        if leptos::prelude::document().visibility_state() == web_sys::VisibilityState::Visible
            && with(|w| w.active && !w.ending)
        {
            resync();
        }
    });
    let _ = document
        .add_event_listener_with_callback("visibilitychange", on_visible.as_ref().unchecked_ref());
    listeners.push(on_visible);
    unsaved::track();
    let channel = BroadcastChannel::new(CHANNEL).ok();
    let channel_listener = channel.as_ref().map(|channel| {
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Some(reason) = text.strip_prefix(ENDED) {
                // A sibling tab learned first: follow it without re-broadcasting.
                finish(reason.parse().ok(), false);
            } else if let Some(username) = text.strip_prefix(SIGNED_IN) {
                let username = username.to_owned();
                call(|hooks| (hooks.signed_in)(username));
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

/// The router shows this page now (path and query).
pub fn set_path(path: String) {
    with(|w| w.path = path);
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
    call(|hooks| (hooks.warning)(None));
}

/// A locked tab was signed in again as the same person: a new session, a
/// new socket.
pub fn resume() {
    with(|w| {
        w.ending = false;
        w.attempts = 0;
        w.connected_before = false;
    });
    start();
}

/// Tells the other tabs of this browser that it signed in as `username`: a
/// locked tab of the same person unlocks, a stale sign-in page moves on.
pub fn announce_sign_in(username: &str) {
    if let Some(channel) = with(|w| w.channel.clone()) {
        let _ = channel.post_message(&JsValue::from_str(&format!("{SIGNED_IN}{username}")));
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
        handle(message, &text);
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
            leptos::prelude::set_timeout(connect, std::time::Duration::from_millis(delay as u64));
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

fn handle(message: ServerMessageHead, text: &str) {
    match message.kind {
        ServerMessageKind::SessionEnded => finish(message.reason, true),
        ServerMessageKind::IdleWarning => {
            if let Some(seconds_left) = message.seconds_left {
                let at = js_sys::Date::now() + (seconds_left as f64) * 1000.0;
                call(|hooks| (hooks.warning)(Some(at)));
            }
        }
        ServerMessageKind::Extended => call(|hooks| (hooks.warning)(None)),
        ServerMessageKind::SessionsChanged => call(|hooks| (hooks.changed)()),
        ServerMessageKind::NewSignIn => {
            let text = text.to_owned();
            call(|hooks| (hooks.new_sign_in)(text));
        }
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

/// `/login` with the reason and the page to come back to, which is never
/// `/login` itself (a sign-in would land on the sign-in form again).
pub fn login_url(reason: Option<Reason>) -> String {
    let here = with(|w| w.path.clone());
    let next = Some(here)
        .filter(|path| !path.is_empty() && !crate::next::is_login(path))
        .and_then(|path| js_sys::encode_uri_component(&path).as_string());
    let mut url = "/login".to_owned();
    let mut separator = '?';
    if let Some(reason) = reason {
        url.push_str(&format!("{separator}reason={}", reason.as_str()));
        separator = '&';
    }
    if let Some(next) = next {
        url.push_str(&format!("{separator}next={next}"));
    }
    url
}

/// The session is over: tell the siblings, drop the socket, then leave for
/// the sign-in page — or, for an idle timeout on a page with unsaved input,
/// lock the tab in place.
fn finish(reason: Option<Reason>, broadcast: bool) {
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
            let name = reason.map(Reason::as_str).unwrap_or_default();
            let _ = channel.post_message(&JsValue::from_str(&format!("{ENDED}{name}")));
        }
    }
    if let Some(connection) = connection {
        connection.socket.set_onclose(None);
        let _ = connection.socket.close_with_code(1000);
        mark_socket("closed");
    }
    let active = with(|w| w.active);
    if reason == Some(Reason::IdleTimeout) && active && unsaved::any() {
        call(|hooks| (hooks.lock)());
    } else if active {
        let target = login_url(reason);
        call(|hooks| (hooks.ended)(target));
    }
}

/// Asks the server whether the session is still live.
fn resync() {
    leptos::task::spawn_local(async {
        // Live, or the server is unreachable: the reconnect loop goes on.
        if let Some(Some(reason)) = check_me().await {
            finish(reason, true);
        }
    });
}

/// `Some(Some(reason))` when the session is over (the reason when the server
/// still knows it), `Some(None)` when live, `None` when the server could not
/// be asked.
async fn check_me() -> Option<Option<Option<Reason>>> {
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
                .and_then(|r| r.as_string())
                .and_then(|r| r.parse().ok());
            Some(Some(reason))
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
