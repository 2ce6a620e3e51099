// refuse_new, the streaming-service way: a sign-in past the device limit
// gets a screen of its own (the form is gone), listing the devices that
// hold the slots with their icons and last activity; signing one out
// continues without retyping the password, Cancel goes back to the form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IPHONE, WIDTHS, apiLogin, assertGoodPage, contextAt, createUser, serverAndBrowser, signIn,
  signedInAt, waitForLogin,
} from './support.mjs';

const app = serverAndBrowser({ BOUNCER_ON_LIMIT: 'refuse_new' });

for (const width of WIDTHS) {
  test(`${width} px: the device-limit screen lists the devices, cancels, and signs one out to continue`, async () => {
    const username = `gus${width}`;
    const { server, browser } = app;
    const password = await createUser(server, username, { maxSessions: 2 });
    // A phone with a tab open, and a script that signed in earlier.
    const { context: phoneContext, page: phone } = await signedInAt(browser, server, {
      username, password, width: 375, options: { userAgent: IPHONE },
    });
    await apiLogin(server.origin, username, password, { userAgent: 'billing-job/2.1' });

    const context = await contextAt(browser, width);
    const page = await context.newPage();
    await signIn(page, server.origin, username, password);
    const screen = page.getByTestId('device-limit');
    await screen.waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await page.title(), 'Too many devices · Bouncer');
    assert.equal(await page.getByRole('heading', { name: 'Sign in' }).isVisible(), false, 'the form gave way to the screen');
    await page.waitForFunction(() => document.activeElement?.id === 'limit-title');
    const devices = screen.locator('li.device');
    assert.equal(await devices.count(), 2);
    // The online phone first, with its icon; the script's last activity.
    assert.match(await devices.first().innerText(), /Safari on iPhone[\s\S]*Online · 1 tab[\s\S]*Active now/);
    assert.equal(await devices.first().locator('.device-icon').getAttribute('data-kind'), 'phone');
    assert.match(await devices.nth(1).innerText(), /billing-job[\s\S]*Last active (just now|\d+ min ago)/);
    assert.equal(await devices.nth(1).locator('.device-icon').getAttribute('data-kind'), 'other');
    await assertGoodPage(page, 'the device-limit screen');

    // Cancel: back to the form, the password gone, nothing signed out.
    await screen.getByRole('button', { name: 'Cancel' }).click();
    await screen.waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Password').inputValue(), '');
    assert.equal(await page.getByLabel('Username').inputValue(), username);
    assert.equal(new URL(phone.url()).pathname, '/');

    // Again, and sign the phone out to continue: no password typed twice.
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await screen.getByRole('button', { name: 'Sign out Safari on iPhone and continue' }).click();
    await page.waitForFunction(() => location.pathname === '/');
    await page.getByTestId('signed-in-as').waitFor();
    await waitForLogin(phone, 2_000);
    assert.equal(new URL(phone.url()).searchParams.get('reason'), 'signed_in_elsewhere');
    await context.close();
    await phoneContext.close();
  });
}
