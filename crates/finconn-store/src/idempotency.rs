//! The idempotency cache: one row per (account, mode, key).

use finconn_core::model::{IdempotencyRecord, Scope, StoredResponse};
use finconn_core::StoreError;
use sqlx::Row;

use crate::db_err;
use crate::pool::Pools;

/// A stored key and its response. A row without a response (left by an older finconn's in-flight claim)
/// counts as absent: the next commit of the key takes it over.
pub(crate) async fn get(pools: &Pools, scope: &Scope, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    let row = on_pool!(pools, read, |p| sqlx::query(
        "SELECT key, method, path, fingerprint, created, status, body, request_id \
         FROM idempotency_keys WHERE account_id = $1 AND livemode = $2 AND key = $3 AND status IS NOT NULL",
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(key)
    .fetch_optional(p)
    .await
    .map_err(db_err)?
    .map(|r| {
        let status: i64 = r.try_get("status")?;
        Ok::<_, sqlx::Error>(IdempotencyRecord {
            key: r.try_get("key")?,
            method: r.try_get("method")?,
            path: r.try_get("path")?,
            fingerprint: r.try_get("fingerprint")?,
            created: r.try_get("created")?,
            response: StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                body: r.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default(),
                request_id: r.try_get::<Option<String>, _>("request_id")?.unwrap_or_default(),
            },
        })
    })
    .transpose()
    .map_err(db_err)?);
    Ok(row)
}

pub(crate) async fn prune(pools: &Pools, before: i64) -> Result<u64, StoreError> {
    let n = on_pool!(pools, write, |p| sqlx::query("DELETE FROM idempotency_keys WHERE created < $1")
        .bind(before)
        .execute(p)
        .await
        .map_err(db_err)?
        .rows_affected());
    Ok(n)
}
