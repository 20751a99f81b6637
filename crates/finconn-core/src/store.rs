//! The storage boundary. `finconn-store` implements it for SQLite and PostgreSQL.

use async_trait::async_trait;

use std::collections::HashMap;

use crate::accounts::RefreshOutcome;
use crate::model::{
    AccountRecord, ApiKeyRecord, AttemptRecord, ConnectionRecord, CustomerRecord, DeliveryRecord, DeliveryStatus,
    EventRecord, IdempotencyRecord, Job, LinkedAccountRecord, NewEvent, NewJob, OwnerRecord, Scope, SessionRecord,
    StoredResponse, TestClockRecord, TransactionRecord, WebhookEndpointRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The pagination cursor names no object of this list.
    #[error("pagination cursor not found")]
    CursorNotFound,
    #[error("stored data could not be decoded: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A page request: `limit` already validated to 1..=100.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// `starting_after`: objects older than this one.
    After(String),
    /// `ending_before`: objects newer than this one.
    Before(String),
}

/// One page, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// What a change brings along, written in the change's own transaction: jobs to run and events to
/// publish (each event also gets the job that fans it out to webhook endpoints).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    pub jobs: Vec<NewJob>,
    pub events: Vec<NewEvent>,
}

/// `GET /v1/events` filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    /// Types to match, `*` a wildcard; empty: every type.
    pub kinds: Vec<String>,
    /// Inclusive bounds on `created`.
    pub created: (i64, i64),
    /// `delivery_success`: whether every webhook of the event was delivered.
    pub delivery_success: Option<bool>,
}

/// `GET /v1/financial_connections/accounts` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub customer: Option<String>,
    pub account: Option<String>,
    pub customer_account: Option<String>,
    pub session: Option<String>,
}

/// `GET /v1/financial_connections/transactions` filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Inclusive bounds on `transacted_at`.
    pub transacted_at: (i64, i64),
    /// `transaction_refresh[after]`: only transactions created or updated by later refreshes.
    pub after_refresh: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerFilter {
    pub email: Option<String>,
    /// Inclusive bounds on `created`.
    pub created: (i64, i64),
    /// Only the customers of this test clock. Without it, customers on a clock are left out (as Stripe).
    pub test_clock: Option<String>,
}

impl Default for CustomerFilter {
    fn default() -> Self {
        Self { email: None, created: (i64::MIN, i64::MAX), test_clock: None }
    }
}

/// The outcome of claiming an idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub enum IdempotencyClaim {
    /// This request owns the key and must run.
    Claimed,
    /// The key was seen before; here is what was stored.
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend, for start-up messages ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Inserts the account and its keys unless any of the keys is registered to another account.
    /// Returns false (and changes nothing) in that case; re-provisioning the same rows is a no-op.
    async fn provision_account(&self, account: &AccountRecord, keys: &[ApiKeyRecord]) -> Result<bool, StoreError>;
    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError>;

    async fn insert_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<(), StoreError>;
    /// Looks a customer up in the account, in either mode (`scope` on the record says which).
    async fn get_customer(&self, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError>;
    /// Writes `rec` if the stored version is still `rec.version`; false if another write came first.
    async fn update_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<bool, StoreError>;
    async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<CustomerRecord>, StoreError>;

    async fn insert_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<(), StoreError>;
    async fn get_session(&self, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A session by id alone, in any account (its record's `scope` says whose). For the OAuth page, which
    /// the end user reaches without a key.
    async fn find_session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Writes `rec` if the stored version is still `rec.version`; false if another write came first.
    async fn update_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<bool, StoreError>;
    /// In one transaction: writes the completed session (if its version is still `session.version`) and
    /// inserts its accounts. False, and nothing written, if the session changed meanwhile.
    /// `connection` (live mode: the connection the accounts come from, now active) is written there too.
    async fn complete_session(
        &self,
        scope: &Scope,
        session: &SessionRecord,
        accounts: &[LinkedAccountRecord],
        effects: &Effects,
        connection: Option<&ConnectionRecord>,
    ) -> Result<bool, StoreError>;

    async fn insert_connection(&self, scope: &Scope, rec: &ConnectionRecord) -> Result<(), StoreError>;
    async fn get_connection(&self, scope: &Scope, id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Compare-and-swap on `version`.
    async fn update_connection(&self, scope: &Scope, rec: &ConnectionRecord) -> Result<bool, StoreError>;
    /// The linked accounts whose data comes from a connection.
    async fn connection_accounts(
        &self,
        scope: &Scope,
        connection: &str,
    ) -> Result<Vec<LinkedAccountRecord>, StoreError>;
    /// In one transaction: marks the sync job done, writes each outcome as `finish_job` does, writes what
    /// the sync owns of the connection onto its latest version (`ConnectionRecord::merge_sync`), and adds
    /// `jobs`.
    async fn finish_sync(
        &self,
        scope: &Scope,
        job: i64,
        connection: Option<&ConnectionRecord>,
        outcomes: &[RefreshOutcome],
        jobs: &[NewJob],
    ) -> Result<(), StoreError>;
    /// Deletes pending connections (link flows never finished) created before `before`.
    async fn delete_pending_connections(&self, before: i64) -> Result<u64, StoreError>;
    /// Every connection that still holds a credential, in any tenant: `(scope, id)`.
    async fn connections_with_credentials(&self) -> Result<Vec<(Scope, String)>, StoreError>;
    /// The accounts linked through a session, in link order.
    async fn session_accounts(&self, scope: &Scope, session: &str) -> Result<Vec<LinkedAccountRecord>, StoreError>;

    async fn get_linked_account(&self, account: &str, id: &str) -> Result<Option<LinkedAccountRecord>, StoreError>;
    async fn list_linked_accounts(
        &self,
        scope: &Scope,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<LinkedAccountRecord>, StoreError>;
    /// Writes `rec` if its version is unchanged, and adds the jobs and events, in one transaction.
    async fn update_linked_account(
        &self,
        scope: &Scope,
        rec: &LinkedAccountRecord,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    async fn ownership_created(&self, ownership: &str) -> Result<Option<i64>, StoreError>;
    async fn ownership_belongs_to(&self, account: &str, ownership: &str) -> Result<bool, StoreError>;
    async fn list_owners(
        &self,
        scope: &Scope,
        ownership: &str,
        page: &PageRequest,
    ) -> Result<Page<OwnerRecord>, StoreError>;
    /// Newest `transacted_at` first.
    async fn list_transactions(
        &self,
        scope: &Scope,
        account: &str,
        filter: &TransactionFilter,
        page: &PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError>;
    async fn get_transaction(&self, scope: &Scope, id: &str) -> Result<Option<TransactionRecord>, StoreError>;
    /// Every stored transaction of an account, by the provider's id.
    async fn transactions_by_provider_id(
        &self,
        scope: &Scope,
        account: &str,
    ) -> Result<HashMap<String, TransactionRecord>, StoreError>;

    /// Leases up to `limit` due jobs (run_at ≤ now, not leased) until `lease_until`. Several processes may
    /// call this at once: each job goes to one of them. `only_account` restricts it to one tenant (tests
    /// sharing a database drain only their own work), `only_clock` to the jobs of one test clock. A job of
    /// a test clock is due once the clock has reached its `run_at`.
    async fn claim_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        only_account: Option<&str>,
        only_clock: Option<&str>,
    ) -> Result<Vec<Job>, StoreError>;
    /// Writes what a job produced (account, ownership, owners, transactions, follow-up jobs) and removes
    /// the job, in one transaction.
    async fn finish_job(&self, scope: &Scope, job: i64, outcome: &RefreshOutcome) -> Result<(), StoreError>;
    async fn get_event(&self, scope: &Scope, id: &str) -> Result<Option<EventRecord>, StoreError>;
    async fn list_events(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>, StoreError>;
    /// Removes events created before `before` (and their deliveries and attempts).
    async fn prune_events(&self, before: i64) -> Result<u64, StoreError>;
    async fn insert_webhook_endpoint(&self, scope: &Scope, rec: &WebhookEndpointRecord) -> Result<(), StoreError>;
    async fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpointRecord>, StoreError>;
    async fn update_webhook_endpoint(&self, scope: &Scope, rec: &WebhookEndpointRecord) -> Result<bool, StoreError>;
    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<bool, StoreError>;
    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpointRecord>, StoreError>;
    /// The enabled endpoints of an account and mode.
    async fn active_webhook_endpoints(&self, scope: &Scope) -> Result<Vec<WebhookEndpointRecord>, StoreError>;
    /// In one transaction: marks the fan-out job done, creates one pending delivery (and its first
    /// delivery job, due now) per endpoint, and sets the event's `pending_webhooks`.
    async fn finish_fanout(&self, job: i64, event: &str, endpoints: &[String]) -> Result<(), StoreError>;
    async fn get_delivery(&self, id: i64) -> Result<Option<DeliveryRecord>, StoreError>;
    /// In one transaction: marks the job done, records the attempt, updates the delivery (a success
    /// lowers the event's `pending_webhooks`), and adds the next attempt's job.
    async fn finish_delivery(
        &self,
        job: i64,
        attempt: &AttemptRecord,
        status: DeliveryStatus,
        attempts: i64,
        next: Option<NewJob>,
    ) -> Result<(), StoreError>;
    /// How many of an endpoint's deliveries were given up on (three days of failures).
    async fn failed_deliveries(&self, scope: &Scope, endpoint: &str) -> Result<i64, StoreError>;
    /// An endpoint's delivery attempts, newest first.
    async fn list_attempts(&self, scope: &Scope, endpoint: &str, limit: i64) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Removes jobs that finished before `before`; returns how many.
    async fn prune_jobs(&self, before: i64) -> Result<u64, StoreError>;
    /// How many jobs exist and how many of them ever ran more than once (for tests and metrics).
    async fn job_counts(&self) -> Result<(i64, i64), StoreError>;

    /// Claims `key` for a request, or returns what is stored under it.
    async fn claim_idempotency_key(
        &self,
        scope: &Scope,
        rec: &IdempotencyRecord,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Takes over a key whose lock lapsed (its first request died). False if someone else did first.
    async fn reclaim_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        previous_locked_until: i64,
        locked_until: i64,
    ) -> Result<bool, StoreError>;
    async fn complete_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
    /// Forgets a claim whose request must not be remembered (validation failures, 5xx).
    async fn release_idempotency_key(&self, scope: &Scope, key: &str) -> Result<(), StoreError>;
    /// Removes keys created before `before`; returns how many.
    async fn prune_idempotency_keys(&self, before: i64) -> Result<u64, StoreError>;

    /// Writes a new test clock and its effects in one transaction; `customer` (if any: the record as read,
    /// with `test_clock` set) is attached to it there too. False (nothing written) if that customer changed
    /// since it was read, or is deleted or already on a clock.
    async fn insert_test_clock(
        &self,
        scope: &Scope,
        rec: &TestClockRecord,
        customer: Option<&CustomerRecord>,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// A test clock by id within a tenant, deleted or not.
    async fn get_test_clock(&self, account: &str, id: &str) -> Result<Option<TestClockRecord>, StoreError>;
    /// Compare-and-swap on `version`, with effects. Deleting a clock also makes all of its waiting jobs due.
    async fn update_test_clock(
        &self,
        scope: &Scope,
        rec: &TestClockRecord,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// The clocks that are not deleted, newest first.
    async fn list_test_clocks(&self, scope: &Scope, page: &PageRequest) -> Result<Page<TestClockRecord>, StoreError>;
    /// A clock's `frozen_time` (deleted clocks keep theirs).
    async fn test_clock_time(&self, id: &str) -> Result<Option<i64>, StoreError>;
    /// Makes the clock's jobs due up to `up_to` claimable, and says how many of them are unfinished.
    async fn release_clock_jobs(&self, clock: &str, up_to: i64) -> Result<i64, StoreError>;
    /// The earliest `run_at` of the clock's unfinished jobs.
    async fn next_clock_job(&self, clock: &str) -> Result<Option<i64>, StoreError>;
    /// The linked accounts that live on a clock.
    async fn accounts_on_clock(&self, scope: &Scope, clock: &str) -> Result<Vec<LinkedAccountRecord>, StoreError>;
    /// Clocks past their `deletes_after` and not deleted yet: `(scope, id)`.
    async fn expired_test_clocks(&self, now: i64) -> Result<Vec<(Scope, String)>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;
    /// Writes and commits one row: whether the database accepts writes now (readiness).
    async fn probe_write(&self, now: i64) -> Result<(), StoreError>;
}
