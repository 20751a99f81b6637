//! The `/v1` request context: request id, API key, `Stripe-Version`, content type and parameters, checked in
//! Stripe's order before any handler runs.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::BytesMut;
use finconn_core::keys::{mask_key, ApiKey, Caller, KeyKind};
use finconn_core::Scope;
use http_body_util::BodyExt;

use super::form::{self, Form};
use crate::error::{ApiError, ErrorMeta};
use crate::headers;
use crate::startup::AppState;

/// Everything a `/v1` handler knows about its request.
#[derive(Clone)]
pub struct Ctx {
    pub request_id: String,
    pub caller: Caller,
    pub form: Form,
    pub idempotency_key: Option<String>,
    /// The domain this request calls: for a mutating request, one whose writes are the request's unit of
    /// work (`crate::unit`), committed once after the handler answered.
    pub core: finconn_core::Finconn,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("request_id", &self.request_id)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    pub fn scope(&self) -> &Scope {
        &self.caller.scope
    }

    /// This request, as the events it causes record it.
    pub fn origin(&self) -> finconn_core::model::Origin {
        finconn_core::model::Origin {
            request_id: Some(self.request_id.clone()),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            ApiError::internal(&*Box::<dyn std::error::Error + Send + Sync>::from("route has no request context"))
        })
    }
}

/// The request id as the request span and the response carry it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The key in `Authorization`, as Bearer or as Basic user name.
fn key_from_header(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::no_api_key(None));
    };
    let raw = String::from_utf8_lossy(raw.as_bytes());
    let no_key = || ApiError::no_api_key(Some(&raw));
    let (scheme, rest) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| no_key())?;
        let text = String::from_utf8(decoded).map_err(|_| no_key())?;
        text.split_once(':').map(|(user, _)| user.to_owned()).unwrap_or(text)
    } else {
        return Err(no_key());
    };
    if key.is_empty() {
        return Err(no_key());
    }
    Ok(key)
}

/// Accepts any well-formed version (`YYYY-MM-DD` or `YYYY-MM-DD.name`): the SDKs send versions newer than
/// the spec's, and finconn answers them all in its own version's format.
pub fn valid_version(v: &str) -> bool {
    let (date, name) = v.split_once('.').unwrap_or((v, "x"));
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_lowercase())
}

/// The caller, and its key's digest (rate limits count per key).
async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<(Caller, String), ApiError> {
    let raw = key_from_header(headers)?;
    if raw.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid_api_key(&format!(
            "{}. This key contains at least one space. Please delete the spaces and try again. If you have any \
             questions, we can help at https://support.stripe.com/",
            mask_key(&raw)
        )));
    }
    let Some(key) = ApiKey::parse(&raw) else {
        return Err(ApiError::invalid_api_key(&mask_key(&raw)));
    };
    let caller = app.core.authenticate(&key).await?.ok_or_else(|| ApiError::invalid_api_key(&key.masked()))?;
    crate::telemetry::record_account(&caller.scope.account);
    if caller.kind == KeyKind::Publishable {
        return Err(ApiError::secret_key_required());
    }
    Ok((caller, key.hash().to_owned()))
}

fn is_body_timeout(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Reads the body up to `limit` bytes. A larger body is refused with 413, but first read on (and dropped)
/// up to a bound, so the client, still sending, gets to read the answer instead of a reset connection.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    const DRAIN_LIMIT: usize = 16 << 20;
    let mut buf = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            // The router's body deadline (`body_read_timeout`) ran out.
            Err(e) if is_body_timeout(&e) => return Err(ApiError::request_timeout()),
            Err(_) => return Err(ApiError::invalid_request("Invalid request: the body could not be read.")),
        };
        let Ok(data) = frame.into_data() else { continue };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT {
            break;
        }
        if total <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if total > limit {
        return Err(ApiError::body_too_large(limit));
    }
    Ok(buf.freeze())
}

/// The checks before a handler, in Stripe's order: key, version, content type, parameters. `request_id` is
/// the one `api_context` answers with, so the handler and its events record the same id.
async fn prepare(app: &AppState, req: Request, request_id: &str) -> Result<(Request, Ctx), ApiError> {
    let (caller, key_hash) = authenticate(app, req.headers()).await?;
    if !app.limiter.allow(&key_hash, req.method() != Method::GET) {
        return Err(ApiError::rate_limit(caller.scope.livemode));
    }
    // Ids in the path are checked by shape before anything looks them up: no control characters (a NUL
    // cannot even be stored in PostgreSQL text), no invalid UTF-8.
    let raw = req.uri().path();
    let clean = if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8().is_ok_and(|p| !p.chars().any(char::is_control))
    } else {
        // Nothing escaped: the path is its own decoding (and already UTF-8).
        !raw.chars().any(char::is_control)
    };
    if !clean {
        return Err(ApiError::invalid_request(
            "Invalid request: the URL holds a control character or invalid UTF-8, which no id contains.",
        ));
    }
    let versions: Vec<String> = req
        .headers()
        .get_all(headers::STRIPE_VERSION)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if !versions.is_empty() && (versions.len() > 1 || !valid_version(&versions[0])) {
        return Err(ApiError::invalid_version(&versions.join(", ")));
    }
    let idempotency_key = match req.headers().get(headers::IDEMPOTENCY_KEY) {
        Some(v) if req.method() == Method::POST => {
            let key = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if key.is_empty() || key.chars().count() > 255 {
                return Err(ApiError::invalid_request(
                    "Invalid Idempotency-Key: it must be between 1 and 255 characters long.",
                ));
            }
            Some(key)
        }
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let limit = app.config.max_body_bytes;
    // A request without a body (neither `Content-Length` nor `Transfer-Encoding`, RFC 9112 6.3: every GET
    // the SDKs send) has nothing to wait for, so no deadline is armed for it.
    let no_body = !parts.headers.contains_key(header::TRANSFER_ENCODING)
        && parts.headers.get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
    let bytes = if no_body {
        Bytes::new()
    } else {
        tokio::time::timeout(app.config.body_read_timeout, read_body(body, limit))
            .await
            .map_err(|_| ApiError::request_timeout())??
    };
    let input: &[u8] = if parts.method == Method::POST {
        if !bytes.is_empty() {
            let ct =
                parts.headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let ok = ct.as_deref().is_some_and(|c| {
                c.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
            });
            if !ok {
                return Err(ApiError::unsupported_content_type(ct.as_deref().unwrap_or("")));
            }
        }
        &bytes
    } else {
        parts.uri.query().unwrap_or("").as_bytes()
    };
    let form = form::parse(input).map_err(|e| match e.param() {
        Some(p) => ApiError::invalid(p.to_owned(), e.to_string()),
        None => ApiError::invalid_request(e.to_string()),
    })?;
    let ctx = Ctx { request_id: request_id.to_owned(), caller, form, idempotency_key, core: app.core.clone() };
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(ctx.clone());
    Ok((req, ctx))
}

/// Every `/v1` request's key, version and unit of work (the innermost part of `router::v1`): the answer
/// carries `Request-Id`, `Stripe-Version`, `Idempotency-Key` and `Cache-Control` headers.
pub async fn api_context(app: &AppState, req: Request, next: Next) -> Response {
    // The version the request named, when well formed (`prepare` refuses it otherwise), else finconn's own.
    let version = req
        .headers()
        .get(headers::STRIPE_VERSION)
        .filter(|v| v.to_str().is_ok_and(valid_version))
        .cloned()
        .unwrap_or(HeaderValue::from_static(finconn_types::API_VERSION));
    let request_id =
        req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_else(finconn_core::ids::new_request_id);
    let idem_header = req.headers().get(headers::IDEMPOTENCY_KEY).cloned();
    let mut res = match prepare(app, req, &request_id).await {
        Ok((req, ctx)) => {
            // Whose request this was, for the dashboard's request log (`dashboard::log`).
            let scope = crate::dashboard::log::RequestScope(ctx.caller.scope.clone());
            let mut res = crate::unit::run(app, ctx, req, next).await;
            res.extensions_mut().insert(scope);
            res
        }
        Err(e) => e.into_response(),
    };
    let meta = res.extensions().get::<ErrorMeta>().copied();
    let h = res.headers_mut();
    if meta.is_none_or(|m| m.request_id) {
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert(headers::REQUEST_ID, v.clone());
            if !h.contains_key(headers::ORIGINAL_REQUEST) && idem_header.is_some() {
                h.insert(headers::ORIGINAL_REQUEST, v);
            }
        }
        h.insert(headers::STRIPE_VERSION, version);
    }
    if let Some(k) = idem_header {
        h.insert(headers::IDEMPOTENCY_KEY, k);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_versions_only() {
        for ok in ["2026-07-29.dahlia", "2026-10-28.endive", "2020-08-27"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["2019-2-19", "latest", "2026-07-29.", "2026-07-29.Dahlia", ""] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn reads_bearer_and_basic() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sk_test_abc"));
        assert_eq!(key_from_header(&h).unwrap(), "sk_test_abc");
        // base64("sk_test_abc:")
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic c2tfdGVzdF9hYmM6"));
        assert_eq!(key_from_header(&h).unwrap(), "sk_test_abc");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(key_from_header(&h).unwrap_err().status, 401);
    }
}
