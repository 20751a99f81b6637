//! `GET /v1/openapi.json`: the OpenAPI document of finconn's own extensions (test helpers, institutions,
//! webhook attempts, operations endpoints). Written by hand in `openapi.json` beside this file; the
//! Stripe-compatible endpoints are Stripe's own spec and are not repeated. `tests/sdk/python/test_openapi.py`
//! calls every operation it lists and validates the answers against it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    let mut res = (StatusCode::OK, DOCUMENT).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_json() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(doc["paths"]["/readyz"]["get"].is_object());
    }
}
