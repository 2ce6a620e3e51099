// Device lists read at a glance: an icon per kind of device, relative times
// in the browser's time zone with the exact time on hover, this device
// first. The re-authentication prompt is a real modal dialog; a password
// change leaves no password typed; the password rule is text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  IPAD, IPHONE, WIDTHS, apiLogin, assertGoodPage, createUser, serverAndBrowser, signedInAt,
  waitForLogin,
} from './support.mjs';

const accountPage = (app, width, username, password, options = {}) => signedInAt(app.browser, app.server, {
  username, password, width, path: '/account', options,
});

const rows = (page) => page.getByTestId('devices').locator('li.device');

describe('the device list', () => {
  const app = serverAndBrowser();

  for (const width of WIDTHS) {
    test(`${width} px: icons, this device first, relative times in the browser's zone`, async () => {
      const username = `dana${width}`;
      const password = await createUser(app.server, username, { maxSessions: 0 });
      for (const userAgent of [IPHONE, IPAD, 'curl/8.5.0']) {
        await apiLogin(app.server.origin, username, password, { userAgent });
      }
      // Tokyo has no daylight saving time: its offset is always GMT+9.
      const { context, page } = await accountPage(app, width, username, password, { timezoneId: 'Asia/Tokyo' });
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=devices] li.device').length === 4);
      const first = rows(page).first();
      assert.equal(await first.getAttribute('data-current'), 'true', 'this device comes first');
      assert.match(await first.innerText(), /This device/);
      // Online once its socket is counted (the list refreshes by itself).
      await first.getByText('Active now').waitFor({ timeout: 3_000 });
      const kinds = await rows(page).locator('.device-icon').evaluateAll((icons) => icons.map((i) => i.dataset.kind));
      assert.equal(kinds[0], 'desktop');
      assert.deepEqual([...kinds.slice(1)].sort(), ['other', 'phone', 'tablet']);
      assert.equal(await rows(page).locator('.device-icon svg').count(), 4, 'each icon is inline SVG');
      const phone = rows(page).filter({ hasText: 'Safari on iPhone' });
      assert.match(await phone.innerText(), /Last active just now/);
      // Relative times once the page is live; the exact local time on hover.
      await page.waitForFunction(() => [...document.querySelectorAll('time')].every((t) => /just now|min ago/.test(t.textContent)), null, { timeout: 3_000 });
      const times = await page.locator('time').evaluateAll((all) => all.map((t) => ({ datetime: t.getAttribute('datetime'), title: t.title })));
      assert.ok(times.length >= 5);
      for (const { datetime, title } of times) {
        assert.match(datetime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const tokyo = new Date(datetime).toLocaleString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Tokyo' });
        assert.ok(title.includes(tokyo) && title.includes('GMT+9'), `${title} shows ${tokyo} in Tokyo's zone`);
      }
      await assertGoodPage(page, 'the devices page');
      await context.close();
    });
  }

  test('a password change clears the form; the rule is text beside the field', async () => {
    const password = await createUser(app.server, 'erin');
    const { context, page } = await accountPage(app, 375, 'erin', password);
    const rule = await page.getByLabel('New password', { exact: true }).evaluate((field) => document.getElementById(field.getAttribute('aria-describedby'))?.textContent);
    assert.match(rule, /^At least 8 characters/);
    assert.equal(await page.getByText(rule).isVisible(), true);
    await page.getByLabel('Current password').fill(password);
    await page.getByLabel('New password', { exact: true }).fill('erins-new-password');
    await page.getByLabel('Repeat new password').fill('erins-new-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
    for (const label of ['Current password', 'Repeat new password']) {
      assert.equal(await page.getByLabel(label).inputValue(), '', `${label} is cleared`);
    }
    assert.equal(await page.getByLabel('New password', { exact: true }).inputValue(), '');
    await context.close();
  });
});

describe('the re-authentication dialog', () => {
  const app = serverAndBrowser({ BOUNCER_REAUTH_WINDOW: '1' });

  for (const width of WIDTHS) {
    test(`${width} px: a modal that names the device, focuses the password, closes with Escape or Cancel`, async () => {
      const username = `fay${width}`;
      const password = await createUser(app.server, username, { maxSessions: 0 });
      const { context: phoneContext, page: phone } = await signedInAt(app.browser, app.server, {
        username, password, width: 375, options: { userAgent: IPHONE },
      });
      const { context, page } = await accountPage(app, width, username, password);
      await page.getByText('Safari on iPhone').waitFor();
      await page.waitForTimeout(1_500); // past the one-second window
      const signOut = page.getByRole('button', { name: 'Sign out this device: Safari on iPhone' });
      const dialog = page.getByRole('dialog', { name: "Confirm it's you" });

      await signOut.click();
      await dialog.waitFor();
      assert.match(await dialog.innerText(), /Enter your password to sign out Safari on iPhone\./);
      await page.waitForFunction(() => document.activeElement?.id === 'reauth_password');
      await assertGoodPage(page, 'the re-authentication dialog');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Sign out this device: Safari on iPhone');

      await signOut.click();
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(new URL(phone.url()).pathname, '/', 'cancelling signs nobody out');

      await signOut.click();
      await dialog.getByLabel('Password').fill('not-the-password');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.getByRole('alert').filter({ hasText: 'The password is not correct.' }).waitFor();
      await dialog.getByLabel('Password').fill(password);
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await waitForLogin(phone, 3_000);
      assert.equal(new URL(phone.url()).searchParams.get('reason'), 'revoked_by_user');
      await dialog.waitFor({ state: 'hidden' });
      await rows(page).filter({ hasText: 'Safari on iPhone' }).waitFor({ state: 'detached' });
      await context.close();
      await phoneContext.close();
    });
  }
});
