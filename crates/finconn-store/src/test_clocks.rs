//! Test clocks, and the jobs that wait for their clock.

use finconn_core::model::{CustomerRecord, LinkedAccountRecord, Scope, TestClockRecord};
use finconn_core::store::{Effects, Page, PageRequest};
use finconn_core::StoreError;

use crate::db_err;
use crate::objects::{decode, finish_page, page_bounds, to_json};
use crate::pool::{BeginWrite, Pools};

pub(crate) async fn insert_test_clock(
    pools: &Pools,
    scope: &Scope,
    rec: &TestClockRecord,
    customer: Option<&CustomerRecord>,
    effects: &Effects,
) -> Result<bool, StoreError> {
    let data = to_json(rec)?;
    let customer = customer.map(|c| Ok::<_, StoreError>((c, to_json(c)?))).transpose()?;
    let effects = crate::effects::of(effects)?;
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        if let Some((c, json)) = &customer {
            // Attached once: only a live customer on no clock, at the version the caller read.
            let n = sqlx::query(
                "UPDATE customers SET test_clock = $1, data = $2, version = version + 1 \
                 WHERE id = $3 AND account_id = $4 AND livemode = $5 AND version = $6 AND deleted = $7 \
                 AND test_clock IS NULL",
            )
            .bind(&rec.id)
            .bind(json)
            .bind(&c.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(c.version)
            .bind(false)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO test_clocks (id, account_id, livemode, created, deletes_after, frozen_time, deleted, version, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
        )
        .bind(&rec.id)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(rec.created)
        .bind(rec.deletes_after)
        .bind(rec.frozen_time)
        .bind(rec.deleted)
        .bind(&data)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_effects!(tx, scope, effects);
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    })
}

pub(crate) async fn get_test_clock(
    pools: &Pools,
    account: &str,
    id: &str,
) -> Result<Option<TestClockRecord>, StoreError> {
    crate::objects::get_in_account(pools, "test_clocks", account, id).await
}

pub(crate) async fn update_test_clock(
    pools: &Pools,
    scope: &Scope,
    rec: &TestClockRecord,
    effects: &Effects,
) -> Result<bool, StoreError> {
    let data = to_json(rec)?;
    let effects = crate::effects::of(effects)?;
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        let n = sqlx::query(
            "UPDATE test_clocks SET data = $1, frozen_time = $2, deleted = $3, version = version + 1 \
             WHERE id = $4 AND account_id = $5 AND livemode = $6 AND version = $7",
        )
        .bind(&data)
        .bind(rec.frozen_time)
        .bind(rec.deleted)
        .bind(&rec.id)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(rec.version)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        if rec.deleted {
            // Nothing waits for a deleted clock: its jobs run now (on its last time) and find their
            // accounts disconnected.
            sqlx::query("UPDATE jobs SET run_at = 0 WHERE test_clock = $1 AND done_at IS NULL AND run_at <> 0")
                .bind(&rec.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        write_effects!(tx, scope, effects);
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    })
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
    let rows: Vec<(i64, String)> = on_pool!(pools, read, |p| sqlx::query_as(&sql)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(false)
        .bind(bound)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(p)
        .await
        .map_err(db_err)?);
    let items = rows
        .into_iter()
        .map(|(v, d)| decode::<TestClockRecord>(&d, scope.clone(), v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn test_clock_time(pools: &Pools, id: &str) -> Result<Option<i64>, StoreError> {
    on_pool!(pools, read, |p| sqlx::query_scalar("SELECT frozen_time FROM test_clocks WHERE id = $1")
        .bind(id)
        .fetch_optional(p)
        .await
        .map_err(db_err))
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
    let rows: Vec<(String, bool, String)> = on_pool!(pools, read, |p| sqlx::query_as(
        "SELECT account_id, livemode, id FROM test_clocks WHERE deleted = $1 AND deletes_after <= $2 LIMIT 100"
    )
    .bind(false)
    .bind(now)
    .fetch_all(p)
    .await
    .map_err(db_err)?);
    Ok(rows.into_iter().map(|(account, livemode, id)| (Scope { account, livemode }, id)).collect())
}
