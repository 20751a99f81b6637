// Live and test mode are separate. Live keys come only from
// `finconn keys create --live --database URL` (run.sh passes FINCONN_BIN and
// FINCONN_DATABASE_URL); that CLI always makes a new account, so these tests
// check that live and test objects never leak into each other.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, keysCreate, makeClient} from '../lib/helpers.mjs';

test('test-mode objects say livemode: false', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({name: 't'});
  const s = await stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: c.id},
    permissions: ['balances'],
  });
  assert.equal(c.livemode, false);
  assert.equal(s.livemode, false);
});

test('a registered live key works and its objects say livemode: true', async () => {
  const live = keysCreate({live: true});
  const c = await live.stripe.customers.create({name: 'live'});
  assert.equal(c.livemode, true);
  const s = await live.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: c.id},
    permissions: ['balances'],
  });
  assert.equal(s.livemode, true);
  assert.equal((await live.stripe.financialConnections.sessions.retrieve(s.id)).id, s.id);
});

test('a live key cannot read a test-mode session, nor a test key a live one', async () => {
  const t = newTenant();
  const c = await t.stripe.customers.create({name: 't'});
  const s = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: c.id},
    permissions: ['balances'],
  });
  const live = keysCreate({live: true});
  await assert.rejects(live.stripe.financialConnections.sessions.retrieve(s.id), (e) => {
    assert.equal(e.type, 'StripeInvalidRequestError');
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
    assert.equal(e.param, 'id');
    assert.ok(e.message.startsWith(`No such financial_connections.session: '${s.id}'`), e.message);
    return true;
  });
  const lc = await live.stripe.customers.create({name: 'live'});
  const ls = await live.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: lc.id},
    permissions: ['balances'],
  });
  await assert.rejects(t.stripe.financialConnections.sessions.retrieve(ls.id), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
    return true;
  });
});

test('a live publishable key is refused on secret endpoints', async () => {
  const live = keysCreate({live: true});
  await assert.rejects(makeClient(live.pk).customers.list(), (e) => {
    assert.equal(e.type, 'StripePermissionError');
    assert.equal(e.statusCode, 403);
    return true;
  });
});
