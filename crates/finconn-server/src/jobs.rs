//! The job runner: claims due jobs from the database (several finconn processes may run it against one
//! PostgreSQL; each job goes to one of them), fetches from the account's provider with a timeout, and
//! hands the result to the domain, which writes it in one transaction with the job's completion.

use std::sync::Arc;
use std::time::Duration;

use finconn_core::accounts::{Fetch, Fetched};
use finconn_core::model::Job;
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

async fn fetch(app: &AppState, job: &Job) -> Result<(), finconn_core::DomainError> {
    let (what, rec) = app.core.plan_job(job).await?;
    let data: Option<Arc<dyn AccountData>> =
        if job.scope.livemode { app.core.providers.live_data.clone() } else { app.core.providers.test_data.clone() };
    let limit = app.config.provider_timeout;
    let now = app.core.now();
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
    app.core.finish_job(job, fetched).await
}

/// Runs until `shutdown` turns true; jobs already claimed finish first.
pub async fn run(app: AppState, mut shutdown: watch::Receiver<bool>) {
    let notify = app.jobs.0.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = app.core.now();
        let jobs = match app.core.store.claim_jobs(now, now + LEASE_SECONDS, BATCH, None).await {
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
        let runs = jobs.iter().map(|job| {
            let app = app.clone();
            async move {
                if let Err(e) = fetch(&app, job).await {
                    // The lease lapses and another claim retries it.
                    tracing::warn!(job = job.id, error = %e, "a job failed; it will be retried");
                }
            }
        });
        futures_util::future::join_all(runs).await;
    }
}

/// For tests: run every due job of `account` (all accounts: `None`) now, until none is left.
pub async fn drain(app: &AppState, account: Option<&str>) -> usize {
    let mut n = 0;
    loop {
        let now = app.core.now();
        let Ok(jobs) = app.core.store.claim_jobs(now, now + LEASE_SECONDS, BATCH, account).await else { return n };
        if jobs.is_empty() {
            return n;
        }
        for job in &jobs {
            if fetch(app, job).await.is_ok() {
                n += 1;
            }
        }
    }
}

pub fn poll_default() -> Duration {
    Duration::from_millis(250)
}
