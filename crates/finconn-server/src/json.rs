//! JSON responses, pretty-printed with a trailing newline as Stripe writes them, keys in Stripe's order
//! (`id`, `object`, then the rest).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use finconn_types::order::StripeOrder;
use serde::Serialize;
use serde_json::Value;

pub fn pretty<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_value(value) {
        Ok(v) => pretty_value(status, &v),
        Err(e) => crate::error::ApiError::internal(&e).into_response(),
    }
}

/// A free-form value as a response: its objects put in Stripe's key order while it is written.
pub fn pretty_value(status: StatusCode, value: &Value) -> Response {
    respond(status, to_vec_pretty(&StripeOrder(value)))
}

/// `serde_json::to_vec_pretty` into a buffer that most objects fit (it starts at 128 bytes, and a session's
/// 600 bytes took three reallocations, each a copy).
fn to_vec_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer_pretty(&mut out, value)?;
    Ok(out)
}

fn respond(status: StatusCode, body: serde_json::Result<Vec<u8>>) -> Response {
    match body {
        Ok(mut body) => {
            body.push(b'\n');
            let mut res = (status, body).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Err(e) => crate::error::ApiError::internal(&e).into_response(),
    }
}

/// A 200 JSON response: a free-form value, or a wire object written straight to bytes.
pub struct Json(Body);

enum Body {
    Value(Value),
    Bytes(serde_json::Result<Vec<u8>>),
}

impl Json {
    /// A free-form value (a hand-built object, or one with expanded fields), in Stripe's key order.
    pub fn value(v: Value) -> Self {
        Json(Body::Value(v))
    }

    /// One of `finconn_types`' wire objects (or a list of them). They declare `id` and `object` first and
    /// the rest alphabetically, and their free-form fields serialize in Stripe's order, so the object is
    /// written as it is, without first being copied into a `Value` to be reordered
    /// (`finconn_types::order`'s test checks each type against `StripeOrder`).
    pub fn wire<T: Serialize>(object: &T) -> Self {
        Json(Body::Bytes(to_vec_pretty(object)))
    }
}

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        match self.0 {
            Body::Value(v) => pretty_value(StatusCode::OK, &v),
            Body::Bytes(bytes) => respond(StatusCode::OK, bytes),
        }
    }
}
