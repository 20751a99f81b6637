-- Tenants, their keys, customers, sessions and the idempotency cache.
-- Objects keep their domain record as JSON in `data`; the columns beside it are what queries filter on.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    sandbox BOOLEAN NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,           -- SHA-256 of the key, hex; the key itself is never stored
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,              -- 'secret' | 'publishable'
    livemode BOOLEAN NOT NULL,
    sandbox BOOLEAN NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE customers (
    seq BIGSERIAL PRIMARY KEY,   -- list order and pagination cursor
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    email TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX customers_by_account ON customers (account_id, livemode, deleted, seq);

CREATE TABLE sessions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id, livemode, seq);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    status BIGINT,                   -- NULL while the first request runs
    body BYTEA,
    request_id TEXT,
    PRIMARY KEY (account_id, livemode, key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);
