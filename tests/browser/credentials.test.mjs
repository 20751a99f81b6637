// Linking through institutions that log in inside the modal: Test Institution (any username and password)
// and Sandbox Bank (Non-OAuth) with Stripe's test passwords `mfa` and `security_question`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, assertLinked, assertSecretNotInUrls, chooseAccounts, createSession, done, institutionNames, launchModal, login,
  merchantOutcome, modalFrame, newKeys, openMerchant, pane, pickInstitution, snap, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

test('Test Institution: search, no credentials, pick two accounts; the promise, the server and onEvent agree', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { permissions: ['balances', 'ownership'] });
  const { context, page, urls, problems, consoleErrors } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'test-institution');

    await agree(frame);

    // Search narrows the list to the bank; the featured list is replaced by results.
    await frame.getByLabel('Search for your bank').fill('test inst');
    await frame.getByTestId('institution-results').waitFor();
    const results = await institutionNames(frame.getByTestId('institution-results'));
    assert.deepEqual(results.map((s) => s.trim()), ['Test Institution']);
    await snap(frame, 'institutions-search-results');
    await frame.getByRole('button', { name: 'Test Institution' }).click();

    // As Stripe's guide says: no credentials; one click from the institution to the account picker.
    await pane(frame, 'accounts');
    assert.equal(await frame.getByTestId('pane-login').count(), 0);
    await chooseAccounts(frame, ['Success', 'Savings']);

    const success = await pane(frame, 'success');
    const listed = await success.getByTestId('success-accounts').locator('li').allTextContents();
    assert.deepEqual(listed, ['Success', 'Savings']);
    const outcome = await done(page, frame);

    const { fcs } = await assertLinked(keys, session, outcome, ['Success', 'Savings'], 'Test Institution');
    const byName = Object.fromEntries(fcs.accounts.map((a) => [a.display_name, a]));
    assert.equal(byName.Success.last4, '6789');
    assert.equal(byName.Success.subcategory, 'checking');
    assert.equal(byName.Savings.last4, '4321');
    assert.equal(byName.Savings.subcategory, 'savings');

    // The onEvent sequence of the whole flow (Stripe's mobile SDK event names, finconn's extension).
    assert.deepEqual(outcome.events, [
      { name: 'open', metadata: {} },
      { name: 'consent_acquired', metadata: {} },
      { name: 'search_initiated', metadata: {} },
      { name: 'institution_selected', metadata: { institutionName: 'Test Institution' } },
      { name: 'institution_authorized', metadata: { institutionName: 'Test Institution' } },
      { name: 'accounts_selected', metadata: { institutionName: 'Test Institution' } },
      { name: 'success', metadata: { institutionName: 'Test Institution' } },
    ]);

    // No console errors at all (the panes move focus from script: no `autofocus` attribute for Chromium to
    // block in a cross-origin frame).
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(problems, []);

    // The same client secret cannot be used twice: the promise resolves with an error, no modal stays.
    await page.evaluate((cs) => window.linkBank(cs), session.client_secret);
    const again = await merchantOutcome(page);
    assert.equal(again.result.financialConnectionsSession, undefined);
    assert.equal(again.result.error.type, 'invalid_request_error');
    assert.match(again.result.error.message, /already been used/);
    assert.equal(await page.locator('[data-finconn-modal]').count(), 0);

    assertSecretNotInUrls(urls, session.client_secret);
  } finally {
    await context.close();
  }
});

test('Sandbox Bank (Non-OAuth), password "mfa": a wrong password, then a 6-digit code', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page, urls } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'sandbox-nonoauth-mfa');
    await agree(frame);
    await pickInstitution(frame, 'fcinst_SandboxBankNonOAuth');

    // `incorrect` is a retryable error on the same pane.
    await login(frame, 'jenny', 'incorrect');
    await frame.getByTestId('login-error').waitFor();
    assert.match(await frame.getByTestId('login-error').textContent(), /username or password you entered is incorrect/);
    await snap(frame, 'login-incorrect');

    await login(frame, 'jenny', 'mfa');
    const challenge = await pane(frame, 'challenge');
    assert.equal(await challenge.getAttribute('data-challenge'), 'code');
    assert.equal(await frame.getByTestId('challenge-answer').getAttribute('autocomplete'), 'one-time-code');
    await frame.getByLabel('Enter the 6-digit code we sent to your phone.').fill('12345');
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('challenge-error').waitFor();
    await snap(frame, 'challenge-code-wrong');
    await frame.getByTestId('challenge-answer').fill('654321');
    await frame.getByRole('button', { name: 'Continue' }).click();

    await pane(frame, 'accounts');
    await chooseAccounts(frame, ['High Balance']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['High Balance'], 'Sandbox Bank (Non-OAuth)');
    assert.equal(outcome.result.financialConnectionsSession.accounts[0].last4, '0002');
    assertSecretNotInUrls(urls, session.client_secret);
  } finally {
    await context.close();
  }
});

test('Sandbox Bank (Non-OAuth), password "security_question": answer "blue"', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'sandbox-nonoauth-question');
    await agree(frame);
    await pickInstitution(frame, 'fcinst_SandboxBankNonOAuth');
    await login(frame, 'jenny', 'security_question');

    const challenge = await pane(frame, 'challenge');
    assert.equal(await challenge.getAttribute('data-challenge'), 'question');
    const answer = frame.getByLabel('What is your favorite color?');
    await answer.fill('red');
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('challenge-error').waitFor();
    await frame.getByLabel('What is your favorite color?').fill('blue');
    await frame.getByRole('button', { name: 'Continue' }).click();

    await pane(frame, 'accounts');
    await chooseAccounts(frame, ['Joint Checking', 'Brokerage']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Joint Checking', 'Brokerage'], 'Sandbox Bank (Non-OAuth)');
    const events = outcome.events.map((e) => e.name);
    assert.deepEqual(events, ['open', 'consent_acquired', 'institution_selected', 'institution_authorized',
      'accounts_selected', 'success']);
  } finally {
    await context.close();
  }
});
