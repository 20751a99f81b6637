-- The request log is pruned by age through request_log_by_account (an account's rows are logged in age
-- order), so its index on created_ms only cost an entry to write, and later to delete, per request answered.
DROP INDEX IF EXISTS request_log_by_created;
