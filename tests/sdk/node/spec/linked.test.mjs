// Completed sessions and their linked accounts, read through stripe-node.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {newTenant, raw} from '../lib/helpers.mjs';

test('a session completed by the test helper lists its accounts', async () => {
  const t = newTenant();
  const customer = await t.stripe.customers.create({email: 'linked@example.com'});
  const session = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: customer.id},
    permissions: ['balances', 'transactions'],
    limits: {accounts: 2},
  });
  const done = await raw('POST', `/v1/test_helpers/financial_connections/sessions/${session.id}/complete`, {
    key: t.sk,
    data: {institution: 'fcinst_TestOAuthInstitution'},
  });
  assert.equal(done.status, 200);
  const again = await t.stripe.financialConnections.sessions.retrieve(session.id);
  assert.deepEqual(again.accounts.data.map((a) => a.display_name), ['Success', 'High Balance']);
  for (const a of again.accounts.data) {
    assert.match(a.id, /^fca_[A-Za-z0-9]+$/);
    assert.equal(a.object, 'financial_connections.account');
    assert.equal(a.institution_name, 'Test OAuth Institution');
    assert.deepEqual(a.permissions, ['balances', 'transactions']);
    assert.equal(a.status, 'active');
    assert.deepEqual(a.subscriptions, []);
    assert.equal(a.transaction_refresh, null);
  }
});
