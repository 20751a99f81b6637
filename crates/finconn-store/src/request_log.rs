//! The request log, stored in blocks: one row of `request_log_blocks` holds the rows of one account and mode
//! that one batch wrote (up to [`BLOCK_ROWS`]), as a JSON array in its `body`.
//!
//! Every answered `/v1` request is logged, GETs included. With a table row and an index entry per request,
//! writing the log, and trimming it, was a fifth of the instructions of a retrieve (callgrind): SQLite put
//! every row into two b-trees and later took it out of both. A block costs one insert per batch and account,
//! and one delete when it ages out; the rows inside it are serialized once, in Rust.
//!
//! A row's `seq` (its order and the dashboard's page cursor) is `block * BLOCK_ROWS + i`, `i` its place in
//! the batch, kept in the row: a block rewritten without some of its rows (a trim that cuts through it)
//! keeps the others' `seq`. The dashboard's filters (request id, errors only) are applied here while reading
//! blocks newest first, over at most `request_log_max_rows` rows of one account and mode.

use std::collections::HashMap;

use finconn_core::console::{RequestLogFilter, RequestLogRecord};
use finconn_core::model::Scope;
use finconn_core::store::{CommitOutcome, Page};
use finconn_core::StoreError;

use crate::pool::{Exec, Pools, RequestLog};
use crate::sql::{Check, Plan, Q};

/// The most rows in one block; a row's `seq` is `block * BLOCK_ROWS + i`.
pub(crate) const BLOCK_ROWS: i64 = 1024;

/// The request log file's schema on SQLite (PostgreSQL: migration 0015, the same table).
pub(crate) const SQLITE_SCHEMA: &str = "\
CREATE TABLE request_log_blocks (
    block INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    oldest_ms INTEGER NOT NULL,
    newest_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX request_log_blocks_by_account ON request_log_blocks (account_id, livemode, block);";

/// Rows of the old one-row-per-request layout (its column names), each as a block of its own (`block` = its
/// `seq`, so the order holds and new blocks are numbered after), in SQLite's SQL: the body's JSON array is in
/// [`Stored`]'s order. The caller appends the rows' source. A row already there is skipped.
pub(crate) const SQLITE_OLD_ROWS_AS_BLOCKS: &str = "INSERT OR IGNORE INTO request_log_blocks (block, account_id, \
     livemode, oldest_ms, newest_ms, n, body) SELECT seq, account_id, livemode, created_ms, created_ms, 1, \
     json_array(json_array(0, created_ms, request_id, method, path, status, duration_ms, idempotency_key, \
     error_type, error_code, error_param)) FROM ";

/// One row as a block's body holds it: `[i, created_ms, request_id, method, path, status, duration_ms,
/// idempotency_key, error_type, error_code, error_param]`.
type Stored =
    (i64, i64, String, String, String, u16, i64, Option<String>, Option<String>, Option<String>, Option<String>);

type StoredRef<'a> =
    (i64, i64, &'a str, &'a str, &'a str, u16, i64, Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn stored(i: i64, r: &RequestLogRecord) -> StoredRef<'_> {
    (
        i,
        r.created_ms,
        &r.request_id,
        &r.method,
        &r.path,
        r.status,
        r.duration_ms,
        r.idempotency_key.as_deref(),
        r.error_type.as_deref(),
        r.error_code.as_deref(),
        r.error_param.as_deref(),
    )
}

fn encode<T: serde::Serialize>(rows: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(format!("request log block: {e}")))
}

fn decode(block: i64, body: &str) -> Result<Vec<Stored>, StoreError> {
    let mut rows: Vec<Stored> =
        serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("request log block {block}: {e}")))?;
    rows.sort_by_key(|r| r.0);
    Ok(rows)
}

fn seq(block: i64, i: i64) -> i64 {
    block.saturating_mul(BLOCK_ROWS).saturating_add(i)
}

/// `(oldest_ms, newest_ms)` of rows (`created_ms` each).
fn span(created: impl Iterator<Item = i64>) -> (i64, i64) {
    created.fold((i64::MAX, i64::MIN), |(lo, hi), c| (lo.min(c), hi.max(c)))
}

/// Appends rows: one block per account and mode in the batch (more when one has over [`BLOCK_ROWS`]), in one
/// transaction.
pub(crate) async fn insert(pools: &Pools, rows: &[RequestLogRecord]) -> Result<(), StoreError> {
    let mut plan = Plan::default();
    if pools.backend() == crate::pool::Backend::Postgres {
        // The log is best effort (rows are dropped rather than slow a request down), so its batches need not
        // wait for their WAL to reach the disk: PostgreSQL's WAL writer flushes them within a few hundred
        // milliseconds. A crash of PostgreSQL itself may lose that much of the log, never anything else: the
        // setting is local to this transaction.
        plan.push(Q::new("SELECT set_config('synchronous_commit', 'off', true)"));
    }
    let mut groups: Vec<(&Scope, Vec<&RequestLogRecord>)> = Vec::new();
    let mut index: HashMap<&Scope, usize> = HashMap::new();
    for r in rows {
        let g = *index.entry(&r.scope).or_insert_with(|| {
            groups.push((&r.scope, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(r);
    }
    for (scope, rows) in groups {
        for chunk in rows.chunks(BLOCK_ROWS as usize) {
            let body = encode(&chunk.iter().zip(0..).map(|(r, i)| stored(i, r)).collect::<Vec<_>>())?;
            let (oldest, newest) = span(chunk.iter().map(|r| r.created_ms));
            plan.push(
                Q::new(
                    "INSERT INTO request_log_blocks (account_id, livemode, oldest_ms, newest_ms, n, body) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(oldest)
                .bind(newest)
                .bind(chunk.len() as i64)
                .bind(body),
            );
        }
    }
    pools.request_log().apply(plan).await.map(drop)
}

/// Blocks read per query while listing.
const LIST_BLOCKS: i64 = 16;

/// Rows newest first, older than `before` (a `seq`) when given, that pass `filter`.
pub(crate) async fn list(
    pools: &Pools,
    scope: &Scope,
    filter: &RequestLogFilter,
    before: Option<i64>,
    limit: u32,
) -> Result<Page<RequestLogRecord>, StoreError> {
    let log = pools.request_log();
    let want = limit as usize + 1;
    let mut items = Vec::new();
    let mut upto = before.map_or(i64::MAX, |s| s.div_euclid(BLOCK_ROWS));
    'blocks: loop {
        let blocks: Vec<(i64, String)> = log
            .all(
                Q::new(
                    "SELECT block, body FROM request_log_blocks WHERE account_id = $1 AND livemode = $2 \
                     AND block <= $3 ORDER BY block DESC LIMIT $4",
                )
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(upto)
                .bind(LIST_BLOCKS),
            )
            .await?;
        for (block, body) in &blocks {
            for row in decode(*block, body)?.into_iter().rev() {
                let seq = seq(*block, row.0);
                if before.is_some_and(|b| seq >= b)
                    || filter.request_id.as_ref().is_some_and(|id| *id != row.2)
                    || (filter.errors_only && row.5 < 400)
                {
                    continue;
                }
                items.push(record(seq, scope, row));
                if items.len() == want {
                    break 'blocks;
                }
            }
        }
        match blocks.last() {
            Some((last, _)) if blocks.len() as i64 == LIST_BLOCKS => upto = last - 1,
            _ => break,
        }
    }
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok(Page { items, has_more })
}

fn record(seq: i64, scope: &Scope, row: Stored) -> RequestLogRecord {
    let (_, created_ms, request_id, method, path, status, duration_ms, idempotency_key, error_type, code, param) = row;
    RequestLogRecord {
        seq,
        scope: scope.clone(),
        request_id,
        created_ms,
        method,
        path,
        status,
        duration_ms,
        idempotency_key,
        error_type,
        error_code: code,
        error_param: param,
    }
}

/// Removes, for each account and mode, every row beyond its newest `keep`, then its rows older than
/// `before_ms`. Returns how many rows were removed.
pub(crate) async fn prune(pools: &Pools, before_ms: i64, keep: i64) -> Result<u64, StoreError> {
    let log = &pools.request_log();
    // The accounts by index seeks (one per account).
    let accounts: Vec<(String,)> = log
        .all(Q::new(
            "WITH RECURSIVE a(id) AS (SELECT min(account_id) FROM request_log_blocks UNION ALL \
             SELECT (SELECT min(account_id) FROM request_log_blocks WHERE account_id > a.id) FROM a \
             WHERE a.id IS NOT NULL) SELECT id FROM a WHERE id IS NOT NULL",
        ))
        .await?;
    let mut removed = 0;
    for (account,) in accounts {
        for livemode in [false, true] {
            removed += beyond(log, &account, livemode, keep).await?;
            removed += older(log, &account, livemode, before_ms).await?;
        }
    }
    Ok(removed)
}

/// The rows of one account and mode beyond its newest `keep` (as rows arrive, between the minute's prunes).
pub(crate) async fn trim(pools: &Pools, scope: &Scope, keep: i64) -> Result<u64, StoreError> {
    beyond(&pools.request_log(), &scope.account, scope.livemode, keep).await
}

/// Rows removed by a plan that deletes or rewrites blocks: `n` if it committed, none if a check failed
/// (another process changed the block first; the next trim or prune looks again).
async fn applied(log: &RequestLog<'_>, plan: Plan, n: i64) -> Result<u64, StoreError> {
    Ok(match log.apply(plan).await? {
        CommitOutcome::Committed => n.unsigned_abs(),
        CommitOutcome::Conflict | CommitOutcome::KeyTaken => 0,
    })
}

/// Keeps the newest `keep` rows of one account and mode: the blocks wholly older go, and the block that the
/// limit cuts through is rewritten with its newest rows.
async fn beyond(log: &RequestLog<'_>, account: &str, livemode: bool, keep: i64) -> Result<u64, StoreError> {
    let keep = keep.max(0);
    // The newest block whose rows, with those of every newer block, are more than `keep`.
    let cut: Option<(i64, i64, i64)> = log
        .opt(
            Q::new(
                "SELECT block, n, total FROM (SELECT block, n, CAST(SUM(n) OVER (ORDER BY block DESC) AS BIGINT) \
                 AS total FROM request_log_blocks WHERE account_id = $1 AND livemode = $2) t WHERE total > $3 \
                 ORDER BY block DESC LIMIT 1",
            )
            .bind(account)
            .bind(livemode)
            .bind(keep),
        )
        .await?;
    let Some((block, n, total)) = cut else { return Ok(0) };
    let removed = delete_blocks(log, account, livemode, "block < $3", block).await?;
    // Of the cut block, the newest `n - drop` rows stay.
    let drop = total - keep;
    let Some((body,)) = read_block(log, block, n).await? else { return Ok(removed) };
    let mut rows = decode(block, &body)?;
    let cut_at = usize::try_from(drop).unwrap_or(usize::MAX).min(rows.len());
    let kept = rows.split_off(cut_at);
    Ok(removed + rewrite(log, block, n, &kept).await?)
}

/// The rows of one account and mode that arrived before `before_ms`: blocks wholly older go, and a block
/// that holds older and newer rows is rewritten with the newer.
async fn older(log: &RequestLog<'_>, account: &str, livemode: bool, before_ms: i64) -> Result<u64, StoreError> {
    let mut removed = delete_blocks(log, account, livemode, "newest_ms < $3", before_ms).await?;
    let straddling: Vec<(i64, i64, String)> = log
        .all(
            Q::new(
                "SELECT block, n, body FROM request_log_blocks WHERE account_id = $1 AND livemode = $2 \
                 AND oldest_ms < $3 AND newest_ms >= $3",
            )
            .bind(account)
            .bind(livemode)
            .bind(before_ms),
        )
        .await?;
    for (block, n, body) in straddling {
        let kept: Vec<Stored> = decode(block, &body)?.into_iter().filter(|r| r.1 >= before_ms).collect();
        removed += rewrite(log, block, n, &kept).await?;
    }
    Ok(removed)
}

/// Deletes the blocks of one account and mode where `condition` holds (`$3` is `bound`); returns the rows
/// they held.
async fn delete_blocks(
    log: &RequestLog<'_>,
    account: &str,
    livemode: bool,
    condition: &'static str,
    bound: i64,
) -> Result<u64, StoreError> {
    let (rows,): (i64,) = log
        .one(
            Q::new(format!(
                "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM request_log_blocks WHERE account_id = $1 \
                 AND livemode = $2 AND {condition}"
            ))
            .bind(account)
            .bind(livemode)
            .bind(bound),
        )
        .await?;
    if rows == 0 {
        return Ok(0);
    }
    let mut plan = Plan::default();
    plan.push(
        Q::new(format!("DELETE FROM request_log_blocks WHERE account_id = $1 AND livemode = $2 AND {condition}"))
            .bind(account)
            .bind(livemode)
            .bind(bound),
    );
    applied(log, plan, rows).await
}

/// The body of a block, if it still holds `n` rows.
async fn read_block(log: &RequestLog<'_>, block: i64, n: i64) -> Result<Option<(String,)>, StoreError> {
    log.opt(Q::new("SELECT body FROM request_log_blocks WHERE block = $1 AND n = $2").bind(block).bind(n)).await
}

/// Replaces a block's rows with `kept` (a subset, `seq`s unchanged), or deletes it when none is kept, if it
/// still holds the `n` rows it was read with. Returns the rows removed.
async fn rewrite(log: &RequestLog<'_>, block: i64, n: i64, kept: &[Stored]) -> Result<u64, StoreError> {
    let removed = n - kept.len() as i64;
    if removed <= 0 {
        return Ok(0);
    }
    let mut plan = Plan::default();
    if kept.is_empty() {
        plan.push_checked(
            Q::new("DELETE FROM request_log_blocks WHERE block = $1 AND n = $2").bind(block).bind(n),
            Check::One,
        );
    } else {
        let (oldest, newest) = span(kept.iter().map(|r| r.1));
        plan.push_checked(
            Q::new(
                "UPDATE request_log_blocks SET n = $1, oldest_ms = $2, newest_ms = $3, body = $4 \
                 WHERE block = $5 AND n = $6",
            )
            .bind(kept.len() as i64)
            .bind(oldest)
            .bind(newest)
            .bind(encode(kept)?)
            .bind(block)
            .bind(n),
            Check::One,
        );
    }
    applied(log, plan, removed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_round_trips_and_sorts_by_place() {
        let r = RequestLogRecord {
            seq: 0,
            scope: Scope { account: "acct_1".into(), livemode: false },
            request_id: "req_1".into(),
            created_ms: 5,
            method: "POST".into(),
            path: "/v1/customers".into(),
            status: 402,
            duration_ms: 3,
            idempotency_key: Some("k\"ey".into()),
            error_type: Some("card_error".into()),
            error_code: None,
            error_param: Some("amount".into()),
        };
        let body = encode(&[stored(7, &r), stored(2, &r)]).unwrap();
        let rows = decode(3, &body).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 7]);
        let back = record(seq(3, rows[1].0), &r.scope, rows[1].clone());
        assert_eq!(back, RequestLogRecord { seq: 3 * BLOCK_ROWS + 7, ..r });
        assert!(decode(3, "[[1, 2]]").is_err(), "a short row is corrupt, not a panic");
    }
}
