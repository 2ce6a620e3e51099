// docs/INTEGRATION.md shows what the browser tests run: the nginx
// configuration of tests/support/nginx.mjs (with a deployment's addresses,
// and nginx accepts it) and the upstream app's player page.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PLAYER } from '../upstream/server.mjs';
import { checkConfig, nginxInstalled, siteConfig } from './support/nginx.mjs';

const INTEGRATION = readFileSync(new URL('../../docs/INTEGRATION.md', import.meta.url), 'utf8');
/** The addresses the documentation uses. */
const DOCUMENTED = { listen: 80, serverName: 'app.example.com', bouncer: '127.0.0.1:3000', app: '127.0.0.1:8080' };

/** Fails unless the document holds `text` as a fenced block of `language`. */
function assertShown(language, text) {
  const block = '```' + language + '\n' + text + '```\n';
  assert.ok(INTEGRATION.includes(block), `docs/INTEGRATION.md is out of date; it should show:\n${block}`);
}

test('docs/INTEGRATION.md shows the nginx configuration the tests run', () => {
  assertShown('nginx', siteConfig(DOCUMENTED));
});

test('docs/INTEGRATION.md shows the player page the tests open', () => {
  assertShown('html', PLAYER);
});

const skip = !nginxInstalled() && !process.env.CI ? 'nginx is not installed (scripts/lib.sh ensure_nginx)' : false;
if (skip) console.error(`\n*** SKIPPED: nginx -t of the documented configuration (${skip}) ***\n`);

test('nginx accepts the documented configuration', { skip }, async () => {
  const { ok, output } = await checkConfig(siteConfig(DOCUMENTED));
  assert.ok(ok, output);
});
