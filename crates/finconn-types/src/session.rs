use serde::{Deserialize, Serialize};

use crate::{
    AccountHolderType, AccountSubcategory, Customer, Expandable, List, ManualEntryMode, Permission, Prefetch,
    RequirePaymentMethodSupport,
};

/// `financial_connections.session`. Fields are in Stripe's order (`id` and `object` first, the rest alphabetical). `Debug` never prints
/// the client secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub object: String,
    pub account_holder: Option<AccountHolder>,
    /// The linked accounts; objects of `financial_connections.account`.
    #[serde(serialize_with = "crate::order::value_list")]
    pub accounts: List<serde_json::Value>,
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filters: Option<Filters>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits: Option<Limits>,
    pub livemode: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub manual_entry: Option<ManualEntry>,
    pub permissions: Vec<Permission>,
    pub prefetch: Option<Vec<Prefetch>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub return_url: Option<String>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Session {
    pub const OBJECT: &'static str = "financial_connections.session";
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("livemode", &self.livemode)
            .field("account_holder", &self.account_holder)
            .field("accounts", &self.accounts)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "fcsess_…_secret_…"))
            .field("permissions", &self.permissions)
            .field("prefetch", &self.prefetch)
            .field("filters", &self.filters)
            .field("limits", &self.limits)
            .field("manual_entry", &self.manual_entry)
            .field("return_url", &self.return_url)
            .finish_non_exhaustive()
    }
}

/// `account_holder`: whose accounts a session collects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountHolder {
    /// A Stripe (Connect) account id, or the expanded `account` object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[serde(serialize_with = "crate::order::option_expandable")]
    pub account: Option<Expandable<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer: Option<Expandable<Customer>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_account: Option<String>,
    #[serde(rename = "type")]
    pub kind: AccountHolderType,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub account_subcategories: Option<Vec<AccountSubcategory>>,
    pub countries: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub require_payment_method_support: Option<RequirePaymentMethodSupport>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub accounts: i64,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManualEntry {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mode: Option<ManualEntryMode>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
    fn debug_never_prints_the_client_secret() {
        let text = include_str!("../../../../shared/reference/fixtures/financial_connections.session.json");
        let mut s: Session = serde_json::from_str(text).unwrap();
        s.client_secret = Some("fcsess_1_secret_TOPSECRETvalue".into());
        assert!(!format!("{s:?}").contains("TOPSECRET"));
    }

    #[test]
    fn unknown_keys_and_values_survive_a_round_trip() {
        let mut v: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../shared/reference/fixtures/financial_connections.session.json"
        ))
        .unwrap();
        v["a_future_field"] = serde_json::json!({"nested": [1, 2]});
        v["permissions"] = serde_json::json!(["balances", "a_future_permission"]);
        v["account_holder"]["a_future_holder_field"] = serde_json::json!(true);
        let s: Session = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.permissions[1], Permission::Unknown("a_future_permission".into()));
        assert_eq!(s.extra["a_future_field"], serde_json::json!({"nested": [1, 2]}));
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
    }

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
