// Lock in place on timeout: an idle timeout on a page with unsaved input
// hides the page behind a sign-in (nothing of it on screen or in the
// accessibility tree); signing in again as the same person brings the page
// back with what was typed; anyone else gets a fresh page. Every other
// ending, and a timeout on a page with nothing typed, still leaves for the
// sign-in page with the reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WIDTHS, assertGoodPage, createUser, markWorld, openTab, serverAndBrowser, signedInAt,
  waitForHydration, waitForLogin, waitForSocket, worldKept,
} from './support.mjs';

const app = serverAndBrowser({ BOUNCER_IDLE_TIMEOUT: '6s', BOUNCER_IDLE_WARNING: '4s' });

const tab = (context, path) => openTab(context, app.server.origin, path);

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
    const ivyPassword = await createUser(app.server, ivy, { role: 'admin' });
    const jonPassword = await createUser(app.server, jon, { role: 'admin' });
    const { context, page: first } = await signedInAt(app.browser, app.server, { username: ivy, password: ivyPassword, width });
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
  const { server, browser } = app;
  const kim = 'kim';
  const password = await createUser(server, kim, { role: 'admin' });
  const { context, page: admin } = await signedInAt(browser, server, { username: kim, password, width: 375, path: '/admin' });
  await admin.getByLabel('Username', { exact: true }).fill('newcomer');
  const root = await signedInAt(browser, server, { username: 'root' });
  const cookie = (await root.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const users = await (await fetch(`${server.origin}/api/admin/users?query=${kim}`, { headers: { cookie } })).json();
  const revoke = await fetch(`${server.origin}/api/admin/users/${users.users[0].id}/revoke`, { method: 'POST', headers: { cookie } });
  assert.equal(revoke.status, 200);
  await waitForLogin(admin, 2_000);
  assert.equal(new URL(admin.url()).searchParams.get('reason'), 'admin_revoked');
  assert.equal(await admin.getByTestId('lock').count(), 0);
  await context.close();
  await root.context.close();
});
