#![doc = include_str!("../README.md")]

mod client;
mod error;
pub mod form;
pub mod params;
mod resources;
pub mod webhook;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{ApiError, Error, ErrorKind};
pub use resources::{
    Accounts, CustomerOrDeleted, Customers, Events, Institutions, Sessions, Transactions, WebhookEndpoints,
};
#[cfg(feature = "test-helpers")]
pub use resources::{TestClocks, TestHelpers};

/// The wire types (objects exactly as the API serializes them), re-exported from `finconn-types`.
pub use finconn_types as types;
pub use finconn_types::{
    Account, AccountId, AccountOwner, AccountOwnership, Customer, CustomerId, Event, EventId, Institution,
    InstitutionId, List, OwnershipId, Permission, Prefetch, Session, SessionId, StripeAccountId, TestClock,
    TestClockId, TestClockStatus, Transaction, TransactionId, TransactionRefreshId, WebhookEndpoint, WebhookEndpointId,
    API_VERSION,
};

/// An object that can be listed: its id is the cursor of the next page.
pub trait ListItem {
    fn list_id(&self) -> &str;
}

macro_rules! list_item {
    ($($t:ty),+) => {
        $(impl ListItem for $t {
            fn list_id(&self) -> &str {
                &self.id
            }
        })+
    };
}
list_item!(Account, AccountOwner, Customer, Event, Institution, TestClock, Transaction, WebhookEndpoint);

impl ListItem for serde_json::Value {
    fn list_id(&self) -> &str {
        self.get("id").and_then(serde_json::Value::as_str).unwrap_or_default()
    }
}
