// The flow at phone width (390x844, touch, mobile viewport): the modal takes the whole screen, and every
// pane passed through fits without sideways scrolling (assertModalFits, run before every screenshot).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PHONE, accountCheckbox, agree, assertLinked, chooseAccounts, createSession, done, launchModal, login, newKeys,
  pane, pickInstitution, snap, useBrowser, MERCHANT_URL,
} from './lib/harness.mjs';

const b = useBrowser();

test('phone 390x844: down bank, Sandbox Bank (Non-OAuth) with mfa, filtered accounts, success', async () => {
  const keys = newKeys();
  const session = await createSession(keys, {
    permissions: ['balances', 'payment_method'],
    extra: [
      ['filters[account_subcategories][]', 'checking'],
      ['limits[accounts]', '2'],
      ['manual_entry[mode]', 'automatic'],
    ],
  });
  const context = await b.browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  context.setDefaultTimeout(10_000);
  const errors = [];
  context.on('weberror', (e) => errors.push(e.error().message));
  const page = await context.newPage();
  try {
    await page.goto(`${MERCHANT_URL}/checkout?pk=${encodeURIComponent(keys.pk)}`);
    const frame = await launchModal(page, session.client_secret, 'phone-link');
    await pane(frame, 'consent');
    const box = await page.locator('[data-finconn-frame]').boundingBox();
    assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, PHONE.width, PHONE.height],
      'the modal is full screen on a phone');

    await agree(frame);

    await pickInstitution(frame, 'fcinst_DownBankScheduled');
    await pane(frame, 'error');
    await frame.getByRole('button', { name: 'Try another bank' }).click();

    await pane(frame, 'institutions');
    await pickInstitution(frame, 'fcinst_SandboxBankNonOAuth');
    await pane(frame, 'login');
    await login(frame, 'jenny', 'mfa');
    await pane(frame, 'challenge');
    await frame.getByTestId('challenge-answer').fill('123456');
    await frame.getByRole('button', { name: 'Continue' }).click();

    await pane(frame, 'accounts');
    assert.equal(await accountCheckbox(frame, 'Savings').isDisabled(), true);
    // The last account can be scrolled to and the submit button reached.
    await frame.getByRole('button', { name: 'Connect accounts' }).scrollIntoViewIfNeeded();
    await snap(frame, 'accounts-scrolled-to-submit');
    await chooseAccounts(frame, ['Success', 'Joint Checking']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Success', 'Joint Checking'], 'Sandbox Bank (Non-OAuth)');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('phone 390x844: the manual entry pane fits', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { extra: [['manual_entry[mode]', 'automatic']] });
  const context = await b.browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  try {
    await page.goto(`${MERCHANT_URL}/checkout?pk=${encodeURIComponent(keys.pk)}`);
    const frame = await launchModal(page, session.client_secret, 'phone-manual');
    await agree(frame);
    await frame.getByRole('button', { name: 'Enter bank details manually instead' }).click();
    await pane(frame, 'manual');
    await frame.getByLabel('Routing number').fill('021000022');
    await frame.getByLabel('Account number').fill('12');
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('manual-error').waitFor();
    await snap(frame, 'manual-error');
  } finally {
    await context.close();
  }
});
