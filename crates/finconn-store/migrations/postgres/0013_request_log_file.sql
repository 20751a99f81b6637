-- Mirrors SQLite's 0013, which moves SQLite's request log into a file of its own. PostgreSQL keeps its
-- request_log table: nothing changes here.
SELECT 1;
