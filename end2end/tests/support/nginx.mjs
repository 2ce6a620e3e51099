// A real nginx (Debian's, installed by scripts/lib.sh `ensure_nginx`) in front
// of Bouncer and an app, on one origin: the layout of docs/INTEGRATION.md.
//
// `siteConfig` writes the part of the configuration a deployment uses (it is
// the one shown in docs/INTEGRATION.md, which tests/integration-docs.test.mjs keeps
// in step); `startNginx` wraps it in what a throwaway instance needs and runs
// it as a child on a free loopback port. Every file it writes (config, logs,
// pid, temporary bodies) is inside its own temporary directory.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support.mjs';
import { executable, runUntilListening } from './proxy.mjs';

export const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';

/** Whether nginx can be run here. */
export function nginxInstalled() {
  return executable(NGINX_BIN);
}

/**
 * What Bouncer serves on the shared origin; everything else is the app's.
 * Its Leptos server functions are under /api/ too (the framework's default
 * prefix), so /api/ covers them.
 */
export const BOUNCER_PAGES = ['/login', '/account', '/admin'];
export const BOUNCER_PREFIXES = ['/api/', '/pkg/', '/style/'];
export const BOUNCER_FILES = ['/bouncer.js'];

/** The headers that tell the app who the user is; only Bouncer may set them. */
export const USER_HEADERS = [
  'X-Bouncer-User-Id', 'X-Bouncer-Username', 'X-Bouncer-Role',
  'X-Bouncer-Permissions', 'X-Bouncer-Session-Id',
];

/**
 * Forward authentication in front of the app, for `siteConfig`'s `guard`:
 * before each of the app's requests nginx asks Bouncer (`auth_request` to
 * `GET /api/auth/verify`, answered from memory), passes the user headers
 * from the answer to the app, and sends a browser without a live session to
 * the sign-in page Bouncer names (`/login?reason=…&next=<the page>`), while
 * the app's own scripts get the 401. `verify` is the URI nginx asks; add a
 * query to require more of every request of the app (`?role=staff`).
 */
export function forwardAuth({ verify = '/api/auth/verify' } = {}) {
  const variable = (name) => `$bouncer_${name.slice('X-Bouncer-'.length).toLowerCase().replaceAll('-', '_')}`;
  const upstream = (name) => `$upstream_http_${name.toLowerCase().replaceAll('-', '_')}`;
  return {
    server: `# Forward authentication: the subrequest that asks Bouncer whether the
# browser's session is live (the cookie goes with it; the body does not).
location = /_bouncer/verify {
    internal;
    proxy_pass http://bouncer${verify};
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
}

# No live session: a page load goes to the sign-in page Bouncer names
# (X-Bouncer-Login, with the reason and this page as next); anything
# else (the app's scripts, curl) gets the 401.
location @bouncer_login {
    # The path as Bouncer wrote it (nginx would prefix its own idea of
    # the scheme, host and port).
    absolute_redirect off;
    if ($http_accept !~ "text/html") {
        return 401;
    }
    return 302 $bouncer_login;
}`,
    app: [
      'auth_request /_bouncer/verify;',
      ...[...USER_HEADERS, 'X-Bouncer-Login'].map((name) => `auth_request_set ${variable(name)} ${upstream(name)};`),
      'error_page 401 = @bouncer_login;',
      '# Who the user is, from Bouncer\'s answer: whatever a client sent as',
      '# these headers is replaced (an empty value sends none).',
      ...USER_HEADERS.map((name) => `proxy_set_header ${name} ${variable(name)};`),
    ].join('\n'),
  };
}

const indent = (text, spaces) => text.trim().split('\n').map((line) => (line ? ' '.repeat(spaces) + line : line)).join('\n');

/**
 * The http-level configuration of the one-origin layout: the WebSocket
 * `Connection` map, the two upstreams and the server.
 *
 * @param {object} options
 * @param {string|number} options.listen What the server listens on (`80`, `127.0.0.1:8443`).
 * @param {string} [options.serverName] The site's host name.
 * @param {string} options.bouncer Bouncer's address, `host:port`.
 * @param {string} options.app The app's address, `host:port`.
 * @param {{server: string, app: string}|null} [options.guard] Forward
 *   authentication in front of the app (`auth_request` to
 *   `GET /api/auth/verify`): `server` is placed in the server block (the
 *   internal location that asks Bouncer, the redirect to the login page),
 *   `app` in the app's location (`auth_request`, and the `proxy_set_header`
 *   lines that pass the user headers). Without a guard nothing vouches for a
 *   user, so any `X-Bouncer-*` header a client sends is removed before the
 *   app sees it.
 */
export function siteConfig({ listen, serverName = null, bouncer, app, guard = null }) {
  const forwarded = [
    // $http_host keeps the port the browser used (not the default for the scheme).
    'proxy_set_header Host $http_host;',
    // nginx is the edge here: the client's own X-Forwarded-For is not kept,
    // so nobody can pass an address of their choosing along.
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
  ].join('\n');
  const oneLine = (match) => `location ${match} { proxy_pass http://bouncer; }`;
  const block = (match, lines) => `location ${match} {\n${indent(lines.join('\n'), 4)}\n}`;
  const bouncerLocations = [
    ...BOUNCER_PAGES.map((path) => oneLine(`= ${path}`)),
    ...BOUNCER_PREFIXES.map((prefix) => oneLine(prefix)),
    ...BOUNCER_FILES.map((path) => oneLine(`= ${path}`)),
  ].join('\n');
  const socket = block('= /api/ws', [
    'proxy_pass http://bouncer;',
    forwarded,
    'proxy_http_version 1.1;',
    'proxy_set_header Upgrade $http_upgrade;',
    'proxy_set_header Connection $connection_upgrade;',
    '# Bouncer pings a quiet socket every 25 s, so the default',
    '# proxy_read_timeout (60 s) never closes a live one.',
  ]);
  const appLocation = block('/', [
    'proxy_pass http://app;',
    forwarded,
    guard
      ? guard.app.trim()
      : ['# Nothing vouches for a user here: whatever a client sends as', '# these headers is removed.',
        ...USER_HEADERS.map((name) => `proxy_set_header ${name} "";`)].join('\n'),
  ]);

  return `map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}

upstream bouncer {
    server ${bouncer};
}

upstream app {
    server ${app};
}

server {
    listen ${listen};
${serverName ? `    server_name ${serverName};\n` : ''}
    # Inherited by every location that sets no proxy_set_header of its own
    # (one that does must repeat these three).
${indent(forwarded, 4)}

    # Bouncer: its pages, its API (with its server functions), its assets
    # and /bouncer.js.
${indent(bouncerLocations, 4)}

    # The tabs' sockets.
${indent(socket, 4)}
${guard ? `\n${indent(guard.server, 4)}\n` : ''}
    # Everything else is the app's.
${indent(appLocation, 4)}
}
`;
}

/** The whole configuration of a throwaway instance whose files all live in `dir`, serving `site`. */
export function harnessConfig({ dir, site }) {
  return `# Written by end2end/tests/support/nginx.mjs for one test run.
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events {
    worker_connections 256;
}
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

${indent(site, 4)}
}
`;
}

/**
 * Asks nginx whether it accepts `site` (`nginx -t`, in a temporary directory
 * it removes); resolves to `{ ok, output }`.
 */
export function checkConfig(site) {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-nginx-t-'));
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, harnessConfig({ dir, site }));
  const child = spawn(NGINX_BIN, ['-t', '-p', dir, '-e', join(dir, 'error.log'), '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  return new Promise((resolve) => child.once('exit', (code) => {
    rmSync(dir, { recursive: true, force: true });
    resolve({ ok: code === 0, output });
  }));
}

/** `host:port` of an `http://host:port` origin (or a `host:port` already). */
export const address = (origin) => origin.replace(/^https?:\/\//, '').replace(/\/$/, '');

/**
 * Starts nginx in front of `bouncer` and `app` (origins or `host:port`) on a
 * free loopback port (or `port`); resolves once it answers.
 */
export async function startNginx({ bouncer, app, guard = null, port = null }) {
  if (!nginxInstalled()) throw new Error(`${NGINX_BIN} is missing (scripts/lib.sh ensure_nginx installs it)`);
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-nginx-'));
  // Run as root, nginx's workers drop to `nobody` and must reach the
  // temporary-body directories in here.
  chmodSync(dir, 0o755);
  const listenPort = port ?? await freePort();
  const site = siteConfig({ listen: `127.0.0.1:${listenPort}`, bouncer: address(bouncer), app: address(app), guard });
  const config = harnessConfig({ dir, site });
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, config);
  // -e: the log nginx writes before it has read the config, also in here.
  const { origin, stop } = await runUntilListening({
    name: 'nginx',
    bin: NGINX_BIN,
    args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', configPath, '-g', 'daemon off;'],
    port: listenPort,
    dir,
    config,
  });
  const read = (name) => { try { return readFileSync(join(dir, name), 'utf8'); } catch { return ''; } };

  return {
    origin,
    port: listenPort,
    config,
    /** The error and access logs so far, for a failing test's message. */
    logs: () => `--- error.log\n${read('error.log')}--- access.log\n${read('access.log')}`,
    /**
     * Stops it and removes its directory. SIGTERM is nginx's fast shutdown:
     * the master closes every connection (open sockets too, which a graceful
     * SIGQUIT would wait for) and waits for its workers.
     */
    stop,
  };
}
