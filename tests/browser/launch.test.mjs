// Launching the modal: Stripe.js's rules for bad client secrets and for one flow at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FINCONN_URL, agree, createSession, launchModal, merchantOutcome, newKeys, openMerchant, useBrowser,
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

test('loadStripe from /v3/loader.mjs (an ES module, as @stripe/stripe-js) loads the embed and links', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page, problems } = await openMerchant(b.browser, keys);
  try {
    await page.goto(new URL('/bundle', page.url()).href);
    assert.equal(await page.evaluate(() => typeof window.Stripe), 'undefined', 'no embed on the page yet');
    await page.evaluate(async ({ loader, pk, cs }) => {
      const { loadStripe } = await import(loader);
      const stripe = await loadStripe(pk);
      const again = await loadStripe(pk);
      window.loadedTwice = document.querySelectorAll('script[src$="/v3/"]').length;
      window.sameApi = typeof again.collectFinancialConnectionsAccounts === 'function';
      window.outcome = stripe.collectFinancialConnectionsAccounts({ clientSecret: cs });
    }, { loader: `${FINCONN_URL}/v3/loader.mjs`, pk: keys.pk, cs: session.client_secret });
    assert.equal(await page.evaluate(() => window.loadedTwice), 1, 'the embed is loaded once');
    assert.equal(await page.evaluate(() => window.sameApi), true);
    const frame = page.frameLocator('[data-finconn-frame]');
    await agree(frame);
    // Escape closes the modal (as Stripe's): the promise resolves with the session and no accounts.
    await page.keyboard.press('Escape');
    const result = await page.evaluate(() => window.outcome);
    assert.ok(result.financialConnectionsSession, JSON.stringify(result));
    assert.deepEqual(result.financialConnectionsSession.accounts, [], 'cancelled: no accounts');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
