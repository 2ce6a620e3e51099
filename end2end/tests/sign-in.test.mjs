// A person signs in, sees who they are, signs out, and is told they did.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, signIn, startServer, waitForHydration } from './support.mjs';

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

test('a signed-out visitor is sent to the login page with a labelled form', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.origin}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/');
  await page.getByLabel('Username').waitFor();
  await page.getByLabel('Password').waitFor();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.close();
});

test('a wrong password is refused with an alert and no session', async () => {
  const page = await browser.newPage();
  await signIn(page, server.origin, 'alice', 'not-the-password');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /username or password is not correct/);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.close();
});

test('alice signs in, sees the home page, and signs out', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.origin, 'alice', server.passwords.alice);
  await page.waitForURL(`${server.origin}/`);
  await waitForHydration(page);
  assert.equal(await page.getByTestId('signed-in-as').innerText(), 'Hello, alice');

  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === 'bouncer_session');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(cookie.path, '/');

  await page.getByRole('main').getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.pathname === '/login');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /You signed out/);

  // The old page is gone for good: going home sends the person back to sign in.
  await page.goto(`${server.origin}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await context.close();
});

// Issue 15, finding 4: `/login?next=/\t/evil.example/pwned` used to send the
// browser to //evil.example/pwned after sign-in (a tab is dropped from URLs,
// so `/\t/` reads as `//`). Signing in from such a link, with the page's
// script or without it, stays on this site.
for (const javaScriptEnabled of [true, false]) {
  test(`a sign-in link whose next names another site stays here (script ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const offSite = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.origin)) offSite.push(request.url());
    });
    for (const next of ['/\t/evil.example/pwned', '/\\evil.example/pwned', '//evil.example/pwned']) {
      await page.goto(`${server.origin}/login?next=${encodeURIComponent(next)}`);
      if (javaScriptEnabled) await waitForHydration(page);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(server.passwords.alice);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.pathname !== '/login', { timeout: 5_000 });
      const url = new URL(page.url());
      assert.equal(url.origin, server.origin, `${JSON.stringify(next)} -> ${page.url()}`);
      assert.equal(url.pathname, '/', JSON.stringify(next));
      await context.clearCookies();
    }
    assert.deepEqual(offSite, [], 'no request left this site');
    await context.close();
  });
}
