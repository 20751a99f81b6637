//! The request log: every answered `/v1` request of an account (method, path, status, duration, request id,
//! idempotency key, the error's type, code and param; never a body or a query string), as Stripe
//! Workbench's logs show it.
//!
//! The middleware builds the row once the answer is known and hands it to a bounded channel without
//! waiting; one background task per server takes what has arrived (up to `BATCH` rows) and writes it in one
//! transaction. It is woken by the first row of a batch only: it then sleeps `LINGER` and takes what came
//! meanwhile, instead of being woken (and re-arming its timer) by every row as it had been, thousands of
//! times a second under load. A full channel drops the row, and a failed write drops its batch: both are
//! logged (a warning per `WARN_EVERY` drops), never answered to the client, and never slow it down.
//!
//! The same task keeps each account and mode near its row limit as rows arrive: once one has had a tenth of
//! the limit (`trim_every`) written since its last trim, its oldest rows beyond the limit are removed before
//! the next batch. The minute's prune (`dashboard::prune_request_log_every_minute`) still applies the age
//! limit and catches every account; trimming as it goes keeps that prune small, so a busy minute's rows are
//! not deleted all at once (a million rows' delete had taken a quarter of a retrieve load's throughput for
//! seconds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use finconn_core::console::{RequestLogRecord, RequestLogRetention};
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

/// Rows waiting at most: what arrives in `LINGER` at 400,000 requests a second.
const CAPACITY: usize = 20_000;
/// Rows written in one transaction at most (about one block of `request_log_blocks` per account).
const BATCH: usize = 1000;
/// How long a batch gathers after its first row.
const LINGER: Duration = Duration::from_millis(50);
const WARN_EVERY: u64 = 1000;

/// The sending side, and the task that writes (started with the first row, on the server's runtime).
pub struct Writer {
    core: Finconn,
    retention: RequestLogRetention,
    enabled: bool,
    tx: OnceLock<mpsc::Sender<RequestLogRecord>>,
    dropped: AtomicU64,
}

impl Writer {
    pub fn new(core: Finconn, retention: RequestLogRetention) -> Self {
        Self { core, retention, enabled: retention.max_rows > 0, tx: OnceLock::new(), dropped: AtomicU64::new(0) }
    }

    fn send(&self, row: RequestLogRecord) {
        if !self.enabled {
            return;
        }
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            tokio::spawn(write_batches(self.core.clone(), self.retention, rx));
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

/// Rows an account and mode takes between two trims: a tenth of the limit, at least 100.
fn trim_every(retention: RequestLogRetention) -> u64 {
    u64::try_from(retention.max_rows / 10).unwrap_or(0).max(100)
}

/// Accounts and modes counted at most, between two of the minute's prunes (which cover every account).
const TRIM_TRACKED: usize = 10_000;

async fn write_batches(core: Finconn, retention: RequestLogRetention, mut rx: mpsc::Receiver<RequestLogRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut written: std::collections::HashMap<Scope, u64> = std::collections::HashMap::new();
    // The first row wakes the task; the rest of the batch is taken without a wake-up each. A batch that
    // arrived whole (a backlog) is written at once.
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(row) => batch.push(row),
                    Err(_) => break,
                }
            }
        }
        let result = core.record_requests(&batch).await;
        if result.is_ok() {
            off_the_workers(trim(&core, retention, &batch, &mut written)).await;
        }
        if let Err(e) = result {
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

/// Runs `work` without holding up the requests queued on this worker thread: on the multi-threaded runtime
/// (`finconn serve`), `block_in_place` first hands them to another thread, then this one runs `work` to its
/// end. For the trims and prunes, whose reads on SQLite walk thousands of index entries synchronously in
/// the calling thread: under a retrieve load, a trim's walk held its worker 0.7 ms at the median, 2.3 ms
/// at p90 and 5.5 ms at most, 20 to 40 times a second, and every request queued behind it waited as long.
/// On a current-thread runtime (tests) there is no other thread: `work` is awaited as it is.
pub(crate) async fn off_the_workers<F: std::future::Future>(work: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(work))
        }
        _ => work.await,
    }
}

/// Counts the batch's rows per account and mode (`written`: rows since its last trim), and trims those that
/// reached `trim_every`.
async fn trim(
    core: &Finconn,
    retention: RequestLogRetention,
    batch: &[RequestLogRecord],
    written: &mut std::collections::HashMap<Scope, u64>,
) {
    let every = trim_every(retention);
    let mut due: Vec<&Scope> = Vec::new();
    for row in batch {
        let w = match written.get_mut(&row.scope) {
            Some(w) => w,
            None => {
                if written.len() >= TRIM_TRACKED {
                    written.clear();
                }
                written.entry(row.scope.clone()).or_insert(0)
            }
        };
        *w += 1;
        if *w >= every {
            *w = 0;
            if !due.contains(&&row.scope) {
                due.push(&row.scope);
            }
        }
    }
    for scope in due {
        match core.trim_request_log(scope, retention).await {
            Ok(removed) if removed > 0 => {
                tracing::debug!(removed, account = %scope.account, "trimmed the request log");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "trimming the request log failed"),
        }
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
                .get(crate::headers::IDEMPOTENCY_KEY)
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
        let request_id =
            res.headers().get(crate::headers::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
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
