//! `Idempotency-Key` on POST, as Stripe: the same key with the same parameters replays the first answer
//! for 24 hours; other parameters or another endpoint → 400 `idempotency_error`; a duplicate while the first
//! is still running → 409.
//!
//! The claim is a row inserted under a primary key, so it holds across processes sharing PostgreSQL. A
//! claimed request runs in its own task: a client that hangs up does not cancel a half-done write.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use finconn_core::model::{IdempotencyRecord, StoredResponse};
use finconn_core::store::IdempotencyClaim;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorMeta};
use crate::extract::auth::Ctx;
use crate::startup::AppState;

/// How long a claim protects a running request before another may take the key over (the first process
/// died). Requests are far shorter than this.
const LOCK_SECONDS: i64 = 60;
/// Largest response body kept for replay.
const MAX_STORED_BODY: usize = 4 << 20;

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

pub async fn run(app: &AppState, ctx: &Ctx, req: Request, next: Next) -> Response {
    let Some(key) = ctx.idempotency_key.clone() else {
        return next.run(req).await;
    };
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    match claim(app, ctx, &key, method, path).await {
        Ok(Some(replay)) => replay,
        Ok(None) => execute(app.clone(), ctx.clone(), key, req, next).await,
        Err(e) => e.into_response(),
    }
}

/// `Ok(None)`: this request owns the key and must run. `Ok(Some(r))`: answer `r` instead.
async fn claim(
    app: &AppState,
    ctx: &Ctx,
    key: &str,
    method: String,
    path: String,
) -> Result<Option<Response>, ApiError> {
    let now = app.core.now();
    let rec = IdempotencyRecord {
        key: key.to_owned(),
        method,
        path,
        fingerprint: fingerprint(ctx),
        created: now,
        response: None,
        locked_until: now + LOCK_SECONDS,
    };
    let existing =
        match app.core.store.claim_idempotency_key(ctx.scope(), &rec).await.map_err(|e| ApiError::internal(&e))? {
            IdempotencyClaim::Claimed => return Ok(None),
            IdempotencyClaim::Existing(e) => e,
        };
    if existing.path != rec.path || existing.method != rec.method {
        return Err(ApiError::idempotency_other_endpoint(key, &rec.path, &existing.path));
    }
    if existing.fingerprint != rec.fingerprint {
        return Err(ApiError::idempotency_mismatch(key));
    }
    match existing.response {
        Some(stored) => Ok(Some(replay(stored))),
        None if existing.locked_until < now => {
            let ok = app
                .core
                .store
                .reclaim_idempotency_key(ctx.scope(), key, existing.locked_until, now + LOCK_SECONDS)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            if ok {
                Ok(None)
            } else {
                Err(ApiError::idempotency_in_use(key))
            }
        }
        None => Err(ApiError::idempotency_in_use(key)),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, Body::from(stored.body)).into_response();
    let h = res.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(&stored.request_id) {
        h.insert("original-request", v);
    }
    res
}

async fn execute(app: AppState, ctx: Ctx, key: String, req: Request, next: Next) -> Response {
    let task = tokio::spawn(async move {
        let res = next.run(req).await;
        let meta = res.extensions().get::<ErrorMeta>().copied();
        let remember = meta.is_none_or(|m| m.remember) && !res.status().is_server_error();
        if !remember {
            if let Err(e) = app.core.store.release_idempotency_key(ctx.scope(), &key).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
            return res;
        }
        let (parts, body) = res.into_parts();
        let bytes = match to_bytes(body, MAX_STORED_BODY).await {
            Ok(b) => b,
            Err(e) => return ApiError::internal(&e).into_response(),
        };
        let stored =
            StoredResponse { status: parts.status.as_u16(), body: bytes.to_vec(), request_id: ctx.request_id.clone() };
        if let Err(e) = app.core.store.complete_idempotency_key(ctx.scope(), &key, &stored).await {
            // The side effects happened; the answer is still true. A retry after the lock lapses would
            // run again, which is what a crash at this point would also lead to.
            tracing::error!(error = %e, "could not store an idempotent response");
        }
        Response::from_parts(parts, Body::from(bytes))
    });
    match task.await {
        Ok(res) => res,
        Err(e) => ApiError::internal(&e).into_response(),
    }
}
