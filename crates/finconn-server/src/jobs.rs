//! The job runner: claims due jobs from the database (several finconn processes may run it against one
//! PostgreSQL; each job goes to one of them), fetches from the account's provider with a timeout, and
//! hands the result to the domain, which writes it in one transaction with the job's completion.

use std::sync::Arc;
use std::time::Duration;

use finconn_core::accounts::{Fetch, Fetched};
use finconn_core::events::AttemptResult;
use finconn_core::model::{Job, JobKind};
use finconn_core::provider::{AccountData, FetchError};
use finconn_core::Finconn;
use tokio::sync::{watch, Notify};

use crate::startup::AppState;

/// How long a claimed job is ours before another process may take it over (a crashed runner).
const LEASE_SECONDS: i64 = 120;
/// How many jobs one claim takes.
const BATCH: i64 = 16;

/// Wakes the runner when a request has just queued work, so it does not wait for the next poll.
#[derive(Clone, Default)]
pub struct JobsHandle(Arc<Notify>);

impl JobsHandle {
    pub fn notify_one(&self) {
        self.0.notify_one();
    }
}

fn timed_out() -> FetchError {
    FetchError::Refused("the institution did not answer in time".into())
}

/// The job's kind as stored (`refresh_balance`, `deliver_webhook`, …): its span's `job.kind`.
fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::RefreshBalance { .. } => "refresh_balance",
        JobKind::RefreshOwnership { .. } => "refresh_ownership",
        JobKind::RefreshTransactions { .. } => "refresh_transactions",
        JobKind::SubscriptionTick { .. } => "subscription_tick",
        JobKind::FanoutEvent { .. } => "fanout_event",
        JobKind::DeliverWebhook { .. } => "deliver_webhook",
        JobKind::AdvanceTestClock { .. } => "advance_test_clock",
        JobKind::SyncConnection { .. } => "sync_connection",
    }
}

/// Runs one job, in a span of its own (`job`: its id, kind and account; a test clock's jobs nest in the
/// advance's). Boxed: advancing a test clock runs the clock's jobs through here too.
fn run_job<'a>(app: &'a AppState, job: &'a Job) -> BoxedRun<'a> {
    let span = tracing::info_span!(
        "job",
        "job.id" = job.id,
        "job.kind" = kind_name(&job.kind),
        account = %job.scope.account,
    );
    Box::pin(tracing::Instrument::instrument(run_job_in_span(app, job), span))
}

async fn run_job_in_span(app: &AppState, job: &Job) -> Result<(), finconn_core::DomainError> {
    match &job.kind {
        JobKind::FanoutEvent { event, resend_to, resent_at } => {
            app.core.fanout_event(job, event, resend_to.as_deref(), *resent_at).await?;
            app.jobs.notify_one();
            Ok(())
        }
        JobKind::DeliverWebhook { delivery } => deliver(app, job, *delivery).await,
        JobKind::AdvanceTestClock { clock } => advance(app, job, clock).await,
        JobKind::SyncConnection { connection } => {
            let synced = app.core.sync_connection(job, connection).await;
            crate::metrics::refresh("connector", "sync", synced.is_ok());
            synced?;
            // Its events' fan-out and any follow-up sync are due now.
            app.jobs.notify_one();
            Ok(())
        }
        _ => fetch(app, job).await,
    }
}

/// How long one advancing job works before it hands over to a new job (well inside its lease).
const ADVANCE_SLICE: Duration = Duration::from_secs(20);
/// An advance that failed this many times leaves its clock in `internal_failure`.
const MAX_ADVANCE_ATTEMPTS: i64 = 5;

/// Advances a test clock: runs the clock's due jobs itself (so an advance never waits for the poll, nor for
/// a test's `drain`), moves the clock to the next due job, and so on until the target, where it is `ready`.
async fn advance(app: &AppState, job: &Job, clock: &str) -> Result<(), finconn_core::DomainError> {
    use finconn_core::test_clocks::Step;
    if job.attempts > MAX_ADVANCE_ATTEMPTS {
        // It kept failing (each failure waits out a lease): the clock says so, and the job ends.
        tracing::warn!(
            clock,
            attempts = job.attempts,
            "a test clock could not be advanced; marking it internal_failure"
        );
        app.core.fail_test_clock(&job.scope, clock).await?;
        let empty = finconn_core::accounts::RefreshOutcome::default();
        return app.core.close_job(&job.scope, job.id, &empty).await;
    }
    let started = std::time::Instant::now();
    let mut idle_rounds = 0u32;
    loop {
        match app.core.advance_step(&job.scope, clock).await? {
            Step::Done => break,
            Step::Moved => idle_rounds = 0,
            Step::RunDue => {
                let _now = app.core.now();
                let due = app.core.lease_jobs(LEASE_SECONDS, BATCH, None, Some(clock)).await?;
                if due.is_empty() {
                    // Another process holds them: give it a moment. A lease that never ends (a crashed
                    // process) lapses after LEASE_SECONDS, and the jobs come back here.
                    idle_rounds += 1;
                    tokio::time::sleep(Duration::from_millis(20.min(u64::from(idle_rounds)))).await;
                } else {
                    idle_rounds = 0;
                    let runs = due.iter().map(|j| run_job(app, j));
                    for (j, r) in due.iter().zip(futures_util::future::join_all(runs).await) {
                        if let Err(e) = r {
                            tracing::warn!(job = j.id, error = %e, "a test clock's job failed; it will be retried");
                        }
                    }
                    app.jobs.notify_one();
                }
            }
        }
        if started.elapsed() > ADVANCE_SLICE {
            let next = finconn_core::model::NewJob::now_or_later(
                JobKind::AdvanceTestClock { clock: clock.to_owned() },
                app.core.now(),
            );
            let out = finconn_core::accounts::RefreshOutcome { jobs: vec![next], ..Default::default() };
            return app.core.close_job(&job.scope, job.id, &out).await;
        }
    }
    let empty = finconn_core::accounts::RefreshOutcome::default();
    app.core.close_job(&job.scope, job.id, &empty).await
}

type BoxedRun<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), finconn_core::DomainError>> + Send + 'a>>;

/// One attempt to deliver an event: a signed POST, no redirects followed, bounded by a timeout.
async fn deliver(app: &AppState, job: &Job, delivery: i64) -> Result<(), finconn_core::DomainError> {
    let Some(out) = app.core.plan_delivery(&job.scope, delivery).await? else {
        // Nothing to send any more (endpoint deleted, event pruned): just close the job.
        let empty = finconn_core::accounts::RefreshOutcome::default();
        return app.core.close_job(&job.scope, job.id, &empty).await;
    };
    let (t, signature) = app.core.signed(&out);
    let started = std::time::Instant::now();
    let client = app.webhooks.for_mode(job.scope.livemode);
    let sent = match url::Url::parse(&out.url) {
        Ok(url) => {
            let headers =
                [("content-type", "application/json; charset=utf-8"), ("stripe-signature", signature.as_str())];
            client.post(&url, &headers, out.payload.clone()).await
        }
        Err(_) => Err(finconn_providers::outbound::OutboundError::Refused("not a URL".into())),
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    // Coarse on purpose: what went wrong below HTTP (refused, closed, silent, not HTTP) is not told apart,
    // so the attempts list cannot be used to scan ports.
    let result = match sent {
        Ok(status) => AttemptResult { status_code: Some(status), latency_ms, error: None },
        Err(finconn_providers::outbound::OutboundError::Refused(_)) => AttemptResult {
            status_code: None,
            latency_ms,
            error: Some("could not deliver: the address is not allowed".to_owned()),
        },
        Err(_) => AttemptResult { status_code: None, latency_ms, error: Some("could not deliver".to_owned()) },
    };
    let status = app.core.finish_delivery(job, &out, result, t).await?;
    crate::metrics::delivery(match status {
        finconn_core::model::DeliveryStatus::Succeeded => "succeeded",
        finconn_core::model::DeliveryStatus::Failed => "failed",
        finconn_core::model::DeliveryStatus::Pending => "retrying",
    });
    if status == finconn_core::model::DeliveryStatus::Failed {
        tracing::warn!(endpoint = %out.delivery.endpoint, event = %out.delivery.event, "webhook endpoint failing: gave up after three days of retries");
    }
    Ok(())
}

async fn fetch(app: &AppState, job: &Job) -> Result<(), finconn_core::DomainError> {
    let (what, rec) = app.core.plan_job(job).await?;
    let data: Option<Arc<dyn AccountData>> =
        if job.scope.livemode { app.core.providers.live_data.clone() } else { app.core.providers.test_data.clone() };
    let limit = app.config.provider_timeout;
    // The account's time: its test clock's, if it lives on one.
    let now = app.core.time_on(job.test_clock.as_deref()).await?;
    let fetched = match (what, rec, data) {
        (Fetch::Nothing, _, _) | (_, None, _) => Fetched::Nothing,
        (what, Some(_), None) => {
            let none = || FetchError::Refused("no data provider serves this account".into());
            match what {
                Fetch::Balance => Fetched::Balance(Err(none())),
                Fetch::Owners => Fetched::Owners(Err(none())),
                Fetch::Transactions => Fetched::Transactions(Err(none())),
                Fetch::Nothing => Fetched::Nothing,
            }
        }
        (what, Some(rec), Some(data)) => {
            let account = Finconn::account_ref(&rec);
            match what {
                Fetch::Balance => Fetched::Balance(
                    tokio::time::timeout(limit, data.balance(account, now)).await.unwrap_or_else(|_| Err(timed_out())),
                ),
                Fetch::Owners => Fetched::Owners(
                    tokio::time::timeout(limit, data.owners(account, now)).await.unwrap_or_else(|_| Err(timed_out())),
                ),
                Fetch::Transactions => Fetched::Transactions(
                    tokio::time::timeout(limit, data.transactions(account, now))
                        .await
                        .unwrap_or_else(|_| Err(timed_out())),
                ),
                Fetch::Nothing => Fetched::Nothing,
            }
        }
    };
    let provider = if job.scope.livemode { "live" } else { "sandbox" };
    match &fetched {
        Fetched::Nothing => {}
        Fetched::Balance(r) => crate::metrics::refresh(provider, "balance", r.is_ok()),
        Fetched::Owners(r) => crate::metrics::refresh(provider, "ownership", r.is_ok()),
        Fetched::Transactions(r) => crate::metrics::refresh(provider, "transactions", r.is_ok()),
    }
    app.core.finish_job(job, fetched).await
}

/// How many jobs one process runs at once. Each runs in its own task, so a slow webhook receiver or
/// provider holds one slot, never the others.
const CONCURRENCY: usize = 32;

/// Runs until `shutdown` turns true; jobs already claimed finish first.
pub async fn run(app: AppState, mut shutdown: watch::Receiver<bool>) {
    let notify = app.jobs.0.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = async { drop(slots.acquire().await) } => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let _now = app.core.now();
        let limit = i64::try_from(free).unwrap_or(BATCH).min(BATCH);
        let jobs = match app.core.lease_jobs(LEASE_SECONDS, limit, None, None).await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed; retrying");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(app.config.job_poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = slots.clone().acquire_owned().await else { break };
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(e) = run_job(&app, &job).await {
                    // The lease lapses and another claim retries it.
                    tracing::warn!(job = job.id, error = %e, "a job failed; it will be retried");
                }
                drop(permit);
            });
        }
    }
    // Let the jobs in flight finish.
    let all = u32::try_from(CONCURRENCY).unwrap_or(u32::MAX);
    drop(slots.acquire_many(all).await);
}

/// For tests: run every due job of `account` (all accounts: `None`) now, until none is left, each batch
/// concurrently as the runner does. Returns the kinds of the jobs that ran.
pub async fn drain(app: &AppState, account: Option<&str>) -> Vec<JobKind> {
    let mut n = Vec::new();
    loop {
        let _now = app.core.now();
        let Ok(jobs) = app.core.lease_jobs(LEASE_SECONDS, BATCH, account, None).await else {
            return n;
        };
        if jobs.is_empty() {
            return n;
        }
        let results = futures_util::future::join_all(jobs.iter().map(|job| run_job(app, job))).await;
        for (job, r) in jobs.iter().zip(results) {
            match r {
                Ok(()) => n.push(job.kind.clone()),
                Err(e) => eprintln!("job {} ({:?}) failed: {e:?}", job.id, job.kind),
            }
        }
    }
}

pub fn poll_default() -> Duration {
    Duration::from_millis(250)
}
