#![doc = include_str!("../README.md")]

mod account;
mod customer;
mod data;
mod enums;
mod error;
mod event;
pub mod event_types;
pub mod expandable;
mod ids;
mod list;
pub mod order;
mod session;
mod test_clock;

pub use account::{Account, Balance, CashBalance, CreditBalance, Refresh, TransactionRefresh};
pub use customer::{Address, Customer, DeletedCustomer};
pub use data::{
    AccountOwner, AccountOwnership, FeatureSupport, Institution, InstitutionFeatures, StatusTransitions, Transaction,
};
pub use enums::{
    AccountHolderType, AccountSubcategory, ManualEntryMode, Permission, Prefetch, RequirePaymentMethodSupport,
};
pub use error::{ApiErrorBody, ErrorEnvelope, ErrorType};
pub use event::{DeletedWebhookEndpoint, Event, EventData, EventRequest, WebhookEndpoint};
pub use expandable::{Expandable, HasId};
pub use ids::{
    AccountId, CustomerId, EventId, IdError, InstitutionId, ObjectId, OwnerId, OwnershipId, SessionId, StripeAccountId,
    TestClockId, TransactionId, TransactionRefreshId, WebhookEndpointId,
};
pub use list::List;
pub use session::{AccountHolder, Filters, Limits, ManualEntry, Session};
pub use test_clock::{DeletedTestClock, TestClock, TestClockAdvancing, TestClockStatus, TestClockStatusDetails};

/// The Stripe API version whose wire format finconn serves.
pub const API_VERSION: &str = "2026-07-29.dahlia";
