// Wire-level behaviour stripe-node relies on: request ids, API versions, replays of errors.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import {BASE_URL, newTenant, expectStripeError, TYPES} from '../lib/helpers.mjs';

const base = new URL(BASE_URL);
const clientWithVersion = (key, apiVersion) =>
  new Stripe(key, {
    host: base.hostname,
    port: Number(base.port),
    protocol: base.protocol.replace(':', ''),
    maxNetworkRetries: 0,
    apiVersion,
  });

test('responses carry a request id the SDK exposes', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({name: 'h'});
  assert.match(c.lastResponse.requestId, /^req_[A-Za-z0-9]{14}$/);
  await assert.rejects(stripe.customers.retrieve('cus_nope'), (e) => {
    assert.match(e.requestId, /^req_[A-Za-z0-9]{14}$/);
    return true;
  });
});

test('apiVersion option: honoured, and an invalid one is refused', async () => {
  const {sk} = newTenant();
  const pinned = clientWithVersion(sk, '2026-07-29.dahlia');
  const c = await pinned.customers.create({name: 'v'});
  assert.equal(c.lastResponse.apiVersion, '2026-07-29.dahlia');
  await expectStripeError(clientWithVersion(sk, '2019-2-19').customers.list(), {
    sdkType: TYPES.invalid,
    status: 400,
    message: 'Invalid Stripe API version: 2019-2-19',
  });
});

test('an error saved under an idempotency key is replayed', async () => {
  const {stripe} = newTenant();
  const params = {account_holder: {type: 'customer', customer: 'cus_nope'}, permissions: ['balances']};
  const idempotencyKey = `replay-error-${Date.now()}`;
  const errs = [];
  for (let i = 0; i < 2; i++) {
    try {
      await stripe.financialConnections.sessions.create(params, {idempotencyKey});
      assert.fail('expected an error');
    } catch (e) {
      errs.push(e);
    }
  }
  for (const e of errs) {
    assert.equal(e.type, TYPES.invalid);
    assert.equal(e.code, 'resource_missing');
    assert.equal(e.message, "No such customer: 'cus_nope'");
  }
  assert.notEqual(errs[0].headers['idempotent-replayed'], 'true');
  assert.equal(errs[1].headers['idempotent-replayed'], 'true');
});
