// The one-origin stack of docs/INTEGRATION.md for the browser tests: a real
// Bouncer, the tests' upstream app (end2end/upstream/server.mjs) and a real
// nginx in front of both, optionally with forward authentication guarding
// the app; and what the tests of that stack share.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startUpstream } from '../../upstream/server.mjs';
import { apiLogin, freePort, launchBrowser, signIn, startServer, waitForSocket } from '../support.mjs';
import { caddyInstalled, startCaddy } from './caddy.mjs';
import { nginxInstalled, startNginx } from './nginx.mjs';

// nginx is installed by scripts/test.sh (ensure_nginx); outside CI a machine
// without it skips these tests, loudly. In CI a missing nginx fails them.
export const skip = !nginxInstalled() && !process.env.CI
  ? 'nginx is not installed: run scripts/test.sh, or source scripts/lib.sh and ensure_nginx'
  : false;

/** Likewise for Caddy (`ensure_caddy`), which only the Caddy tests need. */
export const skipCaddy = !caddyInstalled() && !process.env.CI
  ? 'Caddy is not installed: run scripts/test.sh, or source scripts/lib.sh and ensure_caddy'
  : false;

/** A stuck step fails its test instead of holding the whole run. */
export const LIMIT = { timeout: 60_000 };

/**
 * Bouncer, the upstream app and nginx in front of both, on one origin;
 * `guard` is `siteConfig`'s (forward authentication in front of the app).
 * With `caddy`, Caddy is the proxy instead, always with forward
 * authentication (support/caddy.mjs).
 */
export async function startStack(env = {}, { guard = null, caddy = false } = {}) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Stopped newest first, also when a later one fails to start.
  const stops = [];
  const stop = async () => {
    for (const stopOne of stops.splice(0).reverse()) await stopOne();
  };
  try {
    const upstream = await startUpstream();
    stops.push(() => upstream.close());
    const server = await startServer({ BOUNCER_PUBLIC_ORIGIN: origin, ...env });
    stops.push(() => server.stop());
    const where = { port, bouncer: server.origin, app: upstream.origin };
    const proxy = await (caddy ? startCaddy(where) : startNginx({ ...where, guard }));
    stops.push(() => proxy.stop());
    return { origin, server, upstream, proxy, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A browser and a stack for the suite it is called in, started before its tests and stopped after. */
export function useStack(env = {}, options = {}) {
  const suite = {};
  before(async () => {
    suite.browser = await launchBrowser();
    suite.stack = await startStack(env, options);
  }, LIMIT);
  after(async () => {
    await suite.browser?.close();
    await suite.stack?.stop();
  }, LIMIT);
  return suite;
}

/** A tab of the app's player page, signed in (through nginx and the Leptos login page) if the context is not yet. */
export async function playerTab(context, stack, username, path = '/player') {
  const page = await context.newPage();
  if (context.pages().length === 1) {
    await signIn(page, stack.origin, username, stack.server.passwords[username]);
    await page.waitForURL((url) => url.pathname === '/');
  }
  await page.goto(`${stack.origin}${path}`);
  await waitForSocket(page);
  return page;
}

/** The id of the user called `username`, asked over the admin API with these headers. */
export async function userId(origin, headers, username) {
  const found = await (await fetch(`${origin}/api/admin/users?query=${username}`, { headers })).json();
  return found.users.find((u) => u.username === username).id;
}

/** Ends every session of `username` as an admin would, over the JSON API; returns when. */
export async function adminRevoke(server, username) {
  const { cookie } = await apiLogin(server.origin, 'root', server.passwords.root);
  const id = await userId(server.origin, { cookie }, username);
  const revoke = await fetch(`${server.origin}/api/admin/users/${id}/revoke`, { method: 'POST', headers: { cookie } });
  assert.equal(revoke.status, 200);
  return Date.now();
}

/** Main-frame navigations of the page from now on. */
export function navigations(page) {
  const urls = [];
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) urls.push(frame.url()); });
  return urls;
}

/** Waits until the tab shows Bouncer's login page (a real navigation or a Leptos one). */
export function waitForLoginUrl(page, timeout) {
  return page.waitForURL((url) => url.pathname === '/login', { timeout, waitUntil: 'commit' });
}
