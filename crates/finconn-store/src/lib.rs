#![doc = include_str!("../README.md")]

mod pg;
#[macro_use]
mod pool;
#[macro_use]
mod effects;
mod console;
mod data;
mod events;
mod idempotency;
mod keys;
mod memo;
mod objects;
mod request_log;
mod sql;
mod test_clocks;
mod writes;

use async_trait::async_trait;
use finconn_core::model::{
    AccountRecord, ApiKeyRecord, AttemptRecord, ConnectionRecord, CustomerRecord, DeliveryRecord, DeliveryStatus,
    EventRecord, IdempotencyRecord, Job, LinkedAccountRecord, NewJob, OwnerRecord, Scope, SessionRecord,
    TestClockRecord, TransactionRecord, WebhookEndpointRecord,
};
use std::collections::HashMap;

use crate::pool::Exec;
use finconn_core::accounts::RefreshOutcome;
use finconn_core::store::{
    AccountFilter, Commit, CommitOutcome, CustomerFilter, EventFilter, MigrationStatus, Page, PageRequest,
    TransactionFilter, Write,
};
use finconn_core::store::{Console, Database, Jobs, Objects, Tenants, Upkeep, Webhooks};
use finconn_core::StoreError;

pub use pool::{Backend, ConnectError};

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    pool::is_postgres(url)
}

/// The file a SQLite database URL names (`None`: in memory).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if pool::is_postgres(url) {
        return None;
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory")).then(|| std::path::PathBuf::from(path))
}

/// Called after every commit that added jobs or events.
pub type AfterCommit = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A finconn database: SQLite or PostgreSQL, chosen by URL.
#[derive(Clone)]
pub struct Db {
    pool: pool::Pools,
    after_commit: std::sync::Arc<std::sync::OnceLock<AfterCommit>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("pool", &self.pool).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating a SQLite file if needed) without migrating.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, 16).await
    }

    /// `connect` with `max_connections` in the pool (PostgreSQL; SQLite: readers beside its one writer).
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        Ok(Self { pool: pool::Pools::connect(url, max_connections).await?, after_commit: Default::default() })
    }

    /// Sets what runs after each commit that added jobs or events (the job runner's wake-up), once; later
    /// calls are ignored. Every clone of this `Db` shares it.
    pub fn set_after_commit(&self, hook: AfterCommit) {
        let _ = self.after_commit.set(hook);
    }

    /// Brings the schema up to date. Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        self.pool.migrate().await
    }

    pub fn backend_kind(&self) -> Backend {
        self.pool.backend()
    }

    /// Where the data lives, without credentials, for start-up messages.
    pub fn describe(&self) -> String {
        self.pool.describe()
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolClosed => StoreError::Closed,
        e => StoreError::Database(Box::new(e)),
    }
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[async_trait]
impl Tenants for Db {
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        keys::find_api_key(&self.pool, hash).await
    }

    async fn provision_account(&self, account: &AccountRecord, keys: &[ApiKeyRecord]) -> Result<bool, StoreError> {
        keys::provision_account(&self.pool, account, keys).await
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        keys::get_account(&self.pool, id).await
    }
}

#[async_trait]
impl Objects for Db {
    async fn get_customer(&self, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        objects::get_customer(&self.pool, account, id).await
    }

    async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<CustomerRecord>, StoreError> {
        objects::list_customers(&self.pool, scope, filter, page).await
    }

    async fn get_session(&self, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        objects::get_session(&self.pool, account, id).await
    }

    async fn find_session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        objects::find_session_by_id(&self.pool, id).await
    }

    async fn get_connection(&self, scope: &Scope, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        data::get_connection(&self.pool, scope, id).await
    }

    async fn connection_accounts(
        &self,
        scope: &Scope,
        connection: &str,
    ) -> Result<Vec<LinkedAccountRecord>, StoreError> {
        objects::accounts_where(&self.pool, scope, "connection_id", connection).await
    }

    async fn get_linked_account(&self, account: &str, id: &str) -> Result<Option<LinkedAccountRecord>, StoreError> {
        data::get_linked_account(&self.pool, account, id).await
    }

    async fn list_linked_accounts(
        &self,
        scope: &Scope,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<LinkedAccountRecord>, StoreError> {
        data::list_linked_accounts(&self.pool, scope, filter, page).await
    }

    async fn ownership_created(&self, ownership: &str) -> Result<Option<i64>, StoreError> {
        data::ownership_created(&self.pool, ownership).await
    }

    async fn ownership_belongs_to(&self, account: &str, ownership: &str) -> Result<bool, StoreError> {
        data::ownership_belongs_to(&self.pool, account, ownership).await
    }

    async fn list_owners(
        &self,
        scope: &Scope,
        ownership: &str,
        page: &PageRequest,
    ) -> Result<Page<OwnerRecord>, StoreError> {
        data::list_owners(&self.pool, scope, ownership, page).await
    }

    async fn list_transactions(
        &self,
        scope: &Scope,
        account: &str,
        filter: &TransactionFilter,
        page: &PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        data::list_transactions(&self.pool, scope, account, filter, page).await
    }

    async fn institution_downtimes(&self, scope: &Scope) -> Result<Vec<finconn_core::scripted::Downtime>, StoreError> {
        objects::institution_downtimes(&self.pool, scope).await
    }

    async fn get_transaction(&self, scope: &Scope, id: &str) -> Result<Option<TransactionRecord>, StoreError> {
        data::get_transaction(&self.pool, scope, id).await
    }

    async fn transactions_by_provider_id(
        &self,
        scope: &Scope,
        account: &str,
    ) -> Result<HashMap<String, TransactionRecord>, StoreError> {
        data::transactions_by_provider_id(&self.pool, scope, account).await
    }

    async fn session_accounts(&self, scope: &Scope, session: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
        objects::session_accounts(&self.pool, scope, session).await
    }

    async fn get_test_clock(&self, account: &str, id: &str) -> Result<Option<TestClockRecord>, StoreError> {
        test_clocks::get_test_clock(&self.pool, account, id).await
    }

    async fn list_test_clocks(&self, scope: &Scope, page: &PageRequest) -> Result<Page<TestClockRecord>, StoreError> {
        test_clocks::list_test_clocks(&self.pool, scope, page).await
    }

    async fn test_clock_time(&self, id: &str) -> Result<Option<i64>, StoreError> {
        test_clocks::test_clock_time(&self.pool, id).await
    }

    async fn accounts_on_clock(&self, scope: &Scope, clock: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
        test_clocks::accounts_on_clock(&self.pool, scope, clock).await
    }

    async fn write(&self, write: Write) -> Result<bool, StoreError> {
        match self.commit(Commit { writes: vec![write], idempotency: None }).await? {
            CommitOutcome::Committed => Ok(true),
            CommitOutcome::Conflict | CommitOutcome::KeyTaken => Ok(false),
        }
    }
}

#[async_trait]
impl Webhooks for Db {
    async fn get_event(&self, scope: &Scope, id: &str) -> Result<Option<EventRecord>, StoreError> {
        events::get_event(&self.pool, scope, id).await
    }

    async fn list_events(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>, StoreError> {
        events::list_events(&self.pool, scope, filter, page).await
    }

    async fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpointRecord>, StoreError> {
        events::get_webhook_endpoint(&self.pool, scope, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpointRecord>, StoreError> {
        events::list_webhook_endpoints(&self.pool, scope, page).await
    }

    async fn active_webhook_endpoints(&self, scope: &Scope) -> Result<Vec<WebhookEndpointRecord>, StoreError> {
        events::active_webhook_endpoints(&self.pool, scope).await
    }

    async fn failed_deliveries(&self, scope: &Scope, endpoint: &str) -> Result<i64, StoreError> {
        events::failed_deliveries(&self.pool, scope, endpoint).await
    }

    async fn list_attempts(&self, scope: &Scope, endpoint: &str, limit: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        events::list_attempts(&self.pool, scope, endpoint, limit).await
    }
}

#[async_trait]
impl Jobs for Db {
    async fn finish_sync(
        &self,
        scope: &Scope,
        job: i64,
        connection: Option<&ConnectionRecord>,
        outcomes: &[RefreshOutcome],
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        data::finish_sync(&self.pool, scope, job, connection, outcomes, jobs).await
    }

    async fn finish_fanout(
        &self,
        job: i64,
        event: &str,
        endpoints: &[String],
        resent_at: Option<i64>,
    ) -> Result<(), StoreError> {
        events::finish_fanout(&self.pool, job, event, endpoints, resent_at).await
    }

    async fn get_delivery(&self, id: i64) -> Result<Option<DeliveryRecord>, StoreError> {
        events::get_delivery(&self.pool, id).await
    }

    async fn finish_delivery(
        &self,
        job: i64,
        attempt: &AttemptRecord,
        status: DeliveryStatus,
        attempts: i64,
        next: Option<NewJob>,
    ) -> Result<(), StoreError> {
        events::finish_delivery(&self.pool, job, attempt, status, attempts, next).await
    }

    async fn claim_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        only_account: Option<&str>,
        only_clock: Option<&str>,
    ) -> Result<Vec<Job>, StoreError> {
        data::claim_jobs(&self.pool, now, lease_until, limit, only_account, only_clock).await
    }

    async fn finish_job(&self, scope: &Scope, job: i64, outcome: &RefreshOutcome) -> Result<(), StoreError> {
        data::finish_job(&self.pool, scope, job, outcome).await
    }

    async fn due_jobs(&self, now: i64) -> Result<(i64, Option<i64>), StoreError> {
        data::due_jobs(&self.pool, now).await
    }

    async fn job_counts(&self) -> Result<(i64, i64), StoreError> {
        data::job_counts(&self.pool).await
    }

    async fn release_clock_jobs(&self, clock: &str, up_to: i64) -> Result<i64, StoreError> {
        test_clocks::release_clock_jobs(&self.pool, clock, up_to).await
    }

    async fn next_clock_job(&self, clock: &str) -> Result<Option<i64>, StoreError> {
        test_clocks::next_clock_job(&self.pool, clock).await
    }
}

#[async_trait]
impl Upkeep for Db {
    async fn delete_pending_connections(&self, before: i64) -> Result<u64, StoreError> {
        data::delete_pending_connections(&self.pool, before).await
    }

    async fn connections_with_credentials(&self) -> Result<Vec<(Scope, String)>, StoreError> {
        data::connections_with_credentials(&self.pool).await
    }

    async fn prune_events(&self, before: i64) -> Result<u64, StoreError> {
        events::prune_events(&self.pool, before).await
    }

    async fn prune_jobs(&self, before: i64) -> Result<u64, StoreError> {
        data::prune_jobs(&self.pool, before).await
    }

    async fn prune_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        idempotency::prune(&self.pool, before).await
    }

    async fn expired_test_clocks(&self, now: i64) -> Result<Vec<(Scope, String)>, StoreError> {
        test_clocks::expired_test_clocks(&self.pool, now).await
    }
}

#[async_trait]
impl Database for Db {
    fn pool_usage(&self) -> (u32, u32) {
        self.pool.usage()
    }

    fn backend(&self) -> &'static str {
        self.pool.backend().name()
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        let wake = commit.writes.iter().any(Write::adds_jobs);
        let outcome = self.pool.apply(writes::plan_unit(&commit)?).await?;
        if wake && outcome == CommitOutcome::Committed {
            if let Some(hook) = self.after_commit.get() {
                hook();
            }
        }
        Ok(outcome)
    }

    async fn get_idempotency_key(&self, scope: &Scope, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        idempotency::get(&self.pool, scope, key).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pool.one::<(i32,)>(sql::Q::new("SELECT 1")).await.map(drop)
    }

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        self.pool.migration_status().await.map_err(|e| StoreError::Database(Box::new(e)))
    }
}

#[async_trait]
impl Console for Db {
    async fn list_sessions(&self, scope: &Scope, page: &PageRequest) -> Result<Page<SessionRecord>, StoreError> {
        console::list_sessions(&self.pool, scope, page).await
    }

    async fn insert_request_log(&self, rows: &[finconn_core::console::RequestLogRecord]) -> Result<(), StoreError> {
        request_log::insert(&self.pool, rows).await
    }

    async fn list_request_log(
        &self,
        scope: &Scope,
        filter: &finconn_core::console::RequestLogFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<finconn_core::console::RequestLogRecord>, StoreError> {
        request_log::list(&self.pool, scope, filter, before, limit).await
    }

    async fn prune_request_log(&self, before_ms: i64, keep: i64) -> Result<u64, StoreError> {
        request_log::prune(&self.pool, before_ms, keep).await
    }

    async fn trim_request_log(&self, scope: &Scope, keep: i64) -> Result<u64, StoreError> {
        request_log::trim(&self.pool, scope, keep).await
    }
}
