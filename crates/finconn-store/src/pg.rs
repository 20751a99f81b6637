//! PostgreSQL on the hot path: the reads of requests and every plan (units of work, `Store::write`) run on
//! tokio-postgres connections of a deadpool pool, not on sqlx.
//!
//! Measured on the create benchmark (perf, the whole machine): PostgreSQL and finconn's workers each spent
//! about half of the CPU, most of it in the kernel moving small messages, i.e. on round trips. sqlx pings
//! every connection it takes back into its pool (one round trip per checkout, unconditional in 0.8) and sends
//! a plan's `BEGIN`, statements and `COMMIT` one round trip each. Here a connection goes back to the pool
//! without a query (`RecyclingMethod::Fast`: a closed connection is dropped, an open one is kept), statements
//! are prepared once per connection (typed as sqlx would bind them) and a plan is pipelined: `BEGIN` and
//! every statement are sent at once, their results read in order, then `COMMIT` or `ROLLBACK`, two round
//! trips whatever the plan's length.
//!
//! sqlx keeps the rest (migrations, the job runner's claims and results, webhook fan-out and delivery,
//! housekeeping) on its own, smaller pool.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use finconn_core::StoreError;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use futures::future::maybe_done;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use crate::sql::{Arg, Check, Plan, Ran, Row, Q};

/// The lookup connections' setting: the lookup statement's plan is the same for any array (each id one probe
/// of the primary key, `lookup_rows`), but PostgreSQL's default plan cache mode re-plans it at every execution,
/// because a plan made for the array it is given always looks cheaper than the generic plan's guess of a
/// hundred elements: measured, a quarter of PostgreSQL's CPU under a session retrieve load, and forcing the
/// generic plan raised that load's throughput by 30%. Only the lookups' own connections have it: other
/// statements (`$n IS NULL OR …` filters) do need plans made for their parameters.
const LOOKUP_PLANS: &str = "-c plan_cache_mode=force_generic_plan";

/// The hot-path pools. Cloning shares them.
#[derive(Clone)]
pub(crate) struct Pg {
    pool: Pool,
    /// The lookups' connections (`LOOKUP_PLANS`); `pool` itself when there is room for only one connection.
    lookup_pool: Pool,
    /// Lookups by id, answered in batches (`answer_lookups`).
    lookups: tokio::sync::mpsc::Sender<Lookup>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, l) = (self.pool.status(), self.lookup_pool.status());
        f.debug_struct("Pg")
            .field("size", &s.size)
            .field("max_size", &s.max_size)
            .field("lookup_size", &l.size)
            .field("lookup_max_size", &l.max_size)
            .finish_non_exhaustive()
    }
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        e => StoreError::Database(Box::new(e)),
    }
}

/// The PostgreSQL type each argument binds as (what sqlx sends for the same Rust value).
fn arg_type(a: &Arg) -> Type {
    match a {
        Arg::Text(_) => Type::TEXT,
        Arg::Int(_) => Type::INT8,
        Arg::Bool(_) => Type::BOOL,
        Arg::Bytes(_) => Type::BYTEA,
    }
}

fn arg_value(a: &Arg) -> &(dyn ToSql + Sync) {
    match a {
        Arg::Text(v) => v,
        Arg::Int(v) => v,
        Arg::Bool(v) => v,
        Arg::Bytes(v) => v,
    }
}

/// A checked statement (an `INSERT`, `UPDATE` or `DELETE` without `RETURNING`) as one that fails with
/// `division_by_zero` unless it changed exactly one row. The division depends on the rows changed, so it is
/// evaluated when the statement runs, never folded when it is planned.
fn checked_sql(sql: &str) -> String {
    format!(
        "WITH finconn_checked AS ({sql} RETURNING 1) \
         SELECT 1 / CAST((SELECT count(*) FROM finconn_checked) = 1 AS INT)"
    )
}

/// The output of a pipelined request that is done (polled to completion, taken once).
fn answer<T>(output: Option<T>) -> Result<T, StoreError> {
    output.ok_or_else(|| StoreError::Corrupt("a pipelined statement's answer was taken twice".into()))
}

/// A connection inside a transaction: if the transaction's future is dropped before it ends (the client went
/// away), the connection is taken out of the pool and closed, never handed to the next request mid-transaction.
struct InTransaction(Option<Object>);

impl InTransaction {
    fn client(&self) -> Result<&Object, StoreError> {
        self.0.as_ref().ok_or(StoreError::Closed)
    }

    /// The transaction ended: the connection may go back to the pool.
    fn ended(mut self) {
        drop(self.0.take());
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

impl Pg {
    /// A pool of at most `size` connections to `url`, with one connection opened now so that a wrong URL or an
    /// unreachable server fails at start-up. A quarter of them (at least one, when `size` is two or more) are
    /// a pool of their own that answers lookups by id (`answer_lookups`), with generic plans (see
    /// `LOOKUP_PLANS`).
    pub(crate) async fn connect(url: &str, size: usize) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(pg_err)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("finconn");
        }
        let size = size.max(1);
        let lookups_size = size / 4;
        let lookups_size = if size >= 2 { lookups_size.max(1) } else { 0 };
        let pool = Self::pool(config.clone(), size - lookups_size)?;
        drop(pool.get().await.map_err(pool_err)?);
        let lookup_pool = if lookups_size == 0 {
            pool.clone()
        } else {
            let options = match config.get_options() {
                Some(o) if !o.trim().is_empty() => format!("{o} {LOOKUP_PLANS}"),
                _ => LOOKUP_PLANS.to_owned(),
            };
            config.options(&options);
            Self::pool(config, lookups_size)?
        };
        let (lookups, rx) = tokio::sync::mpsc::channel(4 * LOOKUP_BATCH);
        tokio::spawn(answer_lookups(lookup_pool.clone(), rx, lookups_size.max(1)));
        Ok(Self { pool, lookup_pool, lookups })
    }

    fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Database(Box::new(e)))
    }

    /// The row of `table` (one of ours, never user input) with this id in this account, batched with the
    /// other lookups waiting (`answer_lookups`).
    pub(crate) async fn lookup(
        &self,
        table: &'static str,
        id: &str,
        account: &str,
    ) -> Result<Option<Found>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let l = Lookup { table, id: id.to_owned(), account: account.to_owned(), reply };
        self.lookups.send(l).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn statement(&self, conn: &Object, sql: &str, args: &[Arg]) -> Result<tokio_postgres::Statement, StoreError> {
        let types: Vec<Type> = args.iter().map(arg_type).collect();
        conn.prepare_typed_cached(sql, &types).await.map_err(pg_err)
    }

    async fn rows(&self, q: &Q) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let conn = self.pool.get().await.map_err(pool_err)?;
        let stmt = self.statement(&conn, &q.sql, &q.args).await?;
        let args: Vec<&(dyn ToSql + Sync)> = q.args.iter().map(arg_value).collect();
        conn.query(&stmt, &args).await.map_err(pg_err)
    }

    pub(crate) async fn all<T: Row>(&self, q: &Q) -> Result<Vec<T>, StoreError> {
        self.rows(q).await?.iter().map(|r| T::pg(r).map_err(pg_err)).collect()
    }

    pub(crate) async fn opt<T: Row>(&self, q: &Q) -> Result<Option<T>, StoreError> {
        self.rows(q).await?.first().map(|r| T::pg(r).map_err(pg_err)).transpose()
    }

    /// Runs a plan in one transaction: committed when every check held, else rolled back.
    ///
    /// One round trip once the plan's statements are prepared: `BEGIN`, every statement and `COMMIT` are sent
    /// at once. A checked statement runs wrapped (`checked_sql`) so that a wrong row count is an error, which
    /// aborts the transaction: the `COMMIT` behind it then rolls back, and the first error in plan order says
    /// which check failed.
    pub(crate) async fn apply(&self, plan: &Plan) -> Result<Ran, StoreError> {
        let conn = self.pool.get().await.map_err(pool_err)?;
        // Prepared before the transaction (cached: no round trip after a connection's first use of a plan's
        // statements), so that the pipeline below only executes.
        let mut stmts = Vec::with_capacity(plan.0.len());
        for s in &plan.0 {
            let stmt = match s.check {
                Check::Any => self.statement(&conn, &s.q.sql, &s.q.args).await?,
                Check::One | Check::Key => self.statement(&conn, &checked_sql(&s.q.sql), &s.q.args).await?,
            };
            stmts.push(stmt);
        }
        let args: Vec<Vec<&(dyn ToSql + Sync)>> =
            plan.0.iter().map(|s| s.q.args.iter().map(arg_value).collect()).collect();
        let tx = InTransaction(Some(conn));
        // A tokio-postgres request is sent when its future is first polled. BEGIN, the statements and COMMIT are
        // polled in this order, so they leave together and run in this order; their answers come back in the
        // same order.
        let (begun, results, committed) = {
            let client = tx.client()?;
            let mut begin = pin!(maybe_done(client.batch_execute("BEGIN")));
            let mut execs: Vec<_> =
                stmts.iter().zip(&args).map(|(stmt, args)| Box::pin(maybe_done(client.execute(stmt, args)))).collect();
            let mut commit = pin!(maybe_done(client.batch_execute("COMMIT")));
            poll_fn(|cx| {
                let mut ready = begin.as_mut().poll(cx).is_ready();
                for e in &mut execs {
                    ready &= e.as_mut().poll(cx).is_ready();
                }
                ready &= commit.as_mut().poll(cx).is_ready();
                if ready {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            let begun = answer(begin.as_mut().take_output())?;
            let results = execs.iter_mut().map(|e| answer(e.as_mut().take_output())).collect::<Result<Vec<_>, _>>()?;
            (begun, results, answer(commit.as_mut().take_output())?)
        };
        // Every answer is in: the transaction is over (committed, or rolled back by the COMMIT of an aborted
        // one), so the connection is idle again; a broken one is dropped by the pool when it comes back.
        tx.ended();
        begun.map_err(pg_err)?;
        for (s, r) in plan.0.iter().zip(results) {
            match r {
                Ok(_) => {}
                // The first failed check: the transaction was aborted there and the COMMIT rolled it back.
                Err(e) if s.check != Check::Any && e.code() == Some(&SqlState::DIVISION_BY_ZERO) => {
                    committed.map_err(pg_err)?;
                    return Ok(Ran::Failed(s.check));
                }
                Err(e) => return Err(pg_err(e)),
            }
        }
        committed.map_err(pg_err)?;
        Ok(Ran::Done)
    }

    /// Connections open, and those of them idle.
    pub(crate) fn usage(&self) -> (u32, u32) {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let s = self.pool.status();
        if self.shares_pool() {
            return (n(s.size), n(s.available));
        }
        let l = self.lookup_pool.status();
        (n(s.size + l.size), n(s.available + l.available))
    }

    fn shares_pool(&self) -> bool {
        std::ptr::eq(self.lookup_pool.manager(), self.pool.manager())
    }

    pub(crate) fn close(&self) {
        self.pool.close();
        self.lookup_pool.close();
    }
}

/// One object wanted by id and account (`Pg::lookup`).
struct Lookup {
    table: &'static str,
    id: String,
    account: String,
    reply: tokio::sync::oneshot::Sender<Result<Option<Found>, StoreError>>,
}

/// A looked-up object: `(livemode, version, data)`.
pub(crate) type Found = (bool, i64, String);

/// Lookups taken in one batch at most.
const LOOKUP_BATCH: usize = 256;

/// Lookups by id are answered in batches: a task takes every lookup waiting (up to `LOOKUP_BATCH`), runs one
/// statement per table for all of them on a pooled connection, and answers each. At most `in_flight` batches
/// run at once; lookups that arrive meanwhile wait for the next. With nothing else waiting a lookup runs at
/// once, alone: batching costs no latency when idle and under load turns N statements into one (one bind,
/// one snapshot, one commit and one round trip for N index probes instead of N of each). Each lookup is
/// queued before its batch's statement starts, so it sees every commit acknowledged before it was made.
async fn answer_lookups(pool: Pool, mut rx: tokio::sync::mpsc::Receiver<Lookup>, in_flight: usize) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(LOOKUP_BATCH);
        if rx.recv_many(&mut batch, LOOKUP_BATCH).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            run_lookups(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Copies an error for each lookup of a failed batch.
fn fan_out(e: &StoreError) -> StoreError {
    match e {
        StoreError::Closed => StoreError::Closed,
        StoreError::CursorNotFound => StoreError::CursorNotFound,
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Database(e) => StoreError::Database(e.to_string().into()),
    }
}

async fn run_lookups(pool: &Pool, mut batch: Vec<Lookup>) {
    // Almost always one table; grouped in order of first appearance.
    while let Some(first) = batch.first() {
        let table = first.table;
        let (same, rest): (Vec<Lookup>, Vec<Lookup>) = batch.into_iter().partition(|l| l.table == table);
        batch = rest;
        match lookup_rows(pool, table, &same).await {
            Ok(mut found) => {
                for (i, l) in same.into_iter().enumerate() {
                    let _ = l.reply.send(Ok(found.get_mut(i).and_then(Option::take)));
                }
            }
            Err(e) => {
                for l in same {
                    let _ = l.reply.send(Err(fan_out(&e)));
                }
            }
        }
    }
}

/// One statement for every lookup of `table`: the found rows by the lookup's position.
async fn lookup_rows(pool: &Pool, table: &str, lookups: &[Lookup]) -> Result<Vec<Option<Found>>, StoreError> {
    // The subquery is kept apart (`OFFSET 0`) so that each id is one probe of the primary key, whatever
    // the planner guesses of the array's length against the table's size.
    let sql = format!(
        "SELECT w.i, t.livemode, t.version, t.data \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(id, account_id, i) \
         CROSS JOIN LATERAL (SELECT livemode, version, data FROM {table} \
         WHERE id = w.id AND account_id = w.account_id OFFSET 0) t"
    );
    let ids: Vec<&str> = lookups.iter().map(|l| l.id.as_str()).collect();
    let accounts: Vec<&str> = lookups.iter().map(|l| l.account.as_str()).collect();
    let conn = pool.get().await.map_err(pool_err)?;
    let stmt = conn.prepare_typed_cached(&sql, &[Type::TEXT_ARRAY, Type::TEXT_ARRAY]).await.map_err(pg_err)?;
    let rows = conn.query(&stmt, &[&ids, &accounts]).await.map_err(pg_err)?;
    let mut found: Vec<Option<Found>> = vec![None; lookups.len()];
    for row in rows {
        let (i, livemode, version, data): (i64, bool, i64, String) = Row::pg(&row).map_err(pg_err)?;
        let slot = usize::try_from(i - 1)
            .ok()
            .and_then(|i| found.get_mut(i))
            .ok_or_else(|| StoreError::Corrupt(format!("lookup row {i} of {} in {table}", lookups.len())))?;
        *slot = Some((livemode, version, data));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test database (`FINCONN_TEST_DATABASE_URL`, else `finconn_test` on the local server, as the
    /// conformance suite uses).
    async fn url() -> String {
        if let Ok(url) = std::env::var("FINCONN_TEST_DATABASE_URL") {
            return url;
        }
        let (client, conn) =
            tokio_postgres::connect("postgres://postgres@127.0.0.1:5432/postgres", tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL must run at 127.0.0.1:5432 (user postgres, trust auth) for these tests");
        tokio::spawn(conn);
        let _ = client.batch_execute("CREATE DATABASE finconn_test").await;
        "postgres://postgres@127.0.0.1:5432/finconn_test".to_owned()
    }

    async fn show(pool: &Pool, setting: &str) -> String {
        let conn = pool.get().await.unwrap();
        conn.query_one(&format!("SHOW {setting}"), &[]).await.unwrap().get(0)
    }

    #[tokio::test]
    async fn only_the_lookups_connections_force_generic_plans_and_the_urls_options_stay() {
        let base = url().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let with_options = format!("{base}{sep}options=-c%20statement_timeout%3D7s");
        let pg = Pg::connect(&with_options, 8).await.unwrap();
        assert!(!pg.shares_pool());
        assert_eq!(pg.lookup_pool.status().max_size, 2);
        assert_eq!(pg.pool.status().max_size, 6);
        assert_eq!(show(&pg.lookup_pool, "plan_cache_mode").await, "force_generic_plan");
        assert_eq!(show(&pg.pool, "plan_cache_mode").await, "auto");
        for pool in [&pg.lookup_pool, &pg.pool] {
            assert_eq!(show(pool, "statement_timeout").await, "7s", "the URL's own options");
        }
        pg.close();

        // One connection in all: the lookups share it, with the default mode.
        let one = Pg::connect(&base, 1).await.unwrap();
        assert!(one.shares_pool());
        assert_eq!(show(&one.lookup_pool, "plan_cache_mode").await, "auto");
        one.close();
    }
}
