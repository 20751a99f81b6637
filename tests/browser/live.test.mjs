// Live mode in a real browser: a merchant page links accounts at a SimpleFIN server (the fake, on
// 127.0.0.1; finconn runs with connector_allow_loopback) with a setup token, the promise resolves as in
// test mode, and the official stripe-python SDK then reads, refreshes and subscribes (live_sdk_check.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  agree, assertSecretNotInUrls, axeClean, createSession, done, FINCONN_URL, launchModal, openMerchant, pane, snap,
  useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();
const HERE = path.dirname(fileURLToPath(import.meta.url));

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests with tests/browser/run.sh`);
  return v;
}
const LIVE = { sk: env('LIVE_SK'), pk: env('LIVE_PK') };
const FAKE_ROOT = env('FAKE_SIMPLEFIN_URL');
const CONTROL = FAKE_ROOT.replace(/\/simplefin$/, '/_control');
const PYTHON = env('SDK_PYTHON');

async function newToken() {
  const res = await fetch(`${CONTROL}/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  return res.json();
}

/** Consent → SimpleFIN server "Fake SimpleFIN" → the token pane. */
async function toTokenPane(frame) {
  await agree(frame);
  await frame.getByRole('button', { name: 'Fake SimpleFIN' }).click();
  return pane(frame, 'token');
}

test('live: link with a SimpleFIN setup token; stripe-python reads the accounts to the cent', async () => {
  const session = await createSession(LIVE, { permissions: ['balances', 'transactions'] });
  assert.equal(session.livemode, true);
  const { context, page, urls, problems } = await openMerchant(b.browser, LIVE);
  try {
    const frame = await launchModal(page, session.client_secret, 'live-simplefin');
    await toTokenPane(frame);
    // The token page opens in a new tab, never in the modal.
    const link = frame.getByTestId('token-create-link');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /noopener/);
    assert.equal(await link.getAttribute('href'), `${FAKE_ROOT}/create`);
    const field = frame.getByLabel('SimpleFIN setup token');
    assert.equal(await field.getAttribute('autocomplete'), 'off');
    assert.equal(await field.getAttribute('spellcheck'), 'false');
    await axeClean(page, 'token pane');

    const { token, user } = await newToken();
    await field.fill(`  ${token}\n`);
    await frame.getByRole('button', { name: 'Connect' }).click();
    await pane(frame, 'accounts');
    // Grouped by bank login, balances shown, types pre-filled from the names.
    const legends = await frame.locator('legend').allTextContents();
    assert.deepEqual(legends.map((l) => l.trim()), ['Example Bank - Jo', 'Example Card Co - Jo']);
    assert.match(await frame.getByTestId('account-balance-Everyday Checking').textContent(), /1,520\.33 USD/);
    assert.equal(await frame.getByTestId('account-type-Rewards Visa Card').inputValue(), 'credit_card');
    assert.equal(await frame.getByTestId('account-type-High Yield Savings').inputValue(), 'savings');
    await axeClean(page, 'live account picker');
    await frame.getByTestId('account-Yen Wallet').uncheck();
    await snap(frame, 'accounts-chosen');
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    const outcome = await done(page, frame);

    assert.equal(outcome.thrown, null);
    assert.equal(outcome.result.error, undefined, JSON.stringify(outcome.result.error));
    const fcs = outcome.result.financialConnectionsSession;
    assert.ok(Array.isArray(fcs.accounts));
    assert.deepEqual(fcs.accounts.map((a) => a.display_name).sort(),
      ['Everyday Checking', 'High Yield Savings', 'Rewards Visa Card']);
    assert.ok(fcs.accounts.every((a) => a.livemode === true && a.institution_name === 'Fake SimpleFIN'));
    assertSecretNotInUrls(urls, session.client_secret);
    assert.deepEqual(problems, []);

    const sdk = spawnSync(PYTHON, [path.join(HERE, 'live_sdk_check.py')], {
      env: { ...process.env, FINCONN_URL, LIVE_SK: LIVE.sk, SESSION_ID: session.id, FAKE_CONTROL: CONTROL, FAKE_USER: user },
      encoding: 'utf8',
      timeout: 120_000,
    });
    process.stdout.write(sdk.stdout || '');
    assert.equal(sdk.status, 0, `stripe-python check failed:\n${sdk.stdout}\n${sdk.stderr}`);
  } finally {
    await context.close();
  }
});

test('live: a used token gets the compromise warning next to the field, and the pane stays usable', async () => {
  const session = await createSession(LIVE, { permissions: ['balances'] });
  const { context, page } = await openMerchant(b.browser, LIVE);
  try {
    const { token, claim_url: claimUrl } = await newToken();
    // Someone else claims it first.
    const claimed = await fetch(claimUrl, { method: 'POST', headers: { 'Content-Length': '0' } });
    assert.equal(claimed.status, 200);
    const frame = await launchModal(page, session.client_secret, 'live-token-used');
    await toTokenPane(frame);
    await frame.getByLabel('SimpleFIN setup token').fill(token);
    await frame.getByRole('button', { name: 'Connect' }).click();
    const error = frame.getByTestId('token-error');
    await error.waitFor({ state: 'visible' });
    await pane(frame, 'token');
    await snap(frame, 'token-used');
    assert.match(await error.textContent(), /already used.*disable it at your SimpleFIN server/s);
    assert.equal(await error.getAttribute('role'), 'alert');
    const field = frame.getByLabel('SimpleFIN setup token');
    assert.match(await field.getAttribute('aria-describedby'), /token-error/);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.equal(await frame.locator(':focus').getAttribute('data-testid'), 'token-input',
      'focus moves to the field the error describes');
    await axeClean(page, 'token pane with an error');
    // A fresh token works from the same pane.
    const fresh = await newToken();
    await field.fill(fresh.token);
    await frame.getByRole('button', { name: 'Connect' }).click();
    await pane(frame, 'accounts');
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    const outcome = await done(page, frame);
    assert.equal(outcome.result.financialConnectionsSession.accounts.length, 4);
  } finally {
    await context.close();
  }
});
