// /admin: the live console. Every action, and a staff member without
// revoke_admins who cannot end an admin's session.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiLogin, launchBrowser, signedInAt, startServer, waitForLogin,
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

const signedIn = (username, password, path = '/') => signedInAt(browser, server, { username, password, path });

const row = (page, username) => page.locator(`tr[data-username="${username}"]`);

test('a user is turned away from the console', async () => {
  const alice = await signedIn('alice', server.passwords.alice, '/admin');
  await alice.page.getByRole('heading', { name: 'Staff only' }).waitFor();
  await alice.context.close();
});

test('staff with revoke_users ends users sessions but sees no way to end an admin or manage accounts', async () => {
  const alice = await signedIn('alice', server.passwords.alice);
  await signedIn('root', server.passwords.root);
  const sam = await signedIn('sam', server.passwords.sam, '/admin');
  const console_ = sam.page;
  await row(console_, 'alice').waitFor();
  // Live: alice is online with one session.
  assert.equal(await row(console_, 'alice').getByTestId('session-count').innerText(), '1');
  assert.equal(await row(console_, 'alice').locator('.dot.online').count(), 1);
  // No end controls for the admin, no account management at all.
  assert.equal(await console_.getByRole('button', { name: 'End sessions of root' }).count(), 0);
  assert.equal(await console_.getByRole('checkbox', { name: 'Select root' }).count(), 0);
  assert.equal(await console_.getByRole('button', { name: 'Deactivate alice' }).count(), 0);
  assert.equal(await console_.getByRole('heading', { name: 'Create a user' }).count(), 0);
  await console_.getByRole('button', { name: "End everyone's sessions" }).click();
  assert.equal(await console_.getByLabel('Include admins').count(), 0, 'revoke_admins is needed to include admins');
  await console_.getByRole('button', { name: 'Cancel' }).click();

  // Bulk: select alice, end her sessions.
  await console_.getByRole('checkbox', { name: 'Select alice' }).check();
  await console_.getByRole('button', { name: 'End sessions of selected (1)' }).click();
  await waitForLogin(alice.page, 2_000);
  assert.equal(new URL(alice.page.url()).searchParams.get('reason'), 'admin_revoked');
  await console_.waitForFunction(() => document.querySelector('tr[data-username="alice"] [data-testid=session-count]')?.textContent === '0');
  // The audit log shows who ended whom.
  const audit = console_.getByTestId('audit');
  await audit.getByRole('row').filter({ hasText: 'alice' }).filter({ hasText: 'Ended by staff or an admin' }).first().waitFor();
  assert.match(await audit.innerText(), /sam/);
  await alice.context.close();
  await sam.context.close();
});

test('an admin ends one session, manages accounts and ends everyone after confirming', async () => {
  const bob = await signedIn('bob', server.passwords.bob);
  const bob2 = await signedIn('bob', server.passwords.bob);
  const root = await signedIn('root', server.passwords.root, '/admin');
  const console_ = root.page;
  await row(console_, 'bob').waitFor();
  await console_.waitForFunction(() => document.querySelector('tr[data-username="bob"] [data-testid=session-count]')?.textContent === '2');

  // One session, from the user's session list.
  await console_.getByRole('button', { name: 'Show sessions of bob' }).click();
  await console_.getByRole('button', { name: /^End session on / }).first().click();
  await Promise.race([waitForLogin(bob.page, 3_000), waitForLogin(bob2.page, 3_000)]);
  const bobOut = await bob.page.evaluate(() => location.pathname === '/login');
  const survivor = bobOut ? bob2 : bob;
  await console_.waitForFunction(() => document.querySelector('tr[data-username="bob"] [data-testid=session-count]')?.textContent === '1');

  // Max sessions, then deactivate and activate.
  await console_.getByLabel('Max sessions for bob').fill('3');
  await row(console_, 'bob').getByRole('button', { name: 'Save' }).click();
  await console_.getByRole('button', { name: 'Deactivate bob' }).click();
  await console_.getByRole('dialog', { name: 'Deactivate bob?' }).getByRole('button', { name: 'Deactivate' }).click();
  await row(console_, 'bob').getByText('Deactivated').waitFor();
  await survivor.page.waitForFunction(() => new URLSearchParams(location.search).get('reason') === 'deactivated', null, { timeout: 3_000 });
  await console_.getByRole('button', { name: 'Activate bob' }).click();
  await row(console_, 'bob').getByText('Active', { exact: true }).waitFor();
  assert.equal(await console_.getByLabel('Max sessions for bob').inputValue(), '3');

  // Create a user.
  await console_.getByLabel('Username', { exact: true }).fill('carol');
  await console_.getByLabel('Password', { exact: true }).fill('carol-long-password');
  await console_.getByLabel('Role').selectOption('staff');
  await console_.getByLabel("May end users' and staff sessions").check();
  await console_.getByRole('button', { name: 'Create user' }).click();
  await console_.getByRole('status').filter({ hasText: 'Created carol.' }).waitFor();
  assert.equal(await console_.getByLabel('Password', { exact: true }).inputValue(), '', 'no password left in the form');
  await row(console_, 'carol').waitFor();
  assert.match(await row(console_, 'carol').innerText(), /staff/);

  // Search narrows the table.
  await console_.getByRole('searchbox', { name: 'Search users' }).fill('car');
  await console_.waitForFunction(() => document.querySelectorAll('tbody tr[data-username]').length === 1);
  await console_.getByRole('searchbox', { name: 'Search users' }).fill('');

  // Everyone, after confirming, admins included: never the caller's own.
  const carol = await signedIn('carol', 'carol-long-password');
  await console_.getByRole('button', { name: "End everyone's sessions" }).click();
  await console_.getByLabel('Include admins').check();
  await console_.getByRole('button', { name: 'Yes, end them all' }).click();
  await console_.getByRole('status').filter({ hasText: /Ended \d+ session\(s\) everywhere/ }).waitFor();
  await waitForLogin(carol.page, 2_000);
  assert.equal(new URL(console_.url()).pathname, '/admin', 'the caller stays');
  for (const c of [bob, bob2, root, carol]) await c.context.close();
});

test('the users table pages through many users', async () => {
  const { cookie } = await apiLogin(server.origin, 'root', server.passwords.root);
  for (let n = 0; n < 20; n += 1) {
    const created = await fetch(`${server.origin}/api/admin/users`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ username: `viewer${String(n).padStart(2, '0')}`, password: 'a-long-password', role: 'user' }),
    });
    assert.equal(created.status, 201);
  }
  const sam = await signedIn('sam', server.passwords.sam, '/admin');
  const pager = sam.page.getByRole('navigation', { name: 'Pages' });
  await pager.getByText(/^1–20 of \d+$/).waitFor();
  const total = Number((await pager.getByText(/of \d+$/).innerText()).split('of ')[1]);
  assert.ok(total > 20);
  assert.equal(await pager.getByRole('button', { name: 'Previous' }).isDisabled(), true);
  await pager.getByRole('button', { name: 'Next' }).click();
  await pager.getByText(`21–${total} of ${total}`).waitFor();
  assert.equal(await pager.getByRole('button', { name: 'Next' }).isDisabled(), true);
  await pager.getByRole('button', { name: 'Previous' }).click();
  await pager.getByText(/^1–20 of/).waitFor();
  await sam.context.close();
});
