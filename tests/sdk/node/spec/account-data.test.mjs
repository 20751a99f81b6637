// Account data through stripe-node: refreshes, ownership, transactions, disconnect.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, raw} from '../lib/helpers.mjs';

async function link(t, permissions, {prefetch, accounts = ['Success']} = {}) {
  const customer = await t.stripe.customers.create({email: 'data@example.com'});
  const session = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions,
    ...(prefetch ? {prefetch} : {}),
  });
  const done = await raw('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`, {
    key: t.sk,
    data: {institution: 'fcinst_TestInstitution', accounts},
  });
  assert.equal(done.status, 200, done.text);
  return done.json.accounts.data.map((a) => a.id);
}

async function poll(t, id, field) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const a = await t.stripe.financialConnections.accounts.retrieve(id);
    if (a[field] && a[field].status !== 'pending') return a;
    assert.ok(Date.now() < deadline, `${field} still pending`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('prefetch, poll, ownership and owners', async () => {
  const t = newTenant();
  const [id] = await link(t, ['balances', 'ownership'], {prefetch: ['balances', 'ownership'], accounts: ['Joint Checking']});
  const a = await poll(t, id, 'balance_refresh');
  assert.equal(a.balance_refresh.status, 'succeeded');
  assert.equal(typeof a.balance.current.usd, 'number');
  await poll(t, id, 'ownership_refresh');
  const expanded = await t.stripe.financialConnections.accounts.retrieve(id, {expand: ['ownership']});
  assert.match(expanded.ownership.id, /^fcaowns_/);
  const owners = await t.stripe.financialConnections.accounts.listOwners(id, {ownership: expanded.ownership.id});
  assert.equal(owners.data.length, 2);
  assert.ok(owners.data.every((o) => o.ownership === expanded.ownership.id));
});

test('subscribe, transactions with auto-pagination and incremental sync, disconnect', async () => {
  const t = newTenant();
  const [id] = await link(t, ['transactions']);
  const s = await t.stripe.financialConnections.accounts.subscribe(id, {features: ['transactions']});
  assert.deepEqual(s.subscriptions, ['transactions']);
  const first = (await poll(t, id, 'transaction_refresh')).transaction_refresh.id;
  const all = [];
  for await (const tx of t.stripe.financialConnections.transactions.list({account: id, limit: 50})) all.push(tx);
  assert.ok(all.length >= 50, `${all.length}`);
  assert.ok(all.every((tx) => tx.transaction_refresh === first && tx.account === id));
  const none = await t.stripe.financialConnections.transactions.list({account: id, transaction_refresh: {after: first}});
  assert.deepEqual(none.data, []);
  const d = await t.stripe.financialConnections.accounts.disconnect(id);
  assert.equal(d.status, 'disconnected');
  await assert.rejects(t.stripe.financialConnections.accounts.refresh(id, {features: ['transactions']}), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'financial_connections_account_inactive');
    return true;
  });
  const still = await t.stripe.financialConnections.transactions.list({account: id, limit: 1});
  assert.equal(still.data.length, 1, 'data fetched before disconnecting stays readable');
});

test('a refresh without its permission is refused', async () => {
  const t = newTenant();
  const [id] = await link(t, ['balances']);
  await assert.rejects(t.stripe.financialConnections.accounts.refresh(id, {features: ['ownership']}), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.param, 'features[0]');
    return true;
  });
});
