// Live push in real tabs: endings reach every open tab within a second, with
// the reason, without a reload; the idle warning and expiry; a socket cut
// while a revocation happens still ends signed out; a node shutting down
// hands its tabs to another without signing anyone out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  apiLogin, freePort, launchBrowser, markWorld, signIn, startProxy, startServer,
  waitForHydration, waitForLogin, waitForSocket, worldKept,
} from './support.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function signedInTab(context, origin, username, password, path = '/') {
  const page = await context.newPage();
  if (context.pages().length === 1) {
    await signIn(page, origin, username, password);
    await page.waitForURL((url) => url.pathname === '/');
  }
  if (new URL(page.url()).pathname !== path) await page.goto(`${origin}${path}`);
  await waitForHydration(page);
  await waitForSocket(page);
  return page;
}

async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.waitFor({ timeout: 5_000 });
  return alert.innerText();
}

describe('with the default policy (one session per user)', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('a sign-in on device 2 sends both tabs of device 1 to the login page within a second, without a reload', async () => {
    const device1 = await browser.newContext();
    const tab1 = await signedInTab(device1, server.origin, 'alice', server.passwords.alice);
    const tab2 = await signedInTab(device1, server.origin, 'alice', server.passwords.alice, '/watch');
    await markWorld(tab1);
    await markWorld(tab2);

    const device2 = await browser.newContext();
    const other = await device2.newPage();
    await signIn(other, server.origin, 'alice', server.passwords.alice);
    await other.waitForURL((url) => url.pathname === '/');
    const signedInAt = Date.now();

    await Promise.all([waitForLogin(tab1, 1_000), waitForLogin(tab2, 1_000)]);
    const elapsed = Date.now() - signedInAt;
    for (const tab of [tab1, tab2]) {
      assert.equal(new URL(tab.url()).searchParams.get('reason'), 'signed_in_elsewhere');
      assert.match(await alertText(tab), /signed in on another device/);
      assert.equal(await worldKept(tab), true, 'a client-side navigation, not a reload');
    }
    assert.ok(elapsed < 1_000, `told after ${elapsed} ms`);
    await device1.close();
    await device2.close();
  });

  test('an admin revoke through the API stops a /watch tab within a second', async () => {
    const context = await browser.newContext();
    const watch = await signedInTab(context, server.origin, 'bob', server.passwords.bob, '/watch');
    await markWorld(watch);
    const before = await watch.getByTestId('timecode').innerText();
    await watch.waitForFunction((t) => document.querySelector('[data-testid=timecode]')?.textContent !== t, before);
    assert.equal(await watch.locator('[data-playing]').getAttribute('data-playing'), 'true');

    const { cookie } = await apiLogin(server.origin, 'root', server.passwords.root);
    const users = await (await fetch(`${server.origin}/api/admin/users?query=bob`, { headers: { cookie } })).json();
    const bob = users.users.find((u) => u.username === 'bob');
    const revoke = await fetch(`${server.origin}/api/admin/users/${bob.id}/revoke`, { method: 'POST', headers: { cookie } });
    assert.equal(revoke.status, 200);
    const revokedAt = Date.now();
    await waitForLogin(watch, 1_000);
    assert.ok(Date.now() - revokedAt < 1_000);
    assert.equal(await watch.getByTestId('timecode').count(), 0, 'the player is gone');
    assert.match(await alertText(watch), /administrator ended your session/);
    assert.equal(await worldKept(watch), true);
    await context.close();
  });
});

describe('with short idle timeouts', () => {
  let server;
  before(async () => {
    server = await startServer({
      BOUNCER_IDLE_TIMEOUT: '6s',
      BOUNCER_IDLE_WARNING: '4s',
      BOUNCER_AUTO_LOGOUT_MESSAGE: 'You were away, so we signed you out.',
    });
  });
  after(async () => { await server?.stop(); });

  test('the idle warning shows in two tabs and Stay signed in in one clears both', async () => {
    const context = await browser.newContext();
    const tab1 = await signedInTab(context, server.origin, 'alice', server.passwords.alice);
    const tab2 = await signedInTab(context, server.origin, 'alice', server.passwords.alice);
    const banner1 = tab1.getByTestId('idle-banner');
    const banner2 = tab2.getByTestId('idle-banner');
    await banner1.waitFor({ timeout: 6_000 });
    await banner2.waitFor({ timeout: 6_000 });
    assert.match(await tab1.getByTestId('idle-countdown').innerText(), /^0:0[0-4]$/);
    await tab1.getByRole('button', { name: 'Stay signed in' }).click();
    await banner1.waitFor({ state: 'detached', timeout: 2_000 });
    await banner2.waitFor({ state: 'detached', timeout: 2_000 });
    assert.equal(new URL(tab2.url()).pathname, '/');
    await context.close();
  });

  test('idle expiry with no requests lands on the login page with the auto-logout message', async () => {
    const context = await browser.newContext();
    const tab = await signedInTab(context, server.origin, 'bob', server.passwords.bob, '/watch');
    await markWorld(tab);
    const requests = [];
    tab.on('request', (request) => requests.push(request.url()));
    await waitForLogin(tab, 10_000);
    assert.equal(new URL(tab.url()).searchParams.get('reason'), 'idle_timeout');
    assert.equal(await alertText(tab), 'You were away, so we signed you out.');
    assert.equal(await worldKept(tab), true);
    assert.deepEqual(requests.filter((url) => !url.includes('/api/end_notice')), [], 'no request was needed to end it');
    await context.close();
  });
});

describe('behind a connection that drops', () => {
  let server;
  let proxy;
  before(async () => {
    const port = await freePort();
    proxy = await startProxy(port);
    server = await startServer({ BOUNCER_PUBLIC_ORIGIN: proxy.origin });
    proxy.forwardTo(Number(new URL(server.origin).port));
  });
  after(async () => { await proxy?.close(); await server?.stop(); });

  test('a revocation during a cut still ends the tab signed out after it reconnects', async () => {
    const context = await browser.newContext();
    const tab = await signedInTab(context, proxy.origin, 'alice', server.passwords.alice);
    await markWorld(tab);
    proxy.cut();
    await tab.waitForFunction(() => document.documentElement.dataset.sessionSocket === 'closed');
    // The revocation happens while the tab cannot hear it (straight to the server).
    const { cookie } = await apiLogin(server.origin, 'root', server.passwords.root);
    const users = await (await fetch(`${server.origin}/api/admin/users?query=alice`, { headers: { cookie } })).json();
    const alice = users.users.find((u) => u.username === 'alice');
    const revoke = await fetch(`${server.origin}/api/admin/users/${alice.id}/revoke`, { method: 'POST', headers: { cookie } });
    assert.equal((await revoke.json()).revoked, 1);
    assert.equal(new URL(tab.url()).pathname, '/', 'the cut tab has not heard yet');
    proxy.resume();
    await waitForLogin(tab, 20_000);
    assert.equal(new URL(tab.url()).searchParams.get('reason'), 'admin_revoked');
    assert.match(await alertText(tab), /administrator ended your session/);
    assert.equal(await worldKept(tab), true);
    await context.close();
  });
});

describe('two nodes behind a balancer', () => {
  let first;
  let second;
  let proxy;
  before(async () => {
    proxy = await startProxy(await freePort());
    first = await startServer({ BOUNCER_PUBLIC_ORIGIN: proxy.origin });
    second = await startServer({ BOUNCER_PUBLIC_ORIGIN: proxy.origin, BOUNCER_DATABASE_URL: first.databaseUrl });
    proxy.forwardTo(Number(new URL(first.origin).port));
  });
  after(async () => { await proxy?.close(); await second?.stop(); await first?.stop(); });

  test('a node shutting down sends its tab to the other node, still signed in, without a reload', async () => {
    const context = await browser.newContext();
    // Records the close codes the page's sockets see.
    await context.addInitScript(() => {
      const Native = window.WebSocket;
      window.__closeCodes = [];
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          this.addEventListener('close', (event) => window.__closeCodes.push(event.code));
        }
      };
    });
    const tab = await signedInTab(context, proxy.origin, 'alice', first.passwords.alice, '/watch');
    await markWorld(tab);
    const closes = [];
    await tab.exposeFunction('bouncerSocketState', (state) => closes.push(state));
    await tab.evaluate(() => new MutationObserver(() => window.bouncerSocketState(document.documentElement.dataset.sessionSocket))
      .observe(document.documentElement, { attributes: true, attributeFilter: ['data-session-socket'] }));

    // The balancer sends new connections to the second node; the first stops as
    // an orchestrator stops it (SIGTERM).
    proxy.forwardTo(Number(new URL(second.origin).port));
    const started = Date.now();
    await first.stop({ keepDatabase: true });
    assert.equal(first.exitedCleanly, true, 'the node exits cleanly');
    await tab.waitForFunction(() => document.documentElement.dataset.sessionSocket === 'open' && window.__bouncerMark, null, { timeout: 10_000 });
    await waitForSocket(tab);
    assert.deepEqual(closes.slice(0, 2), ['closed', 'open'], 'closed once, then open again');
    assert.deepEqual(await tab.evaluate(() => window.__closeCodes), [4002], 'told the node is shutting down');
    assert.ok(Date.now() - started < 5_000, 'back within seconds');
    assert.equal(new URL(tab.url()).pathname, '/watch', 'still on the page, signed in');
    assert.equal(await worldKept(tab), true, 'without a reload');
    const me = await tab.evaluate(async () => (await fetch('/api/auth/me')).status);
    assert.equal(me, 200, 'the other node knows the session');
    await context.close();
  });
});
