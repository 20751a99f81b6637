//! `GET /readyz`: whether this process should get traffic now. `/healthz` (in `router.rs`) is liveness.
//!
//! Ready means the database answers a query and holds exactly the migrations built into this binary: none
//! missing (run `finconn migrate`), none newer (a newer finconn migrated the database: this one would
//! misread it), none changed or left half-applied. The probe reads only: a load balancer may call it every
//! second. Its body names what is wrong, never how to reach the database.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use finconn_core::store::MigrationStatus;
use serde_json::{json, Value};

use crate::startup::AppState;

/// A probe that waits longer than this says "unreachable": a pool retrying a refused connection would
/// otherwise hold the probe for its whole acquire timeout (10 s), past any load balancer's patience.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn readyz(State(app): State<AppState>) -> Response {
    let (status, body) = match tokio::time::timeout(READY_TIMEOUT, app.core.migration_status()).await {
        Ok(Ok(migrations)) => readiness(&migrations),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            unreachable("the database does not answer")
        }
        Err(_) => {
            tracing::warn!(seconds = READY_TIMEOUT.as_secs(), "readiness: the database did not answer in time");
            unreachable("the database did not answer in time")
        }
    };
    crate::json::pretty_value(status, &body)
}

fn unreachable(message: &str) -> (StatusCode, Value) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"status": "unavailable", "reasons": ["database_unreachable"], "message": message, "database": "unreachable"}),
    )
}

/// The answer for a database that answered with these migrations.
fn readiness(m: &MigrationStatus) -> (StatusCode, Value) {
    let details = json!({
        "latest": m.latest,
        "pending": m.pending,
        "unknown": m.unknown,
        "modified": m.modified,
        "failed": m.failed,
    });
    if m.is_current() {
        return (StatusCode::OK, json!({"status": "ready", "database": "ok", "migrations": details}));
    }
    let mut reasons = Vec::new();
    let mut messages = Vec::new();
    if !m.pending.is_empty() {
        reasons.push("migrations_pending");
        messages.push("the database lacks migrations of this build (run `finconn migrate`)");
    }
    if !m.unknown.is_empty() {
        reasons.push("migrations_unknown");
        messages.push("the database holds migrations newer than this build (a newer finconn migrated it)");
    }
    if !m.modified.is_empty() {
        reasons.push("migrations_modified");
        messages.push("applied migrations differ from this build's");
    }
    if !m.failed.is_empty() {
        reasons.push("migrations_failed");
        messages.push("a migration started and did not finish");
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "status": "unavailable",
            "reasons": reasons,
            "message": messages.join("; "),
            "database": "ok",
            "migrations": details,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_migrations_are_ready_and_others_name_each_problem() {
        let current = MigrationStatus { latest: 9, ..MigrationStatus::default() };
        let (status, body) = readiness(&current);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["migrations"]["latest"], 9);

        let odd = MigrationStatus { latest: 9, pending: vec![9], unknown: vec![10], ..MigrationStatus::default() };
        let (status, body) = readiness(&odd);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["reasons"], json!(["migrations_pending", "migrations_unknown"]));
        assert_eq!(body["migrations"]["unknown"], json!([10]));
    }
}
