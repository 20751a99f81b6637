//! The idempotency cache: one row per (account, mode, key).

use finconn_core::model::{IdempotencyRecord, Scope, StoredResponse};
use finconn_core::StoreError;

use crate::db_err;
use crate::pool::{Exec, Pools};
use crate::sql::Q;

/// A stored key and its response. A row without a response (left by an older finconn's in-flight claim)
/// counts as absent: the next commit of the key takes it over.
pub(crate) async fn get(pools: &Pools, scope: &Scope, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    type KeyRow = (String, String, String, String, i64, i64, Option<Vec<u8>>, Option<String>);
    let row: Option<KeyRow> = pools
        .opt(
            Q::new(
                "SELECT key, method, path, fingerprint, created, status, body, request_id \
                 FROM idempotency_keys WHERE account_id = $1 AND livemode = $2 AND key = $3 AND status IS NOT NULL",
            )
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(key),
        )
        .await?;
    Ok(row.map(|(key, method, path, fingerprint, created, status, body, request_id)| IdempotencyRecord {
        key,
        method,
        path,
        fingerprint,
        created,
        response: StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            body: body.unwrap_or_default(),
            request_id: request_id.unwrap_or_default(),
        },
    }))
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
