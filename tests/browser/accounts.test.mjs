// The account picker: subcategory filters (disabled accounts with a reason) and limits[accounts].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accountCheckbox, agree, assertLinked, axeClean, chooseAccounts, createSession, done, launchModal, newKeys,
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

test('limits[accounts]=1: radio buttons, the first eligible account chosen; another one links', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['limits[accounts]', '1']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'limit-1');
    await toAccounts(frame);
    assert.equal((await frame.getByTestId('accounts-limit').textContent()).trim(), 'You can link up to 1 account.');
    assert.equal(await frame.getByRole('checkbox').count(), 0, 'a single-account session has no checkboxes');
    assert.ok(await frame.getByRole('radio').count() > 1);
    assert.equal(await frame.getByRole('radio', { checked: true }).count(), 1);
    assert.equal(await accountCheckbox(frame, 'Success').isChecked(), true, 'the first eligible one is chosen');
    assert.equal(await frame.getByTestId('accounts-select-all').count(), 0, 'no "Select all" for one account');
    await axeClean(page, 'single-account picker');
    await chooseAccounts(frame, ['High Balance']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['High Balance'], 'Test Institution');
  } finally {
    await context.close();
  }
});

test('limits[accounts]=2: the first two come selected; three are refused with a message and stay ticked', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['limits[accounts]', '2']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'limit-2-keeps-selection');
    await toAccounts(frame);
    const ticked = async () => {
      const out = [];
      for (const box of await frame.locator('input[name="accounts[]"]').all()) {
        if (await box.isChecked()) out.push(await box.getAttribute('value'));
      }
      return out;
    };
    assert.deepEqual(await ticked(), ['Success', 'High Balance'], 'as many as the limit allows, in order');
    await accountCheckbox(frame, 'Savings').check();
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    await frame.getByTestId('accounts-error').waitFor();
    assert.equal((await frame.getByTestId('accounts-error').textContent()).trim(), 'You can link at most 2 accounts here.');
    assert.equal(await frame.getByRole('alert').count(), 1, 'the message is announced (role=alert)');
    await snap(frame, 'accounts-too-many');
    assert.equal(await page.evaluate(() => window.merchant.done), false, 'nothing was linked');
    assert.deepEqual(await ticked(), ['Success', 'High Balance', 'Savings'], 'what the user ticked stays ticked');
    await chooseAccounts(frame, ['Savings']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Savings'], 'Test Institution');
  } finally {
    await context.close();
  }
});

test('the eligible accounts come selected; Select all toggles them, the ineligible stay unticked', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['filters[account_subcategories][]', 'checking']] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'preselected');
    await toAccounts(frame);
    const all = frame.getByTestId('accounts-select-all');
    assert.equal(await all.isChecked(), true);
    assert.equal(await accountCheckbox(frame, 'Success').isChecked(), true);
    assert.equal(await accountCheckbox(frame, 'Savings').isChecked(), false, 'ineligible: never ticked');
    // The masked number and the account type beside the name.
    assert.match(await frame.locator('label[for="acct-0"]').textContent(), /Success\s+••••\d{4}\s+· Checking/);
    await all.uncheck();
    assert.equal(await frame.locator('input[name="accounts[]"]:checked').count(), 0);
    await accountCheckbox(frame, 'Joint Checking').check();
    assert.equal(await all.evaluate((el) => el.indeterminate), true, 'some ticked: Select all is mixed');
    await all.check();
    assert.equal(await accountCheckbox(frame, 'Savings').isChecked(), false);
    await axeClean(page, 'picker with Select all');
    await snap(frame, 'preselected');
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Success', 'High Balance', 'Insufficient Funds', 'Joint Checking', 'Refresh Fails'],
      'Test Institution');
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
