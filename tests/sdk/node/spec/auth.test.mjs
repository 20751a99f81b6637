// API keys: missing, malformed, unknown, publishable.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, makeClient, randomSuffix, raw, expectStripeError, maskKey, TYPES} from '../lib/helpers.mjs';

const NO_KEY =
  'You did not provide an API key. You need to provide your API key in the Authorization header, ' +
  "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See " +
  'https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.';
const PUBLISHABLE =
  'This API call cannot be made with a publishable API key. Please use a secret API key. ' +
  'You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.';

test('no API key: 401', async () => {
  for (const [method, path] of [
    ['GET', '/v1/customers'],
    ['POST', '/v1/financial_connections/sessions'],
    ['GET', '/v1/financial_connections/sessions/fcsess_123'],
  ]) {
    const resp = await raw(method, path);
    assert.equal(resp.status, 401, `${method} ${path}: ${resp.text}`);
    assert.deepEqual(resp.json, {error: {message: NO_KEY, type: 'invalid_request_error'}});
  }
});

test('malformed API keys: AuthenticationError with the masked key', async () => {
  for (const key of ['sk_test_not-a-valid-key', 'totally_not_a_key_123456', 'sk_prod_abcdefghijklmnop']) {
    await expectStripeError(makeClient(key).customers.list(), {
      sdkType: TYPES.auth,
      status: 401,
      message: `Invalid API Key provided: ${maskKey(key)}`,
    });
  }
});

test('an unregistered live key is not provisioned', async () => {
  const key = `sk_live_${randomSuffix()}`;
  await expectStripeError(makeClient(key).customers.create({name: 'x'}), {
    sdkType: TYPES.auth,
    status: 401,
    message: `Invalid API Key provided: ${maskKey(key)}`,
  });
});

test('publishable key on secret endpoints: PermissionError 403', async () => {
  const t = newTenant();
  const customer = await t.stripe.customers.create({name: 'x'});
  const session = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions: ['balances'],
  });
  const pub = makeClient(t.pk);
  const expected = {sdkType: TYPES.permission, status: 403, code: 'secret_key_required', message: PUBLISHABLE};
  await expectStripeError(pub.customers.create({name: 'y'}), expected);
  await expectStripeError(pub.customers.list(), expected);
  await expectStripeError(
    pub.financialConnections.sessions.create({
      account_holder: {type: 'customer', customer: customer.id},
      permissions: ['balances'],
    }),
    expected
  );
  await expectStripeError(pub.financialConnections.sessions.retrieve(session.id), expected);
  assert.deepEqual(
    (await t.stripe.customers.list()).data.map((c) => c.id),
    [customer.id]
  );
});

test('a new secret key is its own empty tenant; the same key again is the same tenant', async () => {
  const a = newTenant();
  const b = newTenant();
  assert.deepEqual((await a.stripe.customers.list()).data, []);
  const made = await a.stripe.customers.create({name: 'only in a'});
  assert.deepEqual((await b.stripe.customers.list()).data, []);
  const again = newTenant(a.suffix);
  assert.deepEqual(
    (await again.stripe.customers.list()).data.map((c) => c.id),
    [made.id]
  );
});
