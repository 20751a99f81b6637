// What the official SDKs' own test suites found: a failing parameter is the one blamed, never a valid
// neighbour as "unknown"; routes that do not exist are 404; objects start with id and object.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, raw, expectStripeError, TYPES} from '../lib/helpers.mjs';

async function linked(t, permissions) {
  const customer = await t.stripe.customers.create({email: 'p@example.com'});
  const session = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions,
  });
  const done = await raw('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`, {
    key: t.sk,
    data: {institution: 'fcinst_TestInstitution', accounts: ['Success']},
  });
  assert.equal(done.status, 200, done.text);
  return done.json.accounts.data[0].id;
}

const missing = (param) => ({
  sdkType: TYPES.invalid, status: 400, code: 'parameter_missing', param, message: `Missing required param: ${param}.`,
});

test('webhook endpoint without enabled_events: blames enabled_events, not description or api_version', async () => {
  const {stripe} = newTenant();
  await expectStripeError(stripe.webhookEndpoints.create({url: 'https://example.com/h', description: 'mine'}),
    missing('enabled_events'));
  await expectStripeError(stripe.webhookEndpoints.create({url: 'https://example.com/h', api_version: '2026-07-29.dahlia'}),
    missing('enabled_events'));
});

test('refresh, subscribe, unsubscribe: the missing or invalid feature, not expand', async () => {
  const t = newTenant();
  const id = await linked(t, ['balances']);
  const accounts = t.stripe.financialConnections.accounts;
  await expectStripeError(accounts.refresh(id, {expand: ['ownership']}), missing('features'));
  await expectStripeError(accounts.refresh(id, {features: ['balance', 'bogus'], expand: ['ownership']}), {
    sdkType: TYPES.invalid, status: 400, code: undefined, param: 'features[1]',
    message: 'Invalid features[1]: must be one of balance, ownership, or transactions',
  });
  await expectStripeError(accounts.subscribe(id, {expand: ['ownership']}), missing('features'));
  await expectStripeError(accounts.unsubscribe(id, {expand: ['ownership']}), missing('features'));
});

test('transactions list: the empty transaction_refresh[after], not limit', async () => {
  const t = newTenant();
  const id = await linked(t, ['transactions']);
  const p = "'transaction_refresh[after]'";
  await expectStripeError(
    t.stripe.financialConnections.transactions.list({account: id, limit: 3, transaction_refresh: {after: ''}}), {
      sdkType: TYPES.invalid, status: 400, code: 'parameter_invalid_empty', param: 'transaction_refresh[after]',
      message: `You passed an empty string for ${p}. We assume empty values are an attempt to unset a parameter; ` +
        `however ${p} cannot be unset. You should remove ${p} from your request or supply a non-empty value.`,
    });
});

test('customers.search is an unrecognized URL (404)', async () => {
  const {stripe} = newTenant();
  await expectStripeError(stripe.customers.search({query: "email:'jenny@example.com'"}), {
    sdkType: TYPES.invalid, status: 404, code: undefined, param: undefined,
    message: 'Unrecognized request URL (GET: /v1/customers/search). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.',
  });
});

test('raw JSON starts with id and object', async () => {
  const t = newTenant();
  const c = await t.stripe.customers.create({name: 'Order'});
  const res = await raw('GET', `/v1/customers/${c.id}`, {key: t.sk});
  const keys = res.text.split('\n').filter((l) => l.startsWith('  "')).map((l) => l.split('"')[1]);
  assert.deepEqual(keys.slice(0, 2), ['id', 'object']);
});
