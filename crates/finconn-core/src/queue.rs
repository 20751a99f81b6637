//! The job queue and upkeep as the server's runner sees them: leasing due jobs, closing one, pruning what
//! is past its retention. The runner reaches the queue through these, never through the store.

use crate::accounts::RefreshOutcome;
use crate::model::{Job, Scope};
use crate::{DomainError, Finconn};

impl Finconn {
    /// Leases up to `limit` due jobs for `lease_seconds` (see `store::Jobs::claim_jobs`).
    pub async fn lease_jobs(
        &self,
        lease_seconds: i64,
        limit: i64,
        only_account: Option<&str>,
        only_clock: Option<&str>,
    ) -> Result<Vec<Job>, DomainError> {
        let now = self.now();
        Ok(self.store.claim_jobs(now, now + lease_seconds, limit, only_account, only_clock).await?)
    }

    /// Removes a job, writing what it produced (`outcome`, e.g. follow-up jobs) in the same transaction.
    pub async fn close_job(&self, scope: &Scope, job: i64, outcome: &RefreshOutcome) -> Result<(), DomainError> {
        Ok(self.store.finish_job(scope, job, outcome).await?)
    }

    /// Jobs due now and how long the oldest has waited, in seconds (metrics).
    pub async fn queue_depth(&self) -> Result<(i64, i64), DomainError> {
        let now = self.now();
        let (due, oldest) = self.store.due_jobs(now).await?;
        Ok((due, oldest.map_or(0, |t| (now - t).max(0))))
    }

    /// The database pool: (connections open, of them idle).
    pub fn pool_usage(&self) -> (u32, u32) {
        self.store.pool_usage()
    }

    /// Forgets idempotency keys stored before `before`.
    pub async fn prune_idempotency_keys(&self, before: i64) -> Result<u64, DomainError> {
        Ok(self.store.prune_idempotency_keys(before).await?)
    }

    /// Removes jobs finished before `before`.
    pub async fn prune_jobs(&self, before: i64) -> Result<u64, DomainError> {
        Ok(self.store.prune_jobs(before).await?)
    }

    /// Removes events created before `before`, with their deliveries.
    pub async fn prune_events(&self, before: i64) -> Result<u64, DomainError> {
        Ok(self.store.prune_events(before).await?)
    }
}
