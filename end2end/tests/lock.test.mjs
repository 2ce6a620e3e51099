// Lock in place on timeout: an idle timeout on a page with unsaved input
// hides the page behind a sign-in (nothing of it on screen or in the
// accessibility tree); signing in again as the same person brings the page
// back with what was typed; anyone else gets a fresh page. Every other
// ending, and a timeout on a page with nothing typed, still leaves for the
// sign-in page with the reason.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  WIDTHS, assertGoodPage, contextAt, createUser, launchBrowser, markWorld, signIn, startServer,
  waitForHydration, waitForLogin, waitForSocket, worldKept,
} from './support.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ BOUNCER_IDLE_TIMEOUT: '6s', BOUNCER_IDLE_WARNING: '4s' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function tab(context, path) {
  const page = await context.newPage();
  await page.goto(`${server.origin}${path}`);
  await waitForHydration(page);
  await waitForSocket(page);
  return page;
}

/** Whether anything of the page shows: on screen, or to assistive technology. */
async function pageShows(page) {
  const visible = await page.locator('main').isVisible();
  const tree = await page.locator('body').ariaSnapshot();
  return { visible, tree };
}

async function unlockAs(page, username, password) {
  const lock = page.getByTestId('lock');
  await lock.getByLabel('Username').fill(username);
  await lock.getByLabel('Password').fill(password);
  await lock.getByRole('button', { name: 'Sign in' }).click();
}

for (const width of WIDTHS) {
  test(`${width} px: the same person gets the page back with what they typed; someone else gets a fresh page`, async () => {
    const [ivy, jon] = [`ivy${width}`, `jon${width}`];
    const ivyPassword = await createUser(server, ivy, { role: 'admin' });
    const jonPassword = await createUser(server, jon, { role: 'admin' });
    const context = await contextAt(browser, width);
    const first = await context.newPage();
    await signIn(first, server.origin, ivy, ivyPassword);
    await first.waitForURL((url) => url.pathname === '/');
    const admin = await tab(context, '/admin');
    const watch = await tab(context, '/watch');
    await first.close();
    await markWorld(admin);
    await admin.getByLabel('Username', { exact: true }).fill('newcomer');

    // The idle warning first, then the console locks in place and the
    // player (nothing typed) leaves.
    await admin.getByTestId('idle-banner').waitFor({ timeout: 6_000 });
    await assertGoodPage(admin, 'a page with the idle warning');
    const lock = admin.getByTestId('lock');
    await lock.waitFor({ timeout: 12_000 });
    await waitForLogin(watch, 3_000);
    assert.equal(new URL(watch.url()).searchParams.get('reason'), 'idle_timeout');
    assert.equal(new URL(admin.url()).pathname, '/admin', 'the locked tab stays on its page');
    const hidden = await pageShows(admin);
    assert.equal(hidden.visible, false, 'nothing of the page is on screen');
    assert.doesNotMatch(hidden.tree, /Create a user|newcomer|Audit log|Users/, 'nor in the accessibility tree');
    assert.match(hidden.tree, /You were signed out/);
    await admin.waitForFunction(() => document.activeElement?.id === 'lock-username');
    await assertGoodPage(admin, 'the lock screen');

    // A wrong password: told so, still locked.
    await unlockAs(admin, ivy, 'not-the-password');
    await lock.getByRole('alert').waitFor();
    assert.equal(await admin.locator('main').isVisible(), false);

    // The same person: the page is back as it was, in a new session.
    await unlockAs(admin, ivy, ivyPassword);
    await lock.waitFor({ state: 'detached' });
    await admin.locator('main').waitFor({ state: 'visible' });
    assert.equal(await admin.getByLabel('Username', { exact: true }).inputValue(), 'newcomer');
    assert.equal(await worldKept(admin), true, 'no reload');
    await waitForSocket(admin);
    assert.equal((await admin.evaluate(async () => (await fetch('/api/auth/me')).status)), 200);
    // The other tab, left on the sign-in page, moves on: this browser is signed in.
    await watch.waitForFunction(() => location.pathname === '/watch', null, { timeout: 3_000 });

    // Idle again: this time someone else signs in here, and gets a fresh page.
    await watch.close();
    await admin.getByLabel('Username', { exact: true }).fill('newcomer');
    await lock.waitFor({ timeout: 12_000 });
    await unlockAs(admin, jon, jonPassword);
    await admin.waitForFunction(() => !window.__bouncerMark, null, { timeout: 5_000 });
    await waitForHydration(admin);
    await admin.getByTestId('header-user').filter({ hasText: jon }).waitFor();
    assert.equal(await admin.getByLabel('Username', { exact: true }).inputValue(), '', 'nothing of the previous page');
    assert.equal(await admin.getByTestId('lock').count(), 0);
    await context.close();
  });
}

test('an ending other than the idle timeout leaves a page with unsaved input for the sign-in page', async () => {
  const kim = 'kim';
  const password = await createUser(server, kim, { role: 'admin' });
  const context = await contextAt(browser, 375);
  const first = await context.newPage();
  await signIn(first, server.origin, kim, password);
  await first.waitForURL((url) => url.pathname === '/');
  const admin = await tab(context, '/admin');
  await admin.getByLabel('Username', { exact: true }).fill('newcomer');
  const root = await contextAt(browser, 1280);
  const rootPage = await root.newPage();
  await signIn(rootPage, server.origin, 'root', server.passwords.root);
  await rootPage.waitForURL((url) => url.pathname === '/');
  const { cookie } = { cookie: (await root.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') };
  const users = await (await fetch(`${server.origin}/api/admin/users?query=${kim}`, { headers: { cookie } })).json();
  const revoke = await fetch(`${server.origin}/api/admin/users/${users.users[0].id}/revoke`, { method: 'POST', headers: { cookie } });
  assert.equal(revoke.status, 200);
  await waitForLogin(admin, 2_000);
  assert.equal(new URL(admin.url()).searchParams.get('reason'), 'admin_revoked');
  assert.equal(await admin.getByTestId('lock').count(), 0);
  await context.close();
  await root.close();
});
