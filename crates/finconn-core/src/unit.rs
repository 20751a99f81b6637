//! The unit of work: one request's writes, kept in memory while the request runs and committed in one
//! transaction with its idempotency key and stored response.
//!
//! `Finconn::begin` gives a domain whose store is a `Unit`: reads go to the database and see the unit's own
//! writes first (a session updated twice in one request, accounts read back after a completion); writes
//! are recorded and answer `true` (a compare-and-swap that would fail shows up at commit, as a
//! `CommitOutcome::Conflict`, and the whole unit is dropped). Nothing reaches the database until
//! `Finconn::commit`, so a request that fails or a process that dies leaves no trace of the unit.
//!
//! Lists (`list_*`) read what is committed: no request lists what it has just written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::model::{
    AccountRecord, ApiKeyRecord, AttemptRecord, ConnectionRecord, CustomerRecord, EventRecord, LinkedAccountRecord,
    OwnerRecord, Scope, SessionRecord, TestClockRecord, TransactionRecord, WebhookEndpointRecord,
};
use crate::store::{
    AccountFilter, CustomerFilter, EventFilter, Objects, Page, PageRequest, Records, StoreError, Tenants,
    TransactionFilter, Webhooks, Write,
};

/// The records a unit has written, as the database will hold them once it commits (versions bumped).
#[derive(Default)]
struct Overlay {
    writes: Vec<Write>,
    customers: HashMap<String, CustomerRecord>,
    sessions: HashMap<String, SessionRecord>,
    connections: HashMap<String, ConnectionRecord>,
    /// Linked accounts, and the ids of the new ones in the order they were created.
    accounts: HashMap<String, LinkedAccountRecord>,
    new_accounts: Vec<String>,
    /// `None`: deleted by this unit.
    endpoints: HashMap<String, Option<WebhookEndpointRecord>>,
    clocks: HashMap<String, TestClockRecord>,
}

fn placed<T: Clone>(rec: &T, scope: &Scope, version: i64, set: impl FnOnce(&mut T, Scope, i64)) -> T {
    let mut rec = rec.clone();
    set(&mut rec, scope.clone(), version);
    rec
}

macro_rules! place {
    ($rec:expr, $scope:expr, $version:expr) => {
        placed($rec, $scope, $version, |r, s, v| {
            r.scope = Some(s);
            r.version = v;
        })
    };
}

impl Overlay {
    fn record(&mut self, w: &Write) {
        match w {
            Write::InsertCustomer { scope, rec } => {
                self.customers.insert(rec.id.clone(), place!(rec, scope, 0));
            }
            Write::UpdateCustomer { scope, rec } => {
                self.customers.insert(rec.id.clone(), place!(rec, scope, rec.version + 1));
            }
            Write::InsertSession { scope, rec } => {
                self.sessions.insert(rec.id.clone(), place!(rec, scope, 0));
            }
            Write::UpdateSession { scope, rec } => {
                self.sessions.insert(rec.id.clone(), place!(rec, scope, rec.version + 1));
            }
            Write::CompleteSession { scope, session, accounts, connection, .. } => {
                self.sessions.insert(session.id.clone(), place!(session, scope, session.version + 1));
                for a in accounts {
                    self.new_accounts.push(a.id.clone());
                    self.accounts.insert(a.id.clone(), place!(a, scope, 0));
                }
                if let Some(c) = connection {
                    self.connections.insert(c.id.clone(), place!(c, scope, c.version + 1));
                }
            }
            Write::InsertConnection { scope, rec } => {
                self.connections.insert(rec.id.clone(), place!(rec, scope, 0));
            }
            Write::UpdateConnection { scope, rec } => {
                self.connections.insert(rec.id.clone(), place!(rec, scope, rec.version + 1));
            }
            Write::UpdateLinkedAccount { scope, rec, .. } => {
                self.accounts.insert(rec.id.clone(), place!(rec, scope, rec.version + 1));
            }
            Write::InsertWebhookEndpoint { scope, rec } => {
                self.endpoints.insert(rec.id.clone(), Some(place!(rec, scope, 0)));
            }
            Write::UpdateWebhookEndpoint { scope, rec } => {
                self.endpoints.insert(rec.id.clone(), Some(place!(rec, scope, rec.version + 1)));
            }
            Write::DeleteWebhookEndpoint { id, .. } => {
                self.endpoints.insert(id.clone(), None);
            }
            Write::InsertTestClock { scope, rec, customer, .. } => {
                self.clocks.insert(rec.id.clone(), place!(rec, scope, 0));
                if let Some(c) = customer {
                    self.customers.insert(c.id.clone(), place!(c, scope, c.version + 1));
                }
            }
            Write::UpdateTestClock { scope, rec, .. } => {
                self.clocks.insert(rec.id.clone(), place!(rec, scope, rec.version + 1));
            }
            // Jobs are read by the runner, never back by the request; a downtime is answered from the
            // record the helper wrote.
            Write::Enqueue { .. } | Write::SetDowntime { .. } | Write::EndDowntime { .. } => {}
        }
    }

    /// `base` (what the database holds) with this unit's versions in place of the stored ones, then the
    /// unit's new accounts that `keep` selects.
    fn merge_accounts(
        &self,
        scope: &Scope,
        base: Vec<LinkedAccountRecord>,
        keep: impl Fn(&LinkedAccountRecord) -> bool,
    ) -> Vec<LinkedAccountRecord> {
        let mut out: Vec<LinkedAccountRecord> =
            base.into_iter().map(|a| self.accounts.get(&a.id).cloned().unwrap_or(a)).filter(|a| keep(a)).collect();
        for id in &self.new_accounts {
            if let Some(a) = self.accounts.get(id) {
                if a.scope.as_ref() == Some(scope) && keep(a) && !out.iter().any(|o| o.id == a.id) {
                    out.push(a.clone());
                }
            }
        }
        out
    }
}

/// One request's unit of work over a store.
pub struct Unit {
    base: Arc<dyn Records>,
    state: Mutex<Overlay>,
}

impl Unit {
    pub fn new(base: Arc<dyn Records>) -> Self {
        Self { base, state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, Overlay> {
        // A panic while holding this lock cannot leave the overlay half-written (each update is one
        // insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writes recorded so far, leaving the unit empty.
    pub fn take(&self) -> Vec<Write> {
        std::mem::take(&mut *self.state()).writes
    }
}

fn in_account<T>(rec: Option<&T>, account: &str, scope: impl Fn(&T) -> Option<&Scope>) -> Option<Option<T>>
where
    T: Clone,
{
    rec.map(|r| scope(r).is_some_and(|s| s.account == account).then(|| r.clone()))
}

/// Implements a store trait for the unit: the listed read methods go to the database unchanged, the rest
/// (`own`) see the unit's writes first.
macro_rules! unit_impl {
    ($trait:ident, forward { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )* } own { $($own:tt)* }) => {
        #[async_trait]
        impl $trait for Unit {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret { self.base.$name($($arg),*).await } )*
            $($own)*
        }
    };
}

unit_impl! {
    Tenants,
    forward {
        fn find_api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
        fn provision_account(&self, account: &AccountRecord, keys: &[ApiKeyRecord]) -> Result<bool, StoreError>;
        fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError>;
    }
    own {

    }
}

unit_impl! {
    Objects,
    forward {
        fn institution_downtimes(&self, scope: &Scope) -> Result<Vec<crate::scripted::Downtime>, StoreError>;
        fn list_customers(&self, scope: &Scope, filter: &CustomerFilter, page: &PageRequest) -> Result<Page<CustomerRecord>, StoreError>;
        fn list_linked_accounts(&self, scope: &Scope, filter: &AccountFilter, page: &PageRequest) -> Result<Page<LinkedAccountRecord>, StoreError>;
        fn ownership_created(&self, ownership: &str) -> Result<Option<i64>, StoreError>;
        fn ownership_belongs_to(&self, account: &str, ownership: &str) -> Result<bool, StoreError>;
        fn list_owners(&self, scope: &Scope, ownership: &str, page: &PageRequest) -> Result<Page<OwnerRecord>, StoreError>;
        fn list_transactions(&self, scope: &Scope, account: &str, filter: &TransactionFilter, page: &PageRequest) -> Result<Page<TransactionRecord>, StoreError>;
        fn get_transaction(&self, scope: &Scope, id: &str) -> Result<Option<TransactionRecord>, StoreError>;
        fn transactions_by_provider_id(&self, scope: &Scope, account: &str) -> Result<HashMap<String, TransactionRecord>, StoreError>;
        fn list_test_clocks(&self, scope: &Scope, page: &PageRequest) -> Result<Page<TestClockRecord>, StoreError>;
    }
    own {

        async fn write(&self, write: Write) -> Result<bool, StoreError> {
            if let Write::DeleteWebhookEndpoint { scope, id } = &write {
                // Whether there is anything to delete, as the database would answer.
                if self.get_webhook_endpoint(scope, id).await?.is_none() {
                    return Ok(false);
                }
            }
            let mut state = self.state();
            state.record(&write);
            state.writes.push(write);
            Ok(true)
        }

        async fn get_customer(&self, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
            if let Some(r) = in_account(self.state().customers.get(id), account, |r| r.scope.as_ref()) {
                return Ok(r);
            }
            self.base.get_customer(account, id).await
        }

        async fn get_session(&self, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError> {
            if let Some(r) = in_account(self.state().sessions.get(id), account, |r| r.scope.as_ref()) {
                return Ok(r);
            }
            self.base.get_session(account, id).await
        }

        async fn find_session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
            if let Some(r) = self.state().sessions.get(id) {
                return Ok(Some(r.clone()));
            }
            self.base.find_session_by_id(id).await
        }

        async fn get_connection(&self, scope: &Scope, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
            if let Some(r) = self.state().connections.get(id) {
                return Ok((r.scope.as_ref() == Some(scope)).then(|| r.clone()));
            }
            self.base.get_connection(scope, id).await
        }

        async fn get_linked_account(&self, account: &str, id: &str) -> Result<Option<LinkedAccountRecord>, StoreError> {
            if let Some(r) = in_account(self.state().accounts.get(id), account, |r| r.scope.as_ref()) {
                return Ok(r);
            }
            self.base.get_linked_account(account, id).await
        }

        async fn session_accounts(&self, scope: &Scope, session: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
            let base = self.base.session_accounts(scope, session).await?;
            Ok(self.state().merge_accounts(scope, base, |a| a.session == session))
        }

        async fn connection_accounts(&self, scope: &Scope, connection: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
            let base = self.base.connection_accounts(scope, connection).await?;
            Ok(self.state().merge_accounts(scope, base, |a| a.connection.as_ref().is_some_and(|c| c.id == connection)))
        }

        async fn accounts_on_clock(&self, scope: &Scope, clock: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
            let base = self.base.accounts_on_clock(scope, clock).await?;
            Ok(self.state().merge_accounts(scope, base, |a| a.test_clock.as_deref() == Some(clock)))
        }

        async fn get_test_clock(&self, account: &str, id: &str) -> Result<Option<TestClockRecord>, StoreError> {
            if let Some(r) = in_account(self.state().clocks.get(id), account, |r| r.scope.as_ref()) {
                return Ok(r);
            }
            self.base.get_test_clock(account, id).await
        }

        async fn test_clock_time(&self, id: &str) -> Result<Option<i64>, StoreError> {
            if let Some(r) = self.state().clocks.get(id) {
                return Ok(Some(r.frozen_time));
            }
            self.base.test_clock_time(id).await
        }
    }
}

unit_impl! {
    Webhooks,
    forward {
        fn get_event(&self, scope: &Scope, id: &str) -> Result<Option<EventRecord>, StoreError>;
        fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> Result<Page<EventRecord>, StoreError>;
        fn list_webhook_endpoints(&self, scope: &Scope, page: &PageRequest) -> Result<Page<WebhookEndpointRecord>, StoreError>;
        fn active_webhook_endpoints(&self, scope: &Scope) -> Result<Vec<WebhookEndpointRecord>, StoreError>;
        fn failed_deliveries(&self, scope: &Scope, endpoint: &str) -> Result<i64, StoreError>;
        fn list_attempts(&self, scope: &Scope, endpoint: &str, limit: i64) -> Result<Vec<AttemptRecord>, StoreError>;
    }
    own {

        async fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpointRecord>, StoreError> {
            if let Some(r) = self.state().endpoints.get(id) {
                return Ok(r.as_ref().filter(|r| r.scope.as_ref() == Some(scope)).cloned());
            }
            self.base.get_webhook_endpoint(scope, id).await
        }
    }
}
