// The institution search box, as a person types into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agree, createSession, institutionNames, launchModal, newKeys, openMerchant, useBrowser } from './lib/harness.mjs';

const b = useBrowser();

test('search: results follow the typed text (no added latency)', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret, 'search');
    await agree(frame);
    const box = frame.getByLabel('Search for your bank');
    await box.click();
    await box.pressSequentially('down bank', { delay: 60 });
    await frame.locator('#results-title', { hasText: 'down bank' }).waitFor();
    const names = await institutionNames(frame.getByTestId('institution-results'));
    assert.deepEqual(names, ['Down Bank (Scheduled)', 'Down Bank (Unscheduled)', 'Down Bank (Error)']);
    assert.equal(await frame.getByLabel('Search for your bank').inputValue(), 'down bank');
    await frame.getByLabel('Search for your bank').fill('no such bank');
    await frame.getByTestId('institution-no-results').waitFor();
  } finally {
    await context.close();
  }
});

test('search: no keystroke is lost when the server answers slowly (400 ms) and the user types slowly', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await openMerchant(b.browser, keys);
  try {
    await context.route('**/link/api/search', async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    const frame = await launchModal(page, session.client_secret, 'search-slow-server');
    await agree(frame);
    const box = frame.getByLabel('Search for your bank');
    await box.click();
    await box.pressSequentially('sandbox', { delay: 300 });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await frame.getByLabel('Search for your bank').inputValue(), 'sandbox');
  } finally {
    await context.close();
  }
});
