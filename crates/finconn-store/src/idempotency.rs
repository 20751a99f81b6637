//! The idempotency cache: one row per (account, mode, key).

use finconn_core::model::{IdempotencyRecord, Scope, StoredResponse};
use finconn_core::store::IdempotencyClaim;
use finconn_core::StoreError;
use sqlx::Row;

use crate::db_err;
use crate::pool::Pools;

pub(crate) async fn claim(
    pools: &Pools,
    scope: &Scope,
    rec: &IdempotencyRecord,
) -> Result<IdempotencyClaim, StoreError> {
    // The primary key makes the insert the lock: exactly one concurrent request gets rows_affected = 1,
    // in one process or across several sharing PostgreSQL.
    let inserted = on_pool!(pools, write, |p| {
        sqlx::query(
        "INSERT INTO idempotency_keys (account_id, livemode, key, method, path, fingerprint, created, locked_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_id, livemode, key) DO NOTHING"
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(&rec.key)
    .bind(&rec.method)
    .bind(&rec.path)
    .bind(&rec.fingerprint)
    .bind(rec.created)
    .bind(rec.locked_until)
    .execute(p)
    .await
    .map_err(db_err)?
    .rows_affected()
    });
    if inserted == 1 {
        return Ok(IdempotencyClaim::Claimed);
    }
    let existing = on_pool!(pools, write, |p| {
        match sqlx::query(
            "SELECT key, method, path, fingerprint, created, locked_until, status, body, request_id \
             FROM idempotency_keys WHERE account_id = $1 AND livemode = $2 AND key = $3",
        )
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(&rec.key)
        .fetch_optional(p)
        .await
        .map_err(db_err)?
        {
            Some(r) => {
                let status: Option<i64> = r.try_get("status").map_err(db_err)?;
                let response = match status {
                    Some(s) => Some(StoredResponse {
                        status: u16::try_from(s).unwrap_or(500),
                        body: r.try_get::<Option<Vec<u8>>, _>("body").map_err(db_err)?.unwrap_or_default(),
                        request_id: r.try_get::<Option<String>, _>("request_id").map_err(db_err)?.unwrap_or_default(),
                    }),
                    None => None,
                };
                Some(IdempotencyRecord {
                    key: r.try_get("key").map_err(db_err)?,
                    method: r.try_get("method").map_err(db_err)?,
                    path: r.try_get("path").map_err(db_err)?,
                    fingerprint: r.try_get("fingerprint").map_err(db_err)?,
                    created: r.try_get("created").map_err(db_err)?,
                    locked_until: r.try_get("locked_until").map_err(db_err)?,
                    response,
                })
            }
            None => None,
        }
    });
    match existing {
        Some(e) => Ok(IdempotencyClaim::Existing(e)),
        // Pruned between the two statements: try once more from the start.
        None => Box::pin(claim(pools, scope, rec)).await,
    }
}

pub(crate) async fn reclaim(
    pools: &Pools,
    scope: &Scope,
    key: &str,
    previous: i64,
    locked_until: i64,
) -> Result<bool, StoreError> {
    let n = on_pool!(pools, write, |p| sqlx::query(
        "UPDATE idempotency_keys SET locked_until = $1 \
         WHERE account_id = $2 AND livemode = $3 AND key = $4 AND locked_until = $5 AND status IS NULL"
    )
    .bind(locked_until)
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(key)
    .bind(previous)
    .execute(p)
    .await
    .map_err(db_err)?
    .rows_affected());
    Ok(n == 1)
}

pub(crate) async fn complete(
    pools: &Pools,
    scope: &Scope,
    key: &str,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    on_pool!(pools, write, |p| sqlx::query(
        "UPDATE idempotency_keys SET status = $1, body = $2, request_id = $3 \
         WHERE account_id = $4 AND livemode = $5 AND key = $6"
    )
    .bind(i64::from(response.status))
    .bind(&response.body)
    .bind(&response.request_id)
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(key)
    .execute(p)
    .await
    .map(|_| ())
    .map_err(db_err))?;
    Ok(())
}

pub(crate) async fn release(pools: &Pools, scope: &Scope, key: &str) -> Result<(), StoreError> {
    on_pool!(pools, write, |p| sqlx::query(
        "DELETE FROM idempotency_keys WHERE account_id = $1 AND livemode = $2 AND key = $3 AND status IS NULL"
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(key)
    .execute(p)
    .await
    .map(|_| ())
    .map_err(db_err))?;
    Ok(())
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
