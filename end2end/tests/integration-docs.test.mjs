// docs/INTEGRATION.md shows what the browser tests run: the nginx
// configurations of tests/support/nginx.mjs (with a deployment's addresses,
// and nginx accepts them), the Caddyfile of tests/support/caddy.mjs (Caddy
// accepts it) and the upstream app's player page.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PLAYER } from '../upstream/server.mjs';
import { caddyfile, caddyInstalled, checkCaddyfile } from './support/caddy.mjs';
import { checkConfig, forwardAuth, nginxInstalled, siteConfig } from './support/nginx.mjs';

const INTEGRATION = readFileSync(new URL('../../docs/INTEGRATION.md', import.meta.url), 'utf8');
/** The addresses the documentation uses. */
const DOCUMENTED = { listen: 80, serverName: 'app.example.com', bouncer: '127.0.0.1:3000', app: '127.0.0.1:8080' };
const GUARDED = { ...DOCUMENTED, guard: forwardAuth() };
/** The whole app for staff only, as "Requiring a role or a permission" shows it. */
const STAFF_ONLY = '/api/auth/verify?role=staff';
const CADDY = caddyfile({ site: 'app.example.com', bouncer: '127.0.0.1:3000', app: '127.0.0.1:8080' });

/** Fails unless the document holds `text` as a fenced block of `language`. */
function assertShown(language, text) {
  const block = '```' + language + '\n' + text + '```\n';
  assert.ok(INTEGRATION.includes(block), `docs/INTEGRATION.md is out of date; it should show:\n${block}`);
}

test('docs/INTEGRATION.md shows the nginx configuration the tests run', () => {
  assertShown('nginx', siteConfig(DOCUMENTED));
});

test('docs/INTEGRATION.md shows the forward authentication the tests run, for nginx and Caddy', () => {
  assertShown('nginx', siteConfig(GUARDED));
  assertShown('caddyfile', CADDY);
  const line = `proxy_pass http://bouncer${STAFF_ONLY};`;
  assert.ok(forwardAuth({ verify: STAFF_ONLY }).server.includes(line));
  assertShown('nginx', `${line}\n`);
});

test('docs/INTEGRATION.md shows the player page the tests open', () => {
  assertShown('html', PLAYER);
});

const skip = !nginxInstalled() && !process.env.CI ? 'nginx is not installed (scripts/lib.sh ensure_nginx)' : false;
if (skip) console.error(`\n*** SKIPPED: nginx -t of the documented configuration (${skip}) ***\n`);

test('nginx accepts the documented configurations', { skip }, async () => {
  for (const config of [DOCUMENTED, GUARDED, { ...DOCUMENTED, guard: forwardAuth({ verify: STAFF_ONLY }) }]) {
    const { ok, output } = await checkConfig(siteConfig(config));
    assert.ok(ok, output);
  }
});

const skipCaddy = !caddyInstalled() && !process.env.CI ? 'Caddy is not installed (scripts/lib.sh ensure_caddy)' : false;
if (skipCaddy) console.error(`\n*** SKIPPED: caddy validate of the documented Caddyfile (${skipCaddy}) ***\n`);

test('Caddy accepts the documented Caddyfile', { skip: skipCaddy }, async () => {
  const { ok, output } = await checkCaddyfile(CADDY);
  assert.ok(ok, output);
});
