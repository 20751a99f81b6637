//! The storage boundary. `finconn-store` implements it for SQLite and PostgreSQL.

use async_trait::async_trait;

use std::collections::HashMap;

use crate::accounts::RefreshOutcome;
use crate::model::{
    AccountRecord, ApiKeyRecord, AttemptRecord, ConnectionRecord, CustomerRecord, DeliveryRecord, DeliveryStatus,
    EventRecord, IdempotencyRecord, Job, LinkedAccountRecord, NewEvent, NewJob, OwnerRecord, Scope, SessionRecord,
    TestClockRecord, TransactionRecord, WebhookEndpointRecord,
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
    /// The store is shutting down: its pool is closed or its writer has stopped.
    #[error("the database is closed")]
    Closed,
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

/// One change of the domain's state. Updates are compare-and-swap on the record's `version` (the version the
/// caller read); a write whose record changed meanwhile is a conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    InsertCustomer {
        scope: Scope,
        rec: CustomerRecord,
    },
    UpdateCustomer {
        scope: Scope,
        rec: CustomerRecord,
    },
    InsertSession {
        scope: Scope,
        rec: SessionRecord,
    },
    UpdateSession {
        scope: Scope,
        rec: SessionRecord,
    },
    /// The completed session, its new accounts, their effects, and (live mode) the connection they come
    /// from, now active.
    CompleteSession {
        scope: Scope,
        session: SessionRecord,
        accounts: Vec<LinkedAccountRecord>,
        effects: Effects,
        connection: Option<ConnectionRecord>,
    },
    InsertConnection {
        scope: Scope,
        rec: ConnectionRecord,
    },
    UpdateConnection {
        scope: Scope,
        rec: ConnectionRecord,
    },
    UpdateLinkedAccount {
        scope: Scope,
        rec: LinkedAccountRecord,
        effects: Effects,
    },
    InsertWebhookEndpoint {
        scope: Scope,
        rec: WebhookEndpointRecord,
    },
    UpdateWebhookEndpoint {
        scope: Scope,
        rec: WebhookEndpointRecord,
    },
    /// A conflict if the endpoint no longer exists.
    DeleteWebhookEndpoint {
        scope: Scope,
        id: String,
    },
    /// A new clock; `customer` (the record as read, with `test_clock` set) is attached to it, a conflict if
    /// that customer changed, is deleted or is already on a clock.
    InsertTestClock {
        scope: Scope,
        rec: TestClockRecord,
        customer: Option<CustomerRecord>,
        effects: Effects,
    },
    /// A tenant's downtime of an institution (test mode), replacing any earlier one.
    SetDowntime {
        scope: Scope,
        rec: crate::scripted::Downtime,
    },
    /// Ends it (nothing to do when there is none).
    EndDowntime {
        scope: Scope,
        institution: String,
    },
    /// Jobs and events alone (a resend of an event).
    Enqueue {
        scope: Scope,
        effects: Effects,
    },
    /// Deleting a clock also makes all of its waiting jobs due.
    UpdateTestClock {
        scope: Scope,
        rec: TestClockRecord,
        effects: Effects,
    },
}

impl Write {
    /// Whether committing this write adds jobs (and so should wake the job runner).
    pub fn adds_jobs(&self) -> bool {
        let effects = match self {
            Write::CompleteSession { effects, .. }
            | Write::UpdateLinkedAccount { effects, .. }
            | Write::InsertTestClock { effects, .. }
            | Write::UpdateTestClock { effects, .. }
            | Write::Enqueue { effects, .. } => effects,
            _ => return false,
        };
        !effects.jobs.is_empty() || !effects.events.is_empty()
    }
}

/// A unit of work as the store commits it: every write of one request and, for a request with an
/// `Idempotency-Key`, the key with the response the client is about to get, all in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commit {
    pub writes: Vec<Write>,
    pub idempotency: Option<(Scope, IdempotencyRecord)>,
}

/// What became of a `Commit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Everything is durable.
    Committed,
    /// A compare-and-swap failed (another request changed a record first): nothing was written.
    Conflict,
    /// The idempotency key was stored by another request first: nothing was written.
    KeyTaken,
}

/// Accounts (tenants) and their API keys.
#[async_trait]
pub trait Tenants: Send + Sync + 'static {
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Inserts the account and its keys unless any of the keys is registered to another account.
    /// Returns false (and changes nothing) in that case; re-provisioning the same rows is a no-op.
    async fn provision_account(&self, account: &AccountRecord, keys: &[ApiKeyRecord]) -> Result<bool, StoreError>;
    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError>;
}

/// The domain's records: customers, sessions, connections, linked accounts with their owners and
/// transactions, test clocks; and `write`, the one way to change them (a unit of work records it).
#[async_trait]
pub trait Objects: Send + Sync + 'static {
    /// Looks a customer up in the account, in either mode (`scope` on the record says which).
    async fn get_customer(&self, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError>;
    async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<CustomerRecord>, StoreError>;

    async fn get_session(&self, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A session by id alone, in any account (its record's `scope` says whose). For the OAuth page, which
    /// the end user reaches without a key.
    async fn find_session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    async fn get_connection(&self, scope: &Scope, id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// The linked accounts whose data comes from a connection.
    async fn connection_accounts(
        &self,
        scope: &Scope,
        connection: &str,
    ) -> Result<Vec<LinkedAccountRecord>, StoreError>;
    /// The accounts linked through a session, in link order.
    async fn session_accounts(&self, scope: &Scope, session: &str) -> Result<Vec<LinkedAccountRecord>, StoreError>;

    async fn get_linked_account(&self, account: &str, id: &str) -> Result<Option<LinkedAccountRecord>, StoreError>;
    async fn list_linked_accounts(
        &self,
        scope: &Scope,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<LinkedAccountRecord>, StoreError>;
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

    /// A test clock by id within a tenant, deleted or not.
    async fn get_test_clock(&self, account: &str, id: &str) -> Result<Option<TestClockRecord>, StoreError>;
    /// The clocks that are not deleted, newest first.
    async fn list_test_clocks(&self, scope: &Scope, page: &PageRequest) -> Result<Page<TestClockRecord>, StoreError>;
    /// A clock's `frozen_time` (deleted clocks keep theirs).
    async fn test_clock_time(&self, id: &str) -> Result<Option<i64>, StoreError>;
    /// The linked accounts that live on a clock.
    async fn accounts_on_clock(&self, scope: &Scope, clock: &str) -> Result<Vec<LinkedAccountRecord>, StoreError>;

    /// One write. Outside a unit of work it commits on its own and returns false on a conflict; inside
    /// The tenant's institution downtimes (test mode; ended ones are removed, scheduled ones are kept past
    /// their `until` and ignored by the domain).
    async fn institution_downtimes(&self, scope: &Scope) -> Result<Vec<crate::scripted::Downtime>, StoreError>;
    /// one (`crate::unit::Unit`) it is kept for the unit's commit and returns true.
    async fn write(&self, write: Write) -> Result<bool, StoreError>;

    async fn insert_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<(), StoreError> {
        self.write(Write::InsertCustomer { scope: scope.clone(), rec: rec.clone() }).await.map(drop)
    }
    async fn update_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<bool, StoreError> {
        self.write(Write::UpdateCustomer { scope: scope.clone(), rec: rec.clone() }).await
    }
    async fn insert_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<(), StoreError> {
        self.write(Write::InsertSession { scope: scope.clone(), rec: rec.clone() }).await.map(drop)
    }
    async fn update_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<bool, StoreError> {
        self.write(Write::UpdateSession { scope: scope.clone(), rec: rec.clone() }).await
    }
    async fn complete_session(
        &self,
        scope: &Scope,
        session: &SessionRecord,
        accounts: &[LinkedAccountRecord],
        effects: &Effects,
        connection: Option<&ConnectionRecord>,
    ) -> Result<bool, StoreError> {
        self.write(Write::CompleteSession {
            scope: scope.clone(),
            session: session.clone(),
            accounts: accounts.to_vec(),
            effects: effects.clone(),
            connection: connection.cloned(),
        })
        .await
    }
    async fn insert_connection(&self, scope: &Scope, rec: &ConnectionRecord) -> Result<(), StoreError> {
        self.write(Write::InsertConnection { scope: scope.clone(), rec: rec.clone() }).await.map(drop)
    }
    async fn update_connection(&self, scope: &Scope, rec: &ConnectionRecord) -> Result<bool, StoreError> {
        self.write(Write::UpdateConnection { scope: scope.clone(), rec: rec.clone() }).await
    }
    async fn update_linked_account(
        &self,
        scope: &Scope,
        rec: &LinkedAccountRecord,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        self.write(Write::UpdateLinkedAccount { scope: scope.clone(), rec: rec.clone(), effects: effects.clone() })
            .await
    }
    async fn insert_webhook_endpoint(&self, scope: &Scope, rec: &WebhookEndpointRecord) -> Result<(), StoreError> {
        self.write(Write::InsertWebhookEndpoint { scope: scope.clone(), rec: rec.clone() }).await.map(drop)
    }
    async fn update_webhook_endpoint(&self, scope: &Scope, rec: &WebhookEndpointRecord) -> Result<bool, StoreError> {
        self.write(Write::UpdateWebhookEndpoint { scope: scope.clone(), rec: rec.clone() }).await
    }
    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.write(Write::DeleteWebhookEndpoint { scope: scope.clone(), id: id.to_owned() }).await
    }
    async fn insert_test_clock(
        &self,
        scope: &Scope,
        rec: &TestClockRecord,
        customer: Option<&CustomerRecord>,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        self.write(Write::InsertTestClock {
            scope: scope.clone(),
            rec: rec.clone(),
            customer: customer.cloned(),
            effects: effects.clone(),
        })
        .await
    }
    async fn update_test_clock(
        &self,
        scope: &Scope,
        rec: &TestClockRecord,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        self.write(Write::UpdateTestClock { scope: scope.clone(), rec: rec.clone(), effects: effects.clone() }).await
    }
}

/// Events and webhook endpoints as the API shows them, with their delivery history.
#[async_trait]
pub trait Webhooks: Send + Sync + 'static {
    async fn get_event(&self, scope: &Scope, id: &str) -> Result<Option<EventRecord>, StoreError>;
    async fn list_events(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>, StoreError>;
    async fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpointRecord>, StoreError>;
    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpointRecord>, StoreError>;
    /// The enabled endpoints of an account and mode.
    async fn active_webhook_endpoints(&self, scope: &Scope) -> Result<Vec<WebhookEndpointRecord>, StoreError>;
    /// How many of an endpoint's deliveries were given up on (three days of failures).
    async fn failed_deliveries(&self, scope: &Scope, endpoint: &str) -> Result<i64, StoreError>;
    /// An endpoint's delivery attempts, newest first.
    async fn list_attempts(&self, scope: &Scope, endpoint: &str, limit: i64) -> Result<Vec<AttemptRecord>, StoreError>;
}

/// The background work queue: leasing jobs, and finishing each kind in one transaction with what it
/// produced.
#[async_trait]
pub trait Jobs: Send + Sync + 'static {
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
    /// In one transaction: marks the fan-out job done, creates one pending delivery (and its first
    /// delivery job, due now) per endpoint, and sets the event's `pending_webhooks`. With `resent_at` (a
    /// resend), the deliveries date from then and `pending_webhooks` grows by their number instead.
    async fn finish_fanout(
        &self,
        job: i64,
        event: &str,
        endpoints: &[String],
        resent_at: Option<i64>,
    ) -> Result<(), StoreError>;
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
    /// Unfinished jobs due at `now` (waiting or running) and the oldest one's `run_at` (metrics).
    async fn due_jobs(&self, now: i64) -> Result<(i64, Option<i64>), StoreError>;
    /// How many jobs exist and how many of them ever ran more than once (for tests and metrics).
    async fn job_counts(&self) -> Result<(i64, i64), StoreError>;
    /// Makes the clock's jobs due up to `up_to` claimable, and says how many of them are unfinished.
    async fn release_clock_jobs(&self, clock: &str, up_to: i64) -> Result<i64, StoreError>;
    /// The earliest `run_at` of the clock's unfinished jobs.
    async fn next_clock_job(&self, clock: &str) -> Result<Option<i64>, StoreError>;
}

/// Retention and periodic clean-up.
#[async_trait]
pub trait Upkeep: Send + Sync + 'static {
    /// Deletes pending connections (link flows never finished) created before `before`.
    async fn delete_pending_connections(&self, before: i64) -> Result<u64, StoreError>;
    /// Every connection that still holds a credential, in any tenant: `(scope, id)`.
    async fn connections_with_credentials(&self) -> Result<Vec<(Scope, String)>, StoreError>;
    /// Removes events created before `before` (and their deliveries and attempts).
    async fn prune_events(&self, before: i64) -> Result<u64, StoreError>;

    /// Removes jobs that finished before `before`; returns how many.
    async fn prune_jobs(&self, before: i64) -> Result<u64, StoreError>;

    /// Removes keys created before `before`; returns how many.
    async fn prune_idempotency_keys(&self, before: i64) -> Result<u64, StoreError>;
    /// Clocks past their `deletes_after` and not deleted yet: `(scope, id)`.
    async fn expired_test_clocks(&self, now: i64) -> Result<Vec<(Scope, String)>, StoreError>;
}

/// The database itself: units of work committed whole, stored idempotency keys, health.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Connections the pool holds open, and how many of them are idle (SQLite: the readers' pool).
    fn pool_usage(&self) -> (u32, u32);
    /// Which backend, for start-up messages ("sqlite", "postgres").
    fn backend(&self) -> &'static str;
    /// Writes a whole unit of work in one transaction, or nothing.
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError>;
    /// A stored idempotency key (with the response it answered), if any.
    async fn get_idempotency_key(&self, scope: &Scope, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// One query, no write: whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The database's applied migrations against the ones this build carries (reads only).
    async fn migration_status(&self) -> Result<MigrationStatus, StoreError>;
}

/// How the migrations recorded in the database compare with those built into this binary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The newest migration this binary carries.
    pub latest: i64,
    /// Carried by this binary and not applied: the database is behind (`finconn migrate`).
    pub pending: Vec<i64>,
    /// Applied but unknown to this binary: a newer finconn migrated the database, this one is behind it.
    pub unknown: Vec<i64>,
    /// Applied from other SQL than this binary's (the checksums differ).
    pub modified: Vec<i64>,
    /// A migration that started and did not finish (the database is dirty).
    pub failed: Vec<i64>,
}

impl MigrationStatus {
    /// Every migration of this binary applied, unchanged, and nothing else.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.modified.is_empty() && self.failed.is_empty()
    }
}

/// What the merchant dashboard alone reads and writes: sessions listed (Stripe's API has no session list),
/// the request log, and (`ConsoleAuth`) its sign-in links and sessions. Never part of a unit of work.
#[async_trait]
pub trait Console: ConsoleAuth + ConsoleLists + Send + Sync + 'static {
    /// Sessions newest first, paged by id like every list.
    async fn list_sessions(&self, scope: &Scope, page: &PageRequest) -> Result<Page<SessionRecord>, StoreError>;
    /// Appends rows to the request log, in one transaction.
    async fn insert_request_log(&self, rows: &[crate::console::RequestLogRecord]) -> Result<(), StoreError>;
    /// Rows newest first, older than `before` (a `seq`) when given.
    async fn list_request_log(
        &self,
        scope: &Scope,
        filter: &crate::console::RequestLogFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<crate::console::RequestLogRecord>, StoreError>;
    /// Removes rows that arrived before `before_ms`, and in each account and mode every row beyond the
    /// newest `keep`; returns how many.
    async fn prune_request_log(&self, before_ms: i64, keep: i64) -> Result<u64, StoreError>;
    /// Removes the rows of one account and mode beyond its newest `keep`; returns how many.
    async fn trim_request_log(&self, scope: &Scope, keep: i64) -> Result<u64, StoreError>;
}

/// The dashboard's sign-ins: one-time sign-in links and the sessions a sign-in opens, both stored only as
/// the SHA-256 of their secret (`hash`). A supertrait of `Console`, implemented in the store's `console`
/// module.
#[async_trait]
pub trait ConsoleAuth: Send + Sync + 'static {
    async fn insert_dashboard_link(&self, link: &crate::console::DashboardLinkRecord) -> Result<(), StoreError>;
    /// The link with this hash, used or not, expired or not.
    async fn dashboard_link(&self, hash: &str) -> Result<Option<crate::console::DashboardLinkRecord>, StoreError>;
    /// In one transaction: marks the link used at `now` if it is unused and unexpired (one statement, so of
    /// two concurrent calls, in any processes, exactly one wins), and opens `session` for the link's account
    /// and mode. `None` (and nothing written) when the link cannot be used.
    async fn redeem_dashboard_link(
        &self,
        hash: &str,
        now: i64,
        session: &crate::console::DashboardSessionRecord,
    ) -> Result<Option<crate::console::DashboardSessionRecord>, StoreError>;
    async fn insert_dashboard_session(
        &self,
        session: &crate::console::DashboardSessionRecord,
    ) -> Result<(), StoreError>;
    /// The session with this hash, if it exists and has not expired at `now`.
    async fn dashboard_session(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<crate::console::DashboardSessionRecord>, StoreError>;
    /// Ends one session; returns whether it existed.
    async fn delete_dashboard_session(&self, hash: &str) -> Result<bool, StoreError>;
    /// Ends every session of an account and drops its unused links; returns (sessions, links).
    async fn delete_dashboard_sessions(&self, account: &str) -> Result<(u64, u64), StoreError>;
    /// Removes sessions and links that expired before `now`; returns how many.
    async fn prune_dashboard_auth(&self, now: i64) -> Result<u64, StoreError>;
}

/// The dashboard's filtered lists, filters applied in SQL so a page is full whatever the filter matches
/// and its cursor is the last row it shows. A supertrait of `Console`, implemented in the store's
/// `console` module.
#[async_trait]
pub trait ConsoleLists: Send + Sync + 'static {
    /// Sessions newest first (paged by id), in a state as of `now` and of a customer.
    async fn list_sessions_where(
        &self,
        scope: &Scope,
        filter: &crate::console::SessionFilter,
        now: i64,
        page: &PageRequest,
    ) -> Result<Page<SessionRecord>, StoreError>;
    /// Linked accounts newest first (paged by id), of one status when given.
    async fn list_accounts_where(
        &self,
        scope: &Scope,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<LinkedAccountRecord>, StoreError>;
    /// An account's transactions, newest `transacted_at` first (paged by id, as the API's list), of one
    /// status when given and whose description contains `search` (lowercase) when given.
    async fn list_transactions_where(
        &self,
        scope: &Scope,
        account: &str,
        filter: &crate::console::TransactionSearch,
        page: &PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError>;
}

/// What a request's domain reads and writes: a unit of work (`crate::unit::Unit`) serves exactly this.
pub trait Records: Tenants + Objects + Webhooks {}
impl<T: Tenants + Objects + Webhooks + ?Sized> Records for T {}

/// All of the database: what a request reads and writes, plus the queue, upkeep, commits and the
/// dashboard's own reads.
pub trait Store: Records + Jobs + Upkeep + Database + Console {}
impl<T: Records + Jobs + Upkeep + Database + Console + ?Sized> Store for T {}
