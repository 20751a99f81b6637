-- The request log moves to a file of its own beside the database (`<file>-requests`): its commits, one
-- batch every few milliseconds under load, made every reader of this file start over with a cold page
-- cache. finconn copies the rows of this table into that file (keeping their seq) before this migration runs.
DROP TABLE request_log;
