-- Account data (ownerships, owners, transactions) and the durable jobs table.
CREATE TABLE ownerships (
    id TEXT PRIMARY KEY,
    fc_account_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX ownerships_by_fc_account ON ownerships (fc_account_id);

CREATE TABLE owners (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ownership_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX owners_by_ownership ON owners (ownership_id, seq);

-- One row per finished transaction refresh: `seq` orders them for transaction_refresh[after].
CREATE TABLE transaction_refreshes (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    fc_account_id TEXT NOT NULL
);

CREATE TABLE transactions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    fc_account_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    transacted_at BIGINT NOT NULL,
    refresh_seq BIGINT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (fc_account_id, provider_id)
);
CREATE INDEX transactions_by_account ON transactions (fc_account_id, transacted_at, seq);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    kind TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX jobs_due ON jobs (done_at, run_at);
