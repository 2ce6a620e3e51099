/*
 * /bouncer.js: Bouncer's tab watcher for pages that are not Bouncer's own
 * (API v2; docs/INTEGRATION.md documents it). It does what the Leptos watcher
 * (app/src/watcher.rs) does for Bouncer's pages: one socket per tab; on
 * `session_ended` it tells the sibling tabs and goes to the login page with
 * the reason, unless an `ended` handler prevents it; it reconnects and
 * resyncs with /api/auth/me; it raises the idle warning and sends `activity`.
 * It evaluates nothing the server sends and builds every URL it visits.
 */
(() => {
  'use strict';
  // Included twice: the first copy owns the tab's one socket.
  if (window.Bouncer) return;

  /** The channel every tab of this origin (one cookie, one session) shares. */
  const CHANNEL = 'bouncer-session';
  const ACTIVITY_EVERY_MS = 15000;
  const CLOSE_SHUTTING_DOWN = 4002;
  /** A reason is a snake_case word; anything else from the network is dropped. */
  const REASON = /^[a-z_]{1,64}$/;

  const handlers = { ended: [], warning: [], extended: [] };
  let socket = null;
  /** The Session of the last `hello` or /api/auth/me answer. */
  let session = null;
  /** Whether this page has seen its session live (else a 401 means "a visitor"). */
  let signedIn = false;
  /** Once the session is over nothing else happens on this page. */
  let ended = false;
  /** Whether a socket was open before (so the next open is a reconnect). */
  let opened = false;
  let attempts = 0;
  let timer = 0;
  let lastActivity = 0;
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

  const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
  const text = (value) => (typeof value === 'string' ? value : null);
  const reasonOf = (value) => (typeof value === 'string' && REASON.test(value) ? value : null);

  /** Shows the socket's state on <html data-session-socket>, as the Leptos watcher does. */
  function mark(state) {
    document.documentElement.dataset.sessionSocket = state;
  }

  /** Calls the page's handlers; false if one prevented the default. */
  function emit(type, fields) {
    let prevented = false;
    const event = {
      type,
      ...fields,
      preventDefault() { prevented = true; },
      get defaultPrevented() { return prevented; },
    };
    for (const handler of handlers[type].slice()) {
      try {
        if (handler.call(Bouncer, event) === false) prevented = true;
      } catch (error) {
        setTimeout(() => { throw error; });
      }
    }
    return !prevented;
  }

  /**
   * The login page with the reason and this page as `next`, always a local
   * path: a pathname may begin with `//` (another host, as a URL).
   */
  function loginUrl(reason) {
    const next = '/' + (location.pathname + location.search).replace(/^[/\\]+/, '');
    return '/login?' + (reason ? 'reason=' + reason + '&' : '') + 'next=' + encodeURIComponent(next);
  }

  function connect() {
    clearTimeout(timer);
    timer = 0;
    if (ended || (socket && socket.readyState < WebSocket.CLOSING)) return;
    let ws;
    try {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/ws');
    } catch {
      return; // Refused by the browser itself (e.g. mixed content): retrying would not help.
    }
    socket = ws;
    ws.onopen = () => {
      mark('open');
      attempts = 0;
      if (opened) resync(false);
      opened = true;
    };
    ws.onmessage = (event) => receive(event.data);
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      mark('closed');
      if (ended) return;
      if (event.code === CLOSE_SHUTTING_DOWN) {
        // The node is stopping, the session is fine: back within a second,
        // spread so a node's tabs do not arrive at once.
        timer = setTimeout(connect, 100 + 900 * Math.random());
      } else {
        // A refused upgrade, a crash, a cut: ask how the session stands.
        resync(true);
      }
    };
  }

  /** 0.5 s, 1 s, 2 s … up to 15 s, each ±50 % so tabs do not retry in lockstep. */
  function retry() {
    clearTimeout(timer);
    attempts = Math.min(attempts + 1, 6);
    timer = setTimeout(connect, Math.min(500 * 2 ** (attempts - 1), 15000) * (0.5 + Math.random()));
  }

  /** One message from the socket; anything unexpected is ignored. */
  function receive(data) {
    if (typeof data !== 'string') return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObject(message)) return;
    switch (message.type) {
      case 'hello':
        if (isObject(message.session)) {
          session = message.session;
          signedIn = true;
        }
        break;
      case 'session_ended':
        end(message.reason, message, false);
        break;
      case 'idle_warning': {
        const secondsLeft = message.seconds_left;
        if (Number.isFinite(secondsLeft) && secondsLeft >= 0) {
          emit('warning', {
            secondsLeft,
            deadline: Date.now() + secondsLeft * 1000,
            idleExpiresAt: text(message.idle_expires_at),
          });
        }
        break;
      }
      case 'extended': {
        const idleExpiresAt = text(message.idle_expires_at);
        if (session && idleExpiresAt) session = { ...session, idle_expires_at: idleExpiresAt };
        emit('extended', { idleExpiresAt });
        break;
      }
      // `sessions_changed` (lists of sessions) and `error` need nothing here.
    }
  }

  /** Asks how the session stands; after a close, live or unreachable means retry. */
  async function resync(afterClose) {
    let status = 0;
    let body = null;
    try {
      const response = await fetch('/api/auth/me', { credentials: 'same-origin', cache: 'no-store' });
      status = response.status;
      body = await response.json().catch(() => null);
    } catch {
      // Unreachable: the status stays 0.
    }
    if (ended) return;
    if (status === 200) {
      if (isObject(body) && isObject(body.session)) session = body.session;
      signedIn = true;
      if (afterClose) retry();
      else if (!socket && !timer) connect();
    } else if (status === 401) {
      const reason = isObject(body) && body.error === 'session_ended' ? reasonOf(body.reason) : null;
      // An ended session counts even if this page never saw it live (it may
      // have ended before the socket opened); a visitor without one is left alone.
      if (reason || signedIn) end(reason, body, false);
    } else if (afterClose) {
      retry();
    }
  }

  /** The session is over: drop the socket, tell the siblings, ask the page, leave. */
  function end(rawReason, source, fromSibling) {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    const ws = socket;
    socket = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000);
      mark('closed');
    }
    session = null;
    const reason = reasonOf(rawReason);
    const url = loginUrl(reason);
    if (channel && !fromSibling) channel.postMessage('ended:' + (reason || ''));
    const go = emit('ended', {
      reason,
      message: isObject(source) ? text(source.message) : null,
      detail: isObject(source) && isObject(source.detail) ? source.detail : null,
      fromSibling,
      loginUrl: url,
    });
    if (go) location.replace(url);
  }

  /** User input (or `stayActive()`, which skips the throttle) moves the idle deadline. */
  function activity(force) {
    const now = Date.now();
    if (ended || (!force && now - lastActivity < ACTIVITY_EVERY_MS)) return;
    lastActivity = now;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send('{"type":"activity"}');
    } else if (signedIn) {
      // No socket right now: the HTTP endpoint counts the same.
      fetch('/api/auth/activity', { method: 'POST', credentials: 'same-origin' }).catch(() => {});
    }
  }

  // Real input only: not events a script dispatches, nor `scroll`, which a
  // page does itself too (people scroll by wheel, touch and keys). Captured,
  // so a page that stops propagation still counts.
  for (const type of ['keydown', 'pointerdown', 'wheel', 'touchstart']) {
    addEventListener(type, (event) => { if (event.isTrusted) activity(false); }, { capture: true, passive: true });
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && !ended) resync(false);
  });
  // Back from the back/forward cache, where the socket was closed.
  addEventListener('pageshow', (event) => { if (event.persisted && !ended) resync(false); });

  if (channel) {
    // The Leptos watcher's messages: `ended:<reason>` when a tab's session
    // ended, `signed_in:<name>` when a tab signed in. A tab that never saw
    // its session live (or had none) asks the server instead of believing.
    channel.onmessage = (event) => {
      const data = typeof event.data === 'string' ? event.data : '';
      if (data.startsWith('signed_in:') && !signedIn) resync(false);
      if (!data.startsWith('ended:')) return;
      if (signedIn) end(data.slice(6), null, true);
      else resync(false);
    };
  }

  function listOf(type, handler) {
    if (!Object.hasOwn(handlers, type)) throw new TypeError('Bouncer: unknown event "' + type + '"');
    if (typeof handler !== 'function') throw new TypeError('Bouncer: a handler must be a function');
    return handlers[type];
  }

  const Bouncer = Object.freeze({
    /** The API version this script speaks. */
    version: '2',
    /** Calls `handler(event)` on 'ended', 'warning' or 'extended'. */
    on(type, handler) {
      const list = listOf(type, handler);
      if (!list.includes(handler)) list.push(handler);
    },
    off(type, handler) {
      const list = listOf(type, handler);
      const at = list.indexOf(handler);
      if (at >= 0) list.splice(at, 1);
    },
    /** "Stay signed in": counts as activity now, in every tab of the session. */
    stayActive() {
      activity(true);
    },
    /** A copy of the Session being watched, or null (none yet, or it ended). */
    current() {
      return session && { ...session };
    },
  });
  window.Bouncer = Bouncer;
  connect();
})();
