// Shared helpers for the stripe-node conformance suite.
//
// The suite talks to a running finconn whose base URL is in FINCONN_BASE_URL
// (tests/sdk/run.sh starts one). Each test provisions its own sandbox tenant:
// a random sk_test_<suffix> key provisions itself on first use, and
// its publishable key is derived from it (pk_test_ + the first 32 hex digits of its SHA-256).

import assert from 'node:assert/strict';
import crypto, {randomInt} from 'node:crypto';
import {spawnSync} from 'node:child_process';
import Stripe from 'stripe';

const RAW_BASE = process.env.FINCONN_BASE_URL;
if (!RAW_BASE) {
  throw new Error(
    'FINCONN_BASE_URL is not set: start finconn and point the suite at it (tests/sdk/run.sh does both)'
  );
}
export const BASE_URL = RAW_BASE.replace(/\/+$/, '');
const base = new URL(BASE_URL);

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomSuffix(n = 24) {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

export function makeClient(apiKey) {
  return new Stripe(apiKey, {
    host: base.hostname,
    port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
    protocol: base.protocol.replace(':', ''),
    maxNetworkRetries: 0,
    timeout: 15000,
  });
}

export function newTenant(suffix = randomSuffix()) {
  const sk = `sk_test_${suffix}`;
  // Derived one way from the secret key: pk_test_ + the first 32 hex digits of its SHA-256.
  const pk = `pk_test_${crypto.createHash('sha256').update(sk).digest('hex').slice(0, 32)}`;
  return {suffix, sk, pk, stripe: makeClient(sk)};
}

// A new account with a registered key pair, from `finconn keys create [--live]`
// against the server's database (run.sh passes FINCONN_BIN and FINCONN_DATABASE_URL).
// With `account`, the pair is added beside that account's existing keys.
export function keysCreate({live, account}) {
  const bin = process.env.FINCONN_BIN;
  const db = process.env.FINCONN_DATABASE_URL;
  assert.ok(bin && db, 'FINCONN_BIN and FINCONN_DATABASE_URL must be set (run.sh sets them)');
  const args = ['keys', 'create', '--database', db, ...(live ? ['--live'] : []), ...(account ? ['--account', account] : [])];
  const out = spawnSync(bin, args, {encoding: 'utf8', timeout: 30000});
  assert.equal(out.status, 0, `finconn ${args.join(' ')} failed: ${out.stderr}`);
  const mode = live ? 'live' : 'test';
  const found = out.stdout.match(/\bacct_[A-Za-z0-9]+/);
  const sk = out.stdout.match(new RegExp(`\\bsk_${mode}_[A-Za-z0-9_]+`));
  const pk = out.stdout.match(new RegExp(`\\bpk_${mode}_[A-Za-z0-9_]+`));
  assert.ok(found && sk && pk, `unexpected keys create output: ${out.stdout}`);
  if (account) assert.equal(found[0], account, out.stdout);
  return {account: found[0], sk: sk[0], pk: pk[0], stripe: makeClient(sk[0])};
}

// The parsed JSON the server sent; stripe-node hands it back as is and hangs
// lastResponse on it as a non-enumerable property.
export function plain(obj) {
  return JSON.parse(JSON.stringify(obj));
}

export function header(obj, name) {
  const h = obj.lastResponse?.headers ?? {};
  return h[name.toLowerCase()];
}

// --- raw HTTP ---------------------------------------------------------------

export function formEncode(params, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(params)) {
    const name = prefix ? `${prefix}[${k}]` : k;
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (item !== null && typeof item === 'object') out.push(...formEncode(item, `${name}[${i}]`));
        else out.push([`${name}[${i}]`, String(item)]);
      });
    } else if (v !== null && typeof v === 'object') {
      out.push(...formEncode(v, name));
    } else {
      out.push([name, String(v)]);
    }
  }
  return out;
}

export async function raw(method, path, {key, auth = 'bearer', data, query, headers = {}} = {}) {
  const h = {...headers};
  if (key !== undefined) {
    h.Authorization =
      auth === 'basic' ? `Basic ${Buffer.from(`${key}:`).toString('base64')}` : `Bearer ${key}`;
  }
  let url = BASE_URL + path;
  if (query) {
    const pairs = Array.isArray(query) ? query : formEncode(query);
    url += '?' + new URLSearchParams(pairs).toString();
  }
  let body;
  if (data) {
    const pairs = Array.isArray(data) ? data : formEncode(data);
    body = new URLSearchParams(pairs).toString();
    h['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  const resp = await fetch(url, {method, headers: h, body});
  const text = await resp.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {status: resp.status, headers: resp.headers, text, json};
}

// --- assertions -------------------------------------------------------------

// The error body exactly as sent: stripe-node copies every body field onto
// err.raw and adds headers/statusCode/requestId of its own.
export function errorBody(err) {
  const {headers, statusCode, requestId, ...body} = err.raw;
  return body;
}

export const TYPES = {
  invalid: 'StripeInvalidRequestError',
  auth: 'StripeAuthenticationError',
  permission: 'StripePermissionError',
  idempotency: 'StripeIdempotencyError',
};

// code/param undefined => must be absent from the body (errors.md: omitted, not null).
export function assertStripeError(
  err,
  {sdkType, status, message, type = 'invalid_request_error', code, param}
) {
  assert.ok(err instanceof Stripe.errors.StripeError, `not a StripeError: ${err}`);
  assert.equal(err.type, sdkType, `${err.type}: ${err.message}`);
  assert.equal(err.statusCode, status);
  const body = errorBody(err);
  assert.equal(body.type, type);
  assert.equal(err.message, message);
  assert.equal(body.message, message);
  assert.equal(body.code, code);
  assert.equal(body.param, param);
  assert.equal(err.code, code);
  assert.equal(err.param, param);
  for (const [k, v] of Object.entries(body)) assert.notEqual(v, null, `null-valued key ${k}`);
  if (code === undefined) assert.equal(body.doc_url, undefined);
  else assert.equal(body.doc_url, `https://stripe.com/docs/error-codes/${code.replaceAll('_', '-')}`);
  const allowed = new Set(['type', 'message', 'code', 'param', 'doc_url', 'request_log_url']);
  for (const k of Object.keys(body)) assert.ok(allowed.has(k), `unexpected error field ${k}`);
  return body;
}

export async function expectStripeError(promise, expected) {
  let caught;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, 'expected the call to fail');
  return assertStripeError(caught, expected);
}

// errors.md §3.2: how Stripe masks a key in 'Invalid API Key provided'.
export function maskKey(key) {
  const n = key.length;
  if (n > 12) {
    const tail = key.startsWith('rk_') ? 6 : 4;
    return key.slice(0, 8) + '*'.repeat(n - 8 - tail) + key.slice(n - tail);
  }
  if (n >= 5) return '*'.repeat(n - 4) + key.slice(n - 4);
  return key;
}

export const EMPTY_ACCOUNTS = {
  object: 'list',
  data: [],
  has_more: false,
  url: '/v1/financial_connections/accounts',
};

export function checkGeneratedSessionFields(s) {
  assert.match(s.id, /^fcsess_[A-Za-z0-9]+$/);
  assert.equal(s.object, 'financial_connections.session');
  assert.equal(s.livemode, false);
  assert.ok(s.client_secret.startsWith(`${s.id}_secret_`), s.client_secret);
  assert.match(s.client_secret.slice(s.id.length + '_secret_'.length), /^[A-Za-z0-9]+$/);
  assert.deepEqual(plain(s.accounts), EMPTY_ACCOUNTS);
}

export function withoutGenerated(s) {
  const {id, object, livemode, client_secret, accounts, ...rest} = plain(s);
  return rest;
}
