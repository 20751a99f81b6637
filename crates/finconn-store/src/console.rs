//! The dashboard's own reads and the request log.

use finconn_core::console::{RequestLogFilter, RequestLogRecord};
use finconn_core::model::{Scope, SessionRecord};
use finconn_core::store::{Page, PageRequest};
use finconn_core::StoreError;

use crate::db_err;
use crate::objects::{decode, finish_page, page_bounds};
use crate::pool::{BeginWrite, Pools};
use crate::sql::{Plan, Q};

pub(crate) async fn list_sessions(
    pools: &Pools,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Page<SessionRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "sessions", scope, page).await?;
    let sql = format!(
        "SELECT version, data FROM sessions WHERE account_id = $1 AND livemode = $2 AND seq {cmp} $3 \
         ORDER BY seq {order} LIMIT $4"
    );
    let rows: Vec<(i64, String)> = on_pool!(pools, read, |p| sqlx::query_as(&sql)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(bound)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(p)
        .await
        .map_err(db_err)?);
    let items =
        rows.into_iter().map(|(v, d)| decode::<SessionRecord>(&d, scope.clone(), v)).collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

const INSERT: &str = "INSERT INTO request_log (account_id, livemode, request_id, created_ms, method, path, status, \
     duration_ms, idempotency_key, error_type, error_code, error_param) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub(crate) async fn insert_request_log(pools: &Pools, rows: &[RequestLogRecord]) -> Result<(), StoreError> {
    let mut plan = Plan::default();
    for r in rows {
        plan.push(
            Q::new(INSERT)
                .bind(&r.scope.account)
                .bind(r.scope.livemode)
                .bind(&r.request_id)
                .bind(r.created_ms)
                .bind(&r.method)
                .bind(&r.path)
                .bind(i64::from(r.status))
                .bind(r.duration_ms)
                .bind(&r.idempotency_key)
                .bind(&r.error_type)
                .bind(&r.error_code)
                .bind(&r.error_param),
        );
    }
    pools.apply(plan).await.map(drop)
}

type Row = (i64, String, i64, String, String, i32, i64, Option<String>, Option<String>, Option<String>, Option<String>);

pub(crate) async fn list_request_log(
    pools: &Pools,
    scope: &Scope,
    filter: &RequestLogFilter,
    before: Option<i64>,
    limit: u32,
) -> Result<Page<RequestLogRecord>, StoreError> {
    let rows: Vec<Row> = on_pool!(pools, read, |p| sqlx::query_as(
        "SELECT seq, request_id, created_ms, method, path, status, duration_ms, idempotency_key, error_type, \
         error_code, error_param FROM request_log WHERE account_id = $1 AND livemode = $2 AND seq < $3 \
         AND (CAST($4 AS TEXT) IS NULL OR request_id = $4) AND status >= $5 ORDER BY seq DESC LIMIT $6"
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(before.unwrap_or(i64::MAX))
    .bind(&filter.request_id)
    .bind(if filter.errors_only { 400i32 } else { 0i32 })
    .bind(i64::from(limit) + 1)
    .fetch_all(p)
    .await
    .map_err(db_err)?);
    let has_more = rows.len() > limit as usize;
    let items = rows
        .into_iter()
        .take(limit as usize)
        .map(|(seq, request_id, created_ms, method, path, status, duration_ms, idem, kind, code, param)| {
            RequestLogRecord {
                seq,
                scope: scope.clone(),
                request_id,
                created_ms,
                method,
                path,
                status: u16::try_from(status).unwrap_or(0),
                duration_ms,
                idempotency_key: idem,
                error_type: kind,
                error_code: code,
                error_param: param,
            }
        })
        .collect();
    Ok(Page { items, has_more })
}

pub(crate) async fn prune_request_log(pools: &Pools, before_ms: i64, keep: i64) -> Result<u64, StoreError> {
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        let old = sqlx::query("DELETE FROM request_log WHERE created_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        // Beyond the newest `keep` rows of each account and mode.
        let over = sqlx::query(
            "DELETE FROM request_log WHERE seq IN (SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER \
             (PARTITION BY account_id, livemode ORDER BY seq DESC) AS rn FROM request_log) ranked WHERE rn > $1)",
        )
        .bind(keep)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(old + over)
    })
}
