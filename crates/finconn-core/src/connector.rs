//! Live-mode connectors: where real account data comes from. A connector knows one data provider's
//! protocol (SimpleFIN first); everything connectors share — refresh gating, the request budget, mapping
//! errors to account and refresh status, events, incremental transaction sync — lives in
//! `connections.rs`, so a new connector is one module implementing [`Connector`] plus a registration line
//! where the server builds [`Connectors`].
//!
//! A link produces a *connection*: one credential (sealed at rest by the vault) and the accounts reachable
//! through it. Every fetch is per connection, so one upstream request serves every account and feature
//! being refreshed on it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::provider::{BalanceData, Institution, TransactionData};

/// A connector's credential in memory (a SimpleFIN Access URL). Wiped on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What the user gives the link flow, by the institution's login shape.
#[derive(Clone, Debug)]
pub enum LinkInput {
    /// A one-time setup token pasted from the provider's own page (SimpleFIN).
    SetupToken(Secret),
    /// The code the bank's authorization page sent back to finconn's callback (PSD2 redirect flows).
    AuthorizationCode(Secret),
}

/// An account found through a new connection, before the user picks it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredAccount {
    /// The provider's id of the account (unique within its group).
    pub provider_id: String,
    /// The login at one bank the account belongs to (SimpleFIN v2 `conn_id`), if the provider says.
    pub group: Option<String>,
    /// What the user calls that login ("Example Bank - Jo").
    pub group_name: Option<String>,
    pub name: String,
    /// Lowercase ISO 4217, or `other` for a currency the provider defines itself.
    pub currency: String,
    pub balance: Option<BalanceData>,
    /// A guess from the name (the user may correct it in the account picker).
    pub category: String,
    pub subcategory: String,
    /// The last four characters of the account's number (IBAN or other identifier), when the provider gives
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// When the user's consent ends (PSD2 consents last 90 or 180 days): the account goes `inactive` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<i64>,
}

/// One sync of a connection: which accounts, which data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// `(group, provider_id)` of the accounts to read.
    pub accounts: Vec<(Option<String>, String)>,
    /// Transactions from `.0` (inclusive) to `.1` (exclusive), Unix seconds; `None`: balances only.
    pub transactions: Option<(i64, i64)>,
    /// Whether an ownership refresh is waiting (the holders' names are read only then).
    pub owners: bool,
}

/// One account's data from a sync.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSync {
    pub group: Option<String>,
    pub provider_id: String,
    pub balance: Option<BalanceData>,
    /// Every transaction the provider listed in the window (pending included).
    pub transactions: Vec<TransactionData>,
    /// The account's holders, where the provider names them (`None`: it does not share ownership).
    pub owners: Option<Vec<crate::provider::OwnerData>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncData {
    pub accounts: Vec<AccountSync>,
    /// Problems that leave the rest of the answer usable (one connection or one account failed).
    pub problems: Vec<ConnectorError>,
}

/// A connector call and how many upstream requests it cost (counted against the provider's budget even
/// when the call failed).
#[derive(Debug)]
pub struct Costed<T> {
    pub requests: u32,
    pub result: Result<T, ConnectorError>,
}

/// Why a connector call failed, typed so that one function (`connections::effect_of`) maps each kind to
/// account and refresh status for every connector. Messages are for end users and operators: already
/// sanitised, never carrying a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// What the user entered cannot be used (a malformed setup token); they may try again.
    #[error("{0}")]
    Invalid(String),
    /// The provider refused the link (a setup token already used or unknown).
    #[error("{0}")]
    Rejected(String),
    /// The credential no longer works: every account of the connection needs relinking.
    #[error("{0}")]
    AuthRevoked(String),
    /// One login under the credential needs the user's attention at the provider (SimpleFIN `con.auth`).
    #[error("{message}")]
    ConnectionNeedsAttention { group: String, message: String },
    /// One account could not be read this time; `missing_data`: its transaction list is incomplete.
    #[error("{message}")]
    AccountFailed { group: Option<String>, account: String, message: String, missing_data: bool },
    #[error("{0}")]
    RateLimited(String),
    /// The user's subscription at the provider lapsed (HTTP 402).
    #[error("{0}")]
    PaymentRequired(String),
    /// Down, slow or erroring: try again later.
    #[error("{0}")]
    Temporary(String),
    /// The provider answered something that is not its protocol.
    #[error("{0}")]
    BadData(String),
    /// The outbound policy refused the address (SSRF guard).
    #[error("{0}")]
    Refused(String),
}

/// The request budget a provider expects per credential: at most `per_day` requests in any 24 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_day: usize,
}

/// A live data provider's protocol.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A short stable name stored on connections (`simplefin`).
    fn name(&self) -> &'static str;
    /// The institutions it offers (their `login` says which [`LinkInput`] they take).
    fn institutions(&self) -> Vec<Institution>;
    /// Where the user gets a setup token for `institution` (opened in a new tab, never in the modal).
    fn token_page(&self, institution: &str) -> Option<String>;
    fn quota(&self) -> Quota;
    /// How many days one transactions request may span.
    fn max_window_days(&self) -> i64;
    /// Turns what the user gave into a credential (SimpleFIN: claims the setup token, once).
    async fn connect(&self, institution: &str, input: LinkInput) -> Costed<Secret>;
    /// Lists the accounts reachable with a credential, with balances.
    async fn discover(&self, credential: &Secret) -> Costed<Vec<DiscoveredAccount>>;
    /// Reads balances (and transactions in the window) of some accounts of a connection.
    async fn sync(&self, credential: &Secret, request: &SyncRequest) -> Costed<SyncData>;
    /// Institutions whose login is the bank's own page ([`LoginKind::OAuth`](crate::provider::LoginKind)):
    /// where to send the user's browser. `state` comes back to finconn's callback with the code.
    async fn authorization_url(&self, institution: &str, state: &str) -> Costed<String> {
        let _ = (institution, state);
        Costed {
            requests: 0,
            result: Err(ConnectorError::Invalid("This institution has no authorization page.".into())),
        }
    }
    /// Reloads the institution list from the provider (at start-up, then daily). Returns how many there are.
    async fn refresh_institutions(&self) -> Result<usize, ConnectorError> {
        Ok(self.institutions().len())
    }
}

/// The connectors configured for live mode.
#[derive(Clone, Default)]
pub struct Connectors(pub Arc<[Arc<dyn Connector>]>);

impl Connectors {
    pub fn institutions(&self) -> Vec<Institution> {
        self.0.iter().flat_map(|c| c.institutions()).collect()
    }

    /// The connector serving an institution.
    pub fn for_institution(&self, id: &str) -> Option<Arc<dyn Connector>> {
        self.0.iter().find(|c| c.institutions().iter().any(|i| i.id == id)).cloned()
    }

    /// One institution of a connector.
    pub fn institution(&self, id: &str) -> Option<Institution> {
        self.0.iter().find_map(|c| c.institutions().into_iter().find(|i| i.id == id))
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.0.iter().find(|c| c.name() == name).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
