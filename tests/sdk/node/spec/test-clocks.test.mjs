// Test clocks through stripe-node: the clock object, advancing, customers on a clock,
// Financial Connections data on the clock's time, deletion and events.
// Advancing is asynchronous: tests poll the clock (every 0.1 s, at most 60 s) until it is `ready`.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import {newTenant, keysCreate, makeClient, plain, raw, expectStripeError, TYPES} from '../lib/helpers.mjs';

const DAY = 86400;
const F = 1_700_000_000; // a fixed past time
const TWO_YEARS = 731 * DAY;
const PUBLISHABLE =
  'This API call cannot be made with a publishable API key. Please use a secret API key. ' +
  'You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.';
const ANY = Symbol('any'); // an error field the contract leaves open (must still be well-formed)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);

// An SDK error whose wording (or code, or param) the contract does not fix. A field left out of
// `expected` may have any value; `undefined` means it must be absent from the body.
async function expectError(promise, expected) {
  const {sdkType = TYPES.invalid, status, contains} = expected;
  const code = 'code' in expected ? expected.code : ANY;
  const param = 'param' in expected ? expected.param : ANY;
  let caught;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, 'expected the call to fail');
  assert.ok(caught instanceof Stripe.errors.StripeError, `not a StripeError: ${caught}`);
  assert.equal(caught.type, sdkType, `${caught.type}: ${caught.message}`);
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(caught.statusCode), `status ${caught.statusCode}: ${caught.message}`);
  const {headers, statusCode, requestId, ...body} = caught.raw;
  assert.equal(body.type, 'invalid_request_error');
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
  assert.equal(caught.message, body.message);
  if (contains !== undefined) assert.ok(body.message.includes(contains), body.message);
  if (code !== ANY) assert.equal(body.code, code);
  if (param !== ANY) assert.equal(body.param, param);
  for (const [k, v] of Object.entries(body)) assert.notEqual(v, null, `null-valued key ${k}`);
  if (body.code === undefined) assert.equal(body.doc_url, undefined);
  else assert.equal(body.doc_url, `https://stripe.com/docs/error-codes/${body.code.replaceAll('_', '-')}`);
  return body;
}

// A clock id in the path that the key cannot see: 404 like every other object (errors.md §5.1).
const missingClock = (id) => ({
  sdkType: TYPES.invalid,
  status: 404,
  code: 'resource_missing',
  param: 'id',
  message: `No such test_helpers.test_clock: '${id}'`,
});

function checkClock(c) {
  const d = plain(c);
  const keys = ['created', 'deletes_after', 'frozen_time', 'id', 'livemode', 'name', 'object', 'status', 'status_details'];
  assert.deepEqual(Object.keys(d).sort(), keys, JSON.stringify(d));
  assert.match(d.id, /^clock_[A-Za-z0-9]+$/);
  assert.equal(d.object, 'test_helpers.test_clock');
  assert.equal(d.livemode, false);
  for (const k of ['created', 'deletes_after', 'frozen_time']) assert.ok(Number.isInteger(d[k]), k);
  assert.equal(d.deletes_after, d.created + 7 * DAY);
  assert.ok(['ready', 'advancing', 'internal_failure'].includes(d.status), d.status);
  if (d.status === 'advancing') {
    assert.deepEqual(Object.keys(d.status_details), ['advancing']);
    assert.ok(Number.isInteger(d.status_details.advancing.target_frozen_time));
  } else if (d.status === 'ready') {
    assert.deepEqual(d.status_details, {});
  }
  return d;
}

async function createClock(stripe, params = {}) {
  return checkClock(await stripe.testHelpers.testClocks.create({frozen_time: F, ...params}));
}

async function waitReady(stripe, id) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const c = checkClock(await stripe.testHelpers.testClocks.retrieve(id));
    if (c.status === 'ready') return c;
    assert.equal(c.status, 'advancing', JSON.stringify(c));
    assert.ok(Date.now() < deadline, `clock ${id} still advancing after 60s`);
    await sleep(100);
  }
}

async function advance(stripe, id, to, previous) {
  const c = checkClock(await stripe.testHelpers.testClocks.advance(id, {frozen_time: to}));
  assert.equal(c.id, id);
  if (c.status === 'advancing') {
    assert.deepEqual(c.status_details, {advancing: {target_frozen_time: to}});
    assert.ok(c.frozen_time >= previous && c.frozen_time <= to, `${c.frozen_time}`);
  } else {
    assert.equal(c.status, 'ready');
    assert.equal(c.frozen_time, to);
  }
  const ready = await waitReady(stripe, id);
  assert.equal(ready.frozen_time, to);
  return ready;
}

async function link(t, customer, {permissions = ['balances'], prefetch = ['balances'], accounts = ['Success']} = {}) {
  const session = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer},
    permissions,
    ...(prefetch.length ? {prefetch} : {}),
  });
  const done = await raw('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`, {
    key: t.sk,
    data: {institution: 'fcinst_TestInstitution', accounts},
  });
  assert.equal(done.status, 200, done.text);
  return done.json.accounts.data.map((a) => a.id);
}

async function pollRefresh(t, id, field) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const a = await t.stripe.financialConnections.accounts.retrieve(id);
    if (a[field] && a[field].status !== 'pending') return a;
    assert.ok(Date.now() < deadline, `${field} still pending`);
    await sleep(100);
  }
}

async function allTransactions(t, account, extra = {}) {
  const out = [];
  for await (const tx of t.stripe.financialConnections.transactions.list({account, limit: 100, ...extra})) out.push(tx);
  return out;
}

test('create, retrieve, list and delete a clock', async () => {
  const {stripe} = newTenant();
  const before = nowSec();
  const c = await createClock(stripe, {name: 'Monthly renewal'});
  const after = nowSec();
  assert.equal(c.frozen_time, F);
  assert.equal(c.name, 'Monthly renewal');
  assert.equal(c.status, 'ready');
  assert.ok(c.created >= before - 60 && c.created <= after + 60, `created ${c.created} is not the real time`);
  assert.deepEqual(checkClock(await stripe.testHelpers.testClocks.retrieve(c.id)), c);

  const unnamed = await createClock(stripe, {frozen_time: F + 1});
  assert.equal(unnamed.name, null);
  const third = await createClock(stripe, {frozen_time: F + 2});

  const page = await stripe.testHelpers.testClocks.list({limit: 2});
  assert.deepEqual(
    page.data.map((x) => x.id),
    [third.id, unnamed.id]
  );
  assert.equal(page.has_more, true);
  assert.equal(page.url, '/v1/test_helpers/test_clocks');
  const ids = [];
  for await (const x of stripe.testHelpers.testClocks.list({limit: 1})) ids.push(x.id);
  assert.deepEqual(ids, [third.id, unnamed.id, c.id]);
  const back = await stripe.testHelpers.testClocks.list({ending_before: c.id, limit: 1});
  assert.deepEqual(
    back.data.map((x) => x.id),
    [unnamed.id]
  );

  const d = await stripe.testHelpers.testClocks.del(unnamed.id);
  assert.deepEqual(plain(d), {id: unnamed.id, object: 'test_helpers.test_clock', deleted: true});
  await expectStripeError(stripe.testHelpers.testClocks.retrieve(unnamed.id), missingClock(unnamed.id));
  await expectStripeError(stripe.testHelpers.testClocks.del(unnamed.id), missingClock(unnamed.id));
  const listed = await stripe.testHelpers.testClocks.list();
  assert.deepEqual(
    listed.data.map((x) => x.id),
    [third.id, c.id]
  );
});

test('parameter errors on create and advance', async () => {
  const {stripe} = newTenant();
  const clocks = stripe.testHelpers.testClocks;
  await expectStripeError(clocks.create({name: 'no time'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_missing',
    param: 'frozen_time',
    message: 'Missing required param: frozen_time.',
  });
  await expectStripeError(clocks.create({frozen_time: 'soon'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_invalid_integer',
    param: 'frozen_time',
    message: 'Invalid integer: soon',
  });
  await expectStripeError(clocks.create({frozen_time: F, foo: 'bar'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_unknown',
    param: 'foo',
    message: 'Received unknown parameter: foo',
  });
  await expectStripeError(clocks.create({frozen_time: F, name: 'N'.repeat(301)}), {
    sdkType: TYPES.invalid,
    status: 400,
    param: 'name',
    message: 'Invalid string: NNNNNNNNNN...NNNNNNNNNN; must be at most 300 characters',
  });
  assert.deepEqual((await clocks.list()).data, [], 'no clock was created by a refused call');

  const c = await createClock(stripe);
  await expectStripeError(clocks.advance(c.id, {}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_missing',
    param: 'frozen_time',
    message: 'Missing required param: frozen_time.',
  });
  await expectStripeError(clocks.advance(c.id, {frozen_time: 'later'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_invalid_integer',
    param: 'frozen_time',
    message: 'Invalid integer: later',
  });
  for (const to of [F, F - 1, F + TWO_YEARS + 1]) {
    await expectError(clocks.advance(c.id, {frozen_time: to}), {status: 400, param: 'frozen_time'});
  }
  assert.deepEqual(checkClock(await clocks.retrieve(c.id)), c, 'refused advances left the clock alone');
  await expectStripeError(clocks.list({status: 'ready'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_unknown',
    param: 'status',
    message: 'Received unknown parameter: status',
  });
});

test('advance answers at once and the clock becomes ready at the target', async () => {
  const {stripe} = newTenant();
  const c = await createClock(stripe, {name: 'adv'});
  const target = F + 3 * DAY + 3600;
  const ready = await advance(stripe, c.id, target, F);
  for (const k of ['id', 'created', 'deletes_after', 'name']) assert.equal(ready[k], c[k], k);
  // the new frozen time is the lower bound, and the two-year limit counts from it
  await expectError(stripe.testHelpers.testClocks.advance(c.id, {frozen_time: target}), {
    status: 400,
    param: 'frozen_time',
  });
  await advance(stripe, c.id, target + TWO_YEARS, target);
});

test('keys: publishable refused, live refused, another tenant sees nothing', async () => {
  const t = newTenant();
  const c = await createClock(t.stripe);
  const pub = makeClient(t.pk).testHelpers.testClocks;
  const refused = {sdkType: TYPES.permission, status: 403, code: 'secret_key_required', message: PUBLISHABLE};
  await expectStripeError(pub.create({frozen_time: F}), refused);
  await expectStripeError(pub.list(), refused);
  await expectStripeError(pub.retrieve(c.id), refused);
  await expectStripeError(pub.advance(c.id, {frozen_time: F + DAY}), refused);
  await expectStripeError(pub.del(c.id), refused);

  const other = newTenant().stripe.testHelpers.testClocks;
  await expectStripeError(other.retrieve(c.id), missingClock(c.id));
  await expectStripeError(other.advance(c.id, {frozen_time: F + DAY}), missingClock(c.id));
  await expectStripeError(other.del(c.id), missingClock(c.id));
  assert.deepEqual((await other.list()).data, []);
  assert.deepEqual(checkClock(await t.stripe.testHelpers.testClocks.retrieve(c.id)), c);

  const test = keysCreate({live: false});
  const live = keysCreate({live: true, account: test.account});
  const testClock = await createClock(test.stripe);
  const lc = live.stripe.testHelpers.testClocks;
  for (const call of [
    () => lc.create({frozen_time: F}),
    () => lc.list(),
    () => lc.retrieve(testClock.id),
    () => lc.advance(testClock.id, {frozen_time: F + DAY}),
    () => lc.del(testClock.id),
  ]) {
    await expectError(call(), {status: 400});
  }
  assert.deepEqual(checkClock(await test.stripe.testHelpers.testClocks.retrieve(testClock.id)), testClock);
});

test('customers on a clock: attach, expand, list filter, conflicts, deletion', async () => {
  const {stripe} = newTenant();
  const a = await createClock(stripe, {name: 'a'});
  const free = await stripe.customers.create({name: 'free'});
  assert.equal(free.test_clock, null);
  const onA = await stripe.customers.create({name: 'on a', test_clock: a.id});
  assert.equal(onA.test_clock, a.id);
  const expanded = await stripe.customers.retrieve(onA.id, {expand: ['test_clock']});
  assert.deepEqual(checkClock(expanded.test_clock), checkClock(await stripe.testHelpers.testClocks.retrieve(a.id)));

  // a clock made for an existing customer attaches it
  const existing = await stripe.customers.create({name: 'existing'});
  const b = await createClock(stripe, {customer: existing.id});
  assert.equal((await stripe.customers.retrieve(existing.id)).test_clock, b.id);
  await expectError(stripe.testHelpers.testClocks.create({frozen_time: F, customer: existing.id}), {
    status: 400,
    param: 'customer',
  });
  await expectError(stripe.testHelpers.testClocks.create({frozen_time: F, customer: onA.id}), {
    status: 400,
    param: 'customer',
  });

  await expectError(stripe.customers.create({test_clock: 'clock_doesnotexist'}), {
    status: [400, 404],
    code: 'resource_missing',
    param: 'test_clock',
    contains: 'clock_doesnotexist',
  });

  const listed = await stripe.customers.list();
  assert.deepEqual(
    listed.data.map((c) => c.id),
    [free.id],
    'customers on a clock are left out by default'
  );
  assert.deepEqual(
    (await stripe.customers.list({test_clock: a.id})).data.map((c) => c.id),
    [onA.id]
  );
  assert.deepEqual(
    (await stripe.customers.list({test_clock: b.id})).data.map((c) => c.id),
    [existing.id]
  );

  await stripe.testHelpers.testClocks.del(a.id);
  assert.deepEqual(plain(await stripe.customers.retrieve(onA.id)), {id: onA.id, object: 'customer', deleted: true});
  assert.equal((await stripe.customers.retrieve(existing.id)).test_clock, b.id);
  assert.equal((await stripe.customers.retrieve(free.id)).deleted, undefined);
});

test('Financial Connections data follows the clock', async () => {
  const t = newTenant();
  const c = await createClock(t.stripe, {name: 'fc'});
  const customer = await t.stripe.customers.create({email: 'fc@example.com', test_clock: c.id});
  const [id] = await link(t, customer.id, {
    permissions: ['balances', 'ownership', 'transactions'],
    prefetch: ['balances'],
  });
  const created = await t.stripe.financialConnections.accounts.retrieve(id);
  assert.equal(created.created, F);
  let a = await pollRefresh(t, id, 'balance_refresh');
  assert.equal(a.balance_refresh.status, 'succeeded');
  assert.equal(a.balance_refresh.last_attempted_at, F);
  assert.ok(a.balance.as_of <= F, `balance.as_of ${a.balance.as_of}`);

  await t.stripe.financialConnections.accounts.subscribe(id, {features: ['transactions']});
  a = await pollRefresh(t, id, 'transaction_refresh');
  assert.equal(a.transaction_refresh.status, 'succeeded');
  assert.equal(a.transaction_refresh.last_attempted_at, F);
  const first = a.transaction_refresh.id;
  const txns = await allTransactions(t, id);
  assert.ok(txns.length > 0);
  assert.ok(txns.every((tx) => tx.transacted_at <= F));

  const f2 = F + 3 * DAY + 3600;
  await advance(t.stripe, c.id, f2, F);
  a = await pollRefresh(t, id, 'transaction_refresh');
  assert.equal(a.transaction_refresh.status, 'succeeded');
  assert.notEqual(a.transaction_refresh.id, first);
  assert.ok(a.transaction_refresh.last_attempted_at > F + 2 * DAY, `${a.transaction_refresh.last_attempted_at}`);
  assert.ok(a.transaction_refresh.last_attempted_at <= f2);
  const newer = await allTransactions(t, id, {transaction_refresh: {after: first}});
  assert.ok(newer.length > 0, 'no new transactions after advancing');
  assert.ok(newer.every((tx) => tx.transacted_at <= f2 && tx.transaction_refresh !== first));

  await t.stripe.financialConnections.accounts.unsubscribe(id, {features: ['transactions']});
  await advance(t.stripe, c.id, f2 + 2 * DAY, f2);
  const after = await t.stripe.financialConnections.accounts.retrieve(id);
  assert.deepEqual(
    [after.transaction_refresh.id, after.transaction_refresh.last_attempted_at],
    [a.transaction_refresh.id, a.transaction_refresh.last_attempted_at]
  );

  // an account whose customer is on no clock keeps real time
  const off = await t.stripe.customers.create({name: 'off'});
  const before = nowSec();
  const [offId] = await link(t, off.id, {prefetch: []});
  const offAcct = await t.stripe.financialConnections.accounts.retrieve(offId);
  assert.ok(Math.abs(offAcct.created - before) <= 60, `created ${offAcct.created}`);

  // deleting the clock disconnects its accounts; their data stays readable
  await t.stripe.testHelpers.testClocks.del(c.id);
  const gone = await t.stripe.financialConnections.accounts.retrieve(id);
  assert.equal(gone.status, 'disconnected');
  assert.deepEqual(gone.balance, a.balance);
  assert.ok((await t.stripe.financialConnections.transactions.list({account: id, limit: 1})).data.length === 1);
  assert.equal((await t.stripe.financialConnections.accounts.retrieve(offId)).status, 'active');
});

test('test clock events', async () => {
  const {stripe} = newTenant();
  const c = await createClock(stripe);
  await advance(stripe, c.id, F + DAY, F);
  await stripe.testHelpers.testClocks.del(c.id);
  let events;
  const deadline = Date.now() + 15000;
  for (;;) {
    events = await stripe.events.list({type: 'test_helpers.test_clock.*', limit: 100});
    if (events.data.length >= 4 || Date.now() > deadline) break;
    await sleep(100);
  }
  assert.deepEqual(
    events.data.map((e) => e.type),
    [
      'test_helpers.test_clock.deleted',
      'test_helpers.test_clock.ready',
      'test_helpers.test_clock.advancing',
      'test_helpers.test_clock.created',
    ]
  );
  assert.ok(events.data.every((e) => e.data.object.id === c.id && e.object === 'event' && e.livemode === false));
});
