// The README's screenshots, from the real app: for each width, a fresh
// `bouncer serve --demo` under `refuse_new` (so the device-limit screen can
// be shown), then the sign-in page after a kick, the devices page, the
// device-limit screen and the console. Run by scripts/screenshots.sh, which
// builds the app and names the binary in BOUNCER_BIN.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  IPAD, IPHONE, apiLogin, contextAt, launchBrowser, signIn, startServer, waitForHydration,
  waitForLogin, waitForSocket,
} from '../end2end/tests/support.mjs';

const out = process.argv[2];
if (!out) throw new Error('usage: node scripts/screenshots.mjs OUTPUT_DIR');
mkdirSync(out, { recursive: true });

// Times in the pictures read the same wherever they are taken.
const LONDON = { timezoneId: 'Europe/London', locale: 'en-GB' };

async function shoot(page, name, width) {
  // Relative times show once the page's clock runs; let the last live update land.
  await page.waitForFunction(() => [...document.querySelectorAll('time')].every((t) => !t.textContent.endsWith('UTC')));
  await page.waitForTimeout(300);
  const path = join(out, `${name}-${width}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`wrote ${path}`);
}

async function signedIn(browser, server, width, username, options = {}) {
  const context = await contextAt(browser, width, { ...LONDON, ...options });
  const page = await context.newPage();
  await signIn(page, server.origin, username, server.passwords[username]);
  return { context, page };
}

const browser = await launchBrowser();
try {
  for (const width of [375, 1280]) {
    const server = await startServer({ BOUNCER_ON_LIMIT: 'refuse_new' });
    try {
      // Alice may use one device. Her phone holds it; her laptop asks for it.
      const phone = await signedIn(browser, server, width, 'alice', { userAgent: IPHONE });
      await phone.page.waitForURL((url) => url.pathname === '/');
      await phone.page.goto(`${server.origin}/watch`);
      await waitForHydration(phone.page);
      await waitForSocket(phone.page);
      const laptop = await signedIn(browser, server, width, 'alice');
      await laptop.page.getByTestId('device-limit').getByText('Online · 1 tab').waitFor();
      await shoot(laptop.page, 'device-limit', width);

      // Signing the phone out from there kicks it, live, with the reason.
      await laptop.page.getByRole('button', { name: 'Sign out Safari on iPhone and continue' }).click();
      await waitForLogin(phone.page, 5_000);
      await phone.page.getByTestId('displaced-by').waitFor();
      await phone.page.mouse.move(0, 0);
      await shoot(phone.page, 'signin-after-kick', width);

      // Bob, who has no device limit, on a laptop, a phone, a tablet and a script.
      await apiLogin(server.origin, 'bob', server.passwords.bob, { userAgent: IPHONE });
      await apiLogin(server.origin, 'bob', server.passwords.bob, { userAgent: IPAD });
      await apiLogin(server.origin, 'bob', server.passwords.bob, { userAgent: 'billing-job/2.1' });
      const bob = await signedIn(browser, server, width, 'bob');
      await bob.page.waitForURL((url) => url.pathname === '/');
      await bob.page.goto(`${server.origin}/account`);
      await waitForHydration(bob.page);
      await waitForSocket(bob.page);
      await bob.page.getByTestId('devices').locator('li.device').nth(3).waitFor();
      await bob.page.getByTestId('devices').getByText('Active now').waitFor();
      await shoot(bob.page, 'devices', width);

      // The console, with bob's sessions open.
      const root = await signedIn(browser, server, width, 'root');
      await root.page.waitForURL((url) => url.pathname === '/');
      await root.page.goto(`${server.origin}/admin`);
      await waitForHydration(root.page);
      await waitForSocket(root.page);
      await root.page.getByRole('button', { name: 'Show sessions of bob' }).click();
      await root.page.locator('tr.expanded li.device').nth(3).waitFor();
      await root.page.getByTestId('audit').waitFor();
      await shoot(root.page, 'console', width);

      for (const context of [phone.context, laptop.context, bob.context, root.context]) await context.close();
    } finally {
      await server.stop();
    }
  }
} finally {
  await browser.close();
}
