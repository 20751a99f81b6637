-- Tenants, their keys, customers, sessions and the idempotency cache.
-- Objects keep their domain record as JSON in `data`; the columns beside it are what queries filter on.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    sandbox INTEGER NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,           -- SHA-256 of the key, hex; the key itself is never stored
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,              -- 'secret' | 'publishable'
    livemode INTEGER NOT NULL,
    sandbox INTEGER NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE customers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- list order and pagination cursor
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    email TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX customers_by_account ON customers (account_id, livemode, deleted, seq);

CREATE TABLE sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id, livemode, seq);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    status INTEGER,                  -- NULL while the first request runs
    body BLOB,
    request_id TEXT,
    PRIMARY KEY (account_id, livemode, key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);
