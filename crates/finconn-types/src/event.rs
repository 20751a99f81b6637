use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `event`: a snapshot of an object when something happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub object: String,
    pub api_version: Option<String>,
    pub created: i64,
    pub data: EventData,
    pub livemode: bool,
    pub pending_webhooks: i64,
    pub request: Option<EventRequest>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    pub const OBJECT: &'static str = "event";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// Stored as it was when the event happened (an earlier version may have stored its keys
    /// alphabetically): serialized in Stripe's order.
    #[serde(serialize_with = "crate::order::value")]
    pub object: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none", default, serialize_with = "crate::order::option_value")]
    pub previous_attributes: Option<serde_json::Value>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The API request that caused an event (`null` ids when no request did, e.g. a background refresh).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRequest {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `webhook_endpoint`. `secret` appears only in the answer to its creation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub object: String,
    pub api_version: Option<String>,
    pub application: Option<String>,
    pub created: i64,
    pub description: Option<String>,
    pub enabled_events: Vec<String>,
    pub livemode: bool,
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret: Option<String>,
    pub status: String,
    pub url: String,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl WebhookEndpoint {
    pub const OBJECT: &'static str = "webhook_endpoint";
}

/// Never prints the signing secret.
impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled_events", &self.enabled_events)
            .field("status", &self.status)
            .field("secret", &self.secret.as_ref().map(|_| "whsec_…"))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedWebhookEndpoint {
    pub id: String,
    pub object: String,
    pub deleted: bool,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(text: &str) {
        let v: T = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::from_str::<serde_json::Value>(text).unwrap());
    }

    #[test]
    fn stripe_fixtures_round_trip() {
        round_trip::<Event>(include_str!("../../../../shared/reference/fixtures/event.json"));
        round_trip::<WebhookEndpoint>(include_str!("../../../../shared/reference/fixtures/webhook_endpoint.json"));
        round_trip::<DeletedWebhookEndpoint>(include_str!(
            "../../../../shared/reference/fixtures/deleted_webhook_endpoint.json"
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = include_str!("../../../../shared/reference/fixtures/webhook_endpoint.json");
        let mut e: WebhookEndpoint = serde_json::from_str(text).unwrap();
        e.secret = Some("whsec_supersecret".into());
        assert!(!format!("{e:?}").contains("supersecret"));
    }

    #[test]
    fn enabled_events_match_the_spec() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../../shared/reference/stripe-fc-openapi.json")).unwrap();
        let values = &spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"]
            ["application/x-www-form-urlencoded"]["schema"]["properties"]["enabled_events"]["items"]["enum"];
        let values: Vec<&str> = values.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(values, crate::event_types::ENABLED_EVENTS);
    }
}
