//! Linked accounts, ownerships, owners, transactions and the jobs table.

use std::collections::HashMap;

use finconn_core::accounts::RefreshOutcome;
use finconn_core::model::{
    ConnectionRecord, ConnectionStatus, Job, JobKind, LinkedAccountRecord, NewJob, OwnerRecord, Scope,
    TransactionRecord,
};
use finconn_core::store::{AccountFilter, Page, PageRequest, TransactionFilter};
use finconn_core::StoreError;

use crate::db_err;
use crate::objects::{cursor_seq, finish_page, from_json, page_bounds, to_json};
use crate::pool::{BeginWrite, Exec, Pools};
use crate::sql::Q;

pub(crate) const INSERT_JOB: &str =
    "INSERT INTO jobs (account_id, livemode, kind, run_at, locked_until, attempts, created) VALUES ($1, $2, $3, $4, 0, 0, $5)";

/// A job of test clock `$5`, due at `$4` on the clock: claimable at once (`run_at` 0) if the clock is already
/// there, else parked (`run_at` far in the future) until an advance of the clock releases it.
pub(crate) const INSERT_CLOCK_JOB: &str =
    "INSERT INTO jobs (account_id, livemode, kind, run_at, locked_until, attempts, created, test_clock, clock_run_at) \
     VALUES ($1, $2, $3, COALESCE((SELECT CASE WHEN frozen_time >= $4 THEN 0 ELSE 9000000000000000000 END \
     FROM test_clocks WHERE id = $5), 0), 0, 0, $4, $5, $4)";

pub(crate) async fn get_linked_account(
    pools: &Pools,
    account: &str,
    id: &str,
) -> Result<Option<LinkedAccountRecord>, StoreError> {
    crate::objects::get_in_account(pools, "fc_accounts", account, id).await
}

pub(crate) async fn list_linked_accounts(
    pools: &Pools,
    scope: &Scope,
    filter: &AccountFilter,
    page: &PageRequest,
) -> Result<Page<LinkedAccountRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "fc_accounts", scope, page).await?;
    // customer_account lives in the JSON record only; it is rare enough to filter after the query.
    let sql = format!(
        "SELECT version, data FROM fc_accounts WHERE account_id = $1 AND livemode = $2 \
         AND (CAST($3 AS TEXT) IS NULL OR holder_customer = $3) AND (CAST($4 AS TEXT) IS NULL OR holder_account = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR session_id = $5) AND seq {cmp} $6 ORDER BY seq {order} LIMIT $7"
    );
    let fetch = |limit: i64| {
        let sql = sql.clone();
        async move {
            let rows: Vec<(i64, String)> = pools
                .all(
                    Q::new(sql.clone())
                        .bind(&scope.account)
                        .bind(scope.livemode)
                        .bind(&filter.customer)
                        .bind(&filter.account)
                        .bind(&filter.session)
                        .bind(bound)
                        .bind(limit),
                )
                .await?;
            Ok::<_, StoreError>(rows)
        }
    };
    let limit = i64::from(page.limit) + 1;
    let rows = fetch(if filter.customer_account.is_some() { i64::MAX } else { limit }).await?;
    let mut items = rows
        .into_iter()
        .map(|(version, data)| crate::objects::decode::<LinkedAccountRecord>(&data, scope.clone(), version))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(ca) = &filter.customer_account {
        items.retain(|a| a.holder.customer_account.as_deref() == Some(ca));
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(finish_page(items, page))
}

pub(crate) async fn ownership_created(pools: &Pools, ownership: &str) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = pools.opt(Q::new("SELECT created FROM ownerships WHERE id = $1").bind(ownership)).await?;
    Ok(row.map(|(c,)| c))
}

pub(crate) async fn ownership_belongs_to(pools: &Pools, account: &str, ownership: &str) -> Result<bool, StoreError> {
    let n: Option<(i64,)> = pools
        .opt(
            Q::new("SELECT created FROM ownerships WHERE id = $1 AND fc_account_id = $2").bind(ownership).bind(account),
        )
        .await?;
    Ok(n.is_some())
}

pub(crate) async fn list_owners(
    pools: &Pools,
    scope: &Scope,
    ownership: &str,
    page: &PageRequest,
) -> Result<Page<OwnerRecord>, StoreError> {
    let seq = match &page.cursor {
        Some(finconn_core::store::Cursor::After(id) | finconn_core::store::Cursor::Before(id)) => {
            Some(cursor_seq(pools, "owners", scope, id).await?)
        }
        None => None,
    };
    // Owners keep the order the institution gave: oldest first, so cursors run the other way.
    let (cmp, order, bound) = match (&page.cursor, seq) {
        (Some(finconn_core::store::Cursor::Before(_)), Some(s)) => ("<", "DESC", s),
        (Some(finconn_core::store::Cursor::After(_)), Some(s)) => (">", "ASC", s),
        _ => (">", "ASC", i64::MIN),
    };
    let sql = format!(
        "SELECT data FROM owners WHERE ownership_id = $1 AND account_id = $2 AND livemode = $3 AND seq {cmp} $4 \
         ORDER BY seq {order} LIMIT $5"
    );
    let rows: Vec<(String,)> = pools
        .all(
            Q::new(sql.clone())
                .bind(ownership)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(bound)
                .bind(i64::from(page.limit) + 1),
        )
        .await?;
    let items = rows.into_iter().map(|(d,)| from_json(&d)).collect::<Result<Vec<OwnerRecord>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn list_transactions(
    pools: &Pools,
    scope: &Scope,
    account: &str,
    filter: &TransactionFilter,
    page: &PageRequest,
) -> Result<Page<TransactionRecord>, StoreError> {
    let after_seq = match &filter.after_refresh {
        Some(id) => {
            let seq: Option<(i64,)> = pools
                .opt(
                    Q::new("SELECT seq FROM transaction_refreshes WHERE id = $1 AND fc_account_id = $2")
                        .bind(id)
                        .bind(account),
                )
                .await?;
            seq.map(|(s,)| s).ok_or(StoreError::CursorNotFound)?
        }
        None => i64::MIN,
    };
    // Newest transacted_at first; the cursor is (transacted_at, seq).
    let cursor = match &page.cursor {
        Some(finconn_core::store::Cursor::After(id) | finconn_core::store::Cursor::Before(id)) => Some(id.as_str()),
        None => None,
    };
    let before = matches!(page.cursor, Some(finconn_core::store::Cursor::Before(_)));
    let (lo, hi) = filter.transacted_at;
    // One range bound per side: on the paging side the cursor's (transacted_at, seq) and the date filter's
    // edge folded together (`seq` is never i64::MIN/MAX), as a plain bound on `transacted_at` that both SQLite
    // and PostgreSQL seek to in `transactions_by_account`, then the exact (transacted_at, seq) comparison on
    // the rows at the edge. The cursor's row is read inside the statement (`b`: the bound, one row; none
    // when the cursor is not a transaction of this account): a page deep in costs one statement, as the
    // first does.
    let (sql, other_side, edge) = if before {
        let sql = "WITH c AS (SELECT transacted_at, seq FROM transactions WHERE id = $9 AND fc_account_id = $1), \
             b AS (SELECT CASE WHEN transacted_at >= $6 THEN transacted_at ELSE $6 END AS t, \
             CASE WHEN transacted_at >= $6 THEN seq ELSE $7 END AS s FROM c \
             UNION ALL SELECT $6, $7 WHERE $9 IS NULL) \
             SELECT data FROM transactions WHERE fc_account_id = $1 AND account_id = $2 AND livemode = $3 \
             AND transacted_at <= $4 AND refresh_seq > $5 AND transacted_at >= (SELECT t FROM b) \
             AND (transacted_at > (SELECT t FROM b) OR (transacted_at = (SELECT t FROM b) AND seq > (SELECT s FROM b))) \
             ORDER BY transacted_at ASC, seq ASC LIMIT $8";
        (sql, hi, (lo, i64::MIN))
    } else {
        let sql = "WITH c AS (SELECT transacted_at, seq FROM transactions WHERE id = $9 AND fc_account_id = $1), \
             b AS (SELECT CASE WHEN transacted_at <= $6 THEN transacted_at ELSE $6 END AS t, \
             CASE WHEN transacted_at <= $6 THEN seq ELSE $7 END AS s FROM c \
             UNION ALL SELECT $6, $7 WHERE $9 IS NULL) \
             SELECT data FROM transactions WHERE fc_account_id = $1 AND account_id = $2 AND livemode = $3 \
             AND transacted_at >= $4 AND refresh_seq > $5 AND transacted_at <= (SELECT t FROM b) \
             AND (transacted_at < (SELECT t FROM b) OR (transacted_at = (SELECT t FROM b) AND seq < (SELECT s FROM b))) \
             ORDER BY transacted_at DESC, seq DESC LIMIT $8";
        (sql, lo, (hi, i64::MAX))
    };
    let rows: Vec<(String,)> = pools
        .all(
            Q::new(sql)
                .bind(account)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(other_side)
                .bind(after_seq)
                .bind(edge.0)
                .bind(edge.1)
                .bind(i64::from(page.limit) + 1)
                .bind(cursor),
        )
        .await?;
    if rows.is_empty() {
        if let Some(id) = cursor {
            // No rows: the end of the list, or a cursor that is not one of this account's transactions.
            let found: Option<(i64,)> = pools
                .opt(Q::new("SELECT seq FROM transactions WHERE id = $1 AND fc_account_id = $2").bind(id).bind(account))
                .await?;
            found.ok_or(StoreError::CursorNotFound)?;
        }
    }
    // Through `memo`: a page read again (the same account polled, the same page fetched) skips the parsing.
    let items = rows.into_iter().map(|(d,)| crate::memo::decoded(&d)).collect::<Result<Vec<TransactionRecord>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn get_transaction(
    pools: &Pools,
    scope: &Scope,
    id: &str,
) -> Result<Option<TransactionRecord>, StoreError> {
    let row: Option<(String,)> = pools
        .opt(
            Q::new("SELECT data FROM transactions WHERE id = $1 AND account_id = $2 AND livemode = $3")
                .bind(id)
                .bind(&scope.account)
                .bind(scope.livemode),
        )
        .await?;
    row.map(|(d,)| crate::memo::decoded(&d)).transpose()
}

pub(crate) async fn transactions_by_provider_id(
    pools: &Pools,
    scope: &Scope,
    account: &str,
) -> Result<HashMap<String, TransactionRecord>, StoreError> {
    let rows: Vec<(String,)> = pools
        .all(
            Q::new("SELECT data FROM transactions WHERE fc_account_id = $1 AND account_id = $2 AND livemode = $3")
                .bind(account)
                .bind(&scope.account)
                .bind(scope.livemode),
        )
        .await?;
    rows.into_iter().map(|(d,)| from_json::<TransactionRecord>(&d).map(|t| (t.provider_id.clone(), t))).collect()
}

/// Rows per `INSERT` when a refresh writes its transactions (8 parameters each, well under both backends'
/// limits on bound parameters).
const TRANSACTIONS_PER_INSERT: usize = 200;

/// `id, account_id, livemode, kind, run_at (on its clock), attempts, test_clock`.
type JobRow = (i64, String, bool, String, i64, i64, Option<String>);

fn decode_job(
    id: i64,
    account: String,
    livemode: bool,
    kind: &str,
    run_at: i64,
    attempts: i64,
    test_clock: Option<String>,
) -> Result<Job, StoreError> {
    Ok(Job { id, scope: Scope { account, livemode }, kind: from_json::<JobKind>(kind)?, run_at, attempts, test_clock })
}

pub(crate) async fn claim_jobs(
    pools: &Pools,
    now: i64,
    lease_until: i64,
    limit: i64,
    only_account: Option<&str>,
    only_clock: Option<&str>,
) -> Result<Vec<Job>, StoreError> {
    // PostgreSQL: SKIP LOCKED lets concurrent claimers pass each other's rows instead of waiting, and the
    // row lock makes each job go to one claimer. SQLite has one writer, which serializes claims anyway.
    // A clock's job reports its time on the clock (`clock_run_at`), the time its follow-ups count from.
    let rows: Vec<JobRow> = match pools {
        Pools::Postgres { pool, .. } => sqlx::query_as(
            "UPDATE jobs SET locked_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $2 AND locked_until <= $2 \
               AND (CAST($4 AS TEXT) IS NULL OR account_id = $4) \
               AND (CAST($5 AS TEXT) IS NULL OR test_clock = $5) \
               ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, account_id, livemode, kind, COALESCE(clock_run_at, run_at), attempts, test_clock",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .bind(only_account)
        .bind(only_clock)
        .fetch_all(pool)
        .await
        .map_err(db_err)?,
        Pools::Sqlite { write, readers, .. } => {
            let _changed = readers.changes().on_drop();
            sqlx::query_as(
                "UPDATE jobs SET locked_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $2 AND locked_until <= $2 \
               AND (CAST($4 AS TEXT) IS NULL OR account_id = $4) \
               AND (CAST($5 AS TEXT) IS NULL OR test_clock = $5) \
               ORDER BY run_at, id LIMIT $3) \
             RETURNING id, account_id, livemode, kind, COALESCE(clock_run_at, run_at), attempts, test_clock",
            )
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .bind(only_account)
            .bind(only_clock)
            .fetch_all(write)
            .await
            .map_err(db_err)?
        }
    };
    rows.into_iter().map(|(id, a, l, k, r, at, c)| decode_job(id, a, l, &k, r, at, c)).collect()
}

/// An outcome serialized before the transaction starts, so nothing inside it can fail to encode.
pub(crate) struct Prepared<'a> {
    out: &'a RefreshOutcome,
    account: Option<(&'a LinkedAccountRecord, String)>,
    owners: Vec<(&'a OwnerRecord, String)>,
    txns: Vec<(&'a TransactionRecord, String)>,
    effects: crate::effects::EffectRows,
    refresh_id: Option<String>,
}

pub(crate) fn prepare(out: &RefreshOutcome) -> Result<Prepared<'_>, StoreError> {
    let account = out.account.as_ref().map(|a| Ok::<_, StoreError>((a, to_json(a)?))).transpose()?;
    let owners = out.owners.iter().map(|o| Ok((o, to_json(o)?))).collect::<Result<Vec<_>, StoreError>>()?;
    // One row per provider transaction (a multi-row upsert may not touch a row twice): the last one wins.
    let last: HashMap<(&str, &str), usize> =
        out.transactions.iter().enumerate().map(|(i, t)| ((t.account.as_str(), t.provider_id.as_str()), i)).collect();
    let txns = out
        .transactions
        .iter()
        .enumerate()
        .filter(|(i, t)| last[&(t.account.as_str(), t.provider_id.as_str())] == *i)
        .map(|(_, t)| Ok((t, to_json(t)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let effects = crate::effects::rows(&out.jobs, &out.events)?;
    // Only the job that finished a transaction refresh records it (another job may carry a copy of it).
    let refresh_id = out.account.as_ref().filter(|_| out.touched.transactions).and_then(|a| {
        a.transaction_refresh
            .as_ref()
            .filter(|t| t.status == finconn_core::model::RefreshStatus::Succeeded)
            .map(|t| t.id.clone())
    });
    Ok(Prepared { out, account, owners, txns, effects, refresh_id })
}

/// Writes a prepared outcome (account, ownership, owners, transactions, jobs, events) for `$scope` inside
/// the open transaction `$tx`.
macro_rules! write_outcome {
    ($tx:expr, $scope:expr, $prep:expr) => {{
        let prep = &$prep;
        let out = prep.out;
        let (account, owners, txns, refresh_id) = (&prep.account, &prep.owners, &prep.txns, &prep.refresh_id);
        let (tx, scope) = (&mut $tx, $scope);
        if let Some((ownership, created)) = &out.ownership {
            let fc = out.account.as_ref().map(|a| a.id.clone()).unwrap_or_default();
            sqlx::query(
                "INSERT INTO ownerships (id, fc_account_id, account_id, livemode, created) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ownership)
            .bind(&fc)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(created)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        for (o, data) in owners.iter() {
            sqlx::query(
                "INSERT INTO owners (id, ownership_id, account_id, livemode, data) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&o.id)
            .bind(&o.ownership)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(data)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        let mut refresh_seq = 0i64;
        if let (Some(id), Some((a, _))) = (&refresh_id, &account) {
            refresh_seq = sqlx::query_scalar(
                "INSERT INTO transaction_refreshes (id, fc_account_id) VALUES ($1, $2) RETURNING seq",
            )
            .bind(id)
            .bind(&a.id)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        // Many rows per statement: a refresh brings hundreds of transactions.
        for chunk in txns.chunks(TRANSACTIONS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO transactions (id, account_id, livemode, fc_account_id, provider_id, transacted_at, refresh_seq, data) ",
            );
            q.push_values(chunk, |mut row, (t, data)| {
                row.push_bind(&t.id)
                    .push_bind(&scope.account)
                    .push_bind(scope.livemode)
                    .push_bind(&t.account)
                    .push_bind(&t.provider_id)
                    .push_bind(t.transacted_at)
                    .push_bind(refresh_seq)
                    .push_bind(data);
            });
            q.push(
                " ON CONFLICT (fc_account_id, provider_id) DO UPDATE SET refresh_seq = EXCLUDED.refresh_seq, data = EXCLUDED.data",
            );
            q.build().execute(&mut **tx).await.map_err(db_err)?;
        }
        // The account last, so its row lock (which the account's other refreshes wait for) is held only
        // for the end of the transaction, not while the transactions above are written.
        if let Some((a, data)) = &account {
            // The job owns the refresh fields it touched; anything else (a disconnect, another refresh of
            // the same account finishing first) may have changed the row meanwhile: write this job's fields
            // onto the latest version. The no-op update takes the row lock first (PostgreSQL), so the read
            // below sees the latest committed version and no concurrent finisher can slip in between.
            sqlx::query("UPDATE fc_accounts SET version = version WHERE id = $1")
                .bind(&a.id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            let current: Option<(i64, String)> = sqlx::query_as("SELECT version, data FROM fc_accounts WHERE id = $1")
                .bind(&a.id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
            let merged = match current {
                Some((version, cur)) if version != a.version => {
                    let mut latest: LinkedAccountRecord = from_json(&cur)?;
                    out.touched.merge(&mut latest, a);
                    to_json(&latest)?
                }
                _ => data.clone(),
            };
            sqlx::query("UPDATE fc_accounts SET data = $1, version = version + 1 WHERE id = $2")
                .bind(&merged)
                .bind(&a.id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        write_effects!(*tx, scope, prep.effects);
    }};
}

pub(crate) async fn finish_job(pools: &Pools, scope: &Scope, job: i64, out: &RefreshOutcome) -> Result<(), StoreError> {
    let prep = prepare(out)?;
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE jobs SET done_at = locked_until WHERE id = $1 AND done_at IS NULL")
            .bind(job)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if done != 1 {
            // Another process finished it (our lease lapsed): its result stands.
            return Ok(());
        }
        write_outcome!(tx, scope, prep);
        tx.commit().await.map_err(db_err)?;
        Ok(())
    })
}

pub(crate) async fn job_counts(pools: &Pools) -> Result<(i64, i64), StoreError> {
    let row: (i64, i64) = pools
        .one(Q::new("SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 1 THEN 1 ELSE 0 END), 0) FROM jobs"))
        .await?;
    Ok(row)
}

pub(crate) async fn due_jobs(pools: &Pools, now: i64) -> Result<(i64, Option<i64>), StoreError> {
    let row: (i64, Option<i64>) = pools
        .one(Q::new("SELECT COUNT(*), MIN(run_at) FROM jobs WHERE done_at IS NULL AND run_at <= $1").bind(now))
        .await?;
    Ok(row)
}

pub(crate) async fn prune_jobs(pools: &Pools, before: i64) -> Result<u64, StoreError> {
    on_pool!(pools, write, |p| sqlx::query("DELETE FROM jobs WHERE done_at IS NOT NULL AND done_at < $1")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
}

pub(crate) fn connection_status(s: ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Pending => "pending",
        ConnectionStatus::Active => "active",
        ConnectionStatus::Revoked => "revoked",
        ConnectionStatus::Disconnected => "disconnected",
    }
}

pub(crate) async fn get_connection(
    pools: &Pools,
    scope: &Scope,
    id: &str,
) -> Result<Option<ConnectionRecord>, StoreError> {
    let row: Option<(i64, String)> = pools
        .opt(
            Q::new("SELECT version, data FROM connections WHERE id = $1 AND account_id = $2 AND livemode = $3")
                .bind(id)
                .bind(&scope.account)
                .bind(scope.livemode),
        )
        .await?;
    row.map(|(v, d)| crate::objects::decode(&d, scope.clone(), v)).transpose()
}

pub(crate) async fn finish_sync(
    pools: &Pools,
    scope: &Scope,
    job: i64,
    connection: Option<&ConnectionRecord>,
    outcomes: &[RefreshOutcome],
    jobs: &[NewJob],
) -> Result<(), StoreError> {
    let preps = outcomes.iter().map(prepare).collect::<Result<Vec<_>, _>>()?;
    let follow_ups = crate::effects::rows(jobs, &[])?;
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE jobs SET done_at = locked_until WHERE id = $1 AND done_at IS NULL")
            .bind(job)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if done != 1 {
            return Ok(());
        }
        for prep in &preps {
            write_outcome!(tx, scope, prep);
        }
        if let Some(ours) = connection {
            let current: Option<(i64, String)> =
                sqlx::query_as("SELECT version, data FROM connections WHERE id = $1 AND account_id = $2")
                    .bind(&ours.id)
                    .bind(&scope.account)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if let Some((version, data)) = current {
                let mut latest: ConnectionRecord = crate::objects::decode(&data, scope.clone(), version)?;
                ConnectionRecord::merge_sync(&mut latest, ours);
                sqlx::query("UPDATE connections SET data = $1, status = $2, version = version + 1 WHERE id = $3")
                    .bind(to_json(&latest)?)
                    .bind(connection_status(latest.status))
                    .bind(&ours.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        write_effects!(tx, scope, follow_ups);
        tx.commit().await.map_err(db_err)?;
        Ok(())
    })
}

pub(crate) async fn delete_pending_connections(pools: &Pools, before: i64) -> Result<u64, StoreError> {
    on_pool!(pools, write, |p| sqlx::query("DELETE FROM connections WHERE status = $1 AND created < $2")
        .bind("pending")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
}

pub(crate) async fn connections_with_credentials(pools: &Pools) -> Result<Vec<(Scope, String)>, StoreError> {
    let rows: Vec<(String, bool, String)> = pools
        .all(
            Q::new("SELECT account_id, livemode, id FROM connections WHERE status IN ($1, $2) ORDER BY seq")
                .bind("pending")
                .bind("active"),
        )
        .await?;
    Ok(rows.into_iter().map(|(account, livemode, id)| (Scope { account, livemode }, id)).collect())
}
