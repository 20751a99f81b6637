// Webhooks through stripe-node: deliveries verified with stripe.webhooks.constructEvent.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {newTenant, raw} from '../lib/helpers.mjs';

function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({body: Buffer.concat(chunks).toString('utf8'), signature: req.headers['stripe-signature']});
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({got, server, url: `http://127.0.0.1:${server.address().port}/webhook`})),
  );
}

test('a delivery verifies with constructEvent, and a forged one does not', async () => {
  const t = newTenant();
  const rx = await receiver();
  try {
    const endpoint = await t.stripe.webhookEndpoints.create({url: rx.url, enabled_events: ['financial_connections.account.created']});
    assert.match(endpoint.secret, /^whsec_/);
    const customer = await t.stripe.customers.create({});
    const session = await t.stripe.financialConnections.sessions.create({
      account_holder: {type: 'customer', customer: customer.id},
      permissions: ['balances'],
    });
    const done = await raw('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`, {
      key: t.sk,
      data: {institution: 'fcinst_TestInstitution', accounts: ['Success']},
    });
    assert.equal(done.status, 200);
    const deadline = Date.now() + 15000;
    while (rx.got.length < 1) {
      assert.ok(Date.now() < deadline, 'no delivery');
      await new Promise((r) => setTimeout(r, 50));
    }
    const {body, signature} = rx.got[0];
    const event = t.stripe.webhooks.constructEvent(body, signature, endpoint.secret);
    assert.equal(event.type, 'financial_connections.account.created');
    assert.equal(event.data.object.id, done.json.accounts.data[0].id);
    assert.throws(() => t.stripe.webhooks.constructEvent(body, signature, 'whsec_wrong'));
    assert.throws(() => t.stripe.webhooks.constructEvent(body + ' ', signature, endpoint.secret));
  } finally {
    rx.server.close();
  }
});
