-- Test clocks, and what lives on their time: customers, linked accounts and jobs.
CREATE TABLE test_clocks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    deletes_after INTEGER NOT NULL,
    frozen_time INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX test_clocks_by_account ON test_clocks (account_id, livemode, deleted, seq);
CREATE INDEX test_clocks_by_deletes_after ON test_clocks (deleted, deletes_after);

ALTER TABLE customers ADD COLUMN test_clock TEXT;
CREATE INDEX customers_by_test_clock ON customers (test_clock) WHERE test_clock IS NOT NULL;

ALTER TABLE fc_accounts ADD COLUMN test_clock TEXT;
CREATE INDEX fc_accounts_by_test_clock ON fc_accounts (test_clock) WHERE test_clock IS NOT NULL;

-- A job of a test clock: `clock_run_at` is when it is due on the clock. Until the clock gets there its
-- `run_at` is parked far in the future; reaching it sets `run_at` to 0 (due now), so the claim query and its
-- index stay the same for every job.
ALTER TABLE jobs ADD COLUMN test_clock TEXT;
ALTER TABLE jobs ADD COLUMN clock_run_at INTEGER;
CREATE INDEX jobs_by_test_clock ON jobs (test_clock, done_at, clock_run_at) WHERE test_clock IS NOT NULL;
