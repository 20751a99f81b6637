// Launching the modal: Stripe.js's rules for bad client secrets and for one flow at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, createSession, launchModal, merchantOutcome, newKeys, openMerchant, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

test('an unknown client secret resolves with {error} (invalid_request_error) and leaves no modal', async () => {
  const keys = newKeys();
  const { context, page, problems } = await openMerchant(b.browser, keys);
  try {
    await page.evaluate(() => window.linkBank('fcsess_NoSuchSession0000000000_secret_NoSuchSecret0000000000000'));
    const outcome = await merchantOutcome(page);
    assert.equal(outcome.thrown, null, 'the promise resolves, it does not reject');
    assert.equal(outcome.result.financialConnectionsSession, undefined);
    assert.equal(outcome.result.error.type, 'invalid_request_error');
    assert.equal(typeof outcome.result.error.message, 'string');
    assert.equal(await page.locator('[data-finconn-modal]').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('one flow at a time: a second call while the modal is open resolves with an error', async () => {
  const keys = newKeys();
  const first = await createSession(keys);
  const second = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, first.client_secret);
    await agree(frame);
    await page.evaluate(() => { window.firstFlow = window.merchant; });
    await page.evaluate((cs) => window.linkBank(cs), second.client_secret);
    const outcome = await merchantOutcome(page);
    assert.equal(outcome.result.error.type, 'invalid_request_error');
    assert.equal(await page.locator('[data-finconn-modal]').count(), 1, 'the first modal stays');
    assert.equal(await page.evaluate(() => window.firstFlow.done), false);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.firstFlow.done);
    const firstResult = await page.evaluate(() => window.firstFlow.result);
    assert.equal(firstResult.financialConnectionsSession.id, first.id);
  } finally {
    await context.close();
  }
});
