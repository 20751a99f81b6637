-- The request log is written for every answered /v1 request, GETs included. Its index on request_id (random
-- text) made each batch touch a random index page per row: on SQLite most of the log's write cost, a
-- third of a retrieve's. A search by request id reads one account's rows through request_log_by_account
-- instead (at most request_log_max_rows of them).
DROP INDEX request_log_by_request_id;
