//! Request parameters. Each type can only express requests the API accepts in shape: exclusive
//! parameters are enums, required ones are constructor arguments.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::form::Form;
use finconn_types::{
    AccountSubcategory, CustomerId, ManualEntryMode, OwnershipId, Permission, Prefetch, RequirePaymentMethodSupport,
    SessionId, StripeAccountId, TestClockId, TransactionRefreshId,
};

/// Encodes parameters. Every parameter type of this crate serializes to an object with string keys, which
/// cannot fail; anything else would give an empty form.
pub(crate) fn to_form<P: Serialize + ?Sized>(params: &P) -> Form {
    serde_json::to_value(params).map(|v| Form::from_value(&v)).unwrap_or_default()
}

/// `expand[]` values as a form.
pub(crate) fn expand_form<E: Serialize>(expand: &[E]) -> Form {
    #[derive(Serialize)]
    struct Expand<'a, E> {
        #[serde(skip_serializing_if = "<[E]>::is_empty")]
        expand: &'a [E],
    }
    to_form(&Expand { expand })
}

/// Whose accounts a session collects (`account_holder[…]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountHolder {
    /// `type=customer`, `customer=cus_…`: a customer of your account.
    Customer(CustomerId),
    /// `type=customer`, `customer_account=acct_…`: an Accounts v2 id standing for the customer.
    CustomerAccount(StripeAccountId),
    /// `type=account`, `account=acct_…`: a Stripe account (finconn: your own).
    Account(StripeAccountId),
}

impl AccountHolder {
    fn fields(&self) -> (&'static str, &'static str, &str) {
        match self {
            AccountHolder::Customer(id) => ("customer", "customer", id.as_str()),
            AccountHolder::CustomerAccount(id) => ("customer", "customer_account", id.as_str()),
            AccountHolder::Account(id) => ("account", "account", id.as_str()),
        }
    }
}

impl Serialize for AccountHolder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (kind, key, id) = self.fields();
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", kind)?;
        map.serialize_entry(key, id)?;
        map.end()
    }
}

/// The `account_holder[…]` filter of an account list: the id alone, no `type`.
fn serialize_holder_filter<S: Serializer>(holder: &Option<AccountHolder>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    match holder {
        None => s.serialize_none(),
        Some(h) => {
            let (_, key, id) = h.fields();
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(key, id)?;
            map.end()
        }
    }
}

/// What a session or account retrieve may expand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SessionExpand {
    #[serde(rename = "account_holder.customer")]
    AccountHolderCustomer,
    #[serde(rename = "account_holder.account")]
    AccountHolderAccount,
}

/// What an account retrieve may expand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AccountExpand {
    /// `ownership`: the latest `financial_connections.account_ownership` with its owners.
    #[serde(rename = "ownership")]
    Ownership,
}

/// `filters` of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionFilters {
    /// Two-letter country codes (finconn's default: `["US"]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_subcategories: Vec<AccountSubcategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_payment_method_support: Option<RequirePaymentMethodSupport>,
}

/// `POST /v1/financial_connections/sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct CreateSession {
    account_holder: AccountHolder,
    permissions: Vec<Permission>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prefetch: Vec<Prefetch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<SessionFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<SessionLimits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manual_entry: Option<ManualEntryParam>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expand: Vec<SessionExpand>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct SessionLimits {
    accounts: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct ManualEntryParam {
    mode: ManualEntryMode,
}

impl CreateSession {
    /// A session for `holder` asking for `permissions` (the API requires at least one).
    pub fn new(holder: AccountHolder, permissions: Vec<Permission>) -> Self {
        Self {
            account_holder: holder,
            permissions,
            prefetch: Vec::new(),
            filters: None,
            limits: None,
            manual_entry: None,
            return_url: None,
            expand: Vec::new(),
        }
    }

    /// Data fetched as soon as the session completes (each needs its permission).
    pub fn prefetch(mut self, prefetch: Vec<Prefetch>) -> Self {
        self.prefetch = prefetch;
        self
    }

    pub fn filters(mut self, filters: SessionFilters) -> Self {
        self.filters = Some(filters);
        self
    }

    /// `limits[accounts]`: at most this many accounts (1–100).
    pub fn limit_accounts(mut self, accounts: u8) -> Self {
        self.limits = Some(SessionLimits { accounts });
        self
    }

    pub fn manual_entry(mut self, mode: ManualEntryMode) -> Self {
        self.manual_entry = Some(ManualEntryParam { mode });
        self
    }

    pub fn return_url(mut self, url: impl Into<String>) -> Self {
        self.return_url = Some(url.into());
        self
    }

    pub fn expand(mut self, expand: Vec<SessionExpand>) -> Self {
        self.expand = expand;
        self
    }
}

/// Where a list starts: after or before an object id (never both).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cursor {
    StartingAfter(String),
    EndingBefore(String),
}

/// `limit` and the cursor, common to every list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Page {
    /// 1–100 (the API's default: 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u8>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
}

impl Page {
    pub fn limit(limit: u8) -> Self {
        Self { limit: Some(limit), cursor: None }
    }
}

/// A filter on a unix timestamp: exactly a value, or bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TimeFilter {
    Exactly(i64),
    Range {
        #[serde(skip_serializing_if = "Option::is_none")]
        gt: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        gte: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        lt: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        lte: Option<i64>,
    },
}

impl TimeFilter {
    /// `gte <= t < lt`.
    pub fn between(gte: i64, lt: i64) -> Self {
        TimeFilter::Range { gt: None, gte: Some(gte), lt: Some(lt), lte: None }
    }

    pub fn since(gte: i64) -> Self {
        TimeFilter::Range { gt: None, gte: Some(gte), lt: None, lte: None }
    }

    pub fn before(lt: i64) -> Self {
        TimeFilter::Range { gt: None, gte: None, lt: Some(lt), lte: None }
    }
}

/// A postal address parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AddressParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// `POST /v1/customers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CreateCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressParams>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The test clock the customer belongs to, for good (test mode only): its accounts live on the clock's
    /// time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_clock: Option<TestClockId>,
}

/// A field of an update: set to a value, or unset (sent as `""`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update<T> {
    Set(T),
    Unset,
}

impl<T: Serialize> Serialize for Update<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Update::Set(v) => v.serialize(s),
            Update::Unset => s.serialize_str(""),
        }
    }
}

/// `POST /v1/customers/{customer}`: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Update<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Update<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Update<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<Update<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Update<AddressParams>>,
    /// Keys to set (`Some`) or remove (`None`); or [`MetadataUpdate::Clear`] to remove every key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataUpdate>,
}

/// A change of `metadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataUpdate {
    /// Sets the keys given `Some`, removes those given `None`, keeps the others.
    Keys(BTreeMap<String, Option<String>>),
    /// Removes every key (`metadata=""`).
    Clear,
}

impl Serialize for MetadataUpdate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MetadataUpdate::Keys(keys) => s.collect_map(keys.iter().map(|(k, v)| (k, v.as_deref().unwrap_or("")))),
            MetadataUpdate::Clear => s.serialize_str(""),
        }
    }
}

/// `GET /v1/customers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListCustomers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<TimeFilter>,
    /// The customers of this test clock. Without it, customers on a test clock are left out (as on Stripe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_clock: Option<TestClockId>,
    #[serde(flatten)]
    pub page: Page,
}

/// `GET /v1/financial_connections/accounts`: by holder or by session, or all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListAccounts {
    #[serde(serialize_with = "serialize_holder_filter", skip_serializing_if = "Option::is_none")]
    pub account_holder: Option<AccountHolder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    #[serde(flatten)]
    pub page: Page,
}

/// A feature of an account's data to refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Balance,
    Ownership,
    Transactions,
}

/// A feature an account can be subscribed to (daily refreshes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionFeature {
    Transactions,
}

#[derive(Serialize)]
pub(crate) struct Features<'a, F> {
    pub features: &'a [F],
}

/// `GET /v1/financial_connections/accounts/{account}/owners`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListOwners {
    pub ownership: OwnershipId,
    #[serde(flatten)]
    pub page: Page,
}

impl ListOwners {
    pub fn new(ownership: OwnershipId) -> Self {
        Self { ownership, page: Page::default() }
    }
}

/// `GET /v1/financial_connections/transactions` of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct ListTransactions {
    account: finconn_types::AccountId,
    #[serde(skip_serializing_if = "Option::is_none")]
    transacted_at: Option<TimeFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_refresh: Option<AfterRefresh>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct AfterRefresh {
    after: TransactionRefreshId,
}

impl ListTransactions {
    pub fn new(account: finconn_types::AccountId) -> Self {
        Self { account, transacted_at: None, transaction_refresh: None, page: Page::default() }
    }

    pub fn transacted_at(mut self, filter: TimeFilter) -> Self {
        self.transacted_at = Some(filter);
        self
    }

    /// Only the transactions created or changed by refreshes after this one (`transaction_refresh[after]`).
    pub fn after_refresh(mut self, refresh: TransactionRefreshId) -> Self {
        self.transaction_refresh = Some(AfterRefresh { after: refresh });
        self
    }

    pub fn page(mut self, page: Page) -> Self {
        self.page = page;
        self
    }
}

/// Which event types to list: one (with `*` wildcards) or several exact ones (up to 20).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTypes {
    Type(String),
    Types(Vec<String>),
}

/// `GET /v1/events`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListEvents {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub types: Option<EventTypes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<TimeFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_success: Option<bool>,
    #[serde(flatten)]
    pub page: Page,
}

/// `POST /v1/webhook_endpoints`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct CreateWebhookEndpoint {
    url: String,
    enabled_events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
}

impl CreateWebhookEndpoint {
    /// An endpoint at `url` receiving `enabled_events` (`["*"]` for all).
    pub fn new(url: impl Into<String>, enabled_events: Vec<String>) -> Self {
        Self { url: url.into(), enabled_events, description: None, metadata: BTreeMap::new(), api_version: None }
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }
}

/// `POST /v1/webhook_endpoints/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateWebhookEndpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Update<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `POST /v1/test_helpers/test_clocks` (test mode only).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct CreateTestClock {
    frozen_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<CustomerId>,
}

#[cfg(feature = "test-helpers")]
impl CreateTestClock {
    /// A clock showing `frozen_time` (a unix time) until it is advanced.
    pub fn new(frozen_time: i64) -> Self {
        Self { frozen_time, name: None, customer: None }
    }

    /// Up to 300 characters.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// An existing customer that joins the clock (a customer belongs to one clock, for good).
    pub fn customer(mut self, customer: CustomerId) -> Self {
        self.customer = Some(customer);
        self
    }
}

/// What the next refreshes of a feature end with (`refresh_outcome` test helper).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcome {
    Succeeded,
    Failed,
    /// Refreshes stay `pending` until another outcome is set.
    Pending,
}

#[cfg(feature = "test-helpers")]
#[derive(Serialize)]
pub(crate) struct SetRefreshOutcome {
    pub feature: Feature,
    pub outcome: RefreshOutcome,
}

#[cfg(feature = "test-helpers")]
#[derive(Serialize)]
pub(crate) struct SetBalance {
    pub current: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
}

/// How an institution is down (`downtime` test helper).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Downtime {
    /// Planned maintenance until this unix time; it ends by itself then.
    Scheduled {
        until: i64,
    },
    Unscheduled,
    /// Up, but every connection attempt fails (`status: degraded`).
    Error,
}

#[cfg(feature = "test-helpers")]
#[derive(Serialize)]
pub(crate) struct SetDowntime {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

#[cfg(feature = "test-helpers")]
impl From<Downtime> for SetDowntime {
    fn from(d: Downtime) -> Self {
        match d {
            Downtime::Scheduled { until } => SetDowntime { kind: "scheduled", until: Some(until) },
            Downtime::Unscheduled => SetDowntime { kind: "unscheduled", until: None },
            Downtime::Error => SetDowntime { kind: "error", until: None },
        }
    }
}

/// A new transaction's status (`transactions` test helper).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NewTransactionStatus {
    Pending,
    Posted,
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/transactions` (test mode only).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct AddTransaction {
    amount: i64,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<NewTransactionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transacted_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

#[cfg(feature = "test-helpers")]
impl AddTransaction {
    /// `amount` in minor units, negative for money leaving the account.
    pub fn new(amount: i64, description: impl Into<String>) -> Self {
        Self { amount, description: description.into(), status: None, transacted_at: None, currency: None }
    }

    /// Default `posted`.
    pub fn status(mut self, status: NewTransactionStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// A unix time; default now (the account's test clock's time, if it has one).
    pub fn transacted_at(mut self, at: i64) -> Self {
        self.transacted_at = Some(at);
        self
    }

    /// Three-letter ISO code; default the account's currency.
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }
}

/// `POST /v1/test_helpers/test_clocks/{test_clock}/advance`.
#[cfg(feature = "test-helpers")]
#[derive(Serialize)]
pub(crate) struct AdvanceTestClock {
    pub frozen_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn create_session_encodes_every_parameter() {
        let p = CreateSession::new(
            AccountHolder::Customer(id("cus_123")),
            vec![Permission::Balances, Permission::Transactions],
        )
        .prefetch(vec![Prefetch::Balances])
        .filters(SessionFilters {
            countries: vec!["US".into()],
            account_subcategories: vec![AccountSubcategory::Checking],
            require_payment_method_support: None,
        })
        .limit_accounts(2)
        .manual_entry(ManualEntryMode::Automatic)
        .return_url("https://x.test/r")
        .expand(vec![SessionExpand::AccountHolderCustomer]);
        assert_eq!(
            to_form(&p).encode(),
            "account_holder[type]=customer&account_holder[customer]=cus_123&permissions[0]=balances&\
             permissions[1]=transactions&prefetch[0]=balances&filters[countries][0]=US&\
             filters[account_subcategories][0]=checking&limits[accounts]=2&manual_entry[mode]=automatic&\
             return_url=https%3A%2F%2Fx.test%2Fr&expand[0]=account_holder.customer"
        );
        let acct = CreateSession::new(AccountHolder::Account(id("acct_1")), vec![Permission::Ownership]);
        assert_eq!(
            to_form(&acct).encode(),
            "account_holder[type]=account&account_holder[account]=acct_1&permissions[0]=ownership"
        );
    }

    #[test]
    fn list_params_encode_filters_and_cursors() {
        let p = ListAccounts {
            account_holder: Some(AccountHolder::Customer(id("cus_9"))),
            session: None,
            page: Page { limit: Some(5), cursor: Some(Cursor::StartingAfter("fca_1".into())) },
        };
        assert_eq!(to_form(&p).encode(), "account_holder[customer]=cus_9&limit=5&starting_after=fca_1");
        let t = ListTransactions::new(id("fca_1"))
            .transacted_at(TimeFilter::between(10, 20))
            .after_refresh(id("fctxnref_2"));
        assert_eq!(
            to_form(&t).encode(),
            "account=fca_1&transacted_at[gte]=10&transacted_at[lt]=20&transaction_refresh[after]=fctxnref_2"
        );
        let e = ListEvents {
            types: Some(EventTypes::Types(vec!["a.b".into(), "c.d".into()])),
            created: Some(TimeFilter::Exactly(7)),
            ..Default::default()
        };
        assert_eq!(to_form(&e).encode(), "types[0]=a.b&types[1]=c.d&created=7");
    }

    #[test]
    fn updates_unset_with_empty_strings() {
        let u = UpdateCustomer {
            email: Some(Update::Unset),
            name: Some(Update::Set("Jenny".into())),
            metadata: Some(MetadataUpdate::Keys(BTreeMap::from([
                ("drop".to_owned(), None),
                ("keep".to_owned(), Some("1".to_owned())),
            ]))),
            ..Default::default()
        };
        assert_eq!(to_form(&u).encode(), "email=&name=Jenny&metadata[drop]=&metadata[keep]=1");
        let c = UpdateCustomer { metadata: Some(MetadataUpdate::Clear), ..Default::default() };
        assert_eq!(to_form(&c).encode(), "metadata=");
        assert_eq!(expand_form(&[AccountExpand::Ownership]).encode(), "expand[0]=ownership");
        assert!(expand_form::<AccountExpand>(&[]).is_empty());
    }

    #[test]
    fn customers_join_a_test_clock_and_are_listed_by_it() {
        let c =
            CreateCustomer { email: Some("a@x.test".into()), test_clock: Some(id("clock_1")), ..Default::default() };
        assert_eq!(to_form(&c).encode(), "email=a%40x.test&test_clock=clock_1");
        let l = ListCustomers { test_clock: Some(id("clock_1")), page: Page::limit(3), ..Default::default() };
        assert_eq!(to_form(&l).encode(), "test_clock=clock_1&limit=3");
    }

    #[cfg(feature = "test-helpers")]
    #[test]
    fn create_test_clock_requires_frozen_time() {
        assert_eq!(to_form(&CreateTestClock::new(1_700_000_000)).encode(), "frozen_time=1700000000");
        let p = CreateTestClock::new(5).name("renewals & co").customer(id("cus_9"));
        assert_eq!(to_form(&p).encode(), "frozen_time=5&name=renewals+%26+co&customer=cus_9");
        assert_eq!(to_form(&AdvanceTestClock { frozen_time: 7 }).encode(), "frozen_time=7");
    }
}
