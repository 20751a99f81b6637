use serde::{Deserialize, Serialize};

use crate::{
    AccountHolderType, AccountSubcategory, Customer, Expandable, List, ManualEntryMode, Permission, Prefetch,
    RequirePaymentMethodSupport,
};

/// `financial_connections.session`. Fields are in Stripe's (alphabetical) order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub account_holder: Option<AccountHolder>,
    /// The linked accounts; objects of `financial_connections.account`.
    pub accounts: List<serde_json::Value>,
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filters: Option<Filters>,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits: Option<Limits>,
    pub livemode: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub manual_entry: Option<ManualEntry>,
    pub object: String,
    pub permissions: Vec<Permission>,
    pub prefetch: Option<Vec<Prefetch>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub return_url: Option<String>,
}

impl Session {
    pub const OBJECT: &'static str = "financial_connections.session";
}

/// `account_holder`: whose accounts a session collects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountHolder {
    /// A Stripe (Connect) account id, or the expanded `account` object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<Expandable<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_account: Option<String>,
    #[serde(rename = "type")]
    pub kind: AccountHolderType,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub account_subcategories: Option<Vec<AccountSubcategory>>,
    pub countries: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub require_payment_method_support: Option<RequirePaymentMethodSupport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub accounts: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManualEntry {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mode: Option<ManualEntryMode>,
}

impl crate::expandable::HasId for serde_json::Value {
    fn id(&self) -> &str {
        self.get("id").and_then(|v| v.as_str()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_fixture_round_trips() {
        let text = include_str!("../../../../shared/reference/fixtures/financial_connections.session.json");
        let s: Session = serde_json::from_str(text).unwrap();
        assert_eq!(s.permissions, vec![Permission::Balances, Permission::PaymentMethod]);
        let back = serde_json::to_value(&s).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }
}
