// The live notice of a new sign-in: when another device signs in to the
// account, every open tab of the person's other sessions says who (device,
// approximate place, time) and offers "Not you? Sign it out and change your
// password" — in the page, within a second, without a reload.
//
// The first test needs the server to send `new_sign_in` (the wire message
// is in bouncer-wire; the sending side is the server's half). The second
// hands the tab that message itself, to check the page's half on its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IPHONE, WIDTHS, assertGoodPage, createUser, markWorld, openTab, serverAndBrowser, signedInAt,
  waitForLogin, worldKept,
} from './support.mjs';

const app = serverAndBrowser();

/** Keeps every socket the page opens in `window.__sockets`. */
function recordSockets() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
}

/** A signed-in browser with tabs on `paths`, their sockets recorded. */
async function laptop(width, username, password, paths) {
  const { context, page } = await signedInAt(app.browser, app.server, {
    username, password, width, path: paths[0], initScript: recordSockets,
  });
  const tabs = [page];
  for (const path of paths.slice(1)) tabs.push(await openTab(context, app.server.origin, path));
  for (const tab of tabs) await markWorld(tab);
  return { context, tabs };
}

const phoneSignsIn = (username, password) => signedInAt(app.browser, app.server, {
  username, password, width: 375, options: { userAgent: IPHONE },
});

test('a sign-in on a phone shows in every open tab of the laptop within a second (needs the server to send new_sign_in)', async () => {
  const password = await createUser(app.server, 'lena', { maxSessions: 0 });
  const { context, tabs } = await laptop(1280, 'lena', password, ['/account', '/watch']);
  const [account, watch] = tabs;
  await account.getByLabel('Current password').fill('half-typed');
  const phone = await phoneSignsIn('lena', password);
  const signedInAt = Date.now();
  for (const page of [account, watch]) {
    const notice = page.getByTestId('new-sign-in');
    await notice.waitFor({ timeout: 1_000 });
    assert.match(await notice.innerText(), /New sign-in to your account[\s\S]*Safari on iPhone · near \S+ · just now/);
    assert.equal(await worldKept(page), true, 'in the page, without a reload');
  }
  assert.ok(Date.now() - signedInAt < 1_000);
  assert.equal(await account.getByLabel('Current password').inputValue(), 'half-typed');
  assert.equal(await phone.page.getByTestId('new-sign-in').count(), 0, 'the new device itself is not told');
  await context.close();
  await phone.context.close();
});

for (const width of WIDTHS) {
  test(`${width} px: the notice names the device and signs it out on request, then asks for a new password`, async () => {
    const username = `mia${width}`;
    const password = await createUser(app.server, username, { maxSessions: 0 });
    const { context, tabs } = await laptop(width, username, password, ['/watch']);
    const [page] = tabs;
    const phone = await phoneSignsIn(username, password);
    const sessions = await page.evaluate(async () => (await fetch('/api/sessions')).json());
    const stranger = sessions.find((s) => s.device === 'Safari on iPhone');
    // What the server sends the laptop's tabs for the phone's sign-in.
    await page.evaluate((session) => {
      const message = { type: 'new_sign_in', session: { id: session.id, device: session.device, place: '203.0.113.x', at: session.created_at } };
      window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', { data: JSON.stringify(message) }));
    }, stranger);
    const notice = page.getByTestId('new-sign-in');
    await notice.waitFor({ timeout: 1_000 });
    assert.equal(await notice.getAttribute('role'), 'alert');
    assert.match(await notice.innerText(), /New sign-in to your account[\s\S]*Safari on iPhone · near 203\.0\.113\.x · just now[\s\S]*Not you\?/);
    assert.equal(await notice.locator('time').getAttribute('datetime'), stranger.created_at);
    assert.equal(await worldKept(page), true);
    assert.equal(await page.getByTestId('timecode').count(), 1, 'the player goes on under the notice');
    await assertGoodPage(page, 'a page with the new sign-in notice');

    await notice.getByRole('link', { name: 'Sign it out and change your password' }).click();
    await page.waitForFunction(() => location.pathname === '/account');
    assert.equal(await page.getByTestId('new-sign-in').count(), 0, 'the notice is done');
    const dialog = page.getByRole('dialog', { name: 'Sign out Safari on iPhone?' });
    await dialog.waitFor();
    assert.equal(new URL(phone.page.url()).pathname, '/', 'a link alone signs nothing out');
    await assertGoodPage(page, 'the confirmation from the notice');
    await dialog.getByRole('button', { name: 'Sign it out' }).click();
    await waitForLogin(phone.page, 3_000);
    assert.equal(new URL(phone.page.url()).searchParams.get('reason'), 'revoked_by_user');
    await page.getByRole('status').filter({ hasText: 'change your password now' }).waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'current_password');
    assert.equal(await worldKept(page), true);
    await context.close();
    await phone.context.close();
  });
}

test('Dismiss hides the notice and nothing else changes', async () => {
  const password = await createUser(app.server, 'noa', { maxSessions: 0 });
  const { context, tabs } = await laptop(375, 'noa', password, ['/account']);
  const [page] = tabs;
  await page.evaluate(() => {
    const message = { type: 'new_sign_in', session: { id: 's_unknown', device: 'Firefox on Windows', place: '198.51.100.x', at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } };
    window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', { data: JSON.stringify(message) }));
  });
  const notice = page.getByTestId('new-sign-in');
  await notice.waitFor({ timeout: 1_000 });
  await notice.getByRole('button', { name: 'Dismiss' }).click();
  await notice.waitFor({ state: 'detached' });
  assert.equal(new URL(page.url()).pathname, '/account');
  await context.close();
});
