// Live and test mode are separate. Live keys come only from
// `finconn keys create --live --database URL` (run.sh passes FINCONN_BIN and
// FINCONN_DATABASE_URL); when this finconn has no such command, the live-key
// test is skipped with the reason.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {newTenant, makeClient} from '../lib/helpers.mjs';

function keysCreateSupport() {
  const bin = process.env.FINCONN_BIN;
  const db = process.env.FINCONN_DATABASE_URL;
  if (!bin || !db) return 'FINCONN_BIN / FINCONN_DATABASE_URL not set';
  const help = spawnSync(bin, ['keys', 'create', '--help'], {encoding: 'utf8', timeout: 20000});
  if (help.error) return `cannot run ${bin}: ${help.error.message}`;
  if (help.status !== 0 || !`${help.stdout}${help.stderr}`.includes('--live')) {
    return 'this finconn has no `keys create --live`';
  }
  return null;
}

function liveKey() {
  const out = spawnSync(
    process.env.FINCONN_BIN,
    ['keys', 'create', '--live', '--database', process.env.FINCONN_DATABASE_URL],
    {encoding: 'utf8', timeout: 30000}
  );
  assert.equal(out.status, 0, out.stderr);
  const sk = out.stdout.match(/\bsk_live_[A-Za-z0-9_]+/);
  assert.ok(sk, `no sk_live_ key in ${out.stdout}`);
  assert.match(out.stdout, /\bpk_live_[A-Za-z0-9_]+/);
  return sk[0];
}

const whyNot = keysCreateSupport();

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

test('a live key cannot read a test-mode session', {skip: whyNot ?? false}, async () => {
  const t = newTenant();
  const c = await t.stripe.customers.create({name: 't'});
  const s = await t.stripe.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: c.id},
    permissions: ['balances'],
  });
  const live = makeClient(liveKey());
  await assert.rejects(live.financialConnections.sessions.retrieve(s.id), (e) => {
    assert.equal(e.type, 'StripeInvalidRequestError');
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
    assert.equal(e.param, 'id');
    assert.ok(e.message.startsWith(`No such financial_connections.session: '${s.id}'`), e.message);
    return true;
  });
  const lc = await live.customers.create({name: 'live'});
  assert.equal(lc.livemode, true);
  const ls = await live.financialConnections.sessions.create({
    account_holder: {type: 'customer', customer: lc.id},
    permissions: ['balances'],
  });
  assert.equal(ls.livemode, true);
  await assert.rejects(t.stripe.financialConnections.sessions.retrieve(ls.id), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
    return true;
  });
});
