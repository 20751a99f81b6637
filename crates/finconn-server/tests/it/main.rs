//! finconn-server's integration tests: a real server on a random port, over HTTP, against SQLite and
//! PostgreSQL.

mod helpers;

mod customers;
mod idempotency;
mod protocol;
mod sessions;
