// A team's own sandbox data (run.sh serves examples/sandbox-data.toml beside the built-in catalogue): its
// institutions are found by search, log in as the file says (MFA), list the file's accounts, and link; a
// downtime set with the test helper shows in the modal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FINCONN_URL, agree, assertLinked, axeClean, chooseAccounts, createSession, done, institutionNames, launchModal,
  login, newKeys, openMerchant, pane, pickInstitution, snap, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

test('a sandbox data file: search finds its credit union, MFA login, the file\'s accounts link', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { permissions: ['balances', 'transactions'] });
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'sandbox-data-file');
    await agree(frame);
    await frame.getByLabel('Search for your bank').fill('maple');
    await frame.getByTestId('institution-results').waitFor();
    assert.deepEqual(await institutionNames(frame.getByTestId('institution-results')), ['Maple Credit Union']);
    await snap(frame, 'sandbox-data-search');
    await frame.getByRole('button', { name: 'Maple Credit Union' }).click();

    // login = "mfa": any username and password, then any six digits.
    await login(frame, 'jenny', 'hunter2');
    const challenge = await pane(frame, 'challenge');
    assert.equal(await challenge.getAttribute('data-challenge'), 'code');
    await axeClean(page, 'sandbox data: one-time code');
    await frame.getByTestId('challenge-answer').fill('12345');
    await frame.getByRole('button', { name: 'Continue' }).click();
    await frame.getByTestId('challenge-error').waitFor();
    await frame.getByTestId('challenge-answer').fill('246810');
    await frame.getByRole('button', { name: 'Continue' }).click();

    const accounts = await pane(frame, 'accounts');
    const labels = await accounts.locator('label').allTextContents();
    for (const name of ['Payroll Checking', 'Visa Signature', 'Joint Savings']) {
      assert.ok(labels.some((l) => l.includes(name)), `${name} is offered: ${labels}`);
    }
    await axeClean(page, 'sandbox data: accounts');
    await snap(frame, 'sandbox-data-accounts');
    await chooseAccounts(frame, ['Payroll Checking', 'Joint Savings']);
    const outcome = await done(page, frame);
    const { fcs } = await assertLinked(keys, session, outcome, ['Payroll Checking', 'Joint Savings'], 'Maple Credit Union');
    const byName = Object.fromEntries(fcs.accounts.map((a) => [a.display_name, a]));
    assert.equal(byName['Payroll Checking'].last4, '4410');
    assert.equal(byName['Joint Savings'].last4, '7310', 'the account from its own JSON file');
    assert.equal(byName['Joint Savings'].subcategory, 'savings');
  } finally {
    await context.close();
  }
});

test('downtime: the file\'s bank under maintenance, and a test-helper downtime, show in the modal', async () => {
  const keys = newKeys();
  // Take Test Institution down for this tenant only (finconn's test helper).
  const res = await fetch(`${FINCONN_URL}/v1/test_helpers/financial_connections/institutions/fcinst_TestInstitution/downtime`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${keys.sk}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'kind=unscheduled',
  });
  assert.equal(res.status, 200, await res.text());
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'sandbox-data-downtime');
    await agree(frame);
    await pickInstitution(frame, 'fcinst_TestInstitution');
    const error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'institution_unavailable_unplanned');
    assert.match(await frame.getByTestId('error-message').textContent(), /Test Institution/);
    await snap(frame, 'sandbox-data-helper-downtime');
  } finally {
    await context.close();
  }
  const second = await createSession(keys);
  const other = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(other.page, second.client_secret, 'sandbox-data-scheduled');
    await agree(frame);
    await frame.getByLabel('Search for your bank').fill('northwind');
    await frame.getByRole('button', { name: 'Northwind Bank' }).click();
    const error = await pane(frame, 'error');
    assert.equal(await error.getAttribute('data-error-code'), 'institution_unavailable_planned');
    assert.match(await frame.getByTestId('error-message').textContent(), /Northwind Bank.*maintenance/);
    await axeClean(other.page, 'sandbox data: scheduled maintenance');
    await snap(frame, 'sandbox-data-scheduled-maintenance');
  } finally {
    await other.context.close();
  }
});
