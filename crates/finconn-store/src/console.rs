//! The dashboard's own reads, the request log, and its sign-ins (`ConsoleAuth`: links and sessions).

use async_trait::async_trait;
use finconn_core::console::{
    DashboardLinkRecord, DashboardSessionRecord, RequestLogFilter, RequestLogRecord, SessionFilter, SessionState,
    TransactionSearch, Trimmed,
};
use finconn_core::model::{LinkedAccountRecord, Scope, SessionRecord, TransactionRecord};
use finconn_core::store::{CommitOutcome, ConsoleAuth, ConsoleLists, Cursor, Page, PageRequest};
use finconn_core::StoreError;

use crate::objects::{decode, finish_page, from_json, page_bounds};
use crate::pool::{BeginWrite, Exec, Pools, RequestLog};
use crate::sql::{Check, Plan, Q};
use crate::{db_err, Db};

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

const INSERT_COLUMNS: &str = "INSERT INTO request_log (account_id, livemode, request_id, created_ms, method, path, \
     status, duration_ms, idempotency_key, error_type, error_code, error_param) VALUES ";
const INSERT_ARGS: usize = 12;

/// Rows per `INSERT` statement: a batch goes in as few statements as these sizes allow (largest first), so
/// the per-statement cost (prepare-cache lookup, bind, reset, halt) is paid a few times per batch instead
/// of once per row, and at most this many distinct statements are cached.
const INSERT_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// The statement for each of `INSERT_CHUNKS`, built once.
static INSERT_SQL: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| INSERT_CHUNKS.map(insert_sql));

/// `INSERT … VALUES ($1, …, $12), ($13, …)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(INSERT_COLUMNS);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..INSERT_ARGS {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * INSERT_ARGS + c + 1));
        }
        sql.push(')');
    }
    sql
}

pub(crate) async fn insert_request_log(pools: &Pools, rows: &[RequestLogRecord]) -> Result<(), StoreError> {
    let mut plan = Plan::default();
    if pools.backend() == crate::pool::Backend::Postgres {
        // The log is best effort (rows are dropped rather than slow a request down), so its batches need not
        // wait for their WAL to reach the disk: PostgreSQL's WAL writer flushes them within a few hundred
        // milliseconds. A crash of PostgreSQL itself may lose that much of the log, never anything else: the
        // setting is local to this transaction.
        plan.push(Q::new("SELECT set_config('synchronous_commit', 'off', true)"));
    }
    let mut rest = rows;
    while !rest.is_empty() {
        let i = INSERT_CHUNKS.iter().position(|n| *n <= rest.len()).unwrap_or(INSERT_CHUNKS.len() - 1);
        let (chunk, tail) = rest.split_at(INSERT_CHUNKS[i].min(rest.len()));
        rest = tail;
        let mut q = Q::numbered_in_order(INSERT_SQL[i].as_str());
        for r in chunk {
            q = q
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
                .bind(&r.error_param);
        }
        plan.push(q);
    }
    pools.request_log().apply(plan).await.map(drop)
}

type Row = (i64, String, i64, String, String, i32, i64, Option<String>, Option<String>, Option<String>, Option<String>);

pub(crate) async fn list_request_log(
    pools: &Pools,
    scope: &Scope,
    filter: &RequestLogFilter,
    before: Option<i64>,
    limit: u32,
) -> Result<Page<RequestLogRecord>, StoreError> {
    let rows: Vec<Row> = pools
        .request_log()
        .all(
            Q::new(
                "SELECT seq, request_id, created_ms, method, path, status, duration_ms, idempotency_key, error_type, \
                 error_code, error_param FROM request_log WHERE account_id = $1 AND livemode = $2 AND seq < $3 \
                 AND (CAST($4 AS TEXT) IS NULL OR request_id = $4) AND status >= $5 ORDER BY seq DESC LIMIT $6",
            )
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(before.unwrap_or(i64::MAX))
            .bind(&filter.request_id)
            .bind(if filter.errors_only { 400 } else { 0 })
            .bind(i64::from(limit) + 1),
        )
        .await?;
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

/// Rows deleted per transaction when pruning: each chunk is one short unit of work (on SQLite, a unit in the
/// writer thread's batches), so a large prune never holds the write lock for long.
const PRUNE_CHUNK: i64 = 1000;

/// Removes, for each account and mode, every row beyond its newest `keep`, then its rows older than
/// `before_ms`, in chunks of [`PRUNE_CHUNK`] rows. Returns how many rows were removed.
///
/// Both walk `request_log_by_account` only: the log has no index on `created_ms` (one more index entry to
/// write, and later delete, for every request answered, GETs included). An account's rows are in the order
/// they were logged, which is their age order up to the few milliseconds by which processes' batches
/// interleave, so its rows are pruned by age when its oldest row is past `before_ms`; the walk then filters
/// on `created_ms`, and at most `keep` rows are left to walk.
pub(crate) async fn prune_request_log(pools: &Pools, before_ms: i64, keep: i64) -> Result<u64, StoreError> {
    let log = &pools.request_log();
    // The accounts by index seeks (one per account).
    let accounts: Vec<(String,)> = log
        .all(Q::new(
            "WITH RECURSIVE a(id) AS (SELECT min(account_id) FROM request_log UNION ALL \
             SELECT (SELECT min(account_id) FROM request_log WHERE account_id > a.id) FROM a WHERE a.id IS NOT NULL) \
             SELECT id FROM a WHERE id IS NOT NULL",
        ))
        .await?;
    let mut removed = 0;
    for (account,) in accounts {
        for livemode in [false, true] {
            removed += prune_beyond(log, &account, livemode, keep, i64::MIN).await?.removed;
            let oldest: Option<(i64,)> = log
                .opt(
                    Q::new(
                        "SELECT created_ms FROM request_log WHERE account_id = $1 AND livemode = $2 \
                         ORDER BY seq LIMIT 1",
                    )
                    .bind(&account)
                    .bind(livemode),
                )
                .await?;
            if oldest.is_none_or(|(created_ms,)| created_ms >= before_ms) {
                continue;
            }
            removed += in_chunks(
                log,
                i64::MIN,
                |above| {
                    Q::new(
                        "SELECT max(seq), count(*) FROM (SELECT seq FROM request_log WHERE account_id = $1 \
                         AND livemode = $2 AND seq > $3 AND created_ms < $4 ORDER BY seq LIMIT $5) chunk",
                    )
                    .bind(&account)
                    .bind(livemode)
                    .bind(above)
                    .bind(before_ms)
                    .bind(PRUNE_CHUNK)
                },
                |above, upto| {
                    Q::new(
                        "DELETE FROM request_log WHERE account_id = $1 AND livemode = $2 AND seq > $3 \
                         AND seq <= $4 AND created_ms < $5",
                    )
                    .bind(&account)
                    .bind(livemode)
                    .bind(above)
                    .bind(upto)
                    .bind(before_ms)
                },
            )
            .await?
            .removed;
        }
    }
    Ok(removed)
}

/// The rows of one account and mode beyond its newest `keep` (as rows arrive, between the minute's prunes).
pub(crate) async fn trim_request_log(
    pools: &Pools,
    scope: &Scope,
    keep: i64,
    above: i64,
) -> Result<Trimmed, StoreError> {
    prune_beyond(&pools.request_log(), &scope.account, scope.livemode, keep, above).await
}

/// The rows of one account and mode beyond its newest `keep`: the newest row to drop by walking `keep`
/// entries of `request_log_by_account` from the newest, then every row above `above` up to it.
async fn prune_beyond(
    log: &RequestLog<'_>,
    account: &str,
    livemode: bool,
    keep: i64,
    above: i64,
) -> Result<Trimmed, StoreError> {
    let newest_dropped: Option<(i64,)> = log
        .opt(
            Q::new(
                "SELECT seq FROM request_log WHERE account_id = $1 AND livemode = $2 \
                 ORDER BY seq DESC LIMIT 1 OFFSET $3",
            )
            .bind(account)
            .bind(livemode)
            .bind(keep),
        )
        .await?;
    let Some((threshold,)) = newest_dropped else { return Ok(Trimmed::default()) };
    in_chunks(
        log,
        above,
        |above| {
            Q::new(
                "SELECT max(seq), count(*) FROM (SELECT seq FROM request_log WHERE account_id = $1 \
                 AND livemode = $2 AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT $5) chunk",
            )
            .bind(account)
            .bind(livemode)
            .bind(above)
            .bind(threshold)
            .bind(PRUNE_CHUNK)
        },
        |above, upto| {
            Q::new("DELETE FROM request_log WHERE account_id = $1 AND livemode = $2 AND seq > $3 AND seq <= $4")
                .bind(account)
                .bind(livemode)
                .bind(above)
                .bind(upto)
        },
    )
    .await
}

/// Deletes in chunks until none is left, walking up from `above`: `chunk(above)` reads the next chunk's highest
/// `seq` and its size (at most [`PRUNE_CHUNK`]), `delete(above, upto)` removes the chunk's rows, each chunk in
/// a unit of its own, and the next chunk starts above it. Every walk is bounded below, so none steps over
/// the rows earlier chunks (or an earlier trim) deleted, which PostgreSQL keeps in its index until a vacuum.
async fn in_chunks(
    log: &RequestLog<'_>,
    mut above: i64,
    chunk: impl Fn(i64) -> Q,
    delete: impl Fn(i64, i64) -> Q,
) -> Result<Trimmed, StoreError> {
    let mut done = Trimmed::default();
    loop {
        let (upto, n): (Option<i64>, i64) = log.one(chunk(above)).await?;
        let Some(upto) = upto else { return Ok(done) };
        let mut plan = Plan::default();
        plan.push(delete(above, upto));
        log.apply(plan).await?;
        done.removed += n.unsigned_abs();
        done.through = Some(upto);
        above = upto;
        if n < PRUNE_CHUNK {
            return Ok(done);
        }
    }
}

// --- dashboard sign-ins ---------------------------------------------------------------------------------

const LINK_COLUMNS: &str = "hash, account_id, livemode, created, expires_at, used_at";
const SESSION_COLUMNS: &str = "hash, account_id, can_test, can_live, created, expires_at";

type LinkRow = (String, String, bool, i64, i64, Option<i64>);
type SessionRow = (String, String, bool, bool, i64, i64);

fn link_of((hash, account, livemode, created, expires_at, used_at): LinkRow) -> DashboardLinkRecord {
    DashboardLinkRecord { hash, account, livemode, created, expires_at, used_at }
}

fn session_of((hash, account, can_test, can_live, created, expires_at): SessionRow) -> DashboardSessionRecord {
    DashboardSessionRecord { hash, account, can_test, can_live, created, expires_at }
}

const INSERT_SESSION: &str =
    "INSERT INTO dashboard_sessions (hash, account_id, can_test, can_live, created, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Runs `plan` in a transaction of its own (SQLite: in the writer thread's next batch); `false` when a
/// checked statement did not change exactly one row (and nothing was written).
async fn apply(pools: &Pools, plan: Plan) -> Result<bool, StoreError> {
    Ok(matches!(pools.apply(plan).await?, CommitOutcome::Committed))
}

fn insert_session(s: &DashboardSessionRecord) -> Q {
    Q::new(INSERT_SESSION)
        .bind(&s.hash)
        .bind(&s.account)
        .bind(s.can_test)
        .bind(s.can_live)
        .bind(s.created)
        .bind(s.expires_at)
}

#[async_trait]
impl ConsoleAuth for Db {
    async fn insert_dashboard_link(&self, l: &DashboardLinkRecord) -> Result<(), StoreError> {
        let mut plan = Plan::default();
        plan.push(
            Q::new(
                "INSERT INTO dashboard_links (hash, account_id, livemode, created, expires_at, used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&l.hash)
            .bind(&l.account)
            .bind(l.livemode)
            .bind(l.created)
            .bind(l.expires_at)
            .bind(l.used_at),
        );
        apply(&self.pool, plan).await.map(drop)
    }

    async fn dashboard_link(&self, hash: &str) -> Result<Option<DashboardLinkRecord>, StoreError> {
        let q = Q::new(format!("SELECT {LINK_COLUMNS} FROM dashboard_links WHERE hash = $1")).bind(hash);
        Ok(self.pool.opt::<LinkRow>(q).await?.map(link_of))
    }

    async fn redeem_dashboard_link(
        &self,
        hash: &str,
        now: i64,
        session: &DashboardSessionRecord,
    ) -> Result<Option<DashboardSessionRecord>, StoreError> {
        // One UPDATE decides: it changes the row only while it is unused and unexpired, so of two uses (in
        // any processes) one changes it and the other changes nothing, which ends its plan unwritten. The
        // session opens in the same transaction, for the link's account and mode: a used link always has
        // its session.
        let mut plan = Plan::default();
        plan.push_checked(
            Q::new("UPDATE dashboard_links SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1")
                .bind(now)
                .bind(hash),
            Check::One,
        );
        plan.push_checked(
            Q::new(
                "INSERT INTO dashboard_sessions (hash, account_id, can_test, can_live, created, expires_at) \
                 SELECT $1, account_id, NOT livemode, livemode, $2, $3 FROM dashboard_links \
                 WHERE hash = $4 AND used_at = $2",
            )
            .bind(&session.hash)
            .bind(now)
            .bind(session.expires_at)
            .bind(hash),
            Check::One,
        );
        if !apply(&self.pool, plan).await? {
            return Ok(None);
        }
        self.dashboard_session(&session.hash, now).await
    }

    async fn insert_dashboard_session(&self, s: &DashboardSessionRecord) -> Result<(), StoreError> {
        let mut plan = Plan::default();
        plan.push(insert_session(s));
        apply(&self.pool, plan).await.map(drop)
    }

    async fn dashboard_session(&self, hash: &str, now: i64) -> Result<Option<DashboardSessionRecord>, StoreError> {
        let q = Q::new(format!("SELECT {SESSION_COLUMNS} FROM dashboard_sessions WHERE hash = $1 AND expires_at > $2"))
            .bind(hash)
            .bind(now);
        Ok(self.pool.opt::<SessionRow>(q).await?.map(session_of))
    }

    async fn delete_dashboard_session(&self, hash: &str) -> Result<bool, StoreError> {
        let mut plan = Plan::default();
        plan.push_checked(Q::new("DELETE FROM dashboard_sessions WHERE hash = $1").bind(hash), Check::One);
        apply(&self.pool, plan).await
    }

    // Revoking and pruning report how many rows went, which a plan does not: they run on the sqlx write
    // connection, as the request log's pruning does.
    async fn delete_dashboard_sessions(&self, account: &str) -> Result<(u64, u64), StoreError> {
        on_pool!(self.pool, write, |p| {
            let mut tx = p.begin_write().await.map_err(db_err)?;
            let sessions = sqlx::query("DELETE FROM dashboard_sessions WHERE account_id = $1")
                .bind(account)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            let links = sqlx::query("DELETE FROM dashboard_links WHERE account_id = $1 AND used_at IS NULL")
                .bind(account)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            tx.commit().await.map_err(db_err)?;
            Ok((sessions, links))
        })
    }

    async fn prune_dashboard_auth(&self, now: i64) -> Result<u64, StoreError> {
        on_pool!(self.pool, write, |p| {
            let mut tx = p.begin_write().await.map_err(db_err)?;
            let sessions = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            let links = sqlx::query("DELETE FROM dashboard_links WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            tx.commit().await.map_err(db_err)?;
            Ok(sessions + links)
        })
    }
}

// --- the dashboard's filtered lists -----------------------------------------------------------------------

/// A string field of the JSON record in `data` (`path` from the root), as SQL text on this backend.
fn json_text(pools: &Pools, path: &[&str]) -> String {
    match pools {
        Pools::Sqlite { .. } => format!("json_extract(data, '$.{}')", path.join(".")),
        Pools::Postgres { .. } => format!("(CAST(data AS jsonb) #>> '{{{}}}')", path.join(",")),
    }
}

/// A number field of the JSON record in `data`, as a SQL integer.
fn json_int(pools: &Pools, path: &[&str]) -> String {
    match pools {
        Pools::Sqlite { .. } => json_text(pools, path),
        Pools::Postgres { .. } => format!("CAST({} AS BIGINT)", json_text(pools, path)),
    }
}

/// `haystack` contains the (lowercase) parameter `$n`, ignoring case (SQLite's `lower` folds ASCII only).
fn contains_lower(pools: &Pools, haystack: &str, n: u8) -> String {
    match pools {
        Pools::Sqlite { .. } => format!("instr(lower({haystack}), ${n}) > 0"),
        Pools::Postgres { .. } => format!("strpos(lower({haystack}), ${n}) > 0"),
    }
}

#[async_trait]
impl ConsoleLists for Db {
    async fn list_sessions_where(
        &self,
        scope: &Scope,
        filter: &SessionFilter,
        now: i64,
        page: &PageRequest,
    ) -> Result<Page<SessionRecord>, StoreError> {
        let pools = &self.pool;
        let (cmp, order, bound) = page_bounds(pools, "sessions", scope, page).await?;
        // A record without `status` is open (the field's serde default).
        let status = format!("COALESCE({}, 'open')", json_text(pools, &["status"]));
        let expires = json_int(pools, &["expires_at"]);
        let customer = json_text(pools, &["holder", "customer"]);
        // The stored status, and whether the client secret must still be valid (1) or past (2).
        let (stored, expiry): (Option<&str>, i64) = match filter.state {
            None => (None, 0),
            Some(SessionState::Open) => (Some("open"), 1),
            Some(SessionState::Expired) => (Some("open"), 2),
            Some(SessionState::Completed) => (Some("completed"), 0),
            Some(SessionState::Cancelled) => (Some("cancelled"), 0),
        };
        let sql = format!(
            "SELECT version, data FROM sessions WHERE account_id = $1 AND livemode = $2 AND seq {cmp} $3 \
             AND (CAST($4 AS TEXT) IS NULL OR {customer} = $4) AND (CAST($5 AS TEXT) IS NULL OR {status} = $5) \
             AND ($6 = 0 OR ($6 = 1 AND {expires} > $7) OR ($6 = 2 AND {expires} <= $7)) \
             ORDER BY seq {order} LIMIT $8"
        );
        let q = Q::new(sql)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(bound)
            .bind(filter.customer.as_deref())
            .bind(stored)
            .bind(expiry)
            .bind(now)
            .bind(i64::from(page.limit) + 1);
        let rows: Vec<(i64, String)> = pools.all(q).await?;
        let items = rows
            .into_iter()
            .map(|(v, d)| decode::<SessionRecord>(&d, scope.clone(), v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(items, page))
    }

    async fn list_accounts_where(
        &self,
        scope: &Scope,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<LinkedAccountRecord>, StoreError> {
        let pools = &self.pool;
        let (cmp, order, bound) = page_bounds(pools, "fc_accounts", scope, page).await?;
        let field = json_text(pools, &["status"]);
        let sql = format!(
            "SELECT version, data FROM fc_accounts WHERE account_id = $1 AND livemode = $2 AND seq {cmp} $3 \
             AND (CAST($4 AS TEXT) IS NULL OR {field} = $4) ORDER BY seq {order} LIMIT $5"
        );
        let q = Q::new(sql)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(bound)
            .bind(status)
            .bind(i64::from(page.limit) + 1);
        let rows: Vec<(i64, String)> = pools.all(q).await?;
        let items = rows
            .into_iter()
            .map(|(v, d)| decode::<LinkedAccountRecord>(&d, scope.clone(), v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(items, page))
    }

    async fn list_transactions_where(
        &self,
        scope: &Scope,
        account: &str,
        filter: &TransactionSearch,
        page: &PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        let pools = &self.pool;
        // Newest transacted_at first, then seq, as the API's list; the cursor is (transacted_at, seq).
        let (before, id) = match &page.cursor {
            Some(Cursor::Before(id)) => (true, Some(id)),
            Some(Cursor::After(id)) => (false, Some(id)),
            None => (false, None),
        };
        let at = match id {
            Some(id) => {
                let row: Option<(i64, i64)> = pools
                    .opt(
                        Q::new("SELECT transacted_at, seq FROM transactions WHERE id = $1 AND fc_account_id = $2")
                            .bind(id.as_str())
                            .bind(account),
                    )
                    .await?;
                row.ok_or(StoreError::CursorNotFound)?
            }
            None => (i64::MAX, i64::MAX),
        };
        let (edge, order) = if before {
            ("transacted_at >= $4 AND (transacted_at > $4 OR (transacted_at = $4 AND seq > $5))", "ASC")
        } else {
            ("transacted_at <= $4 AND (transacted_at < $4 OR (transacted_at = $4 AND seq < $5))", "DESC")
        };
        let status = json_text(pools, &["status"]);
        let words = contains_lower(pools, &json_text(pools, &["description"]), 7);
        let sql = format!(
            "SELECT data FROM transactions WHERE fc_account_id = $1 AND account_id = $2 AND livemode = $3 \
             AND {edge} AND (CAST($6 AS TEXT) IS NULL OR {status} = $6) AND (CAST($7 AS TEXT) IS NULL OR {words}) \
             ORDER BY transacted_at {order}, seq {order} LIMIT $8"
        );
        let q = Q::new(sql)
            .bind(account)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(at.0)
            .bind(at.1)
            .bind(filter.status.as_deref())
            .bind(filter.search.as_deref())
            .bind(i64::from(page.limit) + 1);
        let rows: Vec<(String,)> = pools.all(q).await?;
        let items = rows.into_iter().map(|(d,)| from_json(&d)).collect::<Result<Vec<TransactionRecord>, _>>()?;
        Ok(finish_page(items, page))
    }
}
