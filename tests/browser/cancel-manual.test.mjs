// Leaving the flow (Escape, the close button) and manual entry of bank details.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, assertLinked, createSession, done, getSession, launchModal, merchantOutcome, modalFrame, newKeys,
  openMerchant, pane, snap, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

/** The Stripe.js rule for a user who leaves: the session, accounts: [], no error; the modal is gone. */
async function assertCancelled(page, keys, session) {
  const outcome = await merchantOutcome(page);
  assert.equal(outcome.thrown, null);
  assert.equal(outcome.result.error, undefined, 'leaving is not an error');
  assert.equal(outcome.result.financialConnectionsSession.id, session.id);
  assert.deepEqual(outcome.result.financialConnectionsSession.accounts, []);
  assert.equal(await page.locator('[data-finconn-modal]').count(), 0, 'the modal is removed');
  assert.equal(outcome.events.at(-1).name, 'cancel');
  const server = await getSession(keys, session.id);
  assert.deepEqual(server.accounts.data, []);
  return outcome;
}

test('Escape in the modal cancels: the promise resolves with the session and accounts: []', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page, problems } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'escape-in-modal');
    await agree(frame);
    // Focus is inside the modal (its heading), so the key goes to finconn's frame.
    assert.equal(await modalFrame(page).evaluate(() => document.hasFocus()), true, 'the modal has focus');
    await page.keyboard.press('Escape');
    const outcome = await assertCancelled(page, keys, session);
    assert.deepEqual(outcome.events.map((e) => e.name), ['open', 'consent_acquired', 'cancel']);
    assert.equal(await page.locator('#status').textContent(), 'No accounts were linked.');

    // A cancelled session cannot be reopened: an error, not a second modal.
    await page.evaluate((cs) => window.linkBank(cs), session.client_secret);
    const again = await merchantOutcome(page);
    assert.equal(again.result.error.type, 'invalid_request_error');
    assert.equal(await page.locator('[data-finconn-modal]').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('Escape while focus is on the merchant page, and the × button, cancel too', async () => {
  const keys = newKeys();
  const first = await createSession(keys);
  const second = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    let frame = await launchModal(page, first.client_secret, 'escape-on-host');
    await pane(frame, 'consent');
    await page.locator('#link').focus(); // focus moved back to the host page
    await page.keyboard.press('Escape');
    await assertCancelled(page, keys, first);

    frame = await launchModal(page, second.client_secret, 'close-button');
    await pane(frame, 'consent');
    await frame.getByRole('button', { name: 'Close' }).click();
    await assertCancelled(page, keys, second);
  } finally {
    await context.close();
  }
});

test('manual entry: a bad routing number is refused, 110000000 / 000123456789 links', async () => {
  const keys = newKeys();
  const session = await createSession(keys, {
    permissions: ['payment_method'],
    extra: [['manual_entry[mode]', 'automatic']],
  });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'manual-entry');
    await agree(frame);
    await frame.getByRole('button', { name: 'Enter bank details manually instead' }).click();
    await pane(frame, 'manual');

    await frame.getByLabel('Routing number').fill('123456789');
    await frame.getByLabel('Account number').fill('000123456789');
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('manual-error').waitFor();
    assert.equal((await frame.getByTestId('manual-error').textContent()).trim(),
      'Enter a valid 9-digit routing number.');
    await snap(frame, 'manual-bad-routing');

    await frame.getByLabel('Routing number').fill('110000000');
    await frame.getByLabel('Account number').fill('000123456789');
    await frame.getByRole('radio', { name: 'Checking' }).check();
    await frame.getByRole('button', { name: 'Continue' }).click();
    const outcome = await done(page, frame);

    const { fcs } = await assertLinked(keys, session, outcome, ['Checking ••••6789']);
    const [account] = fcs.accounts;
    assert.equal(account.last4, '6789');
    assert.equal(account.subcategory, 'checking');
    assert.equal(account.category, 'cash');
    assert.deepEqual(account.supported_payment_method_types, ['us_bank_account']);
    assert.deepEqual(outcome.events, [
      { name: 'open', metadata: {} },
      { name: 'consent_acquired', metadata: {} },
      { name: 'manual_entry_initiated', metadata: {} },
      { name: 'success', metadata: { manualEntry: true } },
    ]);
  } finally {
    await context.close();
  }
});

test('manual entry: after a refused routing number, the chosen account type (Savings) is still chosen', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['manual_entry[mode]', 'automatic']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'manual-keeps-type');
    await agree(frame);
    await frame.getByRole('button', { name: 'Enter bank details manually instead' }).click();
    await pane(frame, 'manual');
    await frame.getByLabel('Routing number').fill('110000001');
    await frame.getByLabel('Account number').fill('000123456789');
    await frame.getByRole('radio', { name: 'Savings' }).check();
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('manual-error').waitFor();
    await snap(frame, 'manual-error-type-reset');
    // A user who now fixes only the routing number links a Checking account without noticing.
    assert.equal(await frame.getByRole('radio', { name: 'Savings' }).isChecked(), true, 'Savings is still chosen');
  } finally {
    await context.close();
  }
});

test('without manual_entry[mode]=automatic there is no manual-entry link', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'no-manual-entry');
    await agree(frame);
    assert.equal(await frame.getByTestId('manual-entry').count(), 0);
    await page.keyboard.press('Escape');
    await merchantOutcome(page);
  } finally {
    await context.close();
  }
});
