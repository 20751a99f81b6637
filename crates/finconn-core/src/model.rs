//! Stored records. Each belongs to one account (tenant) and one mode.

use std::collections::BTreeMap;

use finconn_types::{
    AccountHolderType, AccountSubcategory, ManualEntryMode, Permission, Prefetch, RequirePaymentMethodSupport,
};
use serde::{Deserialize, Serialize};

use crate::keys::KeyKind;

/// The tenant and mode every object and every request belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: String,
    pub livemode: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AccountRecord {
    pub id: String,
    pub display_name: Option<String>,
    pub sandbox: bool,
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    /// SHA-256 of the key, hex.
    pub hash: String,
    pub account: String,
    pub kind: KeyKind,
    pub livemode: bool,
    pub sandbox: bool,
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct AddressRecord {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecord {
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub address: Option<AddressRecord>,
    pub metadata: BTreeMap<String, String>,
    pub invoice_prefix: String,
    pub deleted: bool,
    /// The test clock (`clock_…`) the customer belongs to; set once, at creation or by the clock's creation.
    #[serde(default)]
    pub test_clock: Option<String>,
    /// Optimistic-concurrency counter: an update applies only to the version it read.
    #[serde(skip)]
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    /// `fcsess_…_secret_…`. Kept in clear: Stripe returns it on every retrieve.
    pub client_secret: String,
    pub expires_at: i64,
    pub holder: HolderRecord,
    pub permissions: Vec<Permission>,
    pub prefetch: Vec<Prefetch>,
    pub filters: FiltersRecord,
    pub limits: Option<i64>,
    pub manual_entry: Option<ManualEntryMode>,
    pub return_url: Option<String>,
    /// Ids of the `financial_connections.account`s linked through this session.
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub status: SessionStatus,
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// Where the end user is in the hosted flow.
    #[serde(default)]
    pub link: crate::flow::LinkStep,
    /// The institution authorized on its own page; the flow reports `institution_authorized` on its next
    /// request (the page itself has no channel to the merchant's `onEvent`).
    #[serde(default)]
    pub oauth_authorized: Option<String>,
    /// The test clock of the account holder (a customer on a clock): the accounts linked here live on its time.
    #[serde(default)]
    pub test_clock: Option<String>,
    /// A relink session (`relink_options`): the authorization, and the one account, to repair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relink: Option<RelinkRecord>,
    /// How a relink session ended (`relink_result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relink_result: Option<RelinkResult>,
    /// Optimistic-concurrency counter (the `version` column).
    #[serde(skip)]
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelinkRecord {
    pub authorization: String,
    pub account: Option<String>,
    /// The institution of the authorization (the flow goes straight to it).
    #[serde(default)]
    pub institution: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelinkResult {
    pub account: Option<String>,
    pub authorization: Option<String>,
    /// `no_authorization`, `no_account` or `other`.
    pub failure_reason: Option<String>,
}

/// Where a session's link flow stands. A session completes (or is cancelled) once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    #[default]
    Open,
    Completed,
    Cancelled,
}

/// A linked `financial_connections.account`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedAccountRecord {
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    pub session: String,
    pub holder: HolderRecord,
    pub institution_id: String,
    pub institution_name: String,
    /// The account's name at the institution (`display_name`).
    pub name: String,
    pub category: String,
    pub subcategory: String,
    pub last4: Option<String>,
    pub supported_payment_method_types: Vec<String>,
    pub permissions: Vec<Permission>,
    pub status: String,
    pub subscriptions: Vec<String>,
    /// Entered by hand (routing and account number) rather than through an institution.
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub balance: Option<BalanceRecord>,
    #[serde(default)]
    pub balance_refresh: Option<RefreshRecord>,
    /// The latest `fcaowns_…`, once an ownership refresh succeeded.
    #[serde(default)]
    pub ownership: Option<String>,
    #[serde(default)]
    pub ownership_refresh: Option<RefreshRecord>,
    #[serde(default)]
    pub transaction_refresh: Option<TransactionRefreshRecord>,
    /// The current transaction subscription (a random token its daily ticks carry); `None` when
    /// unsubscribed.
    #[serde(default)]
    pub subscription: Option<String>,
    /// The test clock whose time the account lives on (its refreshes, data and daily subscription);
    /// `None`: real time.
    #[serde(default)]
    pub test_clock: Option<String>,
    /// Live mode: the connection (and the account within it) its data comes from. `None`: the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<AccountConnection>,
    /// Test mode: what the test helpers made the institution answer next (`crate::scripted`).
    #[serde(default, skip_serializing_if = "crate::scripted::Script::is_empty")]
    pub script: crate::scripted::Script,
    #[serde(skip)]
    pub version: i64,
}

/// Where a live account's data comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConnection {
    /// The connection (`fcconn_…`).
    pub id: String,
    /// The provider's id of the account, and the login within the credential it belongs to.
    pub provider_account: String,
    pub group: Option<String>,
    /// The end of the last transaction window read completely: the next sync reads from a few days
    /// before it. `None`: never synced (the first sync backfills).
    #[serde(default)]
    pub transactions_synced_through: Option<i64>,
    /// When the user's consent at the provider ends (`status_details.active.expected_deactivation_date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<i64>,
    /// The authorization, once it no longer follows from `id` (after a relink moved the account here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}

/// A live connection: one credential at a data provider and the accounts reachable through it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// `fcconn_…` (finconn's own; never on the wire).
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    /// The connector's name (`simplefin`).
    pub connector: String,
    pub institution_id: String,
    pub institution_name: String,
    /// The session that made it.
    pub session: String,
    pub status: ConnectionStatus,
    /// The credential sealed by the vault (bound to `id`); `None` once revoked or disconnected.
    pub credential: Option<String>,
    /// The accounts found when it was made, for the account picker.
    #[serde(default)]
    pub discovered: Vec<crate::connector::DiscoveredAccount>,
    /// When upstream requests were made in the last 24 hours (the provider's budget).
    #[serde(default)]
    pub requests: Vec<i64>,
    /// A sync holds the connection until then (one sync per connection at a time, across processes).
    #[serde(default)]
    pub syncing_until: i64,
    /// The provider's last message (sanitised), for the operator.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Made during a link flow that has not finished.
    Pending,
    Active,
    /// The credential stopped working; its accounts are inactive until relinked.
    Revoked,
    /// Every account of it was disconnected; the credential is gone.
    Disconnected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefreshStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshStatus::Pending => "pending",
            RefreshStatus::Succeeded => "succeeded",
            RefreshStatus::Failed => "failed",
        }
    }
}

/// `balance_refresh` / `ownership_refresh`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub status: RefreshStatus,
    pub last_attempted_at: i64,
    /// `None` while pending.
    pub next_refresh_available_at: Option<i64>,
    /// Why it failed, as the provider said it (sanitised); kept for the operator, not on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `transaction_refresh`: a refresh with an id (`fctxnref_…`) that transactions point back to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRefreshRecord {
    pub id: String,
    pub status: RefreshStatus,
    pub last_attempted_at: i64,
    pub next_refresh_available_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceRecord {
    pub as_of: i64,
    pub currency: String,
    /// `cash` or `credit`.
    pub kind: String,
    pub current: i64,
    /// Cash: available; credit: used.
    pub other: Option<i64>,
}

/// A stored owner of an ownership (`fcaown_…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    pub id: String,
    pub ownership: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub raw_address: Option<String>,
    pub refreshed_at: i64,
}

/// A stored transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    pub id: String,
    pub account: String,
    pub provider_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub status: crate::provider::TransactionStatus,
    pub posted_at: Option<i64>,
    pub void_at: Option<i64>,
    pub transacted_at: i64,
    pub transaction_refresh: String,
    pub updated: i64,
}

/// Background work, kept in the database so it survives restarts and is shared by every process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    RefreshBalance {
        account: String,
    },
    RefreshOwnership {
        account: String,
    },
    /// `refresh`: the `fctxnref_…` the job fills in.
    RefreshTransactions {
        account: String,
        refresh: String,
    },
    /// The daily transaction refresh of a subscribed account. `subscription` names the subscription the
    /// tick belongs to: a tick of an earlier one (unsubscribed since) ends without a successor.
    SubscriptionTick {
        account: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscription: Option<String>,
    },
    /// Creates the webhook deliveries of a new event; with `resend_to`, one new delivery of an existing
    /// event to that endpoint (the `resend` test helper), its retries counted from `resent_at`.
    FanoutEvent {
        event: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resend_to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resent_at: Option<i64>,
    },
    /// One attempt to deliver an event to an endpoint.
    DeliverWebhook {
        delivery: i64,
    },
    /// Moves an advancing test clock towards its target, running its accounts' jobs in time order.
    AdvanceTestClock {
        clock: String,
    },
    /// Live mode: one upstream fetch for a connection, serving every pending refresh of its accounts.
    SyncConnection {
        connection: String,
    },
}

/// A new event, written in the same transaction as the change it reports.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub object: serde_json::Value,
    pub previous_attributes: Option<serde_json::Value>,
    pub request: Option<Origin>,
}

/// The API request behind a change: its `Request-Id` and `Idempotency-Key`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub scope: Scope,
    pub kind: String,
    pub created: i64,
    pub object: serde_json::Value,
    pub previous_attributes: Option<serde_json::Value>,
    pub request: Option<Origin>,
    pub pending_webhooks: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpointRecord {
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub api_version: Option<String>,
    /// `whsec_…`, kept to sign deliveries; shown only in the answer to the creation.
    pub secret: String,
    pub disabled: bool,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub scope: Scope,
    pub event: String,
    pub endpoint: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub created: i64,
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub delivery: i64,
    pub event: String,
    pub endpoint: String,
    pub attempted_at: i64,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// Why there was no answer (timeout, connection refused, …).
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub scope: Scope,
    pub kind: JobKind,
    /// When it is due, on its clock: the test clock's time for a job of `test_clock`, else real time.
    pub run_at: i64,
    pub attempts: i64,
    pub test_clock: Option<String>,
}

/// A job to add, in the same transaction as the change that needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    /// On the job's clock (see [`Job::run_at`]).
    pub run_at: i64,
    /// A job of a test clock waits until the clock reaches `run_at`, however far real time has gone.
    pub test_clock: Option<String>,
}

impl NewJob {
    /// A job on real time.
    pub fn now_or_later(kind: JobKind, run_at: i64) -> Self {
        Self { kind, run_at, test_clock: None }
    }
}

/// A `test_helpers.test_clock`: a time of its own for the customers attached to it and the accounts linked
/// for them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestClockRecord {
    pub id: String,
    #[serde(skip)]
    pub scope: Option<Scope>,
    pub created: i64,
    pub deletes_after: i64,
    pub frozen_time: i64,
    pub name: Option<String>,
    pub status: TestClockStatus,
    /// Where an advance is going (`status_details.advancing.target_frozen_time`).
    pub target: Option<i64>,
    pub deleted: bool,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestClockStatus {
    Ready,
    Advancing,
    InternalFailure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HolderRecord {
    pub kind: AccountHolderType,
    pub customer: Option<String>,
    pub account: Option<String>,
    pub customer_account: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct FiltersRecord {
    pub account_subcategories: Option<Vec<AccountSubcategory>>,
    pub countries: Vec<String>,
    pub require_payment_method_support: Option<RequirePaymentMethodSupport>,
}

/// What the idempotency layer keeps of a request and its answer.
#[derive(Clone, Debug, PartialEq)]
pub struct IdempotencyRecord {
    pub key: String,
    pub method: String,
    pub path: String,
    pub fingerprint: String,
    pub created: i64,
    /// What the first request answered, stored in the transaction of its writes.
    pub response: StoredResponse,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: String,
}
