// Customers through stripe-node: create, retrieve, update, delete, list.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import {newTenant, plain, raw, expectStripeError, TYPES} from '../lib/helpers.mjs';

const ADDRESS = {
  city: 'San Francisco',
  country: 'US',
  line1: '510 Townsend St',
  line2: 'Floor 2',
  postal_code: '94103',
  state: 'CA',
};

test('create a customer with every param', async () => {
  const {stripe} = newTenant();
  const before = Math.floor(Date.now() / 1000);
  const c = await stripe.customers.create({
    email: 'jenny.rosen@example.com',
    name: 'Jenny Rosen',
    description: 'first customer',
    phone: '+14155550123',
    metadata: {order_id: '6735', tier: 'gold'},
    address: ADDRESS,
  });
  const after = Math.floor(Date.now() / 1000);
  assert.match(c.id, /^cus_/);
  assert.equal(c.object, 'customer');
  assert.equal(c.livemode, false);
  assert.ok(c.created >= before - 2 && c.created <= after + 2, `created ${c.created}`);
  assert.equal(c.email, 'jenny.rosen@example.com');
  assert.equal(c.name, 'Jenny Rosen');
  assert.equal(c.description, 'first customer');
  assert.equal(c.phone, '+14155550123');
  assert.deepEqual(c.metadata, {order_id: '6735', tier: 'gold'});
  assert.deepEqual(c.address, ADDRESS);
  assert.equal(c.lastResponse.statusCode, 200);
});

test('create a customer without params: nullable fields are null', async () => {
  const {stripe} = newTenant();
  const c = plain(await stripe.customers.create());
  for (const f of ['email', 'name', 'description', 'phone', 'address']) {
    assert.ok(f in c, `${f} missing`);
    assert.equal(c[f], null, f);
  }
  assert.deepEqual(c.metadata, {});
});

test('retrieve returns what create returned', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({email: 'a@example.com', metadata: {k: 'v'}, address: ADDRESS});
  const fetched = await stripe.customers.retrieve(c.id);
  assert.deepEqual(plain(fetched), plain(c));
});

test('update changes only what is sent and merges metadata', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({
    email: 'old@example.com',
    name: 'Old',
    description: 'keep me',
    phone: '+14155550100',
    metadata: {a: '1', b: '2'},
  });
  const u = await stripe.customers.update(c.id, {
    email: 'new@example.com',
    name: 'New',
    metadata: {b: '20', c: '3'},
  });
  assert.equal(u.id, c.id);
  assert.equal(u.created, c.created);
  assert.equal(u.email, 'new@example.com');
  assert.equal(u.name, 'New');
  assert.equal(u.description, 'keep me');
  assert.equal(u.phone, '+14155550100');
  assert.deepEqual(u.metadata, {a: '1', b: '20', c: '3'});
  assert.deepEqual(plain(await stripe.customers.retrieve(c.id)), plain(u));

  const one = await stripe.customers.update(c.id, {metadata: {a: ''}});
  assert.deepEqual(one.metadata, {b: '20', c: '3'});
  const none = await stripe.customers.update(c.id, {metadata: ''});
  assert.deepEqual(none.metadata, {});
  const addr = await stripe.customers.update(c.id, {address: ADDRESS});
  assert.deepEqual(addr.address, ADDRESS);
  const cleared = await stripe.customers.update(c.id, {address: ''});
  assert.equal(cleared.address, null);
});

test('delete a customer', async () => {
  const {stripe} = newTenant();
  const c = await stripe.customers.create({email: 'gone@example.com'});
  const d = await stripe.customers.del(c.id);
  assert.deepEqual(plain(d), {id: c.id, object: 'customer', deleted: true});
  const fetched = await stripe.customers.retrieve(c.id);
  assert.deepEqual(plain(fetched), {id: c.id, object: 'customer', deleted: true});
  const listed = await stripe.customers.list({limit: 100});
  assert.ok(!listed.data.some((x) => x.id === c.id));
});

test('retrieve / update an unknown customer: 404 resource_missing', async () => {
  const {stripe} = newTenant();
  const expected = {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: "No such customer: 'cus_doesnotexist'",
  };
  await expectStripeError(stripe.customers.retrieve('cus_doesnotexist'), expected);
  await expectStripeError(stripe.customers.update('cus_doesnotexist', {name: 'x'}), expected);
});

test('unknown parameter on customer create', async () => {
  const {stripe} = newTenant();
  await expectStripeError(stripe.customers.create({name: 'x', favourite_colour: 'green'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_unknown',
    param: 'favourite_colour',
    message: 'Received unknown parameter: favourite_colour',
  });
});

async function five(stripe) {
  const ids = [];
  for (let i = 1; i <= 5; i++) ids.push((await stripe.customers.create({name: `c${i}`})).id);
  return ids; // oldest first
}

test('list is newest first and paginates both ways', async () => {
  const {stripe} = newTenant();
  const [c1, c2, c3, c4, c5] = await five(stripe);
  const ids = (page) => page.data.map((c) => c.id);

  const p1 = await stripe.customers.list({limit: 2});
  assert.equal(p1.object, 'list');
  assert.equal(p1.url, '/v1/customers');
  assert.deepEqual(ids(p1), [c5, c4]);
  assert.equal(p1.has_more, true);

  const p2 = await stripe.customers.list({limit: 2, starting_after: c4});
  assert.deepEqual(ids(p2), [c3, c2]);
  assert.equal(p2.has_more, true);

  const p3 = await stripe.customers.list({limit: 2, starting_after: c2});
  assert.deepEqual(ids(p3), [c1]);
  assert.equal(p3.has_more, false);

  const back = await stripe.customers.list({limit: 2, ending_before: c1});
  assert.deepEqual(ids(back), [c3, c2]);
  assert.equal(back.has_more, true);

  const first = await stripe.customers.list({limit: 2, ending_before: c4});
  assert.deepEqual(ids(first), [c5]);
  assert.equal(first.has_more, false);

  const all = await stripe.customers.list();
  assert.deepEqual(plain(all), {object: 'list', data: plain(all.data), has_more: false, url: '/v1/customers'});
  assert.deepEqual(ids(all), [c5, c4, c3, c2, c1]);
});

test('auto-pagination: for await, autoPagingToArray, and backwards', async () => {
  const {stripe} = newTenant();
  const [c1, c2, c3, c4, c5] = await five(stripe);

  const seen = [];
  for await (const c of stripe.customers.list({limit: 2})) seen.push(c.id);
  assert.deepEqual(seen, [c5, c4, c3, c2, c1]);

  const arr = await stripe.customers.list({limit: 2}).autoPagingToArray({limit: 100});
  assert.deepEqual(
    arr.map((c) => c.id),
    [c5, c4, c3, c2, c1]
  );

  const backwards = [];
  for await (const c of stripe.customers.list({limit: 2, ending_before: c1})) backwards.push(c.id);
  assert.deepEqual(backwards, [c2, c3, c4, c5]);
});

test('list filters by exact, case-sensitive email', async () => {
  const {stripe} = newTenant();
  const a1 = (await stripe.customers.create({email: 'shared@example.com'})).id;
  await stripe.customers.create({email: 'other@example.com'});
  const a2 = (await stripe.customers.create({email: 'shared@example.com'})).id;
  const found = await stripe.customers.list({email: 'shared@example.com'});
  assert.deepEqual(
    found.data.map((c) => c.id),
    [a2, a1]
  );
  assert.deepEqual((await stripe.customers.list({email: 'SHARED@example.com'})).data, []);
});

test('list limit out of range and not an integer', async () => {
  const {stripe} = newTenant();
  await expectStripeError(stripe.customers.list({limit: 0}), {
    sdkType: TYPES.invalid,
    status: 400,
    param: 'limit',
    message: 'This value must be greater than or equal to 1.',
  });
  await expectStripeError(stripe.customers.list({limit: 101}), {
    sdkType: TYPES.invalid,
    status: 400,
    param: 'limit',
    message: 'This value must be less than or equal to 100.',
  });
  await expectStripeError(stripe.customers.list({limit: 'ten'}), {
    sdkType: TYPES.invalid,
    status: 400,
    code: 'parameter_invalid_integer',
    param: 'limit',
    message: 'Invalid integer: ten',
  });
});

test('customers are isolated between tenants', async () => {
  const a = newTenant();
  const b = newTenant();
  const mine = (await a.stripe.customers.create({email: 'mine@example.com'})).id;
  const theirs = (await b.stripe.customers.create({email: 'mine@example.com'})).id;
  assert.deepEqual(
    (await a.stripe.customers.list()).data.map((c) => c.id),
    [mine]
  );
  assert.deepEqual(
    (await b.stripe.customers.list()).data.map((c) => c.id),
    [theirs]
  );
  await expectStripeError(b.stripe.customers.retrieve(mine), {
    sdkType: TYPES.invalid,
    status: 404,
    code: 'resource_missing',
    param: 'id',
    message: `No such customer: '${mine}'`,
  });
  await assert.rejects(b.stripe.customers.del(mine), Stripe.errors.StripeInvalidRequestError);
  assert.equal((await a.stripe.customers.retrieve(mine)).email, 'mine@example.com');
});

test('basic auth reaches the same tenant as bearer', async () => {
  const t = newTenant();
  const resp = await raw('POST', '/v1/customers', {key: t.sk, auth: 'basic', data: {email: 'basic@example.com'}});
  assert.equal(resp.status, 200, resp.text);
  assert.equal(resp.json.email, 'basic@example.com');
  const again = await t.stripe.customers.retrieve(resp.json.id);
  assert.deepEqual(plain(again), resp.json);
});
