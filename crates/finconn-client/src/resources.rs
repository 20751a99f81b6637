//! The API's resources: one handle per resource, borrowed from the [`Client`].

#[cfg(feature = "test-helpers")]
use std::time::Duration;

use futures::Stream;
use serde::de::DeserializeOwned;

use crate::params::{
    expand_form, to_form, AccountExpand, CreateCustomer, CreateSession, CreateWebhookEndpoint, Feature, Features,
    ListAccounts, ListCustomers, ListEvents, ListOwners, ListTransactions, SessionExpand, SubscriptionFeature,
    UpdateCustomer, UpdateWebhookEndpoint,
};
#[cfg(feature = "test-helpers")]
use crate::params::{
    AddTransaction, AdvanceTestClock, CreateTestClock, Downtime, RefreshOutcome, SetBalance, SetDowntime,
    SetRefreshOutcome,
};
use crate::{Client, Error, ListItem};
use finconn_types::{
    Account, AccountId, AccountOwner, Customer, CustomerId, DeletedCustomer, DeletedWebhookEndpoint, Event, EventId,
    Institution, InstitutionId, List, Session, SessionId, Transaction, TransactionId, WebhookEndpoint,
    WebhookEndpointId,
};
#[cfg(feature = "test-helpers")]
use finconn_types::{DeletedTestClock, TestClock, TestClockId, TestClockStatus};

/// A customer, or what is left of it once deleted.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomerOrDeleted {
    Customer(Box<Customer>),
    Deleted(DeletedCustomer),
}

impl<'de> serde::Deserialize<'de> for CustomerOrDeleted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.get("deleted").and_then(serde_json::Value::as_bool) == Some(true) {
            serde_json::from_value(v).map(CustomerOrDeleted::Deleted).map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(v)
                .map(|c| CustomerOrDeleted::Customer(Box::new(c)))
                .map_err(serde::de::Error::custom)
        }
    }
}

impl Client {
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { client: self }
    }

    pub fn customers(&self) -> Customers<'_> {
        Customers { client: self }
    }

    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { client: self }
    }

    pub fn transactions(&self) -> Transactions<'_> {
        Transactions { client: self }
    }

    pub fn events(&self) -> Events<'_> {
        Events { client: self }
    }

    pub fn webhook_endpoints(&self) -> WebhookEndpoints<'_> {
        WebhookEndpoints { client: self }
    }

    pub fn institutions(&self) -> Institutions<'_> {
        Institutions { client: self }
    }

    fn list_stream<T, P>(&self, path: &str, params: &P) -> impl Stream<Item = Result<T, Error>> + Send + 'static
    where
        T: DeserializeOwned + ListItem + Send + 'static,
        P: serde::Serialize,
    {
        self.paginate(path.to_owned(), to_form(params))
    }
}

/// `/v1/financial_connections/sessions`.
#[derive(Clone, Copy, Debug)]
pub struct Sessions<'a> {
    client: &'a Client,
}

impl Sessions<'_> {
    pub async fn create(&self, params: &CreateSession) -> Result<Session, Error> {
        self.client.post("/v1/financial_connections/sessions", &to_form(params)).await
    }

    pub async fn retrieve(&self, id: &SessionId, expand: &[SessionExpand]) -> Result<Session, Error> {
        self.client.get(&format!("/v1/financial_connections/sessions/{id}"), &expand_form(expand)).await
    }
}

/// `/v1/customers`.
#[derive(Clone, Copy, Debug)]
pub struct Customers<'a> {
    client: &'a Client,
}

impl Customers<'_> {
    pub async fn create(&self, params: &CreateCustomer) -> Result<Customer, Error> {
        self.client.post("/v1/customers", &to_form(params)).await
    }

    /// A deleted customer reads as [`CustomerOrDeleted::Deleted`].
    pub async fn retrieve(&self, id: &CustomerId) -> Result<CustomerOrDeleted, Error> {
        self.client.get(&format!("/v1/customers/{id}"), &Default::default()).await
    }

    pub async fn update(&self, id: &CustomerId, params: &UpdateCustomer) -> Result<Customer, Error> {
        self.client.post(&format!("/v1/customers/{id}"), &to_form(params)).await
    }

    pub async fn delete(&self, id: &CustomerId) -> Result<DeletedCustomer, Error> {
        self.client.delete(&format!("/v1/customers/{id}")).await
    }

    pub async fn list(&self, params: &ListCustomers) -> Result<List<Customer>, Error> {
        self.client.get("/v1/customers", &to_form(params)).await
    }

    /// Every customer matching `params`, following pages.
    pub fn list_all(&self, params: &ListCustomers) -> impl Stream<Item = Result<Customer, Error>> + Send + 'static {
        self.client.list_stream("/v1/customers", params)
    }
}

/// `/v1/financial_connections/accounts`.
#[derive(Clone, Copy, Debug)]
pub struct Accounts<'a> {
    client: &'a Client,
}

impl Accounts<'_> {
    pub async fn list(&self, params: &ListAccounts) -> Result<List<Account>, Error> {
        self.client.get("/v1/financial_connections/accounts", &to_form(params)).await
    }

    pub fn list_all(&self, params: &ListAccounts) -> impl Stream<Item = Result<Account, Error>> + Send + 'static {
        self.client.list_stream("/v1/financial_connections/accounts", params)
    }

    pub async fn retrieve(&self, id: &AccountId, expand: &[AccountExpand]) -> Result<Account, Error> {
        self.client.get(&format!("/v1/financial_connections/accounts/{id}"), &expand_form(expand)).await
    }

    pub async fn disconnect(&self, id: &AccountId) -> Result<Account, Error> {
        self.client.post(&format!("/v1/financial_connections/accounts/{id}/disconnect"), &Default::default()).await
    }

    /// Starts refreshes; the account comes back with their `*_refresh.status` `pending`. Poll
    /// [`Accounts::retrieve`] (or listen for `financial_connections.account.refreshed_*` events).
    pub async fn refresh(&self, id: &AccountId, features: &[Feature]) -> Result<Account, Error> {
        let form = to_form(&Features { features });
        self.client.post(&format!("/v1/financial_connections/accounts/{id}/refresh"), &form).await
    }

    pub async fn subscribe(&self, id: &AccountId, features: &[SubscriptionFeature]) -> Result<Account, Error> {
        let form = to_form(&Features { features });
        self.client.post(&format!("/v1/financial_connections/accounts/{id}/subscribe"), &form).await
    }

    pub async fn unsubscribe(&self, id: &AccountId, features: &[SubscriptionFeature]) -> Result<Account, Error> {
        let form = to_form(&Features { features });
        self.client.post(&format!("/v1/financial_connections/accounts/{id}/unsubscribe"), &form).await
    }

    /// The owners of one ownership (`account.ownership`) of the account.
    pub async fn owners(&self, id: &AccountId, params: &ListOwners) -> Result<List<AccountOwner>, Error> {
        self.client.get(&format!("/v1/financial_connections/accounts/{id}/owners"), &to_form(params)).await
    }

    pub fn owners_all(
        &self,
        id: &AccountId,
        params: &ListOwners,
    ) -> impl Stream<Item = Result<AccountOwner, Error>> + Send + 'static {
        self.client.list_stream(&format!("/v1/financial_connections/accounts/{id}/owners"), params)
    }
}

/// `/v1/financial_connections/transactions`.
#[derive(Clone, Copy, Debug)]
pub struct Transactions<'a> {
    client: &'a Client,
}

impl Transactions<'_> {
    /// Newest `transacted_at` first.
    pub async fn list(&self, params: &ListTransactions) -> Result<List<Transaction>, Error> {
        self.client.get("/v1/financial_connections/transactions", &to_form(params)).await
    }

    pub fn list_all(
        &self,
        params: &ListTransactions,
    ) -> impl Stream<Item = Result<Transaction, Error>> + Send + 'static {
        self.client.list_stream("/v1/financial_connections/transactions", params)
    }

    pub async fn retrieve(&self, id: &TransactionId) -> Result<Transaction, Error> {
        self.client.get(&format!("/v1/financial_connections/transactions/{id}"), &Default::default()).await
    }
}

/// `/v1/events`.
#[derive(Clone, Copy, Debug)]
pub struct Events<'a> {
    client: &'a Client,
}

impl Events<'_> {
    pub async fn list(&self, params: &ListEvents) -> Result<List<Event>, Error> {
        self.client.get("/v1/events", &to_form(params)).await
    }

    pub fn list_all(&self, params: &ListEvents) -> impl Stream<Item = Result<Event, Error>> + Send + 'static {
        self.client.list_stream("/v1/events", params)
    }

    pub async fn retrieve(&self, id: &EventId) -> Result<Event, Error> {
        self.client.get(&format!("/v1/events/{id}"), &Default::default()).await
    }
}

/// `/v1/financial_connections/institutions`: the institutions of the key's mode.
#[derive(Clone, Copy, Debug)]
pub struct Institutions<'a> {
    client: &'a Client,
}

impl Institutions<'_> {
    pub async fn list(&self, params: &crate::params::Page) -> Result<List<Institution>, Error> {
        self.client.get("/v1/financial_connections/institutions", &to_form(params)).await
    }

    pub fn list_all(
        &self,
        params: &crate::params::Page,
    ) -> impl Stream<Item = Result<Institution, Error>> + Send + 'static {
        self.client.list_stream("/v1/financial_connections/institutions", params)
    }

    pub async fn retrieve(&self, id: &InstitutionId) -> Result<Institution, Error> {
        self.client.get(&format!("/v1/financial_connections/institutions/{id}"), &Default::default()).await
    }
}

/// `/v1/webhook_endpoints`.
#[derive(Clone, Copy, Debug)]
pub struct WebhookEndpoints<'a> {
    client: &'a Client,
}

impl WebhookEndpoints<'_> {
    /// The answer is the only one that carries the signing `secret`.
    pub async fn create(&self, params: &CreateWebhookEndpoint) -> Result<WebhookEndpoint, Error> {
        self.client.post("/v1/webhook_endpoints", &to_form(params)).await
    }

    pub async fn retrieve(&self, id: &WebhookEndpointId) -> Result<WebhookEndpoint, Error> {
        self.client.get(&format!("/v1/webhook_endpoints/{id}"), &Default::default()).await
    }

    pub async fn update(
        &self,
        id: &WebhookEndpointId,
        params: &UpdateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, Error> {
        self.client.post(&format!("/v1/webhook_endpoints/{id}"), &to_form(params)).await
    }

    pub async fn delete(&self, id: &WebhookEndpointId) -> Result<DeletedWebhookEndpoint, Error> {
        self.client.delete(&format!("/v1/webhook_endpoints/{id}")).await
    }

    pub async fn list(&self, params: &crate::params::Page) -> Result<List<WebhookEndpoint>, Error> {
        self.client.get("/v1/webhook_endpoints", &to_form(params)).await
    }

    pub fn list_all(
        &self,
        params: &crate::params::Page,
    ) -> impl Stream<Item = Result<WebhookEndpoint, Error>> + Send + 'static {
        self.client.list_stream("/v1/webhook_endpoints", params)
    }

    /// finconn's extension: the endpoint's latest delivery attempts (`data`: time, status code, latency,
    /// error) and `failed_deliveries`.
    pub async fn attempts(&self, id: &WebhookEndpointId) -> Result<serde_json::Value, Error> {
        self.client.get(&format!("/v1/webhook_endpoints/{id}/attempts"), &Default::default()).await
    }
}

/// Test helpers (test mode only): complete or expire a session without the browser flow, and
/// [test clocks](TestHelpers::test_clocks).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug)]
pub struct TestHelpers<'a> {
    client: &'a Client,
}

#[cfg(feature = "test-helpers")]
impl Client {
    pub fn test_helpers(&self) -> TestHelpers<'_> {
        TestHelpers { client: self }
    }
}

#[cfg(feature = "test-helpers")]
impl TestHelpers<'_> {
    /// Completes a session as if the user linked `accounts` (names of the institution's accounts, e.g.
    /// `"Success"`; `None`: every account the session allows) at `institution`. Returns the completed
    /// session with its accounts.
    pub async fn complete_session(
        &self,
        id: &SessionId,
        institution: &finconn_types::InstitutionId,
        accounts: Option<&[&str]>,
    ) -> Result<Session, Error> {
        #[derive(serde::Serialize)]
        struct Complete<'a> {
            institution: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            accounts: Option<&'a [&'a str]>,
        }
        let form = to_form(&Complete { institution: institution.as_str(), accounts });
        self.client.post(&format!("/v1/test_helpers/financial_connections/sessions/{id}/complete"), &form).await
    }

    /// Expires a session: its client secret stops working.
    pub async fn expire_session(&self, id: &SessionId) -> Result<Session, Error> {
        self.client
            .post(&format!("/v1/test_helpers/financial_connections/sessions/{id}/expire"), &Default::default())
            .await
    }

    fn account_path(id: &AccountId, what: &str) -> String {
        format!("/v1/test_helpers/financial_connections/accounts/{id}/{what}")
    }

    /// The institution stops giving access: the account turns `inactive`.
    pub async fn deactivate_account(&self, id: &AccountId) -> Result<Account, Error> {
        self.client.post(&Self::account_path(id, "deactivate"), &Default::default()).await
    }

    /// Access is back: the account is `active` again.
    pub async fn reactivate_account(&self, id: &AccountId) -> Result<Account, Error> {
        self.client.post(&Self::account_path(id, "reactivate"), &Default::default()).await
    }

    /// The account's next refreshes of `feature` end with `outcome`; `Pending` holds them until another
    /// outcome is set.
    pub async fn refresh_outcome(
        &self,
        id: &AccountId,
        feature: Feature,
        outcome: RefreshOutcome,
    ) -> Result<Account, Error> {
        let form = to_form(&SetRefreshOutcome { feature, outcome });
        self.client.post(&Self::account_path(id, "refresh_outcome"), &form).await
    }

    /// The institution reports this balance (minor units) from the next balance refresh on; `available`
    /// applies to cash balances (default `current`).
    pub async fn set_balance(&self, id: &AccountId, current: i64, available: Option<i64>) -> Result<Account, Error> {
        let form = to_form(&SetBalance { current, available });
        self.client.post(&Self::account_path(id, "balance"), &form).await
    }

    /// The institution lists a new transaction from the next transaction refresh on; the answer is the
    /// transaction as that refresh stores it (same id).
    pub async fn add_transaction(&self, id: &AccountId, params: &AddTransaction) -> Result<Transaction, Error> {
        self.client.post(&Self::account_path(id, "transactions"), &to_form(params)).await
    }

    /// A pending transaction added with `add_transaction` posts.
    pub async fn post_transaction(&self, id: &AccountId, transaction: &TransactionId) -> Result<Transaction, Error> {
        self.client
            .post(&Self::account_path(id, &format!("transactions/{transaction}/post")), &Default::default())
            .await
    }

    /// Delivers an event again to one webhook endpoint (a new delivery with its own retries), whatever the
    /// endpoint's `enabled_events`.
    pub async fn resend_event(&self, event: &EventId, endpoint: &WebhookEndpointId) -> Result<Event, Error> {
        #[derive(serde::Serialize)]
        struct Resend<'a> {
            webhook_endpoint: &'a str,
        }
        let form = to_form(&Resend { webhook_endpoint: endpoint.as_str() });
        self.client.post(&format!("/v1/test_helpers/events/{event}/resend"), &form).await
    }

    /// Takes an institution down for this account's test mode (modal and institutions API). Answers the
    /// institution as it now is.
    pub async fn set_downtime(&self, institution: &InstitutionId, downtime: Downtime) -> Result<Institution, Error> {
        let form = to_form(&SetDowntime::from(downtime));
        self.client
            .post(&format!("/v1/test_helpers/financial_connections/institutions/{institution}/downtime"), &form)
            .await
    }

    /// Ends this account's downtime of an institution.
    pub async fn end_downtime(&self, institution: &InstitutionId) -> Result<Institution, Error> {
        self.client.delete(&format!("/v1/test_helpers/financial_connections/institutions/{institution}/downtime")).await
    }

    /// A pending transaction added with `add_transaction` is voided.
    pub async fn void_transaction(&self, id: &AccountId, transaction: &TransactionId) -> Result<Transaction, Error> {
        self.client
            .post(&Self::account_path(id, &format!("transactions/{transaction}/void")), &Default::default())
            .await
    }
}

#[cfg(feature = "test-helpers")]
impl<'a> TestHelpers<'a> {
    pub fn test_clocks(&self) -> TestClocks<'a> {
        TestClocks { client: self.client }
    }
}

/// `/v1/test_helpers/test_clocks` (test mode only): a frozen time of its own for the customers on the
/// clock; the accounts linked for them live on it (their refreshes, data and daily subscription refreshes
/// run when the clock is advanced past them).
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug)]
pub struct TestClocks<'a> {
    client: &'a Client,
}

#[cfg(feature = "test-helpers")]
impl TestClocks<'_> {
    pub async fn create(&self, params: &CreateTestClock) -> Result<TestClock, Error> {
        self.client.post("/v1/test_helpers/test_clocks", &to_form(params)).await
    }

    pub async fn retrieve(&self, id: &TestClockId) -> Result<TestClock, Error> {
        self.client.get(&format!("/v1/test_helpers/test_clocks/{id}"), &Default::default()).await
    }

    /// Newest first.
    pub async fn list(&self, params: &crate::params::Page) -> Result<List<TestClock>, Error> {
        self.client.get("/v1/test_helpers/test_clocks", &to_form(params)).await
    }

    pub fn list_all(
        &self,
        params: &crate::params::Page,
    ) -> impl Stream<Item = Result<TestClock, Error>> + Send + 'static {
        self.client.list_stream("/v1/test_helpers/test_clocks", params)
    }

    /// Deletes the clock with its customers; the accounts linked for them are disconnected.
    pub async fn delete(&self, id: &TestClockId) -> Result<DeletedTestClock, Error> {
        self.client.delete(&format!("/v1/test_helpers/test_clocks/{id}")).await
    }

    /// Starts moving the clock forward to `frozen_time`; the clock comes back `advancing` and turns `ready`
    /// once everything due on the way has run. Wait for that with [`TestClocks::wait_until_ready`] (or use
    /// [`TestClocks::advance_and_wait`]).
    pub async fn advance(&self, id: &TestClockId, frozen_time: i64) -> Result<TestClock, Error> {
        let form = to_form(&AdvanceTestClock { frozen_time });
        self.client.post(&format!("/v1/test_helpers/test_clocks/{id}/advance"), &form).await
    }

    /// Polls the clock (every 100 ms, backing off to 1 s) until it is `ready`, for at most `timeout`.
    /// Fails with [`Error::TestClockNotReady`] when the advance failed (`internal_failure`, or a status
    /// this version does not know) or the clock is still `advancing` at the timeout.
    pub async fn wait_until_ready(&self, id: &TestClockId, timeout: Duration) -> Result<TestClock, Error> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let clock = self.retrieve(id).await?;
            let waited = started.elapsed();
            match clock.status {
                TestClockStatus::Ready => return Ok(clock),
                TestClockStatus::Advancing if waited < timeout => {}
                _ => return Err(Error::TestClockNotReady { clock: Box::new(clock), waited }),
            }
            tokio::time::sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// [`TestClocks::advance`], then [`TestClocks::wait_until_ready`]: the clock at `frozen_time`, `ready`.
    pub async fn advance_and_wait(
        &self,
        id: &TestClockId,
        frozen_time: i64,
        timeout: Duration,
    ) -> Result<TestClock, Error> {
        self.advance(id, frozen_time).await?;
        self.wait_until_ready(id, timeout).await
    }
}
