#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod clock;
pub mod connections;
pub mod connector;
pub mod console;
pub mod customers;
pub mod error;
pub mod events;
pub mod flow;
pub mod ids;
pub mod keys;
pub mod link;
pub mod model;
pub mod provider;
mod queue;
pub mod relink;
pub mod scripted;
pub mod sessions;
pub mod store;
pub mod test_clocks;
pub mod unit;
pub mod vault;

use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::DomainError;
pub use model::Scope;
pub use store::{Store, StoreError};

/// Settings the domain needs; the server's `Config` fills them in.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Any well-formed, unregistered `sk_test_…` key provisions its own account on first use.
    pub sandbox_keys: bool,
    /// How long a session's client secret can be used.
    pub client_secret_ttl: Duration,
    /// After a refresh ends, how long until the same feature can be refreshed again.
    pub refresh_cooldown: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sandbox_keys: true,
            client_secret_ttl: Duration::from_secs(3600),
            refresh_cooldown: Duration::from_secs(60),
        }
    }
}

/// Accepted keys by their SHA-256 (hex), already uniform: hashed with foldhash (randomly seeded), not SipHash.
type KeyCache = std::collections::HashMap<String, (keys::Caller, i64), foldhash::fast::RandomState>;

/// The domain's entry point: every handler calls one method of this.
#[derive(Clone)]
pub struct Finconn {
    /// The database: the job queue, upkeep and commits go here, never through a unit of work. Private to
    /// the domain: the server reaches it only through `Finconn`'s operations.
    pub(crate) store: Arc<dyn Store>,
    /// What the domain reads and writes: the database, or in a request the unit of work over it.
    pub(crate) records: Arc<dyn store::Records>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub providers: link::Providers,
    /// Seals live connectors' credentials; `None` when no master key is configured (live links refused).
    pub vault: Option<Arc<vault::Vault>>,
    /// Recently authenticated keys (digest → caller), so a request does not pay a key lookup.
    key_cache: Arc<std::sync::Mutex<KeyCache>>,
}

impl Finconn {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            records: store.clone(),
            store,
            clock,
            settings,
            providers: link::Providers::default(),
            vault: None,
            key_cache: Arc::default(),
        }
    }

    pub fn with_providers(mut self, providers: link::Providers) -> Self {
        self.providers = providers;
        self
    }

    pub fn with_vault(mut self, vault: Option<vault::Vault>) -> Self {
        self.vault = vault.map(Arc::new);
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A unit of work: this domain with its writes kept in the returned `Unit` until `commit`.
    pub fn begin(&self) -> (Finconn, Arc<unit::Unit>) {
        let unit = Arc::new(unit::Unit::new(self.records.clone()));
        let mut core = self.clone();
        core.records = unit.clone();
        (core, unit)
    }

    /// Commits what `unit` recorded, and `idempotency` (a key with the response the client gets) if given,
    /// in one transaction. `Conflict` or `KeyTaken`: nothing was written.
    pub async fn commit(
        &self,
        unit: &unit::Unit,
        idempotency: Option<(Scope, model::IdempotencyRecord)>,
    ) -> Result<store::CommitOutcome, DomainError> {
        let writes = unit.take();
        if writes.is_empty() && idempotency.is_none() {
            return Ok(store::CommitOutcome::Committed);
        }
        Ok(self.store.commit(store::Commit { writes, idempotency }).await?)
    }

    /// An account's display name, if it has one.
    pub async fn display_name(&self, account: &str) -> Result<Option<String>, DomainError> {
        Ok(self.records.get_account(account).await?.and_then(|a| a.display_name))
    }

    /// Whether the database answers a query (liveness). Writes nothing.
    pub async fn check_database(&self) -> Result<(), DomainError> {
        Ok(self.store.ping().await?)
    }

    /// Readiness: the database answers, and how its migrations compare with this build's. Writes nothing.
    pub async fn migration_status(&self) -> Result<store::MigrationStatus, DomainError> {
        self.store.ping().await?;
        Ok(self.store.migration_status().await?)
    }

    /// What an earlier request with this idempotency key stored, if any.
    pub async fn idempotency_record(
        &self,
        scope: &Scope,
        key: &str,
    ) -> Result<Option<model::IdempotencyRecord>, DomainError> {
        Ok(self.store.get_idempotency_key(scope, key).await?)
    }
}
