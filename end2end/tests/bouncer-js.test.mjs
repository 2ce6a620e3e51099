// /bouncer.js on another app's pages: a real nginx puts Bouncer and an
// upstream app (end2end/upstream/server.mjs) on one origin, as
// docs/INTEGRATION.md lays out, and real Chromium tabs of the app's /player
// page are ended live by the script, tell Bouncer's own (Leptos) tabs and are
// told by them, raise the idle warning and keep the session with stayActive().
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { apiLogin, markWorld, waitForSocket, worldKept } from './support.mjs';
import {
  adminRevoke, LIMIT, navigations, playerTab, skip, useStack, waitForLoginUrl,
} from './support/stack.mjs';

const SCRIPT = readFileSync(new URL('../../web/assets/bouncer.js', import.meta.url), 'utf8');

if (skip) console.error(`\n*** SKIPPED: the /bouncer.js tests behind nginx (${skip}) ***\n`);

/** Creates a user with no session limit over the admin API; returns the password. */
async function addUser(server, username) {
  const { cookie } = await apiLogin(server.origin, 'root', server.passwords.root);
  const password = `${username} has a long password`;
  const created = await fetch(`${server.origin}/api/admin/users`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, role: 'user', permissions: [], max_sessions: 0 }),
  });
  assert.equal(created.status, 201, await created.text());
  server.passwords[username] = password;
}

/** Makes the tab's session socket deaf: it opens and says hello, but no ending reaches the page. */
async function deafSocket(page) {
  await page.routeWebSocket(/\/api\/ws$/, (socket) => {
    const server = socket.connectToServer();
    server.onMessage((message) => {
      if (!String(message).includes('"session_ended"')) socket.send(message);
    });
    server.onClose(() => {});
  });
}

/** A raw GET through nginx, to see the bytes on the wire (fetch would decompress them). */
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

describe('/bouncer.js behind nginx, with the default policy', { skip }, () => {
  const suite = useStack();

  test('the script is served gzip within 4 KB, revalidated by its ETag', LIMIT, async () => {
    assert.ok(gzipSync(SCRIPT, { level: 9 }).length <= 4096, 'web/assets/bouncer.js within 4 KB gzip -9');
    const gzip = await rawGet(`${suite.stack.origin}/bouncer.js`, { 'accept-encoding': 'gzip' });
    assert.equal(gzip.status, 200);
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.equal(gzip.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(gzip.headers['cache-control'], /max-age=\d+/);
    assert.ok(gzip.body.length <= 4096, `served ${gzip.body.length} bytes gzip`);
    assert.equal(gunzipSync(gzip.body).toString('utf8'), SCRIPT);
    console.log(`# /bouncer.js: ${Buffer.byteLength(SCRIPT)} bytes, ${gzip.body.length} bytes gzip as served`);

    const plain = await rawGet(`${suite.stack.origin}/bouncer.js`, {});
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString('utf8'), SCRIPT);
    const again = await rawGet(`${suite.stack.origin}/bouncer.js`, { 'if-none-match': gzip.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(suite.stack.upstream.requests.filter((r) => r.url.startsWith('/bouncer.js')).length, 0, 'Bouncer serves it, not the app');
  });

  test('the proxy sends Bouncer its paths and the app the rest, with forwarding headers and no forged user headers', LIMIT, async () => {
    const before = suite.stack.upstream.requests.length;
    for (const path of ['/login', '/api/auth/me', '/bouncer.js', '/style/bouncer.css', '/pkg/BUILD']) {
      await (await fetch(`${suite.stack.origin}${path}`, { redirect: 'manual' })).arrayBuffer();
    }
    assert.equal(suite.stack.upstream.requests.length, before, 'none of Bouncer\'s paths reach the app');
    const echoed = await (await fetch(`${suite.stack.origin}/api-upstream/data`, {
      headers: { 'x-bouncer-user-id': 'u_forged', 'x-bouncer-role': 'admin', 'x-forwarded-for': '203.0.113.9' },
    })).json();
    assert.deepEqual(echoed.headers, {
      host: `127.0.0.1:${new URL(suite.stack.origin).port}`,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
    });
  });

  test('an admin revoke sends both player tabs to the login page with the reason within a second, without a reload', LIMIT, async () => {
    const context = await suite.browser.newContext();
    const tab1 = await playerTab(context, suite.stack, 'alice');
    const tab2 = await playerTab(context, suite.stack, 'alice');
    const tabs = [tab1, tab2];
    const seen = tabs.map((tab) => {
      const record = { navigations: navigations(tab), requests: [] };
      tab.on('request', (request) => record.requests.push(request.url()));
      return record;
    });
    for (const tab of tabs) {
      await markWorld(tab);
      const timecode = await tab.locator('#time').innerText();
      await tab.waitForFunction((t) => document.getElementById('time').textContent !== t, timecode);
    }
    const session = await tab1.evaluate(() => Bouncer.current());
    assert.match(session.id, /^s_/);
    assert.equal(session.username, 'alice');
    assert.equal(session.current, true);
    const me = await tab1.evaluate(async () => (await fetch('/api/auth/me')).json());
    assert.equal(me.session.id, session.id, 'current() is the session /api/auth/me names');
    assert.equal(await tab2.evaluate(() => Bouncer.current().id), session.id, 'one session, two tabs');
    assert.equal(await tab1.evaluate(() => Bouncer.version), '2');
    for (const tab of tabs) assert.equal(await worldKept(tab), true, 'no reload while playing');
    for (const record of seen) {
      assert.deepEqual(record.navigations, [], 'no navigation while playing');
      record.requests.splice(0);
    }

    const revokedAt = await adminRevoke(suite.stack.server, 'alice');
    await Promise.all(tabs.map(async (tab) => {
      await waitForLoginUrl(tab, 1_000);
      await tab.getByRole('alert').waitFor({ timeout: Math.max(1, 1_000 - (Date.now() - revokedAt)) });
    }));
    const elapsed = Date.now() - revokedAt;
    assert.ok(elapsed < 1_000, `both tabs showed the reason ${elapsed} ms after the revoke`);
    console.log(`# both player tabs showed the reason ${elapsed} ms after the revoke`);
    for (const [i, tab] of tabs.entries()) {
      const url = new URL(tab.url());
      assert.equal(url.searchParams.get('reason'), 'admin_revoked');
      assert.equal(url.searchParams.get('next'), '/player');
      assert.match(await tab.getByRole('alert').innerText(), /administrator ended your session/);
      assert.deepEqual(seen[i].navigations.map((u) => new URL(u).pathname), ['/login'], 'one navigation: to the login page');
      assert.equal(seen[i].requests.filter((u) => u.includes('/api/auth/me')).length, 0, 'told by the socket, not by asking');
    }
    await context.close();
  });

  test('a page with an ended handler that prevents the default gets the event and stays', LIMIT, async () => {
    const context = await suite.browser.newContext();
    const tab = await playerTab(context, suite.stack, 'bob', '/player?handle-ended');
    await markWorld(tab);
    const pageNavigations = navigations(tab);
    await adminRevoke(suite.stack.server, 'bob');
    const ended = tab.locator('#ended');
    await ended.waitFor({ timeout: 1_000 });
    assert.equal(await ended.getAttribute('data-reason'), 'admin_revoked');
    assert.match(await ended.innerText(), /administrator ended your session/);
    assert.equal(await ended.getByRole('link').getAttribute('href'), '/login?reason=admin_revoked&next=%2Fplayer%3Fhandle-ended');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(new URL(tab.url()).pathname, '/player', 'still on the page');
    assert.deepEqual(pageNavigations, []);
    assert.equal(await worldKept(tab), true);
    assert.equal(await tab.locator('#time').getAttribute('data-playing'), 'false', 'the page stopped its player');
    assert.equal(await tab.evaluate(() => document.documentElement.dataset.sessionSocket), 'closed');
    assert.equal(await tab.evaluate(() => Bouncer.current()), null);
    await context.close();
  });

  test('a page without a session does nothing noisy: no redirect, no retry loop', LIMIT, async () => {
    const context = await suite.browser.newContext();
    const page = await context.newPage();
    const asked = [];
    page.on('request', (request) => asked.push(new URL(request.url()).pathname));
    const sockets = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    const pageNavigations = navigations(page);
    await page.goto(`${suite.stack.origin}/player`);
    await page.waitForFunction(() => document.documentElement.dataset.sessionSocket === 'closed');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(new URL(page.url()).pathname, '/player');
    assert.equal(pageNavigations.length, 1, 'only the page load itself');
    assert.equal(sockets.length, 1, 'one attempt to open the socket');
    assert.deepEqual(asked.filter((path) => path.startsWith('/api/')), ['/api/auth/me'], 'asked once, then left alone');
    assert.equal(await page.evaluate(() => Bouncer.current()), null);
    await context.close();
  });

  test('a Leptos tab tells a deaf player tab, which goes to the login page with its own next', LIMIT, async () => {
    await addUser(suite.stack.server, 'carol');
    const context = await suite.browser.newContext();
    const leptos = await playerTab(context, suite.stack, 'carol', '/account');
    const player = await context.newPage();
    await deafSocket(player);
    await player.goto(`${suite.stack.origin}/player`);
    await waitForSocket(player);
    await player.waitForFunction(() => Bouncer.current() !== null);
    const revokedAt = await adminRevoke(suite.stack.server, 'carol');
    await Promise.all([waitForLoginUrl(leptos, 1_000), waitForLoginUrl(player, 1_000)]);
    assert.ok(Date.now() - revokedAt < 1_000);
    const url = new URL(player.url());
    assert.equal(url.searchParams.get('reason'), 'admin_revoked');
    assert.equal(url.searchParams.get('next'), '/player', 'its own page, not the sender\'s');
    await context.close();
  });

  test('a player tab tells a deaf Leptos tab, which leaves without a reload', LIMIT, async () => {
    await addUser(suite.stack.server, 'dave');
    const context = await suite.browser.newContext();
    const player = await playerTab(context, suite.stack, 'dave');
    const leptos = await context.newPage();
    await deafSocket(leptos);
    await leptos.goto(`${suite.stack.origin}/account`);
    await waitForSocket(leptos);
    await markWorld(leptos);
    const revokedAt = await adminRevoke(suite.stack.server, 'dave');
    await Promise.all([waitForLoginUrl(player, 1_000), waitForLoginUrl(leptos, 1_000)]);
    assert.ok(Date.now() - revokedAt < 1_000);
    assert.equal(new URL(leptos.url()).searchParams.get('reason'), 'admin_revoked');
    assert.equal(await worldKept(leptos), true, 'the Leptos watcher navigated client-side');
    await context.close();
  });
});

describe('/bouncer.js behind nginx, with short idle timeouts', { skip }, () => {
  const suite = useStack({ BOUNCER_IDLE_TIMEOUT: '6s', BOUNCER_IDLE_WARNING: '4s' });

  test('the warning shows in two player tabs and stayActive() in one clears it in the other', LIMIT, async () => {
    const context = await suite.browser.newContext();
    const tab1 = await playerTab(context, suite.stack, 'alice');
    const tab2 = await playerTab(context, suite.stack, 'alice');
    const banner1 = tab1.locator('#idle');
    const banner2 = tab2.locator('#idle');
    await banner1.waitFor({ timeout: 6_000 });
    await banner2.waitFor({ timeout: 6_000 });
    const left = Number(await tab2.locator('#left').innerText());
    assert.ok(left >= 0 && left <= 4, `${left} s left`);
    await tab1.evaluate(() => Bouncer.stayActive());
    await banner2.waitFor({ state: 'hidden', timeout: 2_000 });
    await banner1.waitFor({ state: 'hidden', timeout: 2_000 });
    assert.equal(new URL(tab2.url()).pathname, '/player', 'still signed in');
    await context.close();
  });
});
