// Test support: start a real Bouncer server on a fresh SQLite database with the
// demo accounts, and open Chromium (Debian's, never a downloaded one).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `bouncer serve --demo`; resolves once it listens, with the demo passwords. */
export async function startServer(env = {}) {
  const bin = process.env.BOUNCER_BIN;
  if (!bin) throw new Error('BOUNCER_BIN must name the bouncer binary (scripts/test.sh sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-e2e-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const databaseUrl = `sqlite://${join(dir, 'bouncer.db')}`;
  const child = spawn(bin, ['serve', '--demo'], {
    env: {
      ...process.env,
      BOUNCER_ADDR: `127.0.0.1:${port}`,
      BOUNCER_DATABASE_URL: databaseUrl,
      RUST_LOG: process.env.RUST_LOG || 'warn',
      // No balancer to tell: a stop closes at once.
      BOUNCER_SHUTDOWN_DELAY: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const passwords = {};
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${stderr}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
    child.stdout.on('data', (chunk) => {
      out += chunk;
      for (const match of out.matchAll(/^\s+(alice|bob|sam|root)\s+\w+\s+(\S+)$/gm)) {
        passwords[match[1]] = match[2];
      }
      if (out.includes('Bouncer is listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    origin,
    passwords,
    /** Pass it as BOUNCER_DATABASE_URL to start a second node on the same database. */
    databaseUrl,
    /** Whether the process exited with status 0 after `stop()`. */
    get exitedCleanly() { return child.exitCode === 0; },
    /** SIGTERM, as an orchestrator stops it; `keepDatabase` while another node uses it. */
    async stop({ keepDatabase = false } = {}) {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      if (!keepDatabase) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Launches headless Chromium. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Waits until the page has hydrated (the wasm bundle ran). */
export async function waitForHydration(page) {
  await page.waitForFunction(() => document.documentElement.dataset.hydrated === 'true', null, { timeout: 15_000 });
}

/** Signs in through the login form. */
export async function signIn(page, origin, username, password) {
  await page.goto(`${origin}/login`);
  await waitForHydration(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in over the JSON API (no Origin header, like a script); returns the cookie. */
export async function apiLogin(origin, username, password, { userAgent } = {}) {
  const response = await fetch(`${origin}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(userAgent ? { 'user-agent': userAgent } : {}) },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 200) throw new Error(`login of ${username} answered ${response.status}`);
  const cookie = response.headers.get('set-cookie').split(';')[0];
  return { cookie, me: await response.json() };
}

/**
 * Creates a user through the admin API as root (a test's own user, so tests
 * do not share sessions); returns their password.
 */
const rootCookies = new Map();

export async function createUser(server, username, { role = 'user', maxSessions = null } = {}) {
  const password = `${username}-long-password`;
  const body = JSON.stringify({ username, password, role, max_sessions: maxSessions, permissions: role === 'user' ? [] : ['revoke_users'] });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    // One root session per server (under refuse_new a second would be
    // refused), signed in again once it has timed out.
    if (!rootCookies.has(server.origin)) {
      rootCookies.set(server.origin, (await apiLogin(server.origin, 'root', server.passwords.root)).cookie);
    }
    const response = await fetch(`${server.origin}/api/admin/users`, {
      method: 'POST',
      headers: { cookie: rootCookies.get(server.origin), 'content-type': 'application/json' },
      body,
    });
    if (response.status === 201) return password;
    if (response.status !== 401) throw new Error(`creating ${username} answered ${response.status}`);
    rootCookies.delete(server.origin);
  }
  throw new Error(`creating ${username}: root could not sign in`);
}

export const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
export const IPAD = 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

/** Waits until the tab's session socket is open. */
export async function waitForSocket(page) {
  await page.waitForFunction(() => document.documentElement.dataset.sessionSocket === 'open', null, { timeout: 15_000 });
}

/** Marks the page's JavaScript world; a reload would lose the mark. */
export async function markWorld(page) {
  await page.evaluate(() => { window.__bouncerMark = 'same-document'; });
}

export async function worldKept(page) {
  return page.evaluate(() => window.__bouncerMark === 'same-document');
}

/** Waits until the tab shows the login page, within `timeout` ms. */
export async function waitForLogin(page, timeout) {
  await page.waitForFunction(() => location.pathname === '/login', null, { timeout, polling: 20 });
}

/**
 * A TCP proxy in front of the server that can cut every connection through
 * it (and refuse new ones) to stand in for a network drop.
 */
export async function startProxy(port) {
  const { createServer: createTcpServer, connect } = await import('node:net');
  const sockets = new Set();
  let cut = false;
  let targetPort = null;
  const server = createTcpServer((client) => {
    if (cut || targetPort === null) { client.destroy(); return; }
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    client.pipe(upstream); upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop); upstream.on('error', drop); client.on('close', drop); upstream.on('close', drop);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    forwardTo(target) { targetPort = target; },
    cut() { cut = true; for (const socket of sockets) socket.destroy(); sockets.clear(); },
    resume() { cut = false; },
    close() { for (const socket of sockets) socket.destroy(); return new Promise((resolve) => server.close(resolve)); },
  };
}

/**
 * A server (started with `env`) and a browser for the tests of a file or a
 * `describe`, stopped after them: `app.server` and `app.browser` once the
 * tests run.
 */
export function serverAndBrowser(env = {}) {
  const app = {};
  before(async () => {
    app.server = await startServer(env);
    app.browser = await launchBrowser();
  });
  after(async () => {
    await app.browser?.close();
    await app.server?.stop();
  });
  return app;
}

/**
 * A browser context `width` px wide (with any other context `options`),
 * signed in as `username` through the form, with its tab on `path`,
 * hydrated and with its socket open.
 */
export async function signedInAt(browser, server, {
  username, password = server.passwords[username], width = 1280, path = '/', options = {}, initScript,
}) {
  const context = await contextAt(browser, width, options);
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  await signIn(page, server.origin, username, password);
  await page.waitForURL((url) => url.pathname === '/');
  if (path !== '/') await page.goto(`${server.origin}${path}`);
  await waitForHydration(page);
  await waitForSocket(page);
  return { context, page };
}

/** Another tab of a signed-in `context` on `path`, hydrated and with its socket open. */
export async function openTab(context, origin, path) {
  const page = await context.newPage();
  await page.goto(`${origin}${path}`);
  await waitForHydration(page);
  await waitForSocket(page);
  return page;
}

/** The widths every page is checked at: a small phone and a laptop. */
export const WIDTHS = [375, 1280];

/** A browser context `width` pixels wide (and any other options). */
export function contextAt(browser, width, options = {}) {
  return browser.newContext({ viewport: { width, height: width < 600 ? 740 : 900 }, ...options });
}

/** Asserts that the page does not scroll sideways at its width. */
export async function assertNoSidewaysScroll(page, what) {
  const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
  assert.ok(scrollWidth <= innerWidth, `${what}: the page is ${scrollWidth} px wide in a ${innerWidth} px window`);
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core (from npm, injected into the page) and fails on any serious
 * or critical violation, naming the rule and the elements. The rule that
 * the visible text of a control is part of its accessible name is
 * experimental in axe and off by default; it is switched on here.
 */
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const results = await window.axe.run(document, {
      resultTypes: ['violations'],
      rules: { 'label-content-name-mismatch': { enabled: true } },
    });
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n    ')}`);
  });
  assert.deepEqual(violations, [], `${what}: axe-core found\n  ${violations.join('\n  ')}`);
}

/** The page at this width is clean: no sideways scroll, nothing serious for axe. */
export async function assertGoodPage(page, what) {
  await assertNoSidewaysScroll(page, what);
  await assertAccessible(page, what);
}

export { freePort };
