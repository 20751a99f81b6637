// Stripe's testing guide (docs.stripe.com/financial-connections/testing), step by step, as a Playwright
// script written for Stripe's sandbox would do it: click the test institution by its name, (OAuth ones:
// authorize in the popup), then Connect accounts, then Done — no credentials anywhere. The down banks fail
// at selection. Only selectors a script for Stripe would use: roles and visible names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSession, launchModal, merchantOutcome, newKeys, openMerchant, useBrowser } from './lib/harness.mjs';

const b = useBrowser();

async function link(name, { oauth = false, permissions = ['balances'] } = {}) {
  const keys = newKeys();
  const session = await createSession(keys, { permissions });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret);
    await frame.getByRole('button', { name: 'Agree' }).click();
    await frame.getByRole('button', { name, exact: true }).click();
    if (oauth) {
      const [popup] = await Promise.all([context.waitForEvent('page'), frame.getByRole('button', { name: 'Continue' }).click()]);
      await popup.getByRole('button', { name: 'Authorize' }).click();
    }
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    await frame.getByRole('button', { name: 'Done' }).click();
    const outcome = await merchantOutcome(page);
    const accounts = outcome.result.financialConnectionsSession.accounts;
    assert.ok(accounts.length > 0, `${name}: accounts linked`);
    assert.ok(accounts.every((a) => a.institution_name === name));
    return accounts;
  } finally {
    await context.close();
  }
}

test("Stripe's guide: Test Institution links without credentials", async () => {
  const accounts = await link('Test Institution');
  assert.ok(accounts.some((a) => a.display_name === 'Success'));
});

test("Stripe's guide: Test OAuth Institution links through its authorization page", async () => {
  await link('Test OAuth Institution', { oauth: true });
});

test("Stripe's guide: Ownership Accounts links without credentials", async () => {
  await link('Ownership Accounts', { permissions: ['ownership'] });
});

test("Stripe's guide: Sandbox Bank (OAuth) links through its authorization page", async () => {
  await link('Sandbox Bank (OAuth)', { oauth: true });
});

test("Stripe's guide: Invalid Payment Accounts links without credentials (no payment method)", async () => {
  const accounts = await link('Invalid Payment Accounts');
  assert.ok(accounts.every((a) => a.supported_payment_method_types.length === 0));
});

test("Stripe's guide: the down banks fail at selection, the scheduled one saying when it is back", async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret);
    await frame.getByRole('button', { name: 'Agree' }).click();
    for (const [name, text] of [
      ['Down Bank (Scheduled)', /scheduled maintenance/],
      ['Down Bank (Unscheduled)', /unexpectedly unavailable/],
      ['Down Bank (Error)', /Something went wrong/],
    ]) {
      await frame.getByRole('button', { name, exact: true }).click();
      const message = frame.getByTestId('error-message');
      await message.waitFor();
      assert.match(await message.textContent(), text);
      if (name === 'Down Bank (Scheduled)') {
        assert.ok(await frame.locator('time[datetime]').count() > 0, 'the expected time is shown');
      }
      await frame.getByRole('button', { name: 'Try another bank' }).click();
      await frame.getByRole('button', { name: 'Test Institution', exact: true }).waitFor();
    }
  } finally {
    await context.close();
  }
});
