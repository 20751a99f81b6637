#![doc = include_str!("../README.md")]

#[macro_use]
mod pool;
mod idempotency;
mod keys;
mod objects;

use async_trait::async_trait;
use finconn_core::model::{
    AccountRecord, ApiKeyRecord, CustomerRecord, IdempotencyRecord, LinkedAccountRecord, Scope, SessionRecord,
    StoredResponse,
};
use finconn_core::store::{CustomerFilter, IdempotencyClaim, Page, PageRequest};
use finconn_core::{Store, StoreError};

pub use pool::{Backend, ConnectError};

/// A finconn database: SQLite or PostgreSQL, chosen by URL.
#[derive(Clone, Debug)]
pub struct Db {
    pool: pool::Pools,
}

impl Db {
    /// Opens (creating a SQLite file if needed) without migrating.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Ok(Self { pool: pool::Pools::connect(url).await? })
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
    StoreError::Database(Box::new(e))
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[async_trait]
impl Store for Db {
    fn backend(&self) -> &'static str {
        self.pool.backend().name()
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        keys::find_api_key(&self.pool, hash).await
    }

    async fn provision_account(&self, account: &AccountRecord, keys: &[ApiKeyRecord]) -> Result<bool, StoreError> {
        keys::provision_account(&self.pool, account, keys).await
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        keys::get_account(&self.pool, id).await
    }

    async fn insert_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<(), StoreError> {
        objects::insert_customer(&self.pool, scope, rec).await
    }

    async fn get_customer(&self, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        objects::get_customer(&self.pool, account, id).await
    }

    async fn update_customer(&self, scope: &Scope, rec: &CustomerRecord) -> Result<bool, StoreError> {
        objects::update_customer(&self.pool, scope, rec).await
    }

    async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<CustomerRecord>, StoreError> {
        objects::list_customers(&self.pool, scope, filter, page).await
    }

    async fn insert_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<(), StoreError> {
        objects::insert_session(&self.pool, scope, rec).await
    }

    async fn get_session(&self, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        objects::get_session(&self.pool, account, id).await
    }

    async fn find_session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        objects::find_session_by_id(&self.pool, id).await
    }

    async fn update_session(&self, scope: &Scope, rec: &SessionRecord) -> Result<bool, StoreError> {
        objects::update_session(&self.pool, scope, rec).await
    }

    async fn complete_session(
        &self,
        scope: &Scope,
        session: &SessionRecord,
        accounts: &[LinkedAccountRecord],
    ) -> Result<bool, StoreError> {
        objects::complete_session(&self.pool, scope, session, accounts).await
    }

    async fn session_accounts(&self, scope: &Scope, session: &str) -> Result<Vec<LinkedAccountRecord>, StoreError> {
        objects::session_accounts(&self.pool, scope, session).await
    }

    async fn claim_idempotency_key(
        &self,
        scope: &Scope,
        rec: &IdempotencyRecord,
    ) -> Result<IdempotencyClaim, StoreError> {
        idempotency::claim(&self.pool, scope, rec).await
    }

    async fn reclaim_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        previous_locked_until: i64,
        locked_until: i64,
    ) -> Result<bool, StoreError> {
        idempotency::reclaim(&self.pool, scope, key, previous_locked_until, locked_until).await
    }

    async fn complete_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        idempotency::complete(&self.pool, scope, key, response).await
    }

    async fn release_idempotency_key(&self, scope: &Scope, key: &str) -> Result<(), StoreError> {
        idempotency::release(&self.pool, scope, key).await
    }

    async fn prune_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        idempotency::prune(&self.pool, before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self.pool, read, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ())).map_err(db_err)
    }
}
