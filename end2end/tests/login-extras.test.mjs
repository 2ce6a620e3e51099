// Beyond the anchors: a displaced tab learns where the new sign-in came from
// and is offered to secure the account. (Under refuse_new, the device-limit
// screen: device-limit.test.mjs.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signIn, startServer, waitForHydration, waitForLogin, waitForSocket } from './support.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

describe('replace_oldest', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('the displaced tab says where the new sign-in came from and offers to secure the account', async () => {
    const laptop = await browser.newContext();
    const tab = await laptop.newPage();
    await signIn(tab, server.origin, 'alice', server.passwords.alice);
    await tab.waitForURL((url) => url.pathname === '/');
    await waitForHydration(tab);
    await waitForSocket(tab);

    const phone = await browser.newContext({ userAgent: IPHONE });
    const other = await phone.newPage();
    await signIn(other, server.origin, 'alice', server.passwords.alice);
    await waitForLogin(tab, 2_000);
    const displaced = tab.getByTestId('displaced-by');
    await displaced.waitFor();
    assert.match(await displaced.innerText(), /The new sign-in: Safari on iPhone near 127\.0\.0\.x, (just now|\d+ \w+ \d{4}, \d\d:\d\d UTC)\./);

    await tab.getByRole('link', { name: 'Not you? Sign in and secure your account' }).click();
    await tab.waitForFunction(() => location.pathname === '/login' && new URLSearchParams(location.search).get('next') === '/account?secure=1');
    await tab.getByLabel('Username').fill('alice');
    await tab.getByLabel('Password').fill(server.passwords.alice);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.waitForFunction(() => location.pathname === '/account');
    await tab.getByRole('status').filter({ hasText: 'change your password now' }).waitFor();
    await laptop.close();
    await phone.close();
  });
});
