// Live mode in Europe, in a real browser: a merchant page links accounts at a PSD2 bank through the
// Enable Banking connector (the fake Enable Banking API on 127.0.0.1; finconn runs with
// connector_allow_loopback). The bank is found by country, the bank's own page opens in the popup, and
// finconn's callback brings the modal to the account picker; balances and every transaction (all pages,
// booked and pending) then equal the fake's to the cent; a denied authorization shows a clear message and
// a retry; a consent that ends deactivates the accounts with events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, assertSecretNotInUrls, axeClean, createSession, done, eventually, launchModal, openMerchant, pane, snap,
  useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests with tests/browser/run.sh`);
  return v;
}
const LIVE = { sk: env('LIVE_SK'), pk: env('LIVE_PK') };
const FAKE = env('FAKE_ENABLE_BANKING_URL');
const FINCONN_URL = env('FINCONN_URL');

async function api(method, path, form = []) {
  const res = await fetch(`${FINCONN_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${LIVE.sk}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: method === 'GET' ? undefined : new URLSearchParams(form).toString(),
  });
  const body = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function fake(path, init) {
  const res = await fetch(`${FAKE}/_control${path}`, init);
  assert.ok(res.ok, `fake ${path}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

async function allTransactions(account) {
  const out = [];
  let after = null;
  for (;;) {
    const q = `account=${account}&limit=100${after ? `&starting_after=${after}` : ''}`;
    const page = await api('GET', `/v1/financial_connections/transactions?${q}`);
    out.push(...page.data);
    if (!page.has_more) return out;
    after = page.data[page.data.length - 1].id;
  }
}

/** Consent → search "Nordea" (Finland's, as the session allows FI only) → the bank's OAuth pane. */
async function toBank(frame) {
  await agree(frame);
  const hint = frame.getByTestId('institution-hint');
  assert.match(await hint.textContent(), /find it among \d+ banks/);
  await frame.getByLabel('Search for your bank').fill('Nordea');
  const results = frame.getByTestId('institution-results');
  await results.waitFor({ state: 'visible' });
  assert.equal(await results.getByRole('button').count(), 1, 'one Nordea: the Finnish one');
  // Its logo, loaded from finconn's origin (the frame's CSP allows no other host for images).
  const logo = results.locator('img.logo');
  assert.match(await logo.getAttribute('src'), /^\/link\/logos\/fcinst_EB[0-9a-f]{16}$/);
  await eventually(() => logo.evaluate((el) => el.complete && el.naturalWidth > 0));
  await results.getByRole('button', { name: 'Nordea' }).click();
  return pane(frame, 'oauth');
}

/** Continue → the bank's page in a popup → Approve or Deny there; the popup goes back to finconn and closes. */
async function atTheBank(context, frame, label, decision) {
  const [popup] = await Promise.all([context.waitForEvent('page'), frame.getByTestId('oauth-continue').click()]);
  await popup.waitForLoadState();
  assert.ok(popup.url().startsWith(FAKE), `the popup is at the bank: ${popup.url()}`);
  await snap(frame, `${label}-bank-page`, popup);
  await popup.getByRole('button', { name: decision }).click();
  if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 10_000 }).catch(() => {});
  assert.ok(popup.isClosed(), 'the popup closes itself once finconn has the answer');
}

test('live PSD2: link two accounts at a bank found by country, through the bank page; data to the cent', async () => {
  const session = await createSession(LIVE, {
    permissions: ['balances', 'transactions', 'ownership'],
    extra: [['filters[countries][]', 'FI']],
  });
  const { context, page, urls, problems } = await openMerchant(b.browser, LIVE);
  try {
    const frame = await launchModal(page, session.client_secret, 'live-psd2');
    await toBank(frame);
    await axeClean(page, 'PSD2 bank pane');
    await atTheBank(context, frame, 'live-psd2', 'Approve');
    await pane(frame, 'accounts');
    assert.match(await frame.getByTestId('account-balance-Käyttötili').textContent(), /EUR/);
    await axeClean(page, 'PSD2 account picker');
    for (const name of ['Käyttötili', 'Visa Credit']) await frame.getByTestId(`account-${name}`).check();
    await frame.getByTestId('account-Säästötili').uncheck();
    await snap(frame, 'live-psd2-chosen');
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    const outcome = await done(page, frame);
    assert.equal(outcome.thrown, null);
    const accounts = outcome.result.financialConnectionsSession.accounts;
    assert.deepEqual(accounts.map((a) => a.display_name).sort(), ['Käyttötili', 'Visa Credit']);
    assert.ok(accounts.every((a) => a.livemode && a.institution_name === 'Nordea'));
    assertSecretNotInUrls(urls, session.client_secret);
    assert.deepEqual(problems, []);

    // The backend refreshes; the data equals the fake bank's to the cent.
    const fakeAccounts = await fake('/accounts');
    for (const a of accounts) {
      await api('POST', `/v1/financial_connections/accounts/${a.id}/refresh`, [
        ['features[]', 'balance'], ['features[]', 'transactions'],
      ]);
    }
    for (const a of accounts) {
      const acct = await eventually(async () => {
        const x = await api('GET', `/v1/financial_connections/accounts/${a.id}`);
        return x.transaction_refresh?.status === 'succeeded' && x.balance_refresh?.status === 'succeeded' ? x : null;
      }, { timeout: 30_000 });
      const f = fakeAccounts.find((x) => x.iban.endsWith(a.last4) && x.name === a.display_name);
      assert.ok(f, `the fake's ${a.display_name}`);
      assert.equal(acct.balance.current.eur, f.booked, `${a.display_name}: current balance`);
      const txns = await allTransactions(a.id);
      const since = new Date(Date.now() - 180 * 86_400_000).toISOString().slice(0, 10);
      const want = f.transactions.filter((t) => (t.booking_date ?? t.transaction_date) >= since);
      assert.equal(txns.length, want.length, `${a.display_name}: every transaction of every page`);
      const sum = (xs, k) => xs.reduce((s, t) => s + t[k], 0);
      assert.equal(sum(txns, 'amount'), sum(want, 'amount'), `${a.display_name}: to the cent`);
      assert.equal(txns.filter((t) => t.status === 'pending').length, want.filter((t) => t.status === 'PDNG').length);
    }

    // The consent ends at the bank: the next refresh deactivates both accounts, with events.
    const sessions = await fake('/sessions');
    const bankSession = sessions.find((s) => fakeAccounts.some((f) => s.accounts.includes(f.uid) && f.iban.endsWith(accounts[0].last4)));
    await fake(`/sessions/${bankSession.id}/expire`, { method: 'POST' });
    // (Ownership: not refreshed yet, so no cooldown stands in the way of this refresh.)
    await api('POST', `/v1/financial_connections/accounts/${accounts[0].id}/refresh`, [['features[]', 'ownership']]);
    await eventually(async () => {
      const xs = await Promise.all(accounts.map((a) => api('GET', `/v1/financial_connections/accounts/${a.id}`)));
      return xs.every((x) => x.status === 'inactive') ? xs : null;
    }, { timeout: 30_000 });
    const events = await api('GET', '/v1/events?type=financial_connections.account.deactivated&limit=100');
    for (const a of accounts) {
      assert.ok(events.data.some((e) => e.data.object.id === a.id), `a deactivated event for ${a.display_name}`);
    }
    const inactive = await api('GET', `/v1/financial_connections/accounts/${accounts[1].id}`);
    assert.equal(inactive.status_details.inactive.action, 'relink_required');

    // Every request finconn sent the bank API carried a valid JWT of the application.
    const log = await fake('/requests');
    const calls = log.filter((e) => e.jwt_valid !== null);
    assert.ok(calls.length > 5, JSON.stringify(log));
    assert.deepEqual(calls.filter((e) => !e.jwt_valid), []);
  } finally {
    await context.close();
  }
});

test('live PSD2: a denied authorization says so next to a retry, and the retry links', async () => {
  const session = await createSession(LIVE, { permissions: ['balances'], extra: [['filters[countries][]', 'FI']] });
  const { context, page } = await openMerchant(b.browser, LIVE);
  try {
    const frame = await launchModal(page, session.client_secret, 'live-psd2-denied');
    await toBank(frame);
    await atTheBank(context, frame, 'live-psd2-denied', 'Deny');
    const error = frame.getByTestId('oauth-error');
    await error.waitFor({ state: 'visible' });
    await snap(frame, 'live-psd2-denied');
    assert.match(await error.textContent(), /You did not authorize access at Nordea/);
    assert.equal(await error.getAttribute('role'), 'alert');
    const retry = frame.getByTestId('oauth-continue');
    assert.equal((await retry.textContent()).trim(), 'Try again');
    await axeClean(page, 'PSD2 denied');
    await atTheBank(context, frame, 'live-psd2-retry', 'Approve');
    await pane(frame, 'accounts');
    await frame.getByTestId('account-Käyttötili').check();
    await frame.getByRole('button', { name: 'Connect accounts' }).click();
    const outcome = await done(page, frame);
    assert.ok(outcome.result.financialConnectionsSession.accounts.length >= 1);
  } finally {
    await context.close();
  }
});
