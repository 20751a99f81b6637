// The demo merchant page at /demo: what a newcomer opens first. It links through the same modal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, FINCONN_URL, agree, chooseAccounts, eventually, login, pane, pickInstitution, shot, useBrowser } from './lib/harness.mjs';

const holder = useBrowser();

test('the /demo page links a Test Institution account and lists it', async () => {
  const context = await holder.browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${FINCONN_URL}/demo`);
  await shot(page, 'demo-01-page');
  await page.getByRole('button', { name: 'Link your bank account' }).click();
  const frame = await eventually(async () => {
    const f = page.frames().find((fr) => fr.url().startsWith(FINCONN_URL + '/link/frame'));
    assert.ok(f);
    return f;
  });
  await agree(frame);
  await pickInstitution(frame, 'fcinst_TestInstitution');
  await pane(frame, 'accounts');
  await chooseAccounts(frame, ['Success']);
  await pane(frame, 'success');
  await frame.getByRole('button', { name: 'Done' }).click();
  const item = page.getByTestId('demo-accounts').locator('li');
  await eventually(async () => {
    assert.match(await item.first().innerText(), /Test Institution — Success ••••6789 \(fca_/);
    return true;
  });
  await shot(page, 'demo-02-linked');
  assert.deepEqual(errors, []);
  await context.close();
});
