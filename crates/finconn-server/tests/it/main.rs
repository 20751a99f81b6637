//! finconn-server's integration tests: a real server on a random port, over HTTP, against SQLite and
//! PostgreSQL.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a failed test should panic with its cause")]

mod helpers;

mod accounts;
mod adversarial;
mod binary;
mod customers;
mod dashboard;
mod enablebanking;
mod idempotency;
mod link;
mod live;
mod logs;
mod metrics;
#[cfg(feature = "otel")]
mod otel;
#[cfg(not(feature = "otel"))]
mod otel_absent;
mod param_errors;
mod protocol;
mod readyz;
mod relink;
mod sandbox_data;
mod scripted;
mod sessions;
mod test_clocks;
mod wakeup;
mod webhooks;
