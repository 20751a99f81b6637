// Financial Connections sessions through stripe-node: create and retrieve.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, plain, raw, keysCreate, checkGeneratedSessionFields, withoutGenerated} from '../lib/helpers.mjs';

// Required + nullable fields, and filters: Stripe defaults the country filter to US
// (its API reference example for a session created without filters shows it).
const ALWAYS = [
  'account_holder',
  'accounts',
  'client_secret',
  'filters',
  'id',
  'livemode',
  'object',
  'permissions',
  'prefetch',
];
const DEFAULT_FILTERS = {account_subcategories: null, countries: ['US']};

async function setup() {
  const t = newTenant();
  const customer = await t.stripe.customers.create({email: 'holder@example.com', name: 'Holder'});
  return {...t, customer};
}

test('create a minimal session', async () => {
  const {stripe, customer} = await setup();
  const s = await stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions: ['payment_method'],
  });
  checkGeneratedSessionFields(s);
  assert.deepEqual(Object.keys(plain(s)).sort(), ALWAYS);
  assert.deepEqual(plain(s.account_holder), {type: 'customer', customer: customer.id});
  assert.deepEqual(s.permissions, ['payment_method']);
  assert.ok(s.prefetch === null || (Array.isArray(s.prefetch) && s.prefetch.length === 0), `${s.prefetch}`);
  assert.deepEqual(plain(s.filters), DEFAULT_FILTERS);
  assert.equal('return_url' in s, false);
});

const CASES = {
  'account_holder[customer_account]': [
    {account_holder: {type: 'customer', customer_account: 'acct_1FinconnCustAcct'}},
    {account_holder: {type: 'customer', customer_account: 'acct_1FinconnCustAcct'}},
  ],
  'filters[account_subcategories]': [
    {filters: {account_subcategories: ['checking', 'savings']}},
    {filters: {account_subcategories: ['checking', 'savings'], countries: ['US']}},
  ],
  'filters[countries]': [
    {filters: {countries: ['CA']}},
    {filters: {account_subcategories: null, countries: ['CA']}},
  ],
  'filters[require_payment_method_support]': [
    {filters: {require_payment_method_support: 'at_least_one'}},
    {filters: {account_subcategories: null, countries: ['US'], require_payment_method_support: 'at_least_one'}},
  ],
  // prefetching a feature needs its permission, so permissions come along
  prefetch: [
    {permissions: ['balances', 'ownership', 'transactions'], prefetch: ['balances', 'ownership', 'transactions']},
    {permissions: ['balances', 'ownership', 'transactions'], prefetch: ['balances', 'ownership', 'transactions']},
  ],
  return_url: [{return_url: 'https://example.com/fc/return?x=1'}, {return_url: 'https://example.com/fc/return?x=1'}],
  'limits[accounts]': [{limits: {accounts: 3}}, {limits: {accounts: 3}}],
  'manual_entry[mode]': [{manual_entry: {mode: 'disabled'}}, {manual_entry: {mode: 'disabled'}}],
  'permissions (all four)': [
    {permissions: ['balances', 'ownership', 'payment_method', 'transactions']},
    {permissions: ['balances', 'ownership', 'payment_method', 'transactions']},
  ],
};

for (const [name, [extra, shown]] of Object.entries(CASES)) {
  test(`create with ${name} alone, then retrieve`, async () => {
    const {stripe, customer} = await setup();
    const s = await stripe.financialConnections.sessions.create({
      account_holder: {type: 'customer', customer: customer.id},
      permissions: ['payment_method'],
      ...extra,
    });
    checkGeneratedSessionFields(s);
    const expected = {
      account_holder: {type: 'customer', customer: customer.id},
      permissions: ['payment_method'],
      filters: DEFAULT_FILTERS,
    };
    if (!('prefetch' in shown)) {
      assert.ok(s.prefetch === null || (Array.isArray(s.prefetch) && s.prefetch.length === 0), `${s.prefetch}`);
      expected.prefetch = plain(s).prefetch;
    }
    Object.assign(expected, shown);
    assert.deepEqual(withoutGenerated(s), expected);
    const fetched = await stripe.financialConnections.sessions.retrieve(s.id);
    assert.deepEqual(plain(fetched), plain(s));
  });
}

test('create with every param at once, expanded customer', async () => {
  const {stripe, customer} = await setup();
  const s = await stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions: ['balances', 'ownership', 'payment_method', 'transactions'],
    filters: {
      account_subcategories: ['checking', 'credit_card', 'line_of_credit', 'mortgage', 'savings'],
      countries: ['US'],
      require_payment_method_support: 'all',
    },
    prefetch: ['balances', 'transactions'],
    return_url: 'https://example.com/return',
    limits: {accounts: 7},
    manual_entry: {mode: 'automatic'},
    expand: ['account_holder.customer'],
  });
  checkGeneratedSessionFields(s);
  const customerJson = plain(await stripe.customers.retrieve(customer.id));
  assert.deepEqual(withoutGenerated(s), {
    account_holder: {type: 'customer', customer: customerJson},
    permissions: ['balances', 'ownership', 'payment_method', 'transactions'],
    filters: {
      account_subcategories: ['checking', 'credit_card', 'line_of_credit', 'mortgage', 'savings'],
      countries: ['US'],
      require_payment_method_support: 'all',
    },
    prefetch: ['balances', 'transactions'],
    return_url: 'https://example.com/return',
    limits: {accounts: 7},
    manual_entry: {mode: 'automatic'},
  });
  const again = plain(await stripe.financialConnections.sessions.retrieve(s.id));
  assert.deepEqual(again.account_holder, {type: 'customer', customer: customer.id});
});

test('retrieve with expand account_holder.customer', async () => {
  const {stripe, customer} = await setup();
  const s = await stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions: ['balances'],
  });
  const fetched = await stripe.financialConnections.sessions.retrieve(s.id, {
    expand: ['account_holder.customer'],
  });
  const customerJson = plain(await stripe.customers.retrieve(customer.id));
  assert.deepEqual(plain(fetched.account_holder), {type: 'customer', customer: customerJson});
  assert.equal(fetched.account_holder.customer.name, 'Holder');
  const {account_holder: _a, ...restFetched} = plain(fetched);
  const {account_holder: _b, ...restCreated} = plain(s);
  assert.deepEqual(restFetched, restCreated);
});

test('bracket array notation (permissions[]=) works like indexed', async () => {
  const {sk, customer} = await setup();
  const resp = await raw('POST', '/v1/financial_connections/sessions', {
    key: sk,
    data: [
      ['account_holder[type]', 'customer'],
      ['account_holder[customer]', customer.id],
      ['permissions[]', 'balances'],
      ['permissions[]', 'transactions'],
    ],
  });
  assert.equal(resp.status, 200, resp.text);
  assert.deepEqual(resp.json.permissions, ['balances', 'transactions']);
  const q = await raw('GET', `/v1/financial_connections/sessions/${resp.json.id}`, {
    key: sk,
    query: [['expand[]', 'account_holder.customer']],
  });
  assert.equal(q.status, 200, q.text);
  assert.equal(q.json.account_holder.customer.id, customer.id);
});

test('session ids and client secrets are unique', async () => {
  const {stripe, customer} = await setup();
  const made = [];
  for (let i = 0; i < 4; i++) {
    made.push(
      await stripe.financialConnections.sessions.create({
        account_holder: {type: 'customer', customer: customer.id},
        permissions: ['balances'],
      })
    );
  }
  assert.equal(new Set(made.map((s) => s.id)).size, 4);
  assert.equal(new Set(made.map((s) => s.client_secret)).size, 4);
});

test('account_holder of type account: the caller\'s own account', async () => {
  const reg = keysCreate({live: false});
  const s = await reg.stripe.financialConnections.sessions.create({
    account_holder: {type: 'account', account: reg.account},
    permissions: ['balances'],
  });
  checkGeneratedSessionFields(s);
  assert.deepEqual(plain(s.account_holder), {type: 'account', account: reg.account});
  assert.deepEqual(plain(await reg.stripe.financialConnections.sessions.retrieve(s.id)), plain(s));

  const other = newTenant();
  await assert.rejects(
    other.stripe.financialConnections.sessions.create({
      account_holder: {type: 'account', account: reg.account},
      permissions: ['balances'],
    }),
    (e) => {
      assert.equal(e.type, 'StripeInvalidRequestError');
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'resource_missing');
      assert.equal(e.param, 'account_holder[account]');
      assert.equal(e.message, `No such account: '${reg.account}'`);
      return true;
    }
  );
});
