use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `customer`, with the fields finconn keeps; the billing fields it does not model carry Stripe's values
/// for a customer that never used billing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub object: String,
    pub address: Option<Address>,
    pub balance: i64,
    pub created: i64,
    pub currency: Option<String>,
    pub default_source: Option<String>,
    pub delinquent: Option<bool>,
    pub description: Option<String>,
    #[serde(serialize_with = "crate::order::option_value")]
    pub discount: Option<serde_json::Value>,
    pub email: Option<String>,
    pub invoice_prefix: Option<String>,
    #[serde(serialize_with = "crate::order::value")]
    pub invoice_settings: serde_json::Value,
    pub livemode: bool,
    pub metadata: BTreeMap<String, String>,
    pub name: Option<String>,
    pub next_invoice_sequence: i64,
    pub phone: Option<String>,
    pub preferred_locales: Option<Vec<String>>,
    #[serde(serialize_with = "crate::order::option_value")]
    pub shipping: Option<serde_json::Value>,
    pub tax_exempt: Option<String>,
    /// The test clock the customer belongs to: its id, or the clock with `expand[]=test_clock`.
    pub test_clock: Option<crate::Expandable<crate::TestClock>>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl crate::expandable::HasId for Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What retrieving or deleting a deleted customer returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedCustomer {
    pub id: String,
    pub object: String,
    pub deleted: bool,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
