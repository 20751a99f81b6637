// OAuth institutions: the modal's Continue opens the institution's page in a popup (from a click inside
// the modal, after the merchant's call was made past an await); Authorize or Cancel there, and the modal
// resumes by itself. The merchant page sends COOP same-origin-allow-popups, as Stripe's checklist asks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FINCONN_URL, agree, assertLinked, assertSecretNotInUrls, chooseAccounts, createSession, done, launchModal,
  newKeys, openMerchant, pane, pickInstitution, snap, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

/** Clicks Continue on the OAuth pane; returns the popup once its page has loaded. */
async function openPopup(context, frame) {
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    frame.getByRole('button', { name: 'Continue' }).click(),
  ]);
  await popup.waitForLoadState();
  return popup;
}

/** Runs a full OAuth link through Test OAuth Institution; returns what a test needs to check. */
async function linkThroughOAuth(extra = []) {
  const keys = newKeys();
  const session = await createSession(keys, { permissions: ['balances', 'payment_method'], extra });
  const ctx = await openMerchant(b.browser, keys);
  return { keys, session, ...ctx };
}

test('Test OAuth Institution: Cancel in the popup returns to the banks, Authorize links', async () => {
  const { keys, session, context, page, urls, problems } = await linkThroughOAuth();
  try {
    const frame = await launchModal(page, session.client_secret, 'test-oauth');
    await agree(frame);

    // First Sandbox Bank (OAuth), cancelled on its page: the modal goes back to the institutions by itself.
    await pickInstitution(frame, 'fcinst_SandboxBankOAuth');
    await pane(frame, 'oauth');
    const declined = await openPopup(context, frame);
    await snap(frame, 'popup-sandbox-bank-oauth', declined);
    await declined.getByRole('button', { name: 'Cancel' }).click();
    await pane(frame, 'institutions');
    if (!declined.isClosed()) await declined.waitForEvent('close', { timeout: 5000 }).catch(() => {});
    assert.ok(declined.isClosed(), 'the popup closes itself after Cancel');

    await pickInstitution(frame, 'fcinst_TestOAuthInstitution');
    const oauth = await pane(frame, 'oauth');
    assert.match(await oauth.locator('h1').textContent(), /Continue to Test OAuth Institution/);

    const popup = await openPopup(context, frame);
    const popupUrl = new URL(popup.url());
    assert.equal(popupUrl.origin, FINCONN_URL);
    assert.match(popupUrl.pathname, /^\/link\/oauth\//);
    assert.ok(!popup.url().includes(session.client_secret.split('_secret_')[1]), 'no client secret in the popup URL');
    await popup.getByRole('button', { name: 'Authorize' }).waitFor();
    await snap(frame, 'popup-authorize-page', popup);

    const clicked = Date.now();
    await popup.getByRole('button', { name: 'Authorize' }).click();
    await pane(frame, 'accounts');
    const resumedMs = Date.now() - clicked;
    assert.ok(resumedMs < 2500, `the modal resumed ${resumedMs} ms after Authorize (expected ~1 s)`);
    if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 5000 }).catch(() => {});
    assert.ok(popup.isClosed(), 'the popup closes itself after Authorize');

    // payment_method permission: the credit accounts cannot be picked, with a reason.
    const credit = frame.getByTestId('account-Credit Card');
    assert.equal(await credit.isDisabled(), true);
    await chooseAccounts(frame, ['Success', 'Insufficient Funds']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Success', 'Insufficient Funds'], 'Test OAuth Institution');
    const last4 = outcome.result.financialConnectionsSession.accounts.map((a) => a.last4).sort();
    assert.deepEqual(last4, ['2227', '6789']);
    for (const a of outcome.result.financialConnectionsSession.accounts) {
      assert.ok(a.supported_payment_method_types.includes('us_bank_account'));
    }

    const names = outcome.events.map((e) => e.name);
    assert.deepEqual(names.slice(0, 2), ['open', 'consent_acquired']);
    assert.equal(names.at(-1), 'success');
    assert.ok(names.includes('accounts_selected'));
    assertSecretNotInUrls(urls, session.client_secret);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('OAuth: onEvent reports institution_authorized after Authorize, as in the credentials flow', async () => {
  const { session, context, page } = await linkThroughOAuth();
  try {
    const frame = await launchModal(page, session.client_secret, 'oauth-events');
    await agree(frame);
    await pickInstitution(frame, 'fcinst_TestOAuthInstitution');
    await pane(frame, 'oauth');
    const popup = await openPopup(context, frame);
    await popup.getByRole('button', { name: 'Authorize' }).click();
    await pane(frame, 'accounts');
    await chooseAccounts(frame, ['Success']);
    const outcome = await done(page, frame);
    assert.deepEqual(outcome.events.map((e) => e.name), ['open', 'consent_acquired', 'institution_selected',
      'institution_authorized', 'accounts_selected', 'success']);
  } finally {
    await context.close();
  }
});

test('OAuth with return_url set, in a browser popup: the popup still closes and returns to the modal', async () => {
  const { session, context, page } = await linkThroughOAuth([['return_url', 'https://merchant.invalid/fc-return']]);
  try {
    const frame = await launchModal(page, session.client_secret, 'oauth-return-url');
    await agree(frame);
    await pickInstitution(frame, 'fcinst_TestOAuthInstitution');
    await pane(frame, 'oauth');
    const popup = await openPopup(context, frame);
    await popup.getByRole('button', { name: 'Authorize' }).click();
    await pane(frame, 'accounts');
    if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 3000 }).catch(() => {});
    assert.ok(popup.isClosed(), `the popup is still open, at ${popup.isClosed() ? '' : popup.url()}`);
  } finally {
    await context.close();
  }
});
