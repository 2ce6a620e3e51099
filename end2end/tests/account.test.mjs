// /account: a person sees their devices live and signs them out; a password
// change signs out the others and keeps this device. Past the
// re-authentication window, signing another device out asks for the password
// first (ASVS V3.3.4).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  launchBrowser, signIn, startServer, waitForHydration, waitForLogin, waitForSocket,
} from './support.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

async function device(username, password, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, server.origin, username, password);
  await page.waitForURL((url) => url.pathname === '/');
  await waitForHydration(page);
  await waitForSocket(page);
  return { context, page };
}

async function accountPage(context) {
  const page = await context.newPage();
  await page.goto(`${server.origin}/account`);
  await waitForHydration(page);
  await waitForSocket(page);
  return page;
}

const rows = (page) => page.getByTestId('devices').locator('li.device');

test('the device list is live and signs one device out', async () => {
  const laptop = await device('bob', server.passwords.bob);
  const account = await accountPage(laptop.context);
  assert.equal(await rows(account).count(), 1);
  assert.match(await rows(account).first().innerText(), /This device/);

  const phone = await device('bob', server.passwords.bob, { userAgent: IPHONE });
  // The phone's sign-in and its tab coming online reach the open page.
  await rows(account).filter({ hasText: 'Safari on iPhone' }).first().waitFor({ timeout: 3_000 });
  await rows(account).filter({ hasText: 'Safari on iPhone' }).getByText('Online · 1 tab').waitFor({ timeout: 3_000 });
  await account.getByRole('button', { name: 'Sign out this device: Safari on iPhone' }).click();
  await waitForLogin(phone.page, 2_000);
  assert.equal(new URL(phone.page.url()).searchParams.get('reason'), 'revoked_by_user');
  await rows(account).filter({ hasText: 'Safari on iPhone' }).waitFor({ state: 'detached', timeout: 3_000 });
  assert.equal(await rows(account).count(), 1);
  await laptop.context.close();
  await phone.context.close();
});

test('sign out all other devices', async () => {
  const laptop = await device('bob', server.passwords.bob);
  const phone = await device('bob', server.passwords.bob, { userAgent: IPHONE });
  const tablet = await device('bob', server.passwords.bob);
  const account = await accountPage(laptop.context);
  // The earlier test's laptop is still signed in too (closing a browser does not sign out).
  await account.waitForFunction(() => document.querySelectorAll('li.device').length >= 3);
  const others = (await rows(account).count()) - 1;
  await account.getByRole('button', { name: 'Sign out all other devices' }).click();
  await account.getByRole('status').filter({ hasText: `Signed out ${others} other devices.` }).waitFor();
  await Promise.all([waitForLogin(phone.page, 2_000), waitForLogin(tablet.page, 2_000)]);
  await account.waitForFunction(() => document.querySelectorAll('li.device').length === 1);
  assert.equal(new URL(account.url()).pathname, '/account');
  for (const context of [laptop.context, phone.context, tablet.context]) await context.close();
});

test('a password change signs out the other devices and keeps this one', async () => {
  const laptop = await device('bob', server.passwords.bob);
  const phone = await device('bob', server.passwords.bob, { userAgent: IPHONE });
  const account = await accountPage(laptop.context);
  await account.getByLabel('Current password').fill('not-the-password');
  await account.getByLabel('New password', { exact: true }).fill('bobs-new-password');
  await account.getByLabel('Repeat new password').fill('bobs-new-password');
  await account.getByRole('button', { name: 'Change password' }).click();
  await account.getByRole('alert').filter({ hasText: 'current password is not correct' }).waitFor();

  await account.getByLabel('Current password').fill(server.passwords.bob);
  await account.getByLabel('Repeat new password').fill('does-not-match');
  await account.getByRole('button', { name: 'Change password' }).click();
  await account.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
  assert.equal(new URL(phone.page.url()).pathname, '/', 'failed attempts sign nobody out');

  await account.getByLabel('Current password').fill(server.passwords.bob);
  await account.getByLabel('New password', { exact: true }).fill('bobs-new-password');
  await account.getByLabel('Repeat new password').fill('bobs-new-password');
  await account.getByRole('button', { name: 'Change password' }).click();
  await account.getByRole('status').filter({ hasText: /Password changed\. \d+ other devices? (was|were) signed out\./ }).waitFor();
  await waitForLogin(phone.page, 2_000);
  assert.equal(new URL(phone.page.url()).searchParams.get('reason'), 'password_changed');
  // Still signed in on this device, under the new cookie.
  await account.reload();
  assert.equal(new URL(account.url()).pathname, '/account');
  await account.waitForFunction(() => document.querySelectorAll('li.device').length === 1);
  await laptop.context.close();
  await phone.context.close();
  const again = await device('bob', 'bobs-new-password');
  await again.context.close();
});

describe('past the re-authentication window', () => {
  // A one-second window, so the test need not wait fifteen minutes.
  let shortWindow;
  before(async () => {
    shortWindow = await startServer({ BOUNCER_REAUTH_WINDOW: '1' });
  });
  after(async () => {
    await shortWindow?.stop();
  });

  async function deviceOn(options = {}) {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await signIn(page, shortWindow.origin, 'bob', shortWindow.passwords.bob);
    await page.waitForURL((url) => url.pathname === '/');
    await waitForHydration(page);
    await waitForSocket(page);
    return { context, page };
  }

  const pastTheWindow = (page) => page.waitForTimeout(1_500);

  test('signing a device out asks for the password, then does it', async () => {
    const laptop = await deviceOn();
    const phone = await deviceOn({ userAgent: IPHONE });
    const account = await laptop.context.newPage();
    await account.goto(`${shortWindow.origin}/account`);
    await waitForHydration(account);
    await waitForSocket(account);
    await rows(account).filter({ hasText: 'Safari on iPhone' }).first().waitFor({ timeout: 3_000 });
    await pastTheWindow(account);

    await account.getByRole('button', { name: 'Sign out this device: Safari on iPhone' }).click();
    await account.getByText('Enter your password to sign out Safari on iPhone.').waitFor({ timeout: 3_000 });
    const password = account.getByLabel('Password', { exact: true });
    await password.fill('not-bobs-password');
    await account.getByRole('button', { name: 'Confirm' }).click();
    await account.getByRole('alert').filter({ hasText: 'The password is not correct.' }).waitFor();
    assert.equal(new URL(phone.page.url()).pathname, '/', 'a wrong password signs nobody out');

    await password.fill(shortWindow.passwords.bob);
    await account.getByRole('button', { name: 'Confirm' }).click();
    await waitForLogin(phone.page, 3_000);
    assert.equal(new URL(phone.page.url()).searchParams.get('reason'), 'revoked_by_user');
    await rows(account).filter({ hasText: 'Safari on iPhone' }).waitFor({ state: 'detached', timeout: 3_000 });
    await account.getByTestId('reauth').waitFor({ state: 'detached', timeout: 3_000 });
    assert.equal(new URL(account.url()).pathname, '/account');

    // "Sign out all other devices" asks again once the new window has passed.
    const tablet = await deviceOn();
    await account.waitForFunction(() => document.querySelectorAll('li.device').length === 2);
    await pastTheWindow(account);
    await account.getByRole('button', { name: 'Sign out all other devices' }).click();
    await account.getByLabel('Password', { exact: true }).fill(shortWindow.passwords.bob);
    await account.getByRole('button', { name: 'Confirm' }).click();
    await account.getByRole('status').filter({ hasText: 'Signed out 1 other device.' }).waitFor();
    await waitForLogin(tablet.page, 3_000);
    await account.waitForFunction(() => document.querySelectorAll('li.device').length === 1);
    for (const context of [laptop.context, phone.context, tablet.context]) await context.close();
  });
});
