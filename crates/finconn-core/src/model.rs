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
    /// Optimistic-concurrency counter (the `version` column).
    #[serde(skip)]
    pub version: i64,
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
    #[serde(skip)]
    pub version: i64,
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
    /// `None` while the first request is still running.
    pub response: Option<StoredResponse>,
    /// When the in-flight request's lock lapses (a crashed process must not hold a key forever).
    pub locked_until: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: String,
}
