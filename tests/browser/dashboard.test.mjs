// The merchant dashboard (/dashboard): sign in with a secret key, sessions, an account with its balance
// chart and transactions, a refresh pressed in the page, webhook attempts and Resend, the request log, test
// clocks, institutions; a cross-site form refused; axe-core on every page; a screenshot of each page. Then a
// one-time sign-in link printed by `finconn dashboard-link` (run.sh gives the binary and the database as
// CLI_BIN and CLI_DATABASE_URL): it signs in once, and Sign out makes a copied cookie useless.
// Every request stays on 127.0.0.1 (finconn, the merchant stand-in, and two webhook receivers started here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  DESKTOP, FINCONN_URL, MERCHANT_URL, PHONE, axePage, createSession, eventually, newKeys, shot, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

/** A webhook receiver on 127.0.0.1 answering `status`; records the event ids it was sent. */
function receiver(status) {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try { got.push(JSON.parse(body).id); } catch { got.push(null); }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 400 ? 'receiver says no' : 'ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    // close() alone waits for idle keep-alive connections, and finconn's webhook retries keep reusing
    // them: the file would never end. Cut them.
    const close = () => { server.close(); server.closeAllConnections(); };
    resolve({ url: `http://127.0.0.1:${server.address().port}/hooks`, got, close });
  }));
}

async function api(keys, method, path, pairs, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${keys.sk}`, ...headers } };
  if (pairs) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(pairs).toString();
  }
  const res = await fetch(FINCONN_URL + path, init);
  return { status: res.status, requestId: res.headers.get('request-id'), body: await res.json() };
}

/** The whole page fits the viewport's width (tables scroll inside their own box). */
async function assertNoSidewaysScroll(page, label) {
  const { scroll, width, wide } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
    // The elements that stick out, to say what to fix.
    wide: [...document.querySelectorAll('main *, header *, nav *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
  }));
  assert.ok(scroll <= width + 1, `${label}: the page scrolls sideways (${scroll} > ${width}): ${wide.join(', ')}`);
}

/** Screenshot and axe-core for a dashboard page, at the current viewport. */
async function check(page, name) {
  await page.locator('h1').first().waitFor();
  await assertNoSidewaysScroll(page, name);
  await axePage(page, name);
  await shot(page, `dashboard-${name}`);
}

/**
 * A screenshot for the README (docs/screenshots/ holds a copy of some): the 1280×800 viewport, not the
 * whole page, from the top or from `from` (a locator) scrolled to the top; written to
 * artifacts/browser/readme-<name>.png like every other screenshot.
 */
async function readmeShot(page, name, from) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 800 });
  if (from) await from.evaluate((e) => e.scrollIntoView({ block: 'start' }));
  else await page.evaluate(() => window.scrollTo(0, 0));
  const dir = process.env.ARTIFACTS_DIR;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `readme-${name}.png`), animations: 'disabled' });
  await page.setViewportSize(size);
}

let failing;
let working;
before(async () => {
  failing = await receiver(500);
  working = await receiver(200);
});
after(() => {
  failing?.close();
  working?.close();
});

test('dashboard: sign in, sessions, an account refreshed from the page, webhooks and Resend, the request log', async () => {
  const keys = newKeys();
  // The merchant's server: a failing endpoint that wants every event, a working one that wants none of
  // these (it gets an event only when Resend sends it there).
  const bad = await api(keys, 'POST', '/v1/webhook_endpoints', [['url', failing.url], ['enabled_events[]', '*']]);
  assert.equal(bad.status, 200, JSON.stringify(bad.body));
  const good = await api(keys, 'POST', '/v1/webhook_endpoints',
    [['url', working.url], ['enabled_events[]', 'financial_connections.account.disconnected']]);
  assert.equal(good.status, 200, JSON.stringify(good.body));

  const context = await b.browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15_000);
  const external = [];
  context.on('request', (r) => {
    const host = new URL(r.url()).hostname;
    if (!['127.0.0.1', 'localhost'].includes(host) && !r.url().startsWith('data:')) external.push(r.url());
  });
  const problems = [];
  context.on('weberror', (e) => problems.push(e.error().message));
  const page = await context.newPage();
  try {
    // Signed out: the dashboard sends to the sign-in page.
    await page.goto(`${FINCONN_URL}/dashboard/sessions`);
    assert.match(page.url(), /\/dashboard\/login\?next=/);
    await check(page, '01-login');
    await readmeShot(page, 'sign-in');
    // A publishable key is refused next to the field.
    await page.getByLabel('Secret key').fill(keys.pk);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').textContent(), /publishable key/);
    assert.equal(await page.getByLabel('Secret key').getAttribute('aria-invalid'), 'true');
    await check(page, '02-login-error');
    await page.getByLabel('Secret key').fill(keys.sk);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/dashboard\/sessions$/);
    assert.match(await page.getByTestId('mode').textContent(), /Test mode/);
    const cookies = await context.cookies(`${FINCONN_URL}/dashboard/sessions`);
    const session = cookies.find((c) => c.name === 'finconn_dashboard');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
    assert.ok(!cookies.some((c) => c.value.includes(keys.sk.slice(8))), 'the key is in a cookie');

    // A session created through the API appears, newest first (after a few others, one completed).
    for (let i = 0; i < 4; i++) {
      const other = await createSession(keys, { permissions: ['balances'] });
      if (i === 1) {
        await api(keys, 'POST', `/v1/test_helpers/financial_connections/sessions/${other.id}/complete`,
          [['institution', 'fcinst_TestInstitution'], ['accounts[]', 'Savings']]);
      }
    }
    const fcs = await createSession(keys, { permissions: ['balances', 'transactions', 'ownership'] });
    await page.reload();
    const firstRow = page.getByTestId('sessions').locator('tbody tr').first();
    assert.match(await firstRow.textContent(), new RegExp(fcs.id));
    await check(page, '03-sessions');
    await readmeShot(page, 'sessions');
    // Search by id opens it.
    await page.getByLabel('Session id').fill(fcs.id);
    await page.getByLabel('Session id').press('Enter');
    await page.waitForURL(new RegExp(`/dashboard/sessions/${fcs.id}$`));
    assert.match(await page.getByTestId('json').textContent(), new RegExp(`"id": "${fcs.id}"`));
    await check(page, '04-session-open');

    // Test mode: link sandbox accounts without the modal.
    await page.getByLabel('Institution').selectOption('fcinst_TestInstitution');
    await page.getByRole('button', { name: 'Link accounts' }).click();
    await page.getByTestId('flash').waitFor();
    assert.match(await page.getByTestId('flash').textContent(), /Linked \d+ sandbox account/);
    const accountLinks = page.getByTestId('session-accounts').getByRole('link');
    assert.ok(await accountLinks.count() >= 1);
    await check(page, '05-session-completed');

    // The "Success" account: refresh balance and transactions from the page; the page follows the state.
    await page.getByTestId('session-accounts').getByRole('link', { name: 'Success' }).click();
    await page.waitForURL(/\/dashboard\/accounts\/fca_/);
    const accountId = page.url().split('/').pop();
    assert.match(await page.getByTestId('balance').textContent(), /No balance yet/);
    await page.getByRole('button', { name: 'Refresh balance' }).click();
    await page.getByTestId('flash').waitFor();
    assert.match(await page.getByTestId('flash').textContent(), /Refresh requested/);
    // The page reloads itself while the refresh runs; the job runner finishes it.
    await eventually(async () => /succeeded/.test(await page.getByTestId('refresh-balance').textContent()),
      { timeout: 15_000, interval: 250 });
    await page.getByTestId('balance-chart').waitFor();
    assert.equal(await page.getByTestId('balance-chart').getAttribute('data-points'), '1');
    await page.getByRole('button', { name: 'Refresh transactions' }).click();
    await page.getByTestId('flash').waitFor();
    await eventually(async () => /succeeded/.test(await page.getByTestId('refresh-transactions').textContent()),
      { timeout: 15_000, interval: 250 });
    await page.getByTestId('transactions').waitFor();
    const txnRows = await page.getByTestId('transactions').locator('tbody tr').count();
    assert.ok(txnRows > 0, 'transactions are listed');
    await check(page, '06-account');
    // Search on the description narrows the table.
    const firstDescription = (await page.getByTestId('transactions').locator('tbody tr td').nth(1).textContent()).trim();
    await page.getByLabel('Description contains').fill(firstDescription);
    await page.getByLabel('Description contains').press('Enter');
    await page.waitForURL(/q=/);
    const narrowed = page.getByTestId('transactions').locator('tbody tr');
    for (const row of await narrowed.all()) assert.ok((await row.textContent()).includes(firstDescription));
    // At phone width the account page still fits (the tables scroll inside their box).
    await page.setViewportSize(PHONE);
    await page.goto(`${FINCONN_URL}/dashboard/accounts/${accountId}`);
    await check(page, '07-account-phone');
    await page.setViewportSize(DESKTOP);

    // Accounts list with a status filter.
    await page.goto(`${FINCONN_URL}/dashboard/accounts?status=active`);
    assert.match(await page.getByTestId('accounts').textContent(), new RegExp(accountId));
    await check(page, '08-accounts');

    // Events: the refresh's event, filtered by type, with its JSON.
    await page.goto(`${FINCONN_URL}/dashboard/events`);
    await page.getByLabel('Type').selectOption('financial_connections.account.refreshed_balance');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/type=financial_connections.account.refreshed_balance/);
    const eventLink = page.getByTestId('events').locator('tbody tr a').first();
    const eventId = (await eventLink.textContent()).trim();
    await check(page, '09-events');
    await eventLink.click();
    await page.waitForURL(new RegExp(`/dashboard/events/${eventId}$`));
    assert.match(await page.getByTestId('json').textContent(), /"type": "financial_connections.account.refreshed_balance"/);
    await check(page, '10-event');

    // The failing endpoint shows its attempts (HTTP 500, latency).
    await eventually(async () => failing.got.includes(eventId), { timeout: 15_000 });
    await page.goto(`${FINCONN_URL}/dashboard/webhooks/${bad.body.id}`);
    await eventually(async () => {
      await page.reload();
      return (await page.getByTestId('attempt').count()) > 0;
    }, { timeout: 15_000, interval: 500 });
    const attempt = page.getByTestId('attempt').filter({ hasText: eventId }).first();
    assert.match(await attempt.textContent(), /HTTP 500/);
    assert.match(await attempt.textContent(), /\d+ ms/);
    await check(page, '11-webhook-failing');
    await readmeShot(page, 'webhook-attempts');
    assert.equal(working.got.length, 0, 'the working endpoint wants none of these events');

    // Resend the event to the working endpoint: it arrives there.
    await page.goto(`${FINCONN_URL}/dashboard/events/${eventId}`);
    await page.getByLabel('Webhook endpoint').selectOption(good.body.id);
    await page.getByRole('button', { name: 'Resend' }).click();
    await page.waitForURL(new RegExp(`/dashboard/webhooks/${good.body.id}$`));
    assert.match(await page.getByTestId('flash').textContent(), /being sent again/);
    await eventually(async () => working.got.includes(eventId), { timeout: 15_000 });
    await eventually(async () => {
      await page.reload();
      return (await page.locator('[data-testid=attempt][data-ok=true]').count()) > 0;
    }, { timeout: 15_000, interval: 500 });
    await check(page, '12-webhook-resent');
    await page.goto(`${FINCONN_URL}/dashboard/webhooks`);
    await check(page, '13-webhooks');

    // The request log finds an API request by its Request-Id.
    const refused = await api(keys, 'POST', '/v1/financial_connections/sessions',
      [['account_holder[type]', 'customer'], ['permissions[]', 'balances']], { 'Idempotency-Key': `dash-${Date.now()}` });
    assert.equal(refused.status, 400);
    await page.goto(`${FINCONN_URL}/dashboard/logs`);
    await eventually(async () => {
      await page.getByLabel('Request id').fill(refused.requestId);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.waitForLoadState();
      return (await page.getByTestId('request-row').count()) === 1;
    }, { timeout: 10_000, interval: 300 });
    const row = await page.getByTestId('request-row').textContent();
    for (const text of [refused.requestId, '/v1/financial_connections/sessions', '400', 'invalid_request_error']) {
      assert.ok(row.includes(text), `${text} missing from ${row}`);
    }
    await check(page, '14-request-log');
    await readmeShot(page, 'request-log');

    // Test clocks: create one; it is listed.
    await page.goto(`${FINCONN_URL}/dashboard/test-clocks`);
    await page.getByLabel('Name (optional)').fill('Month end');
    await page.getByRole('button', { name: 'Create test clock' }).click();
    await page.getByTestId('flash').waitFor();
    assert.match(await page.getByTestId('test-clocks').textContent(), /Month end/);
    await check(page, '15-test-clocks');
    await page.goto(`${FINCONN_URL}/dashboard/institutions`);
    assert.match(await page.getByTestId('institutions').textContent(), /Test Institution/);
    await check(page, '16-institutions');

    // Keyboard: the first Tab reaches "Skip to content", and focus is visible.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');

    // A form posted from another site (the merchant stand-in's origin) is refused; nothing changes.
    const cross = await context.newPage();
    await cross.goto(`${MERCHANT_URL}/checkout?pk=${encodeURIComponent(keys.pk)}`);
    const [response] = await Promise.all([
      cross.waitForResponse((r) => r.url().endsWith(`/dashboard/accounts/${accountId}/disconnect`)),
      cross.evaluate(({ url }) => {
        const f = document.createElement('form');
        f.method = 'POST';
        f.action = url;
        const i = document.createElement('input');
        i.name = 'csrf';
        i.value = 'guessed';
        f.appendChild(i);
        document.body.appendChild(f);
        f.submit();
      }, { url: `${FINCONN_URL}/dashboard/accounts/${accountId}/disconnect` }),
    ]);
    assert.equal(response.status(), 403);
    await cross.close();
    const still = await api(keys, 'GET', `/v1/financial_connections/accounts/${accountId}`);
    assert.equal(still.body.status, 'active', 'the cross-site form changed nothing');

    // Sign out.
    await page.goto(`${FINCONN_URL}/dashboard/sessions`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/dashboard\/login\?signed_out=1/);
    await page.goto(`${FINCONN_URL}/dashboard/sessions`);
    assert.match(page.url(), /\/dashboard\/login/);

    assert.deepEqual(external, [], 'the dashboard made requests outside 127.0.0.1');
    assert.deepEqual(problems, [], 'page errors');
  } finally {
    await context.close();
  }
});

/** Runs the finconn binary on the served database, as an operator would beside `finconn serve`. */
function finconn(args) {
  const bin = process.env.CLI_BIN;
  const db = process.env.CLI_DATABASE_URL;
  assert.ok(bin && db, 'run.sh sets CLI_BIN and CLI_DATABASE_URL');
  // A clean environment: only what the command needs (the served URL, for the link it prints).
  return execFileSync(bin, [...args, '--database', db], {
    env: { PATH: process.env.PATH, FINCONN_PUBLIC_URL: FINCONN_URL },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('dashboard: a link printed by `finconn dashboard-link` signs in once; Sign out ends the session', async () => {
  // A registered account (`finconn keys create`), with a session to show.
  const created = finconn(['keys', 'create', '--name', 'Link Shop']);
  const field = (name) => created.split('\n').find((l) => l.startsWith(name)).slice(name.length).trim();
  const account = field('account:');
  const keys = { sk: field('secret key:'), pk: field('publishable key:') };
  if (process.env.KEYS_FILE) fs.appendFileSync(process.env.KEYS_FILE, `${keys.sk}\n${keys.pk}\n`);
  const fcs = await createSession(keys, { permissions: ['balances'] });

  const url = finconn(['dashboard-link', '--account', account]).trim();
  assert.ok(url.startsWith(`${FINCONN_URL}/dashboard/link/`), url);
  // The token must appear nowhere in finconn's log: run.sh checks the log for every line of KEYS_FILE
  // (SECRETS_FILE is for client secrets, whose session ids it also expects to find there).
  if (process.env.KEYS_FILE) fs.appendFileSync(process.env.KEYS_FILE, url.split('/').pop() + '\n');

  const context = await b.browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15_000);
  const problems = [];
  context.on('weberror', (e) => problems.push(e.error().message));
  const page = await context.newPage();
  const replay = await b.browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
  try {
    const opened = await page.goto(url);
    assert.equal(opened.status(), 200);
    assert.equal(await page.getByTestId('link-account').textContent(), account);
    assert.equal(await page.getByTestId('link-mode').textContent(), 'test mode');
    assert.ok(!(await context.cookies(FINCONN_URL)).some((c) => c.name === 'finconn_dashboard'),
      'opening the link signs no one in');
    await check(page, '17-link');
    await readmeShot(page, 'sign-in-link');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/dashboard\/sessions$/);
    assert.match(await page.getByTestId('mode').textContent(), /Test mode/);
    assert.match(await page.getByTestId('sessions').textContent(), new RegExp(fcs.id));
    assert.match(await page.locator('.account-id').textContent(), new RegExp(account));

    // The link was used: opened again (here, or anywhere), it says so and offers the sign-in page.
    const again = await replay.newPage();
    const used = await again.goto(url);
    assert.equal(used.status(), 410);
    assert.match(await again.getByTestId('link-gone').textContent(), /used already, has expired, or does not exist/);
    await check(again, '18-link-used');
    await again.getByTestId('link-login').click();
    await again.waitForURL(/\/dashboard\/login$/);

    // Someone copies the cookie; after Sign out it opens nothing.
    const stolen = await context.cookies(FINCONN_URL);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/dashboard\/login\?signed_out=1/);
    await replay.addCookies(stolen);
    await again.goto(`${FINCONN_URL}/dashboard/sessions`);
    assert.match(again.url(), /\/dashboard\/login\?next=/, 'the copied cookie still opened the dashboard');
    assert.deepEqual(problems, [], 'page errors');
  } finally {
    await replay.close();
    await context.close();
  }
});

test('dashboard: a week of balance refreshes on a test clock draws the chart', async () => {
  const keys = newKeys();
  const call = async (method, urlPath, pairs) => {
    const r = await api(keys, method, urlPath, pairs);
    assert.equal(r.status, 200, `${method} ${urlPath}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  // The customer lives on a test clock a week back: each refresh is stamped with the clock's day.
  const start = Math.floor(Date.now() / 1000) - 7 * 86_400;
  const clock = await call('POST', '/v1/test_helpers/test_clocks', [['frozen_time', String(start)], ['name', 'Balance week']]);
  const customer = await call('POST', '/v1/customers', [['email', 'jenny.rosen@example.com'], ['test_clock', clock.id]]);
  const session = await call('POST', '/v1/financial_connections/sessions', [
    ['account_holder[type]', 'customer'], ['account_holder[customer]', customer.id],
    ['permissions[]', 'balances'], ['permissions[]', 'transactions'],
  ]);
  fs.appendFileSync(process.env.SECRETS_FILE, session.client_secret + '\n');
  const done = await call('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`,
    [['institution', 'fcinst_TestInstitution'], ['accounts[]', 'Success']]);
  const account = done.accounts.data[0].id;
  const balances = [482015, 455320, 471880, 430512, 518734, 497102, 523990];
  for (const [day, current] of balances.entries()) {
    await call('POST', `/v1/test_helpers/financial_connections/accounts/${account}/balance`, [['current', String(current)]]);
    const asked = await call('POST', `/v1/financial_connections/accounts/${account}/refresh`, [['features[]', 'balance']]);
    assert.equal(asked.balance_refresh.status, 'pending');
    await eventually(async () => (await call('GET', `/v1/financial_connections/accounts/${account}`))
      .balance_refresh.status === 'succeeded', { timeout: 15_000, interval: 200 });
    if (day + 1 < balances.length) {
      await call('POST', `/v1/test_helpers/test_clocks/${clock.id}/advance`, [['frozen_time', String(start + (day + 1) * 86_400)]]);
      await eventually(async () => (await call('GET', `/v1/test_helpers/test_clocks/${clock.id}`)).status === 'ready',
        { timeout: 15_000, interval: 200 });
    }
  }

  const context = await b.browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  try {
    await page.goto(`${FINCONN_URL}/dashboard/login`);
    await page.getByLabel('Secret key').fill(keys.sk);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/dashboard\/sessions$/);
    await page.goto(`${FINCONN_URL}/dashboard/accounts/${account}`);
    assert.equal(await page.getByTestId('balance-chart').getAttribute('data-points'), String(balances.length));
    assert.match(await page.getByTestId('balance').textContent(), /5,239\.90/);
    await check(page, '19-account-chart');
    await readmeShot(page, 'account', page.getByRole('heading', { name: 'Refreshes', exact: true }));
  } finally {
    await context.close();
  }
});
