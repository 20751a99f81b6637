//! Where account data comes from: institutions, their log-in, their accounts. The sandbox (test mode)
//! lives in `finconn-providers`; live connectors will implement the same trait.

use finconn_types::{AccountSubcategory, Permission};

/// An institution as the link flow and `GET /v1/financial_connections/institutions` show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Institution {
    /// `fcinst_…`, stable across releases.
    pub id: String,
    pub name: String,
    /// The institution's public web site.
    pub url: String,
    /// ISO 3166-1 alpha-2 codes it serves.
    pub countries: Vec<String>,
    /// Shown before the user searches.
    pub featured: bool,
    pub login: LoginKind,
    pub status: InstitutionStatus,
    /// Which data it can share (`balances`, `ownership`, `payment_method`, `transactions`).
    pub features: Vec<Permission>,
    /// The provider's URL of the institution's logo (the modal shows it through finconn, never directly).
    pub logo: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    /// No login at all: choosing the institution authorizes (Stripe's test institutions "without providing
    /// credentials").
    None,
    /// The institution's own authorization page (simulated in the sandbox): Authorize or Cancel.
    OAuth,
    /// Username and password in finconn's pane.
    Credentials,
    /// A one-time setup token the user creates at the provider and pastes into finconn's pane (SimpleFIN).
    SetupToken,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstitutionStatus {
    Active,
    /// Down for planned maintenance; back at `expected_to_be_available_at` (seconds from now).
    DownScheduled {
        available_in_seconds: i64,
    },
    /// Down without notice.
    DownUnscheduled,
    /// Up, but every connection attempt fails with an error.
    Erroring,
}

/// One account at an institution, before it is linked.
#[derive(Clone, Debug, PartialEq)]
pub struct InstitutionAccount {
    /// The account's name at the institution (`display_name` once linked), unique within the institution.
    pub name: String,
    /// `cash` | `credit` | `investment` | `other`.
    pub category: String,
    /// `checking`, `savings`, `credit_card`, `line_of_credit`, `mortgage` or `other`.
    pub subcategory: AccountSubcategoryOrOther,
    pub last4: String,
    /// `us_bank_account` and/or `link`; empty when payments cannot be made from it.
    pub supported_payment_method_types: Vec<String>,
    /// Why it exists in the sandbox (documentation; never shown to end users).
    pub purpose: String,
}

/// `subcategory` on an account: the session filter's values plus `other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountSubcategoryOrOther {
    Known(AccountSubcategory),
    Other,
}

impl AccountSubcategoryOrOther {
    pub fn as_str(&self) -> &str {
        match self {
            AccountSubcategoryOrOther::Known(s) => s.as_str(),
            AccountSubcategoryOrOther::Other => "other",
        }
    }
}

/// An extra step a login can ask for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Challenge {
    /// A one-time code sent to the user ("mfa").
    Code { prompt: String },
    /// Approve the login on another device, then confirm ("confirm_mfa").
    Confirm { prompt: String },
    /// A security question ("security_question").
    Question { question: String },
    /// Pick one of several options, e.g. where to send a code ("options").
    Options { prompt: String, options: Vec<String> },
}

/// What a login attempt (or an answer to a challenge) leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Authorized,
    Challenge(Challenge),
    /// Wrong credentials or answer: the user may try again.
    Incorrect {
        message: String,
    },
    /// The attempt is over (`authorization_failed`, `institution_unavailable_unplanned`, …).
    Failed {
        code: String,
        message: String,
    },
}

/// The source of institutions and their accounts for one mode.
pub trait Provider: Send + Sync + 'static {
    fn institutions(&self) -> Vec<Institution>;
    fn institution(&self, id: &str) -> Option<Institution> {
        self.institutions().into_iter().find(|i| i.id == id)
    }
    fn accounts(&self, institution_id: &str) -> Vec<InstitutionAccount>;
    /// A credentials login.
    fn login(&self, institution_id: &str, username: &str, password: &str) -> LoginOutcome;
    /// The user's answer to `challenge` (the one the last outcome asked for).
    fn answer(&self, institution_id: &str, challenge: &Challenge, answer: &str) -> LoginOutcome;
}

/// A balance as an institution reports it; amounts in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceData {
    pub as_of: i64,
    pub currency: String,
    pub kind: BalanceKind,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BalanceKind {
    /// `current` and `available` (what can be spent now; `None` when the institution does not say).
    Cash { current: i64, available: Option<i64> },
    /// `current` (negative: owed) and `used` credit.
    Credit { current: i64, used: Option<i64> },
}

/// One owner of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerData {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub raw_address: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Pending,
    Posted,
    Void,
}

/// One transaction as of a fetch. `provider_id` is stable across fetches, so a pending transaction that
/// later posts or is voided is recognised as the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionData {
    pub provider_id: String,
    /// Minor units; negative for money leaving the account.
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub transacted_at: i64,
    pub status: TransactionStatus,
    /// When it posted (`Posted`) or was voided (`Void`).
    pub status_changed_at: Option<i64>,
}

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The institution answered with an error (the refresh ends `failed`).
    #[error("the institution refused: {0}")]
    Refused(String),
    /// The account is no longer reachable (relink needed; the account becomes `inactive`).
    #[error("the account is no longer accessible: {0}")]
    Inaccessible(String),
}

/// Which account a fetch is about: the institution, the account's name there, and a seed (the
/// `fca_…` id) that keeps generated data stable per linked account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRef<'a> {
    pub institution_id: &'a str,
    pub account_name: &'a str,
    pub seed: &'a str,
}

/// Account data, fetched asynchronously by the refresh engine. Live connectors do IO here; the engine
/// bounds every call with a timeout, so a provider that hangs ends the refresh as `failed`.
#[async_trait::async_trait]
pub trait AccountData: Send + Sync + 'static {
    async fn balance(&self, account: AccountRef<'_>, now: i64) -> Result<BalanceData, FetchError>;
    async fn owners(&self, account: AccountRef<'_>, now: i64) -> Result<Vec<OwnerData>, FetchError>;
    /// The transactions of the last 180 days as of `now`, newest first.
    async fn transactions(&self, account: AccountRef<'_>, now: i64) -> Result<Vec<TransactionData>, FetchError>;
}
