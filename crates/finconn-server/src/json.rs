//! JSON responses, pretty-printed with a trailing newline as Stripe writes them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

pub fn pretty<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let ordered = serde_json::to_value(value).map(|mut v| {
        stripe_order(&mut v);
        v
    });
    match ordered.and_then(|v| serde_json::to_vec_pretty(&v)) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut res = (status, body).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Err(e) => crate::error::ApiError::internal(&e).into_response(),
    }
}

/// Stripe's key order: in every object, `id` then `object` first, the rest as serialized (the types
/// declare their fields alphabetically, as Stripe writes them).
pub fn stripe_order(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("id") || map.contains_key("object") {
                let old = std::mem::take(map);
                let mut rest = Vec::with_capacity(old.len());
                let (mut id, mut object) = (None, None);
                for (k, val) in old {
                    match k.as_str() {
                        "id" => id = Some(val),
                        "object" => object = Some(val),
                        _ => rest.push((k, val)),
                    }
                }
                if let Some(i) = id {
                    map.insert("id".into(), i);
                }
                if let Some(o) = object {
                    map.insert("object".into(), o);
                }
                map.extend(rest);
            }
            map.values_mut().for_each(stripe_order);
        }
        Value::Array(items) => items.iter_mut().for_each(stripe_order),
        _ => {}
    }
}

/// A 200 JSON response.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        pretty(StatusCode::OK, &self.0)
    }
}
