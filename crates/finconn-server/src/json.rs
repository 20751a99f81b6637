//! JSON responses, pretty-printed with a trailing newline as Stripe writes them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

pub fn pretty<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_value(value) {
        Ok(v) => pretty_value(status, &v),
        Err(e) => crate::error::ApiError::internal(&e).into_response(),
    }
}

/// The one writer of JSON responses: pretty, Stripe's key order, a trailing newline.
pub fn pretty_value(status: StatusCode, value: &Value) -> Response {
    match serde_json::to_vec_pretty(&StripeOrder(value)) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut res = (status, body).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Err(e) => crate::error::ApiError::internal(&e).into_response(),
    }
}

/// Serializes a value in Stripe's key order: in every object, `id` then `object` first, the rest as they
/// are (the types declare their fields alphabetically, as Stripe writes them). Written while serializing,
/// so a response is never copied to be reordered.
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

/// A 200 JSON response.
pub struct Json<T = Value>(pub T);

impl IntoResponse for Json<Value> {
    fn into_response(self) -> Response {
        pretty_value(StatusCode::OK, &self.0)
    }
}
