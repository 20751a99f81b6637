//! The request log: every answered `/v1` request of an account (method, path, status, duration, request id,
//! idempotency key, the error's type, code and param; never a body or a query string), as Stripe
//! Workbench's logs show it.
//!
//! The middleware builds the row once the answer is known and hands it to a bounded channel without
//! waiting; one background task per server takes what has arrived (up to `BATCH` rows or `LINGER`) and
//! writes it in one transaction. A full channel drops the row, and a failed write drops its batch: both are
//! logged (a warning per `WARN_EVERY` drops), never answered to the client, and never slow it down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use finconn_core::console::RequestLogRecord;
use finconn_core::{Finconn, Scope};
use tokio::sync::mpsc;

use crate::startup::AppState;

/// Whose request it was: `api_context` puts it on the response once the key was accepted.
#[derive(Clone, Debug)]
pub struct RequestScope(pub Scope);

/// The error an `ApiError` answered with (on its response's extensions).
#[derive(Clone, Debug, Default)]
pub struct ErrorSummary {
    pub kind: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
}

const CAPACITY: usize = 10_000;
const BATCH: usize = 500;
const LINGER: Duration = Duration::from_millis(100);
const WARN_EVERY: u64 = 1000;

/// The sending side, and the task that writes (started with the first row, on the server's runtime).
pub struct Writer {
    core: Finconn,
    enabled: bool,
    tx: OnceLock<mpsc::Sender<RequestLogRecord>>,
    dropped: AtomicU64,
}

impl Writer {
    pub fn new(core: Finconn, enabled: bool) -> Self {
        Self { core, enabled, tx: OnceLock::new(), dropped: AtomicU64::new(0) }
    }

    fn send(&self, row: RequestLogRecord) {
        if !self.enabled {
            return;
        }
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            tokio::spawn(write_batches(self.core.clone(), rx));
            tx
        });
        if tx.try_send(row).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(WARN_EVERY) {
                tracing::warn!(dropped = n + 1, "request log: the writer is behind; rows dropped");
            }
        }
    }
}

async fn write_batches(core: Finconn, mut rx: mpsc::Receiver<RequestLogRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    // Rows are taken as many at a time as have arrived (`recv_many`), not one by one: under load a wake-up
    // of this task collects hundreds.
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                Ok(_) | Err(_) => break,
            }
        }
        if let Err(e) = core.record_requests(&batch).await {
            // At shutdown the pool (PostgreSQL) or the writer thread (SQLite) stops before the last rows
            // arrive: not a fault worth a warning.
            if matches!(e, finconn_core::DomainError::Store(finconn_core::StoreError::Closed)) {
                tracing::debug!(
                    rows = batch.len(),
                    "request log: the database closed before the last rows were written"
                );
            } else {
                tracing::warn!(error = %e, rows = batch.len(), "request log: writing a batch failed; its rows are lost");
            }
        }
        batch.clear();
    }
}

/// The first `n` characters of `s` (all of it when shorter), without copying it character by character.
fn prefix_chars(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s; // no more characters than bytes
    }
    s.char_indices().nth(n).map_or(s, |(end, _)| &s[..end])
}

/// A `/v1` request's row, begun before the request runs (`router::v1`) and finished with its answer.
pub struct Pending {
    start: Instant,
    created_ms: i64,
    method: String,
    path: String,
    idempotency_key: Option<String>,
}

impl Pending {
    pub fn start(app: &AppState, req: &Request) -> Self {
        Self {
            start: Instant::now(),
            created_ms: app.core.now().saturating_mul(1000),
            method: req.method().as_str().to_owned(),
            path: prefix_chars(req.uri().path(), 500).to_owned(),
            idempotency_key: req
                .headers()
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(|v| prefix_chars(v, 255).to_owned()),
        }
    }

    /// Queues the row, when a key was accepted (`RequestScope` on the response): refused requests belong to
    /// no account's log.
    pub fn finish(self, app: &AppState, res: &Response) {
        let Some(RequestScope(scope)) = res.extensions().get::<RequestScope>().cloned() else {
            return;
        };
        let error = res.extensions().get::<ErrorSummary>().cloned().unwrap_or_default();
        let request_id = res.headers().get("request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        app.dashboard.log.send(RequestLogRecord {
            seq: 0,
            scope,
            request_id,
            created_ms: self.created_ms,
            method: self.method,
            path: self.path,
            status: res.status().as_u16(),
            duration_ms: i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX),
            idempotency_key: self.idempotency_key,
            error_type: error.kind,
            error_code: error.code,
            error_param: error.param,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_chars;

    #[test]
    fn prefix_counts_characters_not_bytes() {
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("héllo", 5), "héllo");
        assert_eq!(prefix_chars("héllo", 9), "héllo");
        assert_eq!(prefix_chars("", 3), "");
        assert_eq!(prefix_chars("abc", 0), "");
    }
}
