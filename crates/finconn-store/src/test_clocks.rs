//! Test clocks, and the jobs that wait for their clock.

use finconn_core::model::{LinkedAccountRecord, Scope, TestClockRecord};
use finconn_core::store::{Page, PageRequest};
use finconn_core::StoreError;

use crate::db_err;
use crate::objects::{decode, finish_page, page_bounds};
use crate::pool::{Exec, Pools};
use crate::sql::Q;

pub(crate) async fn get_test_clock(
    pools: &Pools,
    account: &str,
    id: &str,
) -> Result<Option<TestClockRecord>, StoreError> {
    crate::objects::get_in_account(pools, "test_clocks", account, id).await
}

pub(crate) async fn list_test_clocks(
    pools: &Pools,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Page<TestClockRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "test_clocks", scope, page).await?;
    let sql = format!(
        "SELECT version, data FROM test_clocks WHERE account_id = $1 AND livemode = $2 AND deleted = $3 \
         AND seq {cmp} $4 ORDER BY seq {order} LIMIT $5"
    );
    let rows: Vec<(i64, String)> = pools
        .all(
            Q::new(sql.clone())
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(false)
                .bind(bound)
                .bind(i64::from(page.limit) + 1),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|(v, d)| decode::<TestClockRecord>(&d, scope.clone(), v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn test_clock_time(pools: &Pools, id: &str) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = pools.opt(Q::new("SELECT frozen_time FROM test_clocks WHERE id = $1").bind(id)).await?;
    Ok(row.map(|(t,)| t))
}

pub(crate) async fn release_clock_jobs(pools: &Pools, clock: &str, up_to: i64) -> Result<i64, StoreError> {
    on_pool!(pools, write, |p| {
        sqlx::query(
            "UPDATE jobs SET run_at = 0 WHERE test_clock = $1 AND done_at IS NULL AND clock_run_at <= $2 AND run_at <> 0",
        )
        .bind(clock)
        .bind(up_to)
        .execute(p)
        .await
        .map_err(db_err)?;
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM jobs WHERE test_clock = $1 AND done_at IS NULL AND clock_run_at <= $2",
        )
        .bind(clock)
        .bind(up_to)
        .fetch_one(p)
        .await
        .map_err(db_err)
    })
}

pub(crate) async fn next_clock_job(pools: &Pools, clock: &str) -> Result<Option<i64>, StoreError> {
    on_pool!(pools, write, |p| sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MIN(clock_run_at) FROM jobs WHERE test_clock = $1 AND done_at IS NULL"
    )
    .bind(clock)
    .fetch_one(p)
    .await
    .map_err(db_err))
}

pub(crate) async fn accounts_on_clock(
    pools: &Pools,
    scope: &Scope,
    clock: &str,
) -> Result<Vec<LinkedAccountRecord>, StoreError> {
    crate::objects::accounts_where(pools, scope, "test_clock", clock).await
}

pub(crate) async fn expired_test_clocks(pools: &Pools, now: i64) -> Result<Vec<(Scope, String)>, StoreError> {
    let rows: Vec<(String, bool, String)> = pools
        .all(
            Q::new(
                "SELECT account_id, livemode, id FROM test_clocks WHERE deleted = $1 AND deletes_after <= $2 LIMIT 100",
            )
            .bind(false)
            .bind(now),
        )
        .await?;
    Ok(rows.into_iter().map(|(account, livemode, id)| (Scope { account, livemode }, id)).collect())
}
