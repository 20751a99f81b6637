-- Account data (ownerships, owners, transactions) and the durable jobs table.
CREATE TABLE ownerships (
    id TEXT PRIMARY KEY,
    fc_account_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX ownerships_by_fc_account ON ownerships (fc_account_id);

CREATE TABLE owners (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ownership_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX owners_by_ownership ON owners (ownership_id, seq);

-- One row per finished transaction refresh: `seq` orders them for transaction_refresh[after].
CREATE TABLE transaction_refreshes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    fc_account_id TEXT NOT NULL
);

CREATE TABLE transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    fc_account_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    transacted_at INTEGER NOT NULL,
    refresh_seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (fc_account_id, provider_id)
);
CREATE INDEX transactions_by_account ON transactions (fc_account_id, transacted_at, seq);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    kind TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX jobs_due ON jobs (done_at, run_at);
