// Institutions that are down: the error pane, its code for onEvent, the expected time for scheduled
// maintenance, and the way back ("Try another bank") or out ("Close").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, assertLinked, chooseAccounts, createSession, done, getSession, launchModal, login, merchantOutcome, newKeys,
  openMerchant, pane, pickInstitution, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

test('Down Bank (Scheduled): error pane with the expected time, onEvent error, then another bank links', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'down-bank-scheduled');
    await agree(frame);
    const before = Math.floor(Date.now() / 1000);
    await pickInstitution(frame, 'fcinst_DownBankScheduled');

    const error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'institution_unavailable_planned');
    assert.match(await frame.getByTestId('error-message').textContent(), /Down Bank \(Scheduled\).*maintenance/);
    const expected = frame.getByTestId('error-expected');
    assert.ok(await expected.isVisible(), 'the expected time is shown');
    const time = expected.locator('time');
    const at = Number(await time.getAttribute('data-timestamp'));
    const iso = await time.getAttribute('datetime');
    assert.ok(at >= before + 3600 - 5 && at <= before + 3600 + 60, `back in about an hour: ${at - before} s`);
    assert.equal(new Date(iso).getTime() / 1000, at, 'datetime and timestamp agree');
    assert.match(await expected.textContent(), /Expected to be available again at/);

    let events = await page.evaluate(() => window.merchant.events);
    assert.deepEqual(events.slice(-2), [
      { name: 'institution_selected', metadata: { institutionName: 'Down Bank (Scheduled)' } },
      { name: 'error', metadata: { errorCode: 'institution_unavailable_planned' } },
    ]);
    // The promise is still pending: an institution error does not end the flow.
    assert.equal(await page.evaluate(() => window.merchant.done), false);

    await frame.getByRole('button', { name: 'Try another bank' }).click();
    await pane(frame, 'institutions');
    await pickInstitution(frame, 'fcinst_TestInstitution');
    await pane(frame, 'accounts');
    await chooseAccounts(frame, ['Success']);
    const outcome = await done(page, frame);
    await assertLinked(keys, session, outcome, ['Success'], 'Test Institution');
    events = outcome.events.map((e) => e.name);
    assert.deepEqual(events, ['open', 'consent_acquired', 'institution_selected', 'error', 'institution_selected',
      'institution_authorized', 'accounts_selected', 'success']);
  } finally {
    await context.close();
  }
});

test('Down Bank (Unscheduled), Down Bank (Error), a failed login; Close ends with no accounts', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'down-banks-and-failed-login');
    await agree(frame);

    await pickInstitution(frame, 'fcinst_DownBankUnscheduled');
    let error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'institution_unavailable_unplanned');
    assert.equal(await frame.getByTestId('error-expected').count(), 0, 'no expected time when unscheduled');
    await frame.getByRole('button', { name: 'Try another bank' }).click();

    await pane(frame, 'institutions');
    await pickInstitution(frame, 'fcinst_DownBankError');
    error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'unexpected_error');
    await frame.getByRole('button', { name: 'Try another bank' }).click();

    // Sandbox Bank (Non-OAuth) with the password `error`: authorization fails for good.
    await pane(frame, 'institutions');
    await pickInstitution(frame, 'fcinst_SandboxBankNonOAuth');
    await login(frame, 'jenny', 'error');
    error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'authorization_failed');

    const close = frame.getByTestId('error-close');
    assert.equal((await close.textContent()).trim(), 'Close');
    await close.click();
    const outcome = await merchantOutcome(page);
    assert.equal(outcome.result.error, undefined);
    assert.equal(outcome.result.financialConnectionsSession.id, session.id);
    assert.deepEqual(outcome.result.financialConnectionsSession.accounts, []);
    const errors = outcome.events.filter((e) => e.name === 'error').map((e) => e.metadata.errorCode);
    assert.deepEqual(errors, ['institution_unavailable_unplanned', 'unexpected_error', 'authorization_failed']);
    assert.equal(outcome.events.at(-1).name, 'cancel');
    const server = await getSession(keys, session.id);
    assert.deepEqual(server.accounts.data, []);
  } finally {
    await context.close();
  }
});
