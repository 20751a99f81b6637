// Live and test mode of one account are separate. `finconn keys create` makes
// an account with a test pair; `keys create --live --account ID` adds a live
// pair to it (run.sh passes FINCONN_BIN and FINCONN_DATABASE_URL).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, keysCreate, makeClient, expectStripeError, TYPES} from '../lib/helpers.mjs';

const LIVE_KEY_USED = '; a similar object exists in test mode, but a live mode key was used to make this request.';
const TEST_KEY_USED = '; a similar object exists in live mode, but a test mode key was used to make this request.';

function pair() {
  const t = keysCreate({live: false});
  const l = keysCreate({live: true, account: t.account});
  return [t, l];
}

const session = (stripe, customer) =>
  stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer},
    permissions: ['balances'],
  });

test('test-mode objects say livemode: false', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({name: 't'});
  const s = await session(stripe, c.id);
  assert.equal(c.livemode, false);
  assert.equal(s.livemode, false);
});

test('live-key objects say livemode: true', async () => {
  const [, live] = pair();
  const c = await live.stripe.customers.create({name: 'live'});
  assert.equal(c.livemode, true);
  const s = await session(live.stripe, c.id);
  assert.equal(s.livemode, true);
  assert.equal((await live.stripe.financialConnections.sessions.retrieve(s.id)).id, s.id);
});

test('a live key cannot read the same account\'s test-mode session, and vice versa', async () => {
  const [t, live] = pair();
  const c = await t.stripe.customers.create({name: 't'});
  const s = await session(t.stripe, c.id);
  await expectStripeError(live.stripe.financialConnections.sessions.retrieve(s.id), {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: `No such financial_connections.session: '${s.id}'${LIVE_KEY_USED}`,
  });
  await expectStripeError(session(live.stripe, c.id), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'resource_missing',
    param: 'account_holder[customer]',
    message: `No such customer: '${c.id}'${LIVE_KEY_USED}`,
  });
  const lc = await live.stripe.customers.create({name: 'live'});
  const ls = await session(live.stripe, lc.id);
  await expectStripeError(t.stripe.financialConnections.sessions.retrieve(ls.id), {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: `No such financial_connections.session: '${ls.id}'${TEST_KEY_USED}`,
  });
});

test('a live publishable key is refused on secret endpoints', async () => {
  const [, live] = pair();
  await assert.rejects(makeClient(live.pk).customers.list(), (e) => {
    assert.equal(e.type, TYPES.permission);
    assert.equal(e.statusCode, 403);
    return true;
  });
});
