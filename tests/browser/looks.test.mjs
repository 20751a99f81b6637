// The modal as people meet it: every pane axe-clean in light and dark mode, at 360 px and 1280 px; the
// whole flow done with the keyboard alone; banks without a logo shown by their initials; a progress bar;
// no animation when the user asks for reduced motion. Screenshots of each pane in each mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axeClean, createSession, done, launchModal, merchantOutcome, newKeys, pane, snap, useBrowser, MERCHANT_URL,
} from './lib/harness.mjs';

const b = useBrowser();

async function open(keys, { width, height, colorScheme, reducedMotion = 'no-preference' }) {
  const context = await b.browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, colorScheme, reducedMotion });
  context.setDefaultTimeout(15_000);
  const problems = [];
  context.on('weberror', (e) => problems.push(e.error().message));
  const page = await context.newPage();
  await page.goto(`${MERCHANT_URL}/checkout?pk=${encodeURIComponent(keys.pk)}`);
  return { context, page, problems };
}

for (const [label, size, colorScheme] of [
  ['light 1280', { width: 1280, height: 900 }, 'light'],
  ['dark 1280', { width: 1280, height: 900 }, 'dark'],
  ['light 360', { width: 360, height: 740 }, 'light'],
  ['dark 360', { width: 360, height: 740 }, 'dark'],
]) {
  test(`every pane passes axe-core, ${label}`, async () => {
    const keys = newKeys();
    const session = await createSession(keys, { extra: [['manual_entry[mode]', 'automatic']] });
    const { context, page, problems } = await open(keys, { ...size, colorScheme });
    const shots = `looks-${label.replace(' ', '-')}`;
    try {
      const frame = await launchModal(page, session.client_secret, shots);
      await pane(frame, 'consent');
      await axeClean(page, `consent (${label})`);
      const bg = await frame.locator('body').evaluate((el) => getComputedStyle(el).backgroundColor);
      const dark = /rgb\((\d+), (\d+), (\d+)\)/.exec(bg).slice(1).map(Number).reduce((a, c) => a + c, 0) < 200;
      assert.equal(dark, colorScheme === 'dark', `the frame follows prefers-color-scheme (${bg})`);
      await frame.getByRole('button', { name: 'Agree' }).click();
      await pane(frame, 'institutions');
      // Banks without a logo: initials on a colour of their own.
      const initials = frame.locator('[data-testid="institution-fcinst_TestInstitution"] .initials');
      assert.equal((await initials.textContent()).trim(), 'TI');
      await axeClean(page, `institutions (${label})`);
      await frame.getByTestId('institution-fcinst_SandboxBankNonOAuth').click();
      await pane(frame, 'login');
      await axeClean(page, `login (${label})`);
      await frame.getByLabel('Username').fill('jenny');
      await frame.getByLabel('Password').fill('incorrect');
      await frame.getByRole('button', { name: 'Sign in' }).click();
      await frame.getByTestId('login-error').waitFor();
      await snap(frame, 'login-error');
      await axeClean(page, `login with an error (${label})`);
      await frame.getByLabel('Password').fill('security_question');
      await frame.getByRole('button', { name: 'Sign in' }).click();
      await pane(frame, 'challenge');
      await axeClean(page, `challenge (${label})`);
      await frame.getByLabel(/favorite color/).fill('blue');
      await frame.getByRole('button', { name: /Continue|Submit|Verify/ }).click();
      await pane(frame, 'accounts');
      await axeClean(page, `accounts (${label})`);
      await frame.getByRole('button', { name: 'Connect accounts' }).click();
      await pane(frame, 'success');
      await axeClean(page, `success (${label})`);
      const progress = frame.getByTestId('progress');
      assert.equal(await progress.getAttribute('aria-valuenow'), '5');
      await done(page, frame);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test('the whole flow with the keyboard alone', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await open(keys, { width: 1280, height: 900, colorScheme: 'light' });
  try {
    const frame = await launchModal(page, session.client_secret, 'keyboard');
    const active = () => frame.locator(':focus').evaluate((el) => `${el.tagName.toLowerCase()}|${el.getAttribute('data-testid') || ''}|${(el.textContent || '').trim().slice(0, 40)}`);
    /** Presses Tab until the focused element matches, at most 40 times. */
    async function tabTo(re) {
      for (let i = 0; i < 40; i++) {
        const now = await active().catch(() => '');
        if (re.test(now)) return;
        await page.keyboard.press('Tab');
      }
      assert.fail(`Tab never reached ${re} (last: ${await active().catch(() => '?')})`);
    }
    await pane(frame, 'consent');
    await tabTo(/^button\|consent-agree|^button\|[^|]*\|Agree/);
    await page.keyboard.press('Enter');
    await pane(frame, 'institutions');
    await tabTo(/institution-fcinst_TestInstitution/);
    await page.keyboard.press('Enter');
    await pane(frame, 'accounts');
    // Untick all with the keyboard (Select all), then tick one.
    await tabTo(/accounts-select-all/);
    await page.keyboard.press('Space');
    await tabTo(/account-Savings/);
    await page.keyboard.press('Space');
    await tabTo(/accounts-submit/);
    await page.keyboard.press('Enter');
    await pane(frame, 'success');
    await tabTo(/\|done\|/);
    await page.keyboard.press('Enter');
    const outcome = await merchantOutcome(page);
    assert.deepEqual(outcome.result.financialConnectionsSession.accounts.map((a) => a.display_name), ['Savings']);
  } finally {
    await context.close();
  }
});

test('reduced motion: the busy spinner does not spin', async () => {
  const keys = newKeys();
  const session = await createSession(keys);
  const { context, page } = await open(keys, { width: 1280, height: 900, colorScheme: 'light', reducedMotion: 'reduce' });
  try {
    const frame = await launchModal(page, session.client_secret);
    await pane(frame, 'consent');
    const name = await frame.locator('body').evaluate(() => {
      const b = document.createElement('button');
      b.setAttribute('aria-busy', 'true');
      document.body.appendChild(b);
      const n = getComputedStyle(b, '::before').animationName;
      b.remove();
      return n;
    });
    assert.equal(name, 'none');
  } finally {
    await context.close();
  }
});
