// A real Caddy (Debian's, installed by scripts/lib.sh `ensure_caddy`) in
// front of Bouncer and an app on one origin, with forward authentication:
// the Caddy equivalent of support/nginx.mjs's `forwardAuth`.
//
// `caddyfile` writes the site a deployment uses (docs/INTEGRATION.md shows
// it, tests/integration-docs.test.mjs keeps that copy in step and has
// `caddy validate` accept it); `startCaddy` runs it for one test, on a free
// loopback port over plain http, every file it writes in a temporary
// directory of its own.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support.mjs';
import { address, BOUNCER_FILES, BOUNCER_PAGES, BOUNCER_PREFIXES, USER_HEADERS } from './nginx.mjs';
import { executable, runUntilListening } from './proxy.mjs';

export const CADDY_BIN = process.env.CADDY_BIN || '/usr/bin/caddy';

/** Whether Caddy can be run here. */
export function caddyInstalled() {
  return executable(CADDY_BIN);
}

const TAB = '\t';
const indent = (text, tabs) => text.split('\n').map((line) => (line ? TAB.repeat(tabs) + line : line)).join('\n');

/**
 * The site block of the one-origin layout with forward authentication in
 * front of the app: what docs/INTEGRATION.md shows.
 *
 * @param {object} options
 * @param {string} options.site The site address (`app.example.com`, `http://127.0.0.1:8443`).
 * @param {string} options.bouncer Bouncer's address, `host:port`.
 * @param {string} options.app The app's address, `host:port`.
 */
export function caddyfile({ site, bouncer, app }) {
  const paths = [...BOUNCER_PAGES, ...BOUNCER_PREFIXES.map((prefix) => `${prefix}*`), ...BOUNCER_FILES];
  const guarded = `# Only Bouncer says who the user is: a client's own values go first.
${USER_HEADERS.map((name) => `request_header -${name}`).join('\n')}
# Asks GET /api/auth/verify (with the cookie, and the page in
# X-Forwarded-Uri); on 2xx the user headers go on to the app. The
# final ? drops the page's own query, which Caddy would pass on (and
# which verify refuses: it takes only its own requirements).
forward_auth ${bouncer} {
${TAB}uri /api/auth/verify?
${TAB}copy_headers ${USER_HEADERS.join(' ')}
${TAB}# No live session: a page load goes to the sign-in page Bouncer
${TAB}# names, with the reason and this page as next; the app's scripts
${TAB}# get the 401.
${TAB}@signed_out status 401
${TAB}handle_response @signed_out {
${TAB}${TAB}@page header Accept *text/html*
${TAB}${TAB}redir @page {rp.header.X-Bouncer-Login} 302
${TAB}${TAB}respond 401
${TAB}}
}
reverse_proxy ${app}`;
  return `${site} {
${TAB}# Bouncer: its pages, its API (with its server functions), its assets
${TAB}# and /bouncer.js. Caddy passes the WebSocket upgrade of /api/ws as it is.
${TAB}@bouncer path ${paths.join(' ')}
${TAB}handle @bouncer {
${TAB}${TAB}reverse_proxy ${bouncer}
${TAB}}

${TAB}# Everything else is the app's, behind forward authentication. A route
${TAB}# keeps the order written: the client's headers go before Bouncer's come.
${TAB}handle {
${TAB}${TAB}route {
${indent(guarded, 3)}
${TAB}${TAB}}
${TAB}}
}
`;
}

/** The global options of a throwaway instance: no admin endpoint, plain http. */
const HARNESS_OPTIONS = `{
${TAB}admin off
${TAB}auto_https off
}

`;

/** Caddy's own files (autosave, certificates) in `dir`, never in the home directory. */
const caddyEnv = (dir) => ({ HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir });

/** Asks `caddy validate` whether it accepts `text` (a Caddyfile); resolves to `{ ok, output }`. */
export function checkCaddyfile(text) {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-caddy-validate-'));
  const path = join(dir, 'Caddyfile');
  writeFileSync(path, HARNESS_OPTIONS + text);
  return new Promise((resolve) => {
    execFile(CADDY_BIN, ['validate', '--adapter', 'caddyfile', '--config', path], { env: { ...process.env, ...caddyEnv(dir) } }, (error, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ ok: !error, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * Starts Caddy in front of `bouncer` and `app` (origins or `host:port`) on a
 * free loopback port (or `port`); resolves once it answers, to `{ origin, stop() }`.
 */
export async function startCaddy({ bouncer, app, port = null }) {
  if (!caddyInstalled()) throw new Error(`${CADDY_BIN} is missing (scripts/lib.sh ensure_caddy installs it)`);
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-caddy-'));
  port ??= await freePort();
  const config = HARNESS_OPTIONS + caddyfile({ site: `http://127.0.0.1:${port}`, bouncer: address(bouncer), app: address(app) });
  const path = join(dir, 'Caddyfile');
  writeFileSync(path, config);
  return runUntilListening({
    name: 'caddy',
    bin: CADDY_BIN,
    args: ['run', '--adapter', 'caddyfile', '--config', path],
    env: caddyEnv(dir),
    port,
    dir,
    config,
  });
}
