// Focus in the modal, which is always another origin's iframe: Chromium ignores the `autofocus` attribute
// there ("Blocked autofocusing on a form control in a cross-origin subframe"), so every pane moves focus
// from script, to its first field or its heading. This walks a whole flow on the merchant's page and
// checks, after every step, where focus is, that the frame holds it, and that Chromium never complained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agree, chooseAccounts, createSession, done, launchModal, login, modalFrame, newKeys, openMerchant, pane,
  pickInstitution, useBrowser,
} from './lib/harness.mjs';

const b = useBrowser();

/** What has focus inside the modal's frame (and whether the frame itself holds the page's focus). */
async function focused(page) {
  return modalFrame(page).evaluate(() => ({
    tag: document.activeElement.tagName.toLowerCase(),
    testid: document.activeElement.getAttribute('data-testid'),
    text: (document.activeElement.textContent || '').trim().slice(0, 60),
    frameHasFocus: document.hasFocus(),
  }));
}

async function expectFocus(page, want, step) {
  // Focus moves right after the pane renders; give the frame a moment.
  for (let i = 0; i < 50; i++) {
    const f = await focused(page);
    if (Object.entries(want).every(([k, v]) => (v instanceof RegExp ? v.test(f[k]) : f[k] === v))) return f;
    await new Promise((r) => setTimeout(r, 50));
  }
  const f = await focused(page);
  assert.fail(`${step}: focus is on ${JSON.stringify(f)}, expected ${want}`);
}

test('focus lands on each pane\'s heading or first field, in a cross-origin frame, with no blocked autofocus', async () => {
  const keys = newKeys();
  const session = await createSession(keys, { permissions: ['balances'] });
  const { context, page, consoleAll, problems } = await openMerchant(b.browser, keys);
  try {
    const frame = await launchModal(page, session.client_secret);
    await pane(frame, 'consent');
    await expectFocus(page, { tag: 'h1', frameHasFocus: true }, 'consent');
    await agree(frame);
    await expectFocus(page, { tag: 'h1', text: /Select your bank/, frameHasFocus: true }, 'institutions');
    // A search keeps focus in the search box (the user is typing).
    await frame.getByLabel('Search for your bank').fill('sandbox');
    await frame.getByTestId('institution-results').waitFor({ state: 'visible' });
    await expectFocus(page, { testid: 'institution-search' }, 'search');
    await pickInstitution(frame, 'fcinst_SandboxBankNonOAuth');
    await pane(frame, 'login');
    await expectFocus(page, { testid: 'login-username', frameHasFocus: true }, 'login');
    // A wrong password: the error is announced and focus moves to the field to correct, the username kept.
    await login(frame, 'jenny', 'incorrect');
    await frame.getByTestId('login-error').waitFor({ state: 'visible' });
    await expectFocus(page, { testid: 'login-password', frameHasFocus: true }, 'login error');
    assert.equal(await frame.getByLabel('Username').inputValue(), 'jenny', 'the username is kept');
    assert.equal(await frame.getByLabel('Password').inputValue(), '', 'the password is not');
    await frame.getByLabel('Password').fill('pw');
    await frame.getByRole('button', { name: 'Sign in' }).click();
    await pane(frame, 'accounts');
    await expectFocus(page, { tag: 'h1', text: /Select accounts/ }, 'accounts');
    await chooseAccounts(frame, ['Success']);
    await pane(frame, 'success');
    await expectFocus(page, { testid: 'done', frameHasFocus: true }, 'success');
    await done(page, frame);
    assert.deepEqual(consoleAll.filter((m) => /autofocus/i.test(m)), [], 'no blocked autofocus');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
