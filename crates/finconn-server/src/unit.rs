//! One request, one transaction. Every mutating `/v1` request runs on a unit of work (`Finconn::begin`):
//! the handler's writes, the events and jobs they bring, and — with an `Idempotency-Key` — the key and the
//! response the client is about to get are committed together, once, and the response leaves only after
//! that commit returned. A crash at any instant leaves all of it or none of it.
//!
//! `Idempotency-Key`, as Stripe: the same key with the same parameters replays the first answer for 24
//! hours; other parameters or another endpoint → 400 `idempotency_error`; a duplicate while the first is
//! still running in this process → 409. The key's row is written in the unit's transaction under a primary
//! key: a request whose key was used before runs its handler (on a unit that is then dropped), finds the
//! key taken at commit and answers with the first answer, so the common case (a new key) reads nothing;
//! across processes one request wins and the others replay its answer.
//!
//! A unit whose compare-and-swap fails at commit (another request changed a record it read) is run again
//! on fresh reads, up to three times, then answered 429 `lock_timeout`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use finconn_core::model::{IdempotencyRecord, StoredResponse};
use finconn_core::store::CommitOutcome;
use finconn_core::{DomainError, Finconn, Scope};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorMeta};
use crate::extract::auth::Ctx;
use crate::startup::AppState;

/// Largest response body kept for replay.
const MAX_STORED_BODY: usize = 4 << 20;
/// How many times a unit that lost a compare-and-swap runs.
const ATTEMPTS: usize = 3;

/// The parameters, order-independent: retries from the SDKs resend the same pairs, maybe reordered.
fn fingerprint(ctx: &Ctx) -> String {
    let mut pairs: Vec<&(String, String)> = ctx.form.pairs.iter().collect();
    pairs.sort();
    let mut h = Sha256::new();
    for (k, v) in pairs {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Idempotency keys whose first request is running in this process.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, bool, String)>>);

/// Holds a key in `InFlight` until dropped.
struct Held(Arc<InFlight>, (String, bool, String));

impl InFlight {
    fn enter(self: &Arc<Self>, scope: &Scope, key: &str) -> Option<Held> {
        let entry = (scope.account.clone(), scope.livemode, key.to_owned());
        let mut set = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        set.insert(entry.clone()).then(|| Held(self.clone(), entry))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.1);
    }
}

pub async fn run(app: &AppState, ctx: Ctx, req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let key = ctx.idempotency_key.clone();
    let held = match &key {
        Some(k) => match app.in_flight.enter(ctx.scope(), k) {
            Some(h) => Some(h),
            None => return ApiError::idempotency_in_use(k).into_response(),
        },
        None => None,
    };
    let (parts, _) = req.into_parts();
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_owned());
    // Only a request with a key is compared with an earlier one.
    let print = if key.is_some() { fingerprint(&ctx) } else { String::new() };
    // Its own task: a client that hangs up does not cancel a commit half-way.
    let app = app.clone();
    let task = tokio::spawn(async move {
        let _held = held;
        for _ in 0..ATTEMPTS {
            let (core, unit) = app.core.begin();
            let mut req = Request::new(Body::empty());
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = parts.uri.clone();
            *req.version_mut() = parts.version;
            *req.headers_mut() = parts.headers.clone();
            *req.extensions_mut() = parts.extensions.clone();
            req.extensions_mut().insert(Ctx { core, ..ctx.clone() });
            let res = next.clone().run(req).await;
            let failed = res.status().is_server_error();
            let remember = !failed && res.extensions().get::<ErrorMeta>().is_none_or(|m| m.remember);
            if let (Some(k), false) = (&key, remember) {
                // A refusal that is not remembered (a validation error): if the key answered before, its
                // first answer (or the idempotency error) wins, as Stripe checks the key first. Requests
                // that are answered normally learn about an earlier use of their key at commit instead
                // (`KeyTaken`), which costs no read in the common case.
                match app.core.idempotency_record(ctx.scope(), k).await {
                    Ok(Some(first)) => return answer_with(first, k, &method, &path, &print),
                    Ok(None) => {}
                    Err(e) => return ApiError::from(e).into_response(),
                }
            }
            if failed {
                // The request failed as a whole: its unit is dropped unwritten.
                return res;
            }
            let (res_parts, body) = res.into_parts();
            let bytes = match to_bytes(body, MAX_STORED_BODY).await {
                Ok(b) => b,
                Err(e) => return ApiError::internal(&e).into_response(),
            };
            let idempotency = key.as_ref().filter(|_| remember).map(|k| {
                let response = StoredResponse {
                    status: res_parts.status.as_u16(),
                    body: bytes.to_vec(),
                    request_id: ctx.request_id.clone(),
                };
                let rec = IdempotencyRecord {
                    key: k.clone(),
                    method: method.clone(),
                    path: path.clone(),
                    fingerprint: print.clone(),
                    created: app.core.now(),
                    response,
                };
                (ctx.scope().clone(), rec)
            });
            match app.core.commit(&unit, idempotency).await {
                Ok(CommitOutcome::Committed) => return Response::from_parts(res_parts, Body::from(bytes)),
                Ok(CommitOutcome::Conflict) => continue,
                Ok(CommitOutcome::KeyTaken) => {
                    // Another process committed this key first: answer as it did.
                    let k = key.as_deref().unwrap_or_default();
                    return match app.core.idempotency_record(ctx.scope(), k).await {
                        Ok(Some(first)) => answer_with(first, k, &method, &path, &print),
                        Ok(None) => ApiError::idempotency_in_use(k).into_response(),
                        Err(e) => ApiError::from(e).into_response(),
                    };
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        ApiError::lock_timeout().into_response()
    });
    match task.await {
        Ok(res) => res,
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// Runs a domain operation outside `/v1` (the link flow, the OAuth pages, the demo) on a unit of work and
/// commits it; what the operation wrote is committed whether it succeeded or refused (a failed login
/// counts), unless it failed unexpectedly. Runs again, up to `ATTEMPTS` times, when a compare-and-swap lost.
pub async fn transact<T, F, Fut>(app: &AppState, op: F) -> Result<T, DomainError>
where
    F: Fn(Finconn) -> Fut,
    Fut: std::future::Future<Output = Result<T, DomainError>>,
{
    for _ in 0..ATTEMPTS {
        let (core, unit) = app.core.begin();
        let out = op(core).await;
        if matches!(out, Err(DomainError::Internal(_) | DomainError::Store(_))) {
            return out;
        }
        match app.core.commit(&unit, None).await? {
            CommitOutcome::Committed => return out,
            CommitOutcome::Conflict | CommitOutcome::KeyTaken => continue,
        }
    }
    Err(DomainError::Busy)
}

/// The answer to a request whose key a first request already stored.
fn answer_with(first: IdempotencyRecord, key: &str, method: &str, path: &str, print: &str) -> Response {
    if first.path != path || first.method != method {
        return ApiError::idempotency_other_endpoint(key, path, &first.path).into_response();
    }
    if first.fingerprint != print {
        return ApiError::idempotency_mismatch(key).into_response();
    }
    let stored = first.response;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, Body::from(stored.body)).into_response();
    let h = res.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(crate::headers::IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(&stored.request_id) {
        h.insert(crate::headers::ORIGINAL_REQUEST, v);
    }
    res
}
