-- One row the readiness probe writes: a database that refuses writes (disk full, read-only) is not ready.
CREATE TABLE readiness (id INTEGER PRIMARY KEY, checked_at BIGINT NOT NULL);
