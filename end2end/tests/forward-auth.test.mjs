// Forward authentication: nginx asks Bouncer (`auth_request` to
// `GET /api/auth/verify`) before every request of the app behind it, as
// docs/INTEGRATION.md configures it (support/nginx.mjs, `forwardAuth`). Real
// Chromium tabs of the app's /player page are kicked live, the app's next
// request is refused at once, the app learns who the user is from the
// headers, and nothing without a live session ever reaches it; a plain HTTP
// client does the same with a service token. The plain HTTP tests run again
// behind Caddy's `forward_auth` (support/caddy.mjs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { apiLogin, markWorld, waitForHydration, waitForSocket } from './support.mjs';
import { forwardAuth, USER_HEADERS } from './support/nginx.mjs';
import {
  adminRevoke, LIMIT, navigations, skip, skipCaddy, useStack, userId, waitForLoginUrl,
} from './support/stack.mjs';

if (skip) console.error(`\n*** SKIPPED: the forward authentication tests behind nginx (${skip}) ***\n`);
if (skipCaddy) console.error(`\n*** SKIPPED: the forward authentication tests behind Caddy (${skipCaddy}) ***\n`);

/** What the app's JSON endpoint says it received (the `X-Bouncer-*` headers among them). */
async function echoed(page) {
  return page.evaluate(async () => {
    const response = await fetch('/api-upstream/data');
    return { status: response.status, body: response.status === 200 ? await response.json() : null };
  });
}

/** The user headers of `request` as the app got them, lower-cased names. */
const userHeadersOf = (headers) => Object.fromEntries(
  USER_HEADERS.map((name) => [name.toLowerCase(), headers[name.toLowerCase()]]),
);

/**
 * The upstream's requests since `mark` (a count taken earlier), but the
 * favicon a tab may still be fetching from before (the player page names
 * none, so Chromium asks for /favicon.ico on its own).
 */
const since = (upstream, mark) => upstream.requests.slice(mark).map((r) => r.url).filter((url) => url !== '/favicon.ico');

/** A page load as a browser makes it (`Accept: text/html`), redirects not followed. */
function pageLoad(origin, path, headers = {}) {
  return fetch(`${origin}${path}`, { redirect: 'manual', headers: { accept: 'text/html', ...headers } });
}

/** Signs in on the login page the tab shows and waits for the app's player page, loaded in full. */
async function signInOnThisPage(page, stack, username) {
  await waitForHydration(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(stack.server.passwords[username]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname === '/player');
  await waitForSocket(page);
  assert.equal(await page.title(), 'Player', 'the app\'s page, not Bouncer\'s 404');
  assert.equal(await page.locator('#time').count(), 1);
}

/** The plain HTTP tests, which every proxy's configuration must pass. */
function plainHttpTests(suite) {
  test('nothing without a live session reaches the app; a page load goes to the sign-in page', LIMIT, async () => {
    const { origin, upstream } = suite.stack;
    const mark = upstream.requests.length;
    const page = await pageLoad(origin, '/player?t=1&x=2');
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/login?next=/player%3Ft%3D1%26x%3D2');
    const api = await fetch(`${origin}/api-upstream/data`, {
      headers: { 'x-bouncer-user-id': 'u_forged', 'x-bouncer-role': 'admin' },
    });
    assert.equal(api.status, 401, 'the app\'s scripts get the 401');
    const forgedCookie = await pageLoad(origin, '/', { cookie: 'bouncer_session=forged' });
    assert.equal(forgedCookie.status, 302);
    assert.deepEqual(since(upstream, mark), [], 'not one request reached the app');
  });

  test('a service token ends a session through the admin API, and the app refuses it at once', LIMIT, async () => {
    const { origin, server, upstream } = suite.stack;
    const { cookie } = await apiLogin(origin, 'bob', server.passwords.bob);
    const before = await fetch(`${origin}/api-upstream/data`, {
      headers: { cookie, 'x-bouncer-role': 'admin', 'x-bouncer-permissions': 'revoke_admins' },
    });
    assert.equal(before.status, 200);
    const seen = (await before.json()).headers;
    assert.equal(seen['x-bouncer-username'], 'bob');
    assert.equal(seen['x-bouncer-role'], 'user', 'a client\'s own value never reaches the app');
    assert.ok([undefined, ''].includes(seen['x-bouncer-permissions']), seen['x-bouncer-permissions']);

    const run = promisify(execFile);
    const { stdout } = await run(process.env.BOUNCER_BIN, ['token', 'create', 'billing', '--permission', 'revoke_users'], {
      env: { ...process.env, BOUNCER_DATABASE_URL: server.databaseUrl, RUST_LOG: 'error' },
    });
    const token = stdout.trim();
    assert.match(token, /^bnc_[0-9a-f]{64}$/);
    const bearer = { authorization: `Bearer ${token}` };

    // The token is no session: it never passes forward authentication.
    const mark = upstream.requests.length;
    assert.equal((await fetch(`${origin}/api-upstream/data`, { headers: bearer })).status, 401);
    assert.equal((await pageLoad(origin, '/player', bearer)).status, 302);
    assert.deepEqual(since(upstream, mark), []);

    // Through the proxy, as a billing system would: find bob, end his sessions.
    const id = await userId(origin, bearer, 'bob');
    const revoke = await fetch(`${origin}/api/admin/users/${id}/revoke`, { method: 'POST', headers: bearer });
    assert.equal(revoke.status, 200);
    assert.deepEqual(await revoke.json(), { revoked: 1 });
    const after = await fetch(`${origin}/api-upstream/data`, { headers: { cookie } });
    assert.equal(after.status, 401, 'at once');
    const reload = await pageLoad(origin, '/player', { cookie });
    assert.equal(reload.status, 302);
    assert.equal(reload.headers.get('location'), '/login?reason=admin_revoked&next=/player');
    assert.deepEqual(since(upstream, mark), [], 'bob\'s ended session never reached the app');

    const root = await apiLogin(origin, 'root', server.passwords.root);
    const audit = await (await fetch(`${origin}/api/admin/audit?limit=5`, { headers: { cookie: root.cookie } })).json();
    const ending = audit.find((entry) => entry.target_user === 'bob');
    assert.equal(ending.actor, 'token:billing');
    assert.equal(ending.reason, 'admin_revoked');
    const other = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    const bad = await fetch(`${origin}/api/admin/users`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).error, 'invalid_token');
  });
}

describe('an app behind nginx forward authentication', { skip }, () => {
  const suite = useStack({}, { guard: forwardAuth() });

  plainHttpTests(suite);

  test('sign-in, two player tabs, the user headers; a revoke kicks both within a second and the app refuses the next request at once', LIMIT, async () => {
    const { origin, server, upstream } = suite.stack;
    const context = await suite.browser.newContext();
    const tab1 = await context.newPage();
    await tab1.goto(`${origin}/player`);
    assert.equal(new URL(tab1.url()).pathname, '/login', 'nginx sent the browser to sign in');
    assert.equal(new URL(tab1.url()).searchParams.get('next'), '/player');
    await signInOnThisPage(tab1, suite.stack, 'alice');
    const tab2 = await context.newPage();
    await tab2.goto(`${origin}/player`);
    await waitForSocket(tab2);
    const tabs = [tab1, tab2];

    // The app knows who the user is, from nginx and Bouncer only.
    const session = await tab1.evaluate(() => Bouncer.current());
    const expected = {
      'x-bouncer-user-id': session.user_id,
      'x-bouncer-username': 'alice',
      'x-bouncer-role': 'user',
      'x-bouncer-permissions': undefined,
      'x-bouncer-session-id': session.id,
    };
    const players = upstream.requests.filter((r) => r.url === '/player');
    assert.equal(players.length, 2);
    for (const request of players) assert.deepEqual(userHeadersOf(request.headers), expected);
    const echo = await tab2.evaluate(async () => (await fetch('/api-upstream/data', {
      headers: { 'x-bouncer-role': 'admin', 'x-bouncer-username': 'root' },
    })).json());
    assert.deepEqual(userHeadersOf(echo.headers), expected, 'what a client sends as these is replaced');

    const seen = tabs.map(navigations);
    for (const tab of tabs) await markWorld(tab);
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const mark = upstream.requests.length;
    const revokedAt = await adminRevoke(server, 'alice');
    // The app's next request, at once: refused before it reaches the app.
    const next = await fetch(`${origin}/api-upstream/data`, { headers: { cookie } });
    assert.equal(next.status, 401);
    console.log(`# the app's next request answered ${next.status} ${Date.now() - revokedAt} ms after the revoke`);
    const reload = await pageLoad(origin, '/player', { cookie });
    assert.equal(reload.status, 302);
    assert.equal(reload.headers.get('location'), '/login?reason=admin_revoked&next=/player');

    await Promise.all(tabs.map(async (tab) => {
      await waitForLoginUrl(tab, 1_000);
      await tab.getByRole('alert').waitFor({ timeout: Math.max(1, 1_000 - (Date.now() - revokedAt)) });
    }));
    const elapsed = Date.now() - revokedAt;
    assert.ok(elapsed < 1_000, `both tabs showed the reason ${elapsed} ms after the revoke`);
    console.log(`# both guarded player tabs showed the reason ${elapsed} ms after the revoke`);
    for (const [i, tab] of tabs.entries()) {
      const url = new URL(tab.url());
      assert.equal(url.searchParams.get('reason'), 'admin_revoked');
      assert.equal(url.searchParams.get('next'), '/player');
      assert.match(await tab.getByRole('alert').innerText(), /administrator ended your session/);
      assert.deepEqual(seen[i].map((u) => new URL(u).pathname), ['/login'], 'no reload: one navigation, to the login page');
    }
    assert.deepEqual(since(upstream, mark), [], 'the ended session reached the app not once');
    assert.equal((await echoed(tab1)).status, 401);

    // Signing in again from the kicked tab's login page lands on the app's
    // player, loaded in full (not on the Leptos router's 404 for /player).
    await signInOnThisPage(tab1, suite.stack, 'alice');
    assert.equal((await echoed(tab1)).body.headers['x-bouncer-username'], 'alice');
    await context.close();
  });

});

describe('an app behind Caddy forward_auth', { skip: skipCaddy }, () => {
  const suite = useStack({}, { caddy: true });

  plainHttpTests(suite);
});
