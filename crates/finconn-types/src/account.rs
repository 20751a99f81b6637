use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AccountHolder, Expandable, Permission};

/// `financial_connections.account`. Fields in Stripe's order: `id` and `object` first, the rest alphabetical.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub object: String,
    pub account_holder: Option<AccountHolder>,
    #[serde(serialize_with = "crate::order::option_values")]
    pub account_numbers: Option<Vec<serde_json::Value>>,
    pub balance: Option<Balance>,
    pub balance_refresh: Option<Refresh>,
    pub category: String,
    pub created: i64,
    pub display_name: Option<String>,
    pub institution_name: String,
    pub last4: Option<String>,
    pub livemode: bool,
    /// An ownership id (`fcaowns_…`), or the expanded `financial_connections.account_ownership`.
    #[serde(serialize_with = "crate::order::option_expandable")]
    pub ownership: Option<Expandable<serde_json::Value>>,
    pub ownership_refresh: Option<Refresh>,
    pub permissions: Option<Vec<Permission>>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default, serialize_with = "crate::order::option_value")]
    pub status_details: Option<serde_json::Value>,
    pub subcategory: String,
    pub subscriptions: Option<Vec<String>>,
    pub supported_payment_method_types: Vec<String>,
    pub transaction_refresh: Option<TransactionRefresh>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Account {
    pub const OBJECT: &'static str = "financial_connections.account";
}

impl crate::expandable::HasId for Account {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `balance`: amounts in minor units per currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub as_of: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cash: Option<CashBalance>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credit: Option<CreditBalance>,
    pub current: BTreeMap<String, i64>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashBalance {
    pub available: Option<BTreeMap<String, i64>>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditBalance {
    pub used: Option<BTreeMap<String, i64>>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `balance_refresh` and `ownership_refresh`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refresh {
    pub last_attempted_at: i64,
    pub next_refresh_available_at: Option<i64>,
    pub status: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `transaction_refresh`: a refresh that also has an id (`fctxnref_…`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionRefresh {
    pub id: String,
    pub last_attempted_at: i64,
    pub next_refresh_available_at: Option<i64>,
    pub status: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_fixture_round_trips() {
        let text = include_str!("../../../../shared/reference/fixtures/financial_connections.account.json");
        let a: Account = serde_json::from_str(text).unwrap();
        assert_eq!(a.transaction_refresh.as_ref().map(|t| t.id.as_str()), Some("obj_123"));
        let back = serde_json::to_value(&a).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }
}
