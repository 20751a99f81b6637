-- The dashboard's request log: one row per answered /v1 request of an account (never its body). Written in
-- batches after the answer left; pruned by age and by rows per account and mode (request_log_* settings).
CREATE TABLE request_log (
    seq BIGSERIAL PRIMARY KEY,   -- newest first, and the page cursor
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    request_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_ms BIGINT NOT NULL,
    idempotency_key TEXT,
    error_type TEXT,
    error_code TEXT,
    error_param TEXT
);
CREATE INDEX request_log_by_account ON request_log (account_id, livemode, seq);
CREATE INDEX request_log_by_request_id ON request_log (request_id);
CREATE INDEX request_log_by_created ON request_log (created_ms);
