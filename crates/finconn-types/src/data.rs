use serde::{Deserialize, Serialize};

use crate::List;

/// `financial_connections.account_ownership`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountOwnership {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owners: List<AccountOwner>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AccountOwnership {
    pub const OBJECT: &'static str = "financial_connections.account_ownership";
}

/// `financial_connections.account_owner`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountOwner {
    pub id: String,
    pub object: String,
    pub email: Option<String>,
    pub name: String,
    /// The ownership (`fcaowns_…`) this owner belongs to.
    pub ownership: String,
    pub phone: Option<String>,
    pub raw_address: Option<String>,
    pub refreshed_at: Option<i64>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AccountOwner {
    pub const OBJECT: &'static str = "financial_connections.account_owner";
}

/// `financial_connections.transaction`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub object: String,
    pub account: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub livemode: bool,
    pub status: String,
    pub status_transitions: StatusTransitions,
    pub transacted_at: i64,
    /// The `fctxnref_…` of the refresh that last created or updated it.
    pub transaction_refresh: String,
    pub updated: i64,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Transaction {
    pub const OBJECT: &'static str = "financial_connections.transaction";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusTransitions {
    pub posted_at: Option<i64>,
    pub void_at: Option<i64>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(text: &str) {
        let v: T = serde_json::from_str(text).unwrap();
        let back = serde_json::to_value(&v).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn stripe_fixtures_round_trip() {
        round_trip::<Transaction>(include_str!(
            "../../../../shared/reference/fixtures/financial_connections.transaction.json"
        ));
        round_trip::<AccountOwner>(include_str!(
            "../../../../shared/reference/fixtures/financial_connections.account_owner.json"
        ));
        round_trip::<AccountOwnership>(include_str!(
            "../../../../shared/reference/fixtures/financial_connections.account_ownership.json"
        ));
    }
}

/// `financial_connections.institution` (Stripe's newer API; finconn serves its sandbox catalogue this way).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Institution {
    pub id: String,
    pub object: String,
    pub countries: Vec<String>,
    pub features: InstitutionFeatures,
    pub livemode: bool,
    pub name: String,
    pub routing_numbers: Vec<String>,
    /// `active`, `degraded` or `down`.
    pub status: String,
    pub url: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Institution {
    pub const OBJECT: &'static str = "financial_connections.institution";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstitutionFeatures {
    pub balances: FeatureSupport,
    pub ownership: FeatureSupport,
    pub payment_method: FeatureSupport,
    pub transactions: FeatureSupport,
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSupport {
    pub supported: bool,
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
