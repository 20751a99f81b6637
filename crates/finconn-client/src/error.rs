//! What a request can fail with.

use std::time::Duration;

use finconn_types::{ErrorEnvelope, ErrorType, TestClock};

/// Any failure of a client call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error (after any retries).
    /// (Boxed: keeps `Result<T, Error>` small.)
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request never got an answer (connection refused, timeout, TLS, …), after any retries.
    #[error("network error: {0}")]
    Network(#[from] reqwest::Error),
    /// The API answered 2xx with a body that is not the expected object.
    #[error("could not decode the {status} response: {source}")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
    /// The parameters could not be encoded (e.g. an invalid base URL).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A test clock waited on (`advance_and_wait`, `wait_until_ready`) did not become `ready`: its advance
    /// failed (`clock.status` is `internal_failure`), or it was still `advancing` when `waited` reached
    /// the timeout. `clock` is the clock as last retrieved.
    #[error("test clock {id} is {status}, not ready, after {waited:?}", id = .clock.id, status = .clock.status)]
    TestClockNotReady { clock: Box<TestClock>, waited: Duration },
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// The API error, when the API answered with one.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// The kind of an API error, decided from the HTTP status as the official SDKs do (stripe-ruby's classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400 (and 404 on the official SDKs): the request was invalid.
    InvalidRequest,
    /// 401: no key, or a key the API does not know.
    Authentication,
    /// 403: the key may not do this (e.g. a publishable key on `/v1`).
    Permission,
    /// 404: no such object or URL.
    NotFound,
    /// `type: idempotency_error`: an `Idempotency-Key` was reused with other parameters.
    Idempotency,
    /// 429.
    RateLimit,
    /// 402.
    Card,
    /// 5xx, 409 and any other error status.
    Api,
    /// A status that is not an error status (1xx, 3xx) where an object was expected.
    Unknown,
}

impl ErrorKind {
    /// The kind for a status and the body's `error.type`.
    pub fn classify(status: u16, error_type: Option<&ErrorType>) -> Self {
        if matches!(error_type, Some(ErrorType::IdempotencyError)) && matches!(status, 400 | 404 | 409) {
            return ErrorKind::Idempotency;
        }
        match status {
            400 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::Card,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimit,
            _ if (400..600).contains(&status) => ErrorKind::Api,
            _ => ErrorKind::Unknown,
        }
    }
}

/// An error answer of the API: Stripe's `{"error": {...}}` with its status and `Request-Id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub status: u16,
    /// `error.type` as sent (`invalid_request_error`, `idempotency_error`, …), when the body had one.
    pub error_type: Option<ErrorType>,
    /// `error.code`, e.g. `resource_missing`, `parameter_missing`.
    pub code: Option<String>,
    /// `error.message`, or the raw body when it was not Stripe's envelope.
    pub message: Option<String>,
    /// `error.param`: the parameter at fault.
    pub param: Option<String>,
    /// `error.doc_url`.
    pub doc_url: Option<String>,
    /// The `Request-Id` header (absent on 401s).
    pub request_id: Option<String>,
}

impl ApiError {
    /// Builds the error from a response's status, `Request-Id` and body.
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorEnvelope>(body) {
            Ok(env) => ApiError {
                kind: ErrorKind::classify(status, Some(&env.error.kind)),
                status,
                error_type: Some(env.error.kind),
                code: env.error.code,
                message: env.error.message,
                param: env.error.param,
                doc_url: env.error.doc_url,
                request_id,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                ApiError {
                    kind: ErrorKind::classify(status, None),
                    status,
                    error_type: None,
                    code: None,
                    message: (!text.is_empty()).then(|| text.chars().take(500).collect()),
                    param: None,
                    doc_url: None,
                    request_id,
                }
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} error ({})", self.kind, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(param) = &self.param {
            write!(f, " (param: {param})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str) -> Vec<u8> {
        format!(
            r#"{{"error": {{"code": "resource_missing", "message": "No such x", "param": "id", "type": "{kind}"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn statuses_map_like_stripe_ruby() {
        let cases = [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Authentication),
            (402, ErrorKind::Card),
            (403, ErrorKind::Permission),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Api),
            (429, ErrorKind::RateLimit),
            (500, ErrorKind::Api),
            (503, ErrorKind::Api),
            (302, ErrorKind::Unknown),
        ];
        for (status, kind) in cases {
            assert_eq!(ApiError::from_response(status, None, &body("invalid_request_error")).kind, kind, "{status}");
        }
        assert_eq!(ApiError::from_response(400, None, &body("idempotency_error")).kind, ErrorKind::Idempotency);
    }

    #[test]
    fn keeps_the_fields_and_displays_them() {
        let e = ApiError::from_response(404, Some("req_abc".into()), &body("invalid_request_error"));
        assert_eq!(e.code.as_deref(), Some("resource_missing"));
        assert_eq!(e.param.as_deref(), Some("id"));
        assert_eq!(e.error_type, Some(ErrorType::InvalidRequestError));
        assert_eq!(e.to_string(), "NotFound error (404) [resource_missing]: No such x (param: id) (request req_abc)");
    }

    #[test]
    fn a_body_that_is_not_an_envelope_becomes_the_message() {
        let e = ApiError::from_response(502, None, b"<html>bad gateway</html>\n");
        assert_eq!(e.kind, ErrorKind::Api);
        assert_eq!(e.message.as_deref(), Some("<html>bad gateway</html>"));
        assert_eq!(e.error_type, None);
    }
}
