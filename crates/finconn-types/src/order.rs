//! Stripe's key order for JSON objects: `id`, then `object`, then the rest.
//!
//! The wire types declare `id` and `object` first and the rest alphabetically, so they serialize in
//! Stripe's order as they are. [`StripeOrder`] puts a free-form [`serde_json::Value`] in the same order:
//! a stored event's `data.object` (written by an earlier version, whose types were alphabetical
//! throughout), or a value built by hand.

use serde::Serialize;
use serde_json::Value;

/// Serializes a value in Stripe's key order: in every object, `id` then `object` first, the rest as they
/// are. Written while serializing, so a value is never copied to be reordered.
pub struct StripeOrder<'a>(pub &'a Value);

impl Serialize for StripeOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for key in ["id", "object"] {
                    if let Some(v) = map.get(key) {
                        out.serialize_entry(key, &StripeOrder(v))?;
                    }
                }
                for (k, v) in map.iter().filter(|(k, _)| *k != "id" && *k != "object") {
                    out.serialize_entry(k, &StripeOrder(v))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    out.serialize_element(&StripeOrder(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `#[serde(serialize_with)]` for a free-form value field: serialized in [`StripeOrder`].
pub fn value<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    StripeOrder(v).serialize(s)
}

/// `#[serde(flatten, serialize_with)]` for a type's unknown keys: each value in [`StripeOrder`].
pub fn map<S: serde::Serializer>(m: &serde_json::Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(k, &StripeOrder(v))?;
    }
    out.end()
}

/// `#[serde(serialize_with)]` for a list of free-form values.
pub fn option_values<S: serde::Serializer>(v: &Option<Vec<Value>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(items) => s.collect_seq(items.iter().map(StripeOrder)),
        None => s.serialize_none(),
    }
}

/// `#[serde(serialize_with)]` for an expandable field whose object is a free-form value.
pub fn option_expandable<S: serde::Serializer>(v: &Option<crate::Expandable<Value>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(crate::Expandable::Id(id)) => s.serialize_some(id),
        Some(crate::Expandable::Object(o)) => s.serialize_some(&StripeOrder(o)),
        None => s.serialize_none(),
    }
}

/// `#[serde(serialize_with)]` for a list of free-form values (a session's `accounts`).
pub fn value_list<S: serde::Serializer>(list: &crate::List<Value>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut out = s.serialize_struct("List", 4)?;
    out.serialize_field("object", "list")?;
    out.serialize_field("data", &Items(&list.data))?;
    out.serialize_field("has_more", &list.has_more)?;
    out.serialize_field("url", &list.url)?;
    out.end()
}

struct Items<'a>(&'a [Value]);

impl Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StripeOrder))
    }
}

/// `#[serde(serialize_with)]` for an optional free-form value field.
pub fn option_value<S: serde::Serializer>(v: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&StripeOrder(v)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use serde::de::DeserializeOwned;

    /// The object written as it is, and the same object through `StripeOrder`: the same bytes.
    fn check<T: Serialize + DeserializeOwned>(name: &str, json: &str) {
        let typed: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        let direct = serde_json::to_string_pretty(&typed).unwrap();
        let value = serde_json::to_value(&typed).unwrap();
        let reordered = serde_json::to_string_pretty(&StripeOrder(&value)).unwrap();
        assert_eq!(direct, reordered, "{name}: declared field order is not Stripe's");
        if value.get("id").is_some() {
            assert!(direct.starts_with("{\n  \"id\": "), "{name}: id first");
        }
    }

    macro_rules! fixture {
        ($file:literal) => {
            include_str!(concat!("../../../../shared/reference/fixtures/", $file))
        };
    }

    #[test]
    fn wire_types_serialize_in_stripe_order() {
        check::<Customer>("customer", fixture!("customer.json"));
        check::<DeletedCustomer>("deleted_customer", fixture!("deleted_customer.json"));
        check::<DeletedWebhookEndpoint>("deleted_webhook_endpoint", fixture!("deleted_webhook_endpoint.json"));
        check::<Event>("event", fixture!("event.json"));
        check::<Account>("account", fixture!("financial_connections.account.json"));
        check::<AccountOwner>("account_owner", fixture!("financial_connections.account_owner.json"));
        check::<AccountOwnership>("account_ownership", fixture!("financial_connections.account_ownership.json"));
        check::<Session>("session", fixture!("financial_connections.session.json"));
        check::<Transaction>("transaction", fixture!("financial_connections.transaction.json"));
        check::<WebhookEndpoint>("webhook_endpoint", fixture!("webhook_endpoint.json"));
        check::<List<Transaction>>(
            "transaction list",
            &format!(
                r#"{{"object": "list", "data": [{}], "has_more": false, "url": "/v1/financial_connections/transactions"}}"#,
                fixture!("financial_connections.transaction.json")
            ),
        );
        check::<TestClock>(
            "test_clock",
            r#"{"id": "clock_1", "object": "test_helpers.test_clock", "created": 1, "deletes_after": 2,
                "frozen_time": 3, "livemode": false, "name": null, "status": "advancing",
                "status_details": {"advancing": {"target_frozen_time": 4}}}"#,
        );
        check::<DeletedTestClock>(
            "deleted test_clock",
            r#"{"id": "clock_1", "object": "test_helpers.test_clock", "deleted": true}"#,
        );
        let feature = r#"{"supported": true}"#;
        check::<Institution>(
            "institution",
            &format!(
                r#"{{"id": "fcinst_1", "object": "financial_connections.institution", "countries": ["US"],
                    "features": {{"balances": {feature}, "ownership": {feature}, "payment_method": {feature},
                    "transactions": {feature}}}, "livemode": false, "name": "Bank", "routing_numbers": [],
                    "status": "active", "url": "https://example.com"}}"#
            ),
        );
    }

    /// An event stored by an earlier version holds its object with keys in alphabetical order: it is
    /// still written with `id` and `object` first.
    #[test]
    fn a_stored_event_object_is_reordered() {
        let mut event: Event = serde_json::from_str(fixture!("event.json")).unwrap();
        event.data.object = serde_json::json!({"account": "acct_1", "id": "fca_1", "livemode": false,
            "object": "financial_connections.account", "owner": {"email": null, "id": "fcaown_1", "object": "x"}});
        event.data.previous_attributes = Some(serde_json::json!({"a": 1, "id": "fca_0"}));
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""data":{"object":{"id":"fca_1","object":"financial_connections.account","account":"acct_1","livemode":false,"owner":{"id":"fcaown_1","object":"x","email":null}},"previous_attributes":{"id":"fca_0","a":1}}"#), "{text}");
    }
}
