// Stripe-shaped errors on sessions, as stripe-node reports them.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, raw, expectStripeError, TYPES} from '../lib/helpers.mjs';

const PERMS = 'balances, ownership, payment_method, or transactions';

async function setup() {
  const t = newTenant();
  const customer = await t.stripe.customers.create({name: 'Holder'});
  return {...t, holder: {type: 'customer', customer: customer.id}};
}

test('unknown parameters: top level and nested', async () => {
  const {stripe, holder} = await setup();
  const create = (p) => stripe.financialConnections.sessions.create(p);
  await expectStripeError(create({account_holder: holder, permissions: ['balances'], foo: 'bar'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_unknown',
    param: 'foo',
    message: 'Received unknown parameter: foo',
  });
  await expectStripeError(create({account_holder: {...holder, x: 'y'}, permissions: ['balances']}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_unknown',
    param: 'account_holder[x]',
    message: 'Received unknown parameter: account_holder[x]',
  });
});

test('missing required parameters', async () => {
  const {stripe, holder} = await setup();
  const create = (p) => stripe.financialConnections.sessions.create(p);
  const missing = (param) => ({
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_missing',
    param,
    message: `Missing required param: ${param}.`,
  });
  await expectStripeError(create({account_holder: holder}), missing('permissions'));
  await expectStripeError(create({permissions: ['balances']}), missing('account_holder'));
  await expectStripeError(
    create({account_holder: {customer: holder.customer}, permissions: ['balances']}),
    missing('account_holder[type]')
  );
});

test('invalid enum values name the element', async () => {
  const {stripe, holder} = await setup();
  const create = (p) => stripe.financialConnections.sessions.create({account_holder: holder, ...p});
  const invalid = (param, choices) => ({
    sdkType: TYPES.invalid,
    status: 400,
    param,
    message: `Invalid ${param}: must be one of ${choices}`,
  });
  await expectStripeError(create({permissions: ['bogus']}), invalid('permissions[0]', PERMS));
  await expectStripeError(create({permissions: ['balances', 'accounts']}), invalid('permissions[1]', PERMS));
  await expectStripeError(
    create({account_holder: {type: 'person'}, permissions: ['balances']}),
    invalid('account_holder[type]', 'account or customer')
  );
  await expectStripeError(
    create({permissions: ['balances'], prefetch: ['payment_method']}),
    invalid('prefetch[0]', 'balances, ownership, or transactions')
  );
});

test('limits[accounts] must be an integer', async () => {
  const {stripe, holder} = await setup();
  for (const value of ['abc', '2.5']) {
    await expectStripeError(
      stripe.financialConnections.sessions.create({
        account_holder: holder,
        permissions: ['balances'],
        limits: {accounts: value},
      }),
      {
        sdkType: TYPES.invalid,
        status: 400,
        code: 'parameter_invalid_integer',
        param: 'limits[accounts]',
        message: `Invalid integer: ${value}`,
      }
    );
  }
});

test('return_url longer than 5000 characters', async () => {
  const {stripe, holder} = await setup();
  const url = 'https://example.com/' + 'a'.repeat(5001 - 'https://example.com/'.length);
  assert.equal(url.length, 5001);
  await expectStripeError(
    stripe.financialConnections.sessions.create({account_holder: holder, permissions: ['balances'], return_url: url}),
    {
      sdkType: TYPES.invalid,
      status: 400,
      param: 'return_url',
      message: `Invalid string: ${url.slice(0, 10)}...${url.slice(-10)}; must be at most 5000 characters`,
    }
  );
});

test('account_holder[customer] that does not exist', async () => {
  const {stripe} = newTenant();
  await expectStripeError(
    stripe.financialConnections.sessions.create({
      account_holder: {type: 'customer', customer: 'cus_nonexistent'},
      permissions: ['balances'],
    }),
    {
      sdkType: TYPES.invalid,
      status: 400,
      code: 'resource_missing',
      param: 'account_holder[customer]',
      message: "No such customer: 'cus_nonexistent'",
    }
  );
});

test('another tenant cannot read a session, nor use its customer', async () => {
  const a = await setup();
  const b = newTenant();
  const s = await a.stripe.financialConnections.sessions.create({account_holder: a.holder, permissions: ['balances']});
  await expectStripeError(b.stripe.financialConnections.sessions.retrieve(s.id), {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: `No such financial_connections.session: '${s.id}'`,
  });
  await expectStripeError(
    b.stripe.financialConnections.sessions.create({account_holder: a.holder, permissions: ['balances']}),
    {
      sdkType: TYPES.invalid,
      status: 400,
      code: 'resource_missing',
      param: 'account_holder[customer]',
      message: `No such customer: '${a.holder.customer}'`,
    }
  );
  assert.equal((await a.stripe.financialConnections.sessions.retrieve(s.id)).id, s.id);
});

test('retrieve an unknown session', async () => {
  const {stripe} = newTenant();
  await expectStripeError(stripe.financialConnections.sessions.retrieve('fcsess_doesnotexist'), {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: "No such financial_connections.session: 'fcsess_doesnotexist'",
  });
});

test('GET /v1/financial_connections/sessions is not a route', async () => {
  const {sk} = newTenant();
  const resp = await raw('GET', '/v1/financial_connections/sessions', {key: sk});
  assert.equal(resp.status, 404, resp.text);
  assert.deepEqual(resp.json, {
    error: {
      message:
        'Unrecognized request URL (GET: /v1/financial_connections/sessions). ' +
        'Please see https://stripe.com/docs or we can help at https://support.stripe.com/.',
      type: 'invalid_request_error',
    },
  });
});
