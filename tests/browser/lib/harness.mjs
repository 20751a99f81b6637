// Shared helpers for the browser tests: the browser, the merchant's backend calls, the modal, screenshots.
//
// run.sh sets: FINCONN_URL, MERCHANT_URL, SECRETS_FILE (every client secret created is appended there, so
// run.sh can check that none reaches finconn's log), ARTIFACTS_DIR (screenshots), CHROMIUM (executable).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHROMIUM, launchBrowser } from './launch.mjs';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests with tests/browser/run.sh`);
  return v;
}

export const FINCONN_URL = env('FINCONN_URL');
export const MERCHANT_URL = env('MERCHANT_URL');
const SECRETS_FILE = env('SECRETS_FILE');
const ARTIFACTS_DIR = env('ARTIFACTS_DIR');
const KEYS_FILE = process.env.KEYS_FILE;

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };
const TIMEOUT = 10_000;

/** One browser per test file, launched before its tests; a failure to launch fails loudly. */
export function useBrowser() {
  const holder = { browser: null };
  before(async () => {
    try {
      holder.browser = await launchBrowser();
    } catch (e) {
      throw new Error(`chromium (${CHROMIUM}) did not start: ${e.message}`);
    }
  });
  after(async () => {
    if (holder.browser) await holder.browser.close();
  });
  return holder;
}

// --- the merchant's backend: finconn's REST API with a secret key ------------------------------------

/**
 * A fresh sandbox tenant per test: `sk_test_<random>` and its publishable key, derived one way from it
 * (`pk_test_` + the first 32 hex digits of its SHA-256), which exists once the secret key was used.
 */
export function newKeys() {
  const sk = `sk_test_browser${crypto.randomBytes(9).toString('hex')}`;
  const pk = `pk_test_${crypto.createHash('sha256').update(sk).digest('hex').slice(0, 32)}`;
  if (KEYS_FILE) fs.appendFileSync(KEYS_FILE, `${sk}\n${pk}\n`);
  return { sk, pk };
}

async function api(sk, method, urlPath, pairs) {
  const init = {
    method,
    headers: { Authorization: 'Basic ' + Buffer.from(`${sk}:`).toString('base64') },
  };
  if (pairs) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(pairs).toString();
  }
  const res = await fetch(FINCONN_URL + urlPath, init);
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${urlPath} → ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * Creates a customer and a Financial Connections Session for it. `extra` are form pairs, e.g.
 * [['filters[account_subcategories][]', 'checking'], ['limits[accounts]', '1']]. Records the client secret.
 */
export async function createSession(keys, { permissions = ['balances'], extra = [] } = {}) {
  const customer = await api(keys.sk, 'POST', '/v1/customers', [['email', 'jenny.rosen@example.com']]);
  const pairs = [
    ['account_holder[type]', 'customer'],
    ['account_holder[customer]', customer.id],
    ...permissions.map((p) => ['permissions[]', p]),
    ...extra,
  ];
  const session = await api(keys.sk, 'POST', '/v1/financial_connections/sessions', pairs);
  assert.match(session.client_secret, /^fcsess_\w+_secret_\w+$/);
  fs.appendFileSync(SECRETS_FILE, session.client_secret + '\n');
  // Retrieve it once: this also puts the session id in finconn's log (the request path), which run.sh
  // uses as a positive control that it searched the right log for the client secret.
  const again = await getSession(keys, session.id);
  assert.equal(again.client_secret, session.client_secret);
  return session;
}

export function getSession(keys, id) {
  return api(keys.sk, 'GET', `/v1/financial_connections/sessions/${id}`);
}

// --- the browser side --------------------------------------------------------------------------------

/**
 * A new context and page on the merchant's site, at `viewport`. Records every URL the browser requests (all
 * pages and popups) so a test can check that the client secret never travels in one.
 */
export async function openMerchant(browser, keys, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  context.setDefaultTimeout(TIMEOUT);
  const urls = [];
  const problems = []; // uncaught exceptions in any page or frame
  const consoleErrors = []; // console errors, for tests that check them
  const consoleAll = []; // every console message (any level) of every page and frame
  context.on('request', (r) => urls.push(r.url()));
  context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
  context.on('console', (m) => {
    consoleAll.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  const page = await context.newPage();
  await page.goto(`${MERCHANT_URL}/checkout?pk=${encodeURIComponent(keys.pk)}`);
  assert.notEqual(new URL(MERCHANT_URL).origin, new URL(FINCONN_URL).origin, 'merchant and finconn share an origin');
  return { context, page, urls, problems, consoleErrors, consoleAll };
}

// Each flow launched with a screenshot prefix records every pane it reaches: pane() screenshots it as
// artifacts/browser/<prefix>-<NN>-<pane>.png (once per arrival), snap() adds named in-pane states.
const flows = new WeakMap(); // frame locator → { page, prefix, n, last }

/**
 * Launches the modal for `clientSecret` as the merchant's page would; returns the modal's frame locator.
 * With `shots` (a file-name prefix), every pane the flow reaches is screenshotted.
 */
export async function launchModal(page, clientSecret, shots) {
  await page.evaluate((cs) => window.linkBank(cs), clientSecret);
  await page.locator('[data-finconn-modal]').waitFor({ state: 'visible' });
  const frameEl = page.locator('[data-finconn-modal] iframe[data-finconn-frame]');
  const src = await frameEl.getAttribute('src');
  assert.equal(new URL(src).origin, new URL(FINCONN_URL).origin, 'the modal frame is finconn’s origin');
  assert.equal(new URL(src).pathname, '/link/frame');
  assert.ok(!src.includes(clientSecret), 'the client secret is not in the frame URL');
  const frame = page.frameLocator('[data-finconn-frame]');
  if (shots) flows.set(frame, { page, prefix: shots, n: 0, last: null });
  return frame;
}

/**
 * Screenshots the flow's current state as <prefix>-<NN>-<what>.png (no-op for a flow without prefix); with
 * `other`, that page (e.g. the institution's popup) instead of the merchant's.
 */
export async function snap(frame, what, other) {
  const f = flows.get(frame);
  if (!f) return null;
  f.n += 1;
  if (!other) f.last = what;
  return shot(other || f.page, `${f.prefix}-${String(f.n).padStart(2, '0')}-${what}`);
}

/** The modal's Frame object (for evaluate). */
export function modalFrame(page) {
  const f = page.frames().find((fr) => fr.url().startsWith(FINCONN_URL + '/link/frame'));
  assert.ok(f, 'the modal frame exists');
  return f;
}

/**
 * Waits for a pane (data-testid="pane-<name>") to be the visible one, and the flow to be idle. Screenshots
 * it on arrival when the flow records screenshots.
 */
export async function pane(frame, name) {
  const loc = frame.getByTestId(`pane-${name}`);
  await loc.waitFor({ state: 'visible' });
  await frame.locator('#pane:not([aria-busy])').waitFor({ state: 'attached' });
  const f = flows.get(frame);
  if (f && f.last !== name) await snap(frame, name);
  return loc;
}

/** Marks that the flow moved on (so arriving again at the same pane is screenshotted again). */
function moved(frame) {
  const f = flows.get(frame);
  if (f) f.last = null;
}

/**
 * Full-page screenshot into artifacts/browser/<name>.png. When the modal is open, first checks its layout
 * (assertModalFits), so every pane a test passes through is checked at that test's viewport.
 */
export async function shot(page, name) {
  if (await page.locator('[data-finconn-frame]').count()) await assertModalFits(page, name);
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  return file;
}

/**
 * The modal fits the viewport, nothing in it overflows sideways (no horizontal scrolling, no control cut
 * off), and its close button and the pane's heading are on screen.
 */
export async function assertModalFits(page, label = '') {
  const vp = page.viewportSize();
  const box = await page.locator('[data-finconn-frame]').boundingBox();
  assert.ok(box, `${label}: the modal frame has a box`);
  assert.ok(box.x >= -0.5 && box.y >= -0.5 && box.x + box.width <= vp.width + 0.5 &&
    box.y + box.height <= vp.height + 0.5,
  `${label}: the modal frame ${JSON.stringify(box)} fits the ${vp.width}x${vp.height} viewport`);
  const report = await modalFrame(page).evaluate(() => {
    const w = document.documentElement.clientWidth;
    const main = document.getElementById('pane');
    const out = {
      docScroll: document.documentElement.scrollWidth - w,
      mainScroll: main.scrollWidth - main.clientWidth,
      cut: [],
      close: null,
    };
    for (const el of document.querySelectorAll('#pane *, header *')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < -0.5 || r.right > w + 0.5) {
        out.cut.push(`${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ''} ` +
          `${Math.round(r.left)}..${Math.round(r.right)} of ${w}`);
      }
    }
    const c = document.getElementById('close').getBoundingClientRect();
    out.close = { left: c.left, right: c.right, top: c.top, bottom: c.bottom, w, h: window.innerHeight };
    return out;
  });
  assert.ok(report.docScroll <= 0, `${label}: the frame scrolls sideways by ${report.docScroll}px`);
  assert.ok(report.mainScroll <= 0, `${label}: the pane scrolls sideways by ${report.mainScroll}px`);
  assert.deepEqual(report.cut, [], `${label}: elements cut off at the sides`);
  const c = report.close;
  assert.ok(c.left >= 0 && c.right <= c.w && c.top >= 0 && c.bottom <= c.h, `${label}: the close button is on screen`);
}

/** Waits until the merchant's promise settled; returns {result, events, thrown}. */
export async function merchantOutcome(page) {
  await page.waitForFunction(() => window.merchant && window.merchant.done, null, { timeout: TIMEOUT });
  return page.evaluate(() => window.merchant);
}

export async function events(page) {
  return page.evaluate(() => window.merchant.events);
}

/** Polls until `fn` returns truthy (or throws its last assertion). */
export async function eventually(fn, { timeout = TIMEOUT, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false && v !== undefined && v !== null) return v;
      if (Date.now() > deadline) throw new Error('condition not met in time');
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// --- common steps ------------------------------------------------------------------------------------

/** Consent pane → Agree → institutions pane. */
export async function agree(frame) {
  const consent = await pane(frame, 'consent');
  await frame.getByRole('button', { name: 'Agree' }).click();
  await pane(frame, 'institutions');
  return consent;
}

/** On the institutions pane: clicks the featured institution button with that id. */
export async function pickInstitution(frame, id) {
  await frame.getByTestId(`institution-${id}`).click();
  moved(frame);
}

/** Login pane: username and password, Sign in. */
export async function login(frame, username, password) {
  await pane(frame, 'login');
  await frame.getByLabel('Username').fill(username);
  await frame.getByLabel('Password').fill(password);
  await frame.getByRole('button', { name: 'Sign in' }).click();
  moved(frame);
}

/**
 * Accounts pane: chooses exactly the named accounts (by their labels; the eligible ones come pre-selected,
 * as Stripe's, so everything else is unticked first), then Connect accounts.
 */
export async function chooseAccounts(frame, names) {
  for (const box of await frame.locator('input[type=checkbox][name="accounts[]"]').all()) {
    if (await box.isEnabled() && await box.isChecked()) await box.uncheck();
  }
  for (const name of names) await accountCheckbox(frame, name).check();
  await frame.getByRole('button', { name: 'Connect accounts' }).click();
  moved(frame);
}

/** The checkbox labelled with this account name (the label also holds the mask and any reason). */
export function accountCheckbox(frame, name) {
  const label = { name: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ••••`) };
  // A checkbox, or a radio button in a single-account session.
  return frame.getByRole('checkbox', label).or(frame.getByRole('radio', label));
}

/** Success pane → Done; returns the merchant's outcome, and checks the modal is gone. */
export async function done(page, frame) {
  await pane(frame, 'success');
  await frame.getByRole('button', { name: 'Done' }).click();
  const outcome = await merchantOutcome(page);
  assert.equal(await page.locator('[data-finconn-modal]').count(), 0, 'the modal is removed once the promise settles');
  return outcome;
}

/**
 * Checks a completed link: the promise's session and the server's session hold exactly `names` (by
 * display_name), the same account ids, from `institution`.
 */
export async function assertLinked(keys, session, outcome, names, institution) {
  assert.equal(outcome.thrown, null, 'the promise did not reject');
  assert.equal(outcome.result.error, undefined, `no error: ${JSON.stringify(outcome.result.error)}`);
  const fcs = outcome.result.financialConnectionsSession;
  assert.equal(fcs.id, session.id);
  assert.ok(Array.isArray(fcs.accounts), 'accounts is a plain array (Stripe.js shape), not a list object');
  const sorted = (a) => [...a].sort();
  assert.deepEqual(sorted(fcs.accounts.map((a) => a.display_name)), sorted(names), 'promise accounts');
  for (const a of fcs.accounts) {
    assert.equal(a.object, 'financial_connections.account');
    assert.match(a.id, /^fca_/);
    if (institution) assert.equal(a.institution_name, institution);
    assert.equal(a.livemode, false);
  }
  const server = await getSession(keys, session.id);
  assert.equal(server.accounts.object, 'list');
  assert.deepEqual(sorted(server.accounts.data.map((a) => a.display_name)), sorted(names), 'server-side accounts');
  assert.deepEqual(sorted(server.accounts.data.map((a) => a.id)), sorted(fcs.accounts.map((a) => a.id)),
    'the promise and the server name the same account ids');
  return { fcs, server };
}

/** The client secret never appeared in a URL the browser requested. */
export function assertSecretNotInUrls(urls, clientSecret) {
  const leaks = urls.filter((u) => u.includes(clientSecret) || u.includes(clientSecret.split('_secret_')[1]));
  assert.deepEqual(leaks, [], 'no requested URL carries the client secret');
}

// --- accessibility -----------------------------------------------------------------------------------

let axeSource = null;

/**
 * Runs axe-core (npm) in the modal's frame and fails on any violation, listing rule, impact and nodes.
 * `label` names the state checked.
 */
export async function axeClean(page, label) {
  if (!axeSource) {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  const frame = modalFrame(page);
  await frame.evaluate(axeSource);
  const violations = await frame.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  assert.deepEqual(violations, [], `${label}: axe-core violations ${JSON.stringify(violations, null, 2)}`);
}

/** The names of the institution buttons in `list` (their initials badge is decoration, aria-hidden). */
export function institutionNames(list) {
  return list.getByRole('button').evaluateAll((els) => els.map((e) => [...e.childNodes]
    .filter((n) => n.getAttribute?.('aria-hidden') !== 'true').map((n) => n.textContent).join('').trim()));
}

/**
 * Runs axe-core on a whole page (not the modal's frame) and fails on any serious or critical violation,
 * listing rule, impact and nodes. For the dashboard's pages.
 */
export async function axePage(page, label) {
  if (!axeSource) {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  // The page's CSP allows only finconn's own scripts: axe goes in through the DevTools protocol.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  assert.deepEqual(violations, [], `${label}: axe-core violations ${JSON.stringify(violations, null, 2)}`);
}
