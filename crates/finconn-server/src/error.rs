//! `ApiError`: every error finconn answers, written once in Stripe's envelope.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use finconn_core::DomainError;
use finconn_types::{ApiErrorBody, ErrorEnvelope, ErrorType};

/// What the response layers need to know about an error response.
#[derive(Clone, Copy, Debug)]
pub struct ErrorMeta {
    /// Whether the idempotency cache keeps this answer (Stripe does not keep validation failures,
    /// conflicts or authentication failures; finconn also lets 5xx be retried).
    pub remember: bool,
    /// Stripe sends no `Request-Id` on 401s and on unrouted 404s.
    pub request_id: bool,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    pub should_retry: Option<bool>,
    pub meta: ErrorMeta,
}

const SUPPORT: &str = "we can help at https://support.stripe.com/";

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: ErrorType::InvalidRequestError,
            code: None,
            message: message.into(),
            param: None,
            should_retry: None,
            meta: ErrorMeta { remember: true, request_id: true },
        }
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// A validation failure: never remembered by the idempotency cache.
    fn validation(mut self) -> Self {
        self.meta.remember = false;
        self
    }

    /// 400 without a code: bad enum values, bad booleans, ranges, strings too long.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).param(param).validation()
    }

    /// 429, as Stripe words it per mode; no `Retry-After`, no `Stripe-Should-Retry` (SDKs do not retry it).
    pub fn rate_limit(livemode: bool) -> Self {
        let message = if livemode {
            "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
        } else {
            "Testmode request rate limit exceeded, the rate limits in testmode are lower than livemode. You can learn \
             more about rate limits here https://stripe.com/docs/rate-limits."
        };
        Self::new(StatusCode::TOO_MANY_REQUESTS, message).code("rate_limit").validation()
    }

    /// 414 or 431.
    pub fn too_large(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, message).validation()
    }

    /// 408: the body did not arrive within `body_read_timeout`.
    pub fn request_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "The request body was not received in time.").validation()
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).validation()
    }

    pub fn unknown_params(params: &[String]) -> Self {
        let message = match params {
            [one] => format!("Received unknown parameter: {one}"),
            many => format!("Received unknown parameters: {}", many.join(", ")),
        };
        let first = params.first().cloned().unwrap_or_default();
        Self::new(StatusCode::BAD_REQUEST, message).code("parameter_unknown").param(first).validation()
    }

    pub fn missing(param: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
            .validation()
    }

    pub fn invalid_integer(param: &str, raw: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("Invalid integer: {raw}"))
            .code("parameter_invalid_integer")
            .param(param)
            .validation()
    }

    pub fn empty_not_allowed(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a \
                 parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or \
                 supply a non-empty value."
            ),
        )
        .code("parameter_invalid_empty")
        .param(param)
        .validation()
    }

    pub fn exclusive(a: &str, b: &str) -> Self {
        Self::invalid(a, format!("You may only specify one of these parameters: {a}, {b}."))
    }

    pub fn url_invalid(param: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Not a valid URL").code("url_invalid").param(param).validation()
    }

    pub fn no_api_key(raw_header: Option<&str>) -> Self {
        let message = match raw_header {
            None => format!(
                "You did not provide an API key. You need to provide your API key in the Authorization header, \
                 using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
                 https://stripe.com/docs/api#authentication for details, or {SUPPORT}."
            ),
            Some(h) => format!(
                "You did not provide an API key, though you did set your Authorization header to \"{h}\". Using \
                 Bearer auth, your Authorization header should look something like 'Authorization: Bearer \
                 YOUR_SECRET_KEY'. See https://stripe.com/docs/api#authentication for details, or {SUPPORT}."
            ),
        };
        Self::unauthorized(message)
    }

    pub fn invalid_api_key(masked: &str) -> Self {
        Self::unauthorized(format!("Invalid API Key provided: {masked}"))
    }

    fn unauthorized(message: String) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, message).validation();
        e.meta.request_id = false;
        e
    }

    pub fn secret_key_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a \
             list of your API keys at https://dashboard.stripe.com/account/apikeys.",
        )
        .code("secret_key_required")
        .validation()
    }

    pub fn publishable_key_required() -> Self {
        Self::new(StatusCode::FORBIDDEN, "The link flow takes a publishable key, never a secret key.")
            .code("publishable_key_required")
            .validation()
    }

    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        let hint = if path.ends_with('/') {
            " If you are trying to list objects, remove the trailing slash. If you are trying to retrieve an object, \
             make sure you passed a valid (non-empty) identifier in your code."
        } else {
            ""
        };
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            format!(
                "Unrecognized request URL ({method}: {path}).{hint} Please see https://stripe.com/docs or {SUPPORT}."
            ),
        )
        .validation();
        e.meta.request_id = false;
        e
    }

    pub fn unsupported_content_type(raw: &str) -> Self {
        Self::invalid_request(format!(
            "Invalid request: unsupported Content-Type {raw}. If error persists and you need assistance, please \
             contact support@stripe.com."
        ))
    }

    pub fn test_mode_only() -> Self {
        Self::invalid_request("This endpoint can only be used with a test mode key.")
    }

    pub fn invalid_version(raw: &str) -> Self {
        Self::invalid_request(format!("Invalid Stripe API version: {raw}"))
    }

    pub fn body_too_large(limit: usize) -> Self {
        let mut e = Self::invalid_request(format!("Request body too large: the limit is {limit} bytes."));
        e.status = StatusCode::PAYLOAD_TOO_LARGE;
        e
    }

    pub fn idempotency_mismatch(key: &str) -> Self {
        let mut e = Self::invalid_request(format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. \
             Try using a key other than '{key}' if you meant to execute a different request."
        ));
        e.kind = ErrorType::IdempotencyError;
        e
    }

    pub fn idempotency_other_endpoint(key: &str, this_path: &str, original_path: &str) -> Self {
        let mut e = Self::invalid_request(format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for \
             ('{this_path}' vs '{original_path}'). Try using a key other than '{key}' if you meant to execute a \
             different request."
        ));
        e.kind = ErrorType::IdempotencyError;
        e
    }

    pub fn idempotency_in_use(key: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            format!(
                "There is currently another in-progress request using this Idempotent Key (that probably means \
                 you submitted twice, and the other request is still going through): {key}. Please try again later."
            ),
        )
        .code("idempotency_key_in_use")
        .validation();
        e.should_retry = Some(true);
        e
    }

    /// 429 `lock_timeout`: a request kept losing its compare-and-swap to concurrent changes of one object.
    pub fn lock_timeout() -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "This object cannot be accessed right now because another API request or Stripe process is currently \
             accessing it. If you see this error intermittently, retry the request. If you see this error \
             frequently and are making multiple concurrent requests to a single object, make your requests \
             serially or at a lower rate.",
        )
        .code("lock_timeout")
        .validation();
        e.should_retry = Some(true);
        e
    }

    /// An unexpected failure: logged once here with its cause chain, answered opaquely.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "An unknown error occurred").validation();
        e.kind = ErrorType::ApiError;
        e
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { object, id, param, other_mode } => {
                let suffix = match other_mode {
                    Some(true) => {
                        "; a similar object exists in live mode, but a test mode key was used to make this request."
                    }
                    Some(false) => {
                        "; a similar object exists in test mode, but a live mode key was used to make this request."
                    }
                    None => "",
                };
                let message = format!("No such {object}: '{id}'{suffix}");
                match param {
                    None => ApiError::new(StatusCode::NOT_FOUND, message).code("resource_missing").param("id"),
                    Some(p) => ApiError::new(StatusCode::BAD_REQUEST, message).code("resource_missing").param(p),
                }
            }
            DomainError::InvalidParam { param, message } => ApiError::invalid(param, message),
            DomainError::InvalidState(message) => ApiError::invalid_request(message),
            DomainError::Link { code, message, param } => {
                let e = ApiError::new(StatusCode::BAD_REQUEST, message).code(code);
                match param {
                    Some(p) => e.param(p),
                    None => e,
                }
            }
            DomainError::Busy => ApiError::lock_timeout(),
            DomainError::Store(e) => ApiError::internal(&e),
            DomainError::Internal(m) => ApiError::internal(&*Box::<dyn std::error::Error + Send + Sync>::from(m)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let doc_url = self.code.map(|c| format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-")));
        let envelope = ErrorEnvelope {
            error: ApiErrorBody {
                code: self.code.map(str::to_owned),
                doc_url,
                message: Some(self.message),
                param: self.param,
                kind: self.kind,
            },
        };
        let mut res = crate::json::pretty(self.status, &envelope);
        let retry = self.should_retry.unwrap_or(false);
        // Stripe sends no Stripe-Should-Retry on a rate limit (errors.md §7).
        let rate_limited = self.code == Some("rate_limit");
        if (self.status.is_client_error() || self.should_retry.is_some()) && !rate_limited {
            res.headers_mut().insert(
                crate::headers::STRIPE_SHOULD_RETRY,
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            );
        }
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
        res.extensions_mut().insert(self.meta);
        res.extensions_mut().insert(crate::dashboard::log::ErrorSummary {
            kind: serde_json::to_value(&envelope.error.kind).ok().and_then(|v| v.as_str().map(str::to_owned)),
            code: envelope.error.code.clone(),
            param: envelope.error.param.clone(),
        });
        res
    }
}
