-- The request log in blocks: one row per batch, account and mode, holding that batch's rows as a JSON array
-- (see crates/finconn-store/src/request_log.rs). A table row and an index entry per request made writing
-- and trimming the log a fifth of a retrieve's instructions. A row's seq is block * 1024 + its place.
CREATE TABLE request_log_blocks (
    block BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    oldest_ms BIGINT NOT NULL,
    newest_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX request_log_blocks_by_account ON request_log_blocks (account_id, livemode, block);

-- The rows logged so far, each a block of its own (block = its seq: order kept, new blocks numbered after).
INSERT INTO request_log_blocks (block, account_id, livemode, oldest_ms, newest_ms, n, body)
SELECT seq, account_id, livemode, created_ms, created_ms, 1,
       json_build_array(json_build_array(0, created_ms, request_id, method, path, status, duration_ms,
                                         idempotency_key, error_type, error_code, error_param))::text
FROM request_log;
SELECT setval(pg_get_serial_sequence('request_log_blocks', 'block'),
              COALESCE((SELECT max(block) FROM request_log_blocks), 0) + 1, false);
DROP TABLE request_log;
