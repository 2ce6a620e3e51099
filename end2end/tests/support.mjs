// Test support: start a real Bouncer server on a fresh SQLite database with the
// demo accounts, and open Chromium (Debian's, never a downloaded one).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
export async function apiLogin(origin, username, password) {
  const response = await fetch(`${origin}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 200) throw new Error(`login of ${username} answered ${response.status}`);
  const cookie = response.headers.get('set-cookie').split(';')[0];
  return { cookie, me: await response.json() };
}

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

export { freePort };
