// The account picker: subcategory filters (disabled accounts with a reason) and limits[accounts].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accountCheckbox, agree, assertLinked, chooseAccounts, createSession, done, launchModal, login, newKeys,
  openMerchant, pane, pickInstitution, snap, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

/** Consent → Test Institution (no credentials, as Stripe's) → the accounts pane. */
async function toAccounts(frame) {
  await agree(frame);
  await pickInstitution(frame, 'fcinst_TestInstitution');
  return pane(frame, 'accounts');
}

test('filters[account_subcategories][]=checking: Savings and Credit Card disabled with a reason', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['filters[account_subcategories][]', 'checking']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'filter-checking');
    await toAccounts(frame);

    const enabled = ['Success', 'High Balance', 'Insufficient Funds', 'Joint Checking', 'Refresh Fails'];
    const disabled = ['Savings', 'Credit Card', 'Mortgage', 'Line of Credit'];
    for (const name of enabled) {
      assert.equal(await accountCheckbox(frame, name).isEnabled(), true, `${name} is enabled`);
    }
    for (const name of disabled) {
      const box = accountCheckbox(frame, name);
      assert.equal(await box.isDisabled(), true, `${name} is disabled`);
      // The reason is visible and is the checkbox's accessible description.
      const reasonId = await box.getAttribute('aria-describedby');
      assert.ok(reasonId, `${name} has a described-by reason`);
      const reason = frame.locator(`[id="${reasonId}"]`);
      assert.ok(await reason.isVisible(), `${name}'s reason is visible`);
      assert.match(await reason.textContent(), /Only checking accounts can be linked here\./);
    }

    await chooseAccounts(frame, ['Success', 'Joint Checking']);
    const outcome = await done(page, frame);
    const { fcs } = await assertLinked(keys, session, outcome, ['Success', 'Joint Checking'], 'Test Institution');
    assert.ok(fcs.accounts.every((a) => a.subcategory === 'checking'));
  } finally {
    await context.close();
  }
});

test('limits[accounts]=1: two accounts are refused with a message, one links', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['limits[accounts]', '1']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'limit-1');
    await toAccounts(frame);
    assert.equal((await frame.getByTestId('accounts-limit').textContent()).trim(), 'You can link up to 1 account.');

    await chooseAccounts(frame, ['Success', 'High Balance']);
    await frame.getByTestId('accounts-error').waitFor();
    assert.equal((await frame.getByTestId('accounts-error').textContent()).trim(),
      'You can link at most 1 account here.');
    assert.equal(await frame.getByRole('alert').count(), 1, 'the message is announced (role=alert)');
    await snap(frame, 'accounts-too-many');
    // Nothing was linked by the refused attempt.
    assert.equal(await page.evaluate(() => window.merchant.done), false);

    // The pane was re-rendered: tick exactly one (untick anything the page kept).
    for (const box of await frame.getByRole('checkbox').all()) {
      if (await box.isEnabled()) await box.uncheck();
    }
    await chooseAccounts(frame, ['High Balance']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['High Balance'], 'Test Institution');
  } finally {
    await context.close();
  }
});

test('limits[accounts]=1: after the message, the accounts the user ticked are still ticked', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['limits[accounts]', '1']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'limit-1-keeps-selection');
    await toAccounts(frame);
    await chooseAccounts(frame, ['Success', 'High Balance']);
    await frame.getByTestId('accounts-error').waitFor();
    assert.equal(await accountCheckbox(frame, 'Success').isChecked(), true);
    assert.equal(await accountCheckbox(frame, 'High Balance').isChecked(), true);
  } finally {
    await context.close();
  }
});

test('the accounts pane refuses an empty selection', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'empty-selection');
    await toAccounts(frame);
    await chooseAccounts(frame, []);
    await frame.getByTestId('accounts-error').waitFor();
    assert.match(await frame.getByTestId('accounts-error').textContent(), /Select at least one account/);
    await chooseAccounts(frame, ['Mortgage']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Mortgage'], 'Test Institution');
  } finally {
    await context.close();
  }
});
