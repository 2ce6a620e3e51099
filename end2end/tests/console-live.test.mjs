// The console keeps the operator's place across live updates: open session
// lists stay open and keep counting tabs, a typed but unsaved limit stays
// typed, the page does not jump. Ending a user's sessions and deactivating
// ask first. The audit log reads as words and filters by user and reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WIDTHS, apiLogin, assertGoodPage, createUser, serverAndBrowser, signedInAt, waitForLogin,
  waitForSocket,
} from './support.mjs';

const app = serverAndBrowser();

const signedIn = (width, username, password, path) => signedInAt(app.browser, app.server, { username, password, width, path });

const row = (page, username) => page.locator(`tr[data-username="${username}"]`);

for (const width of WIDTHS) {
  test(`${width} px: live updates keep open lists, typed limits and the scroll position; endings ask first`, async () => {
    const { server } = app;
    const [op, pat] = [`op${width}`, `pat${width}`];
    const opPassword = await createUser(server, op, { role: 'admin' });
    const patPassword = await createUser(server, pat, { maxSessions: 0 });
    const patDevice = await signedIn(1280, pat, patPassword, '/');
    const { context, page } = await signedIn(width, op, opPassword, '/admin');
    await row(page, pat).waitFor();

    // The operator's place: pat's sessions open, a limit typed for alice, scrolled down.
    const toggle = page.getByRole('button', { name: `Show sessions of ${pat}` });
    await toggle.click();
    const sessions = row(page, pat).locator('xpath=following-sibling::tr[1]');
    await sessions.getByText('Online · 1 tab').waitFor();
    await page.getByLabel('Max sessions for alice').fill('7');
    await page.evaluate((name) => {
      const target = document.querySelector(`tr[data-username="${name}"]`);
      window.scrollTo(0, target.getBoundingClientRect().top + window.scrollY - 80);
    }, pat);
    const scrolled = await page.evaluate(() => window.scrollY);
    assert.ok(scrolled > 0);

    // Live: pat opens another tab, then signs in elsewhere.
    const secondTab = await patDevice.context.newPage();
    await secondTab.goto(`${server.origin}/watch`);
    await waitForSocket(secondTab);
    await sessions.getByText('Online · 2 tabs').waitFor({ timeout: 3_000 });
    await apiLogin(server.origin, pat, patPassword, { userAgent: 'curl/8.5.0' });
    await page.waitForFunction((name) => document.querySelector(`tr[data-username="${name}"] [data-testid=session-count]`)?.textContent === '2', pat, { timeout: 3_000 });
    await sessions.locator('li.device').nth(1).waitFor();
    assert.equal(await page.getByRole('button', { name: `Hide sessions of ${pat}` }).getAttribute('aria-expanded'), 'true', 'the list stays open');
    assert.equal(await page.getByLabel('Max sessions for alice').inputValue(), '7', 'the typed limit stays');
    assert.ok(Math.abs(await page.evaluate(() => window.scrollY) - scrolled) <= 2, 'the page did not jump');
    await assertGoodPage(page, 'the console after live updates');

    // End sessions asks; Cancel ends nothing and gives focus back.
    const end = page.getByRole('button', { name: `End sessions of ${pat}` });
    const confirmEnd = page.getByRole('dialog', { name: `End ${pat}'s sessions?` });
    await end.click();
    await confirmEnd.waitFor();
    assert.match(await confirmEnd.innerText(), /signed out of all 2 sessions at once/);
    await assertGoodPage(page, 'the End sessions confirmation');
    await confirmEnd.getByRole('button', { name: 'Cancel' }).click();
    await confirmEnd.waitFor({ state: 'hidden' });
    await page.waitForFunction((label) => document.activeElement?.getAttribute('aria-label') === label, `End sessions of ${pat}`);
    assert.equal(new URL(patDevice.page.url()).pathname, '/');
    await end.click();
    await confirmEnd.getByRole('button', { name: 'End sessions' }).click();
    await waitForLogin(patDevice.page, 2_000);
    assert.equal(new URL(patDevice.page.url()).searchParams.get('reason'), 'admin_revoked');
    await sessions.getByText('No live sessions.').waitFor({ timeout: 3_000 });

    // Deactivate asks; Escape ends nothing.
    const deactivate = page.getByRole('button', { name: `Deactivate ${pat}` });
    const confirmDeactivate = page.getByRole('dialog', { name: `Deactivate ${pat}?` });
    await deactivate.click();
    await confirmDeactivate.waitFor();
    await page.keyboard.press('Escape');
    await confirmDeactivate.waitFor({ state: 'hidden' });
    assert.equal(await row(page, pat).getByText('Active', { exact: true }).count(), 1);
    await deactivate.click();
    await confirmDeactivate.getByRole('button', { name: 'Deactivate' }).click();
    await row(page, pat).getByText('Deactivated').waitFor();

    // The audit log: words, not codes; filtered by user, then by reason.
    const audit = page.getByTestId('audit');
    await audit.getByRole('row').filter({ hasText: pat }).filter({ hasText: 'Ended by staff or an admin' }).first().waitFor();
    assert.doesNotMatch(await audit.innerText(), /admin_revoked|signed_in_elsewhere|_/);
    await page.getByRole('searchbox', { name: 'Filter by user' }).fill(pat);
    await page.waitForFunction((name) => [...document.querySelectorAll('[data-testid=audit] tbody tr')].every((r) => r.textContent.includes(name)), pat);
    await page.getByLabel('Filter by reason').selectOption({ label: 'Inactive for too long' });
    await page.getByTestId('audit-count').filter({ hasText: /^No ending matches\.$/ }).waitFor();
    await page.getByLabel('Filter by reason').selectOption({ label: 'Ended by staff or an admin' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit] tbody tr').length >= 2);
    await assertGoodPage(page, 'the filtered audit log');
    await context.close();
    await patDevice.context.close();
  });
}
