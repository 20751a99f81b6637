// Idempotent requests through stripe-node's idempotencyKey option.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {randomUUID} from 'node:crypto';
import {newTenant, plain, header, expectStripeError, TYPES} from '../lib/helpers.mjs';

const mismatch = (key) =>
  'Keys for idempotent requests can only be used with the same parameters they were first used with. ' +
  `Try using a key other than '${key}' if you meant to execute a different request.`;

async function setup() {
  const t = newTenant();
  const customer = await t.stripe.customers.create({name: 'Holder'});
  return {...t, holder: {type: 'customer', customer: customer.id}};
}

test('same key, same params: replayed session', async () => {
  const {stripe, holder} = await setup();
  const idempotencyKey = `finconn-node-${randomUUID()}`;
  const params = {account_holder: holder, permissions: ['balances', 'transactions']};
  const first = await stripe.financialConnections.sessions.create(params, {idempotencyKey});
  const second = await stripe.financialConnections.sessions.create(params, {idempotencyKey});
  assert.equal(second.id, first.id);
  assert.deepEqual(plain(second), plain(first));
  assert.notEqual(header(first, 'Idempotent-Replayed'), 'true');
  assert.equal(header(second, 'Idempotent-Replayed'), 'true');
  assert.equal(first.lastResponse.idempotencyKey, idempotencyKey);
  assert.equal(second.lastResponse.idempotencyKey, idempotencyKey);
});

test('same key, different params: IdempotencyError', async () => {
  const {stripe, holder} = await setup();
  const idempotencyKey = `finconn-node-${randomUUID()}`;
  await stripe.financialConnections.sessions.create({account_holder: holder, permissions: ['balances']}, {idempotencyKey});
  await expectStripeError(
    stripe.financialConnections.sessions.create({account_holder: holder, permissions: ['ownership']}, {idempotencyKey}),
    {sdkType: TYPES.idempotency, status: 400, type: 'idempotency_error', message: mismatch(idempotencyKey)}
  );
});

test('customer create replays without creating twice', async () => {
  const {stripe} = newTenant();
  const idempotencyKey = `finconn-node-${randomUUID()}`;
  const a = await stripe.customers.create({email: 'once@example.com'}, {idempotencyKey});
  const b = await stripe.customers.create({email: 'once@example.com'}, {idempotencyKey});
  assert.equal(b.id, a.id);
  assert.equal(header(b, 'Idempotent-Replayed'), 'true');
  assert.deepEqual(
    (await stripe.customers.list()).data.map((c) => c.id),
    [a.id]
  );
  await expectStripeError(stripe.customers.create({email: 'twice@example.com'}, {idempotencyKey}), {
    sdkType: TYPES.idempotency,
    status: 400,
    type: 'idempotency_error',
    message: mismatch(idempotencyKey),
  });
});

test('keys are scoped to a tenant', async () => {
  const a = newTenant();
  const b = newTenant();
  const idempotencyKey = `finconn-node-${randomUUID()}`;
  const mine = await a.stripe.customers.create({email: 'k@example.com'}, {idempotencyKey});
  const theirs = await b.stripe.customers.create({email: 'k@example.com'}, {idempotencyKey});
  assert.notEqual(theirs.id, mine.id);
  assert.notEqual(header(theirs, 'Idempotent-Replayed'), 'true');
});

test('a request that fails validation is not saved under its key', async () => {
  const {stripe, holder} = await setup();
  const idempotencyKey = `finconn-node-${randomUUID()}`;
  await assert.rejects(
    stripe.financialConnections.sessions.create({account_holder: holder}, {idempotencyKey}),
    (e) => e.type === TYPES.invalid
  );
  const ok = await stripe.financialConnections.sessions.create(
    {account_holder: holder, permissions: ['balances']},
    {idempotencyKey}
  );
  assert.notEqual(header(ok, 'Idempotent-Replayed'), 'true');
  const again = await stripe.financialConnections.sessions.create(
    {account_holder: holder, permissions: ['balances']},
    {idempotencyKey}
  );
  assert.equal(again.id, ok.id);
  assert.equal(header(again, 'Idempotent-Replayed'), 'true');
});
