use serde::{Deserialize, Serialize};

/// `{"error": {...}}`, the body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ApiErrorBody,
}

/// Stripe's `api_errors` object, restricted to the fields finconn sends. Absent fields are left out, not
/// `null`, as Stripe does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub doc_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub param: Option<String>,
    #[serde(rename = "type")]
    pub kind: ErrorType,
}

crate::enums::string_enum!(
    /// `error.type`.
    ErrorType {
        ApiError => "api_error",
        CardError => "card_error",
        IdempotencyError => "idempotency_error",
        InvalidRequestError => "invalid_request_error",
    }
);
