//! PostgreSQL on the hot path: the reads of requests and every plan (units of work, `Store::write`) run on
//! tokio-postgres connections of a deadpool pool, not on sqlx.
//!
//! Measured on the create benchmark (perf, the whole machine): PostgreSQL and finconn's workers each spent
//! about half of the CPU, most of it in the kernel moving small messages, i.e. on round trips. sqlx pings
//! every connection it takes back into its pool (one round trip per checkout, unconditional in 0.8) and sends
//! a plan's `BEGIN`, statements and `COMMIT` one round trip each. Here a connection goes back to the pool
//! without a query (`RecyclingMethod::Fast`: a closed connection is dropped, an open one is kept), statements
//! are prepared once per connection (typed as sqlx would bind them), a short plan of independent writes is
//! one statement, its own transaction (`one_statement`: a session create with a key, say), and any other
//! plan is pipelined: `BEGIN`, every statement and `COMMIT` are sent at once and their results read in
//! order, one round trip whatever the plan's length.
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
    /// Plans that are one statement and may share it with others (`OneStatement::batchable`), committed in
    /// batches (`commit_batches`).
    writes: tokio::sync::mpsc::Sender<Batched>,
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
        let (writes, rx) = tokio::sync::mpsc::channel(4 * WRITE_BATCH);
        tokio::spawn(commit_batches(pool.clone(), rx, size - lookups_size));
        Ok(Self { pool, lookup_pool, lookups, writes })
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
    /// A plan that is one statement (`one_statement`) runs as that statement, committed in a batch with other
    /// plans' when it may be (`commit_batches`); any other runs pipelined (`pipelined`).
    pub(crate) async fn apply(&self, plan: &Plan) -> Result<Ran, StoreError> {
        let mut one = one_statement(plan);
        if let Some(o) = one.take_if(|o| o.batchable) {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.writes.send(Batched { one: o, reply }).await.map_err(|_| StoreError::Closed)?;
            match answer.await.map_err(|_| StoreError::Closed)?? {
                Committed::Yes => return Ok(Ran::Done),
                Committed::CheckFailed => return self.failed_check(plan).await,
                Committed::Again(o) => one = Some(o),
            }
        }
        if let Some(one) = one {
            let conn = self.pool.get().await.map_err(pool_err)?;
            let stmt = self.statement(&conn, &one.sql, &one.args).await?;
            let args: Vec<&(dyn ToSql + Sync)> = one.args.iter().map(arg_value).collect();
            match conn.execute(&stmt, &args).await {
                Ok(_) => return Ok(Ran::Done),
                // A check failed, and the statement (the plan's whole transaction) rolled back.
                Err(e) if e.code() == Some(&SqlState::DIVISION_BY_ZERO) => return self.failed_check(plan).await,
                Err(e) => return Err(pg_err(e)),
            }
        }
        self.pipelined(plan).await
    }

    /// The check that failed when `plan`'s one statement failed its checks and rolled back: its only checked
    /// statement's (a create's idempotency key, used before), or, with several, the first that fails when the
    /// plan runs again pipelined, statement by statement. Rare either way (a key used before, a record changed
    /// meanwhile).
    async fn failed_check(&self, plan: &Plan) -> Result<Ran, StoreError> {
        let mut checked = plan.0.iter().filter(|s| s.check != Check::Any);
        match (checked.next(), checked.next()) {
            (Some(only), None) => Ok(Ran::Failed(only.check)),
            _ => self.pipelined(plan).await,
        }
    }

    /// Runs `plan` in one round trip once its statements are prepared: `BEGIN`, every statement and `COMMIT`
    /// are sent at once. A checked statement runs wrapped (`checked_sql`) so that a wrong row count is an
    /// error, which aborts the transaction: the `COMMIT` behind it then rolls back, and the first error in
    /// plan order says which check failed.
    async fn pipelined(&self, plan: &Plan) -> Result<Ran, StoreError> {
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

/// Most statements a plan may have to run as one (`one_statement`): each shape of plan is a statement prepared on
/// every connection, so long plans (a session completed with many accounts) keep the pipeline.
const ONE_STATEMENT_MAX: usize = 4;

/// A plan as one statement (`one_statement`).
#[derive(Debug)]
pub(crate) struct OneStatement {
    /// The statement: the plan's shape (equal for plans that differ only in their arguments).
    pub sql: String,
    pub args: Vec<Arg>,
    /// Each of the plan's statements as a data-modifying query (`… RETURNING 1`, parameters numbered from the
    /// plan's first), and whether it is checked.
    queries: Vec<(String, bool)>,
    /// Whether the plan may share a statement with other plans (`commit_batches`): every write of it is a
    /// plain `INSERT` or checked. Two plans of one batch cannot see each other's changes, and the same plans
    /// run one after the other would differ only where one wrote a row the other writes too; there a plain
    /// `INSERT` fails on the duplicate key, an `INSERT … ON CONFLICT DO UPDATE` fails on a row it would change
    /// a second time ("cannot affect row a second time"), and an `UPDATE` or `DELETE` skips a row this
    /// statement already changed, which fails its check. Any failure rolls the whole batch back and each plan
    /// runs again alone. An unchecked `UPDATE`, `DELETE` or upsert could skip a row silently: such a plan
    /// runs alone.
    pub batchable: bool,
}

/// A plan as one statement, when that is the same as running its statements in order: each becomes a
/// data-modifying `WITH` query, and the statement fails with `division_by_zero` unless every checked one
/// changed exactly one row. One statement is its own transaction, so the plan needs no `BEGIN` and no
/// `COMMIT`: measured on a session create with a key, PostgreSQL answers one statement instead of four,
/// and sends one reply.
///
/// The queries of one statement share a snapshot and cannot see each other's changes, so a plan qualifies only
/// when none of its statements could: each is an `INSERT`, `UPDATE` or `DELETE` without a subquery
/// (no `SELECT`) and without `RETURNING`; an `UPDATE`, a `DELETE` or an `INSERT … ON CONFLICT` is the only
/// statement on its table (plain `INSERT`s only add rows, and a duplicate key fails as it would in order).
fn one_statement(plan: &Plan) -> Option<OneStatement> {
    if plan.0.is_empty() || plan.0.len() > ONE_STATEMENT_MAX {
        return None;
    }
    let targets = plan.0.iter().map(|s| target(&s.q.sql)).collect::<Option<Vec<_>>>()?;
    for (i, (table, alone)) in targets.iter().enumerate() {
        let shared = targets
            .iter()
            .enumerate()
            .any(|(j, (other, other_alone))| i != j && table == other && (*alone || *other_alone));
        if shared {
            return None;
        }
    }
    let mut queries = Vec::with_capacity(plan.0.len());
    let mut args = Vec::new();
    for s in &plan.0 {
        let mut q = String::new();
        renumber(&s.q.sql, s.q.args.len(), args.len(), &mut q)?;
        q.push_str(" RETURNING 1");
        queries.push((q, s.check != Check::Any));
        args.extend(s.q.args.iter().cloned());
    }
    let batchable = plan.0.iter().zip(&targets).all(|(s, (_, alone))| !alone || s.check != Check::Any);
    let mut one = OneStatement { sql: String::new(), args, queries, batchable };
    one.sql = one.batch_sql(1)?;
    Some(one)
}

impl OneStatement {
    /// `copies` plans of this one's shape as one statement, the i-th plan's arguments following the
    /// (i-1)-th's; it fails unless every plan's checks hold. `None` if a parameter cannot be renumbered.
    fn batch_sql(&self, copies: usize) -> Option<String> {
        let mut sql = String::from("WITH ");
        let mut checks = Vec::new();
        let mut n = 0;
        for copy in 0..copies {
            for (q, checked) in &self.queries {
                if n > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("w{n} AS ("));
                renumber(q, self.args.len(), copy * self.args.len(), &mut sql)?;
                sql.push(')');
                if *checked {
                    checks.push(format!("(SELECT count(*) FROM w{n}) = 1"));
                }
                n += 1;
            }
        }
        if checks.is_empty() {
            sql.push_str(" SELECT 1");
        } else {
            sql.push_str(&format!(" SELECT 1 / CAST({} AS INT)", checks.join(" AND ")));
        }
        Some(sql)
    }
}

/// The table a plan's statement writes, and whether it must be the only statement on that table
/// (`one_statement`); `None` for a statement that cannot be one of several.
fn target(sql: &str) -> Option<(&str, bool)> {
    let upper = sql.to_ascii_uppercase();
    if upper.contains("SELECT") || upper.contains("RETURNING") {
        return None;
    }
    let sql = sql.trim_start();
    let (rest, alone) = if let Some(rest) = strip_word(sql, "INSERT INTO ") {
        (rest, upper.contains("ON CONFLICT"))
    } else if let Some(rest) = strip_word(sql, "UPDATE ") {
        if upper.contains(" FROM ") {
            return None;
        }
        (rest, true)
    } else if let Some(rest) = strip_word(sql, "DELETE FROM ") {
        if upper.contains(" USING ") {
            return None;
        }
        (rest, true)
    } else {
        return None;
    };
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (end > 0).then(|| (&rest[..end], alone))
}

/// `sql` after a leading `word` (any case), if it starts with it.
fn strip_word<'a>(sql: &'a str, word: &str) -> Option<&'a str> {
    let head = sql.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &sql[word.len()..])
}

/// Appends `sql` to `out` with each parameter `$n` written `$(n + offset)`; `None` if a parameter is past the
/// statement's `args` arguments (it would bind another statement's).
fn renumber(sql: &str, args: usize, offset: usize, out: &mut String) -> Option<()> {
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n: usize = tail[..digits].parse().ok()?;
            if n == 0 || n > args {
                return None;
            }
            out.push_str(&(n + offset).to_string());
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    Some(())
}

/// A plan waiting for its batch (`commit_batches`).
struct Batched {
    one: OneStatement,
    reply: tokio::sync::oneshot::Sender<Result<Committed, StoreError>>,
}

/// How a batched plan ended.
#[derive(Debug)]
enum Committed {
    /// Committed with its batch.
    Yes,
    /// Alone in its batch, and a check failed: rolled back.
    CheckFailed,
    /// Rolled back with a batch that failed: to run again alone.
    Again(OneStatement),
}

/// Plans committed in one statement at most.
const WRITE_BATCH: usize = 16;

/// Plans of one shape that arrive together are committed together: a task takes the waiting plans (up to
/// `WRITE_BATCH` of the oldest's shape, as many as the largest power of two, so that each shape is at most five
/// statements prepared per connection) and runs them as one statement (`OneStatement::batch_sql`): one
/// execution, one snapshot, one commit record and one WAL flush for all of them. Measured with pgbench on this
/// project's tables, eight session creates with their keys in one statement cost PostgreSQL a third of what
/// eight statements do. At most `in_flight` batches run at once; plans that arrive meanwhile wait for the next.
/// With nothing else waiting a plan runs at once, alone, so batching costs no latency when idle.
///
/// Every plan of a batch is answered only after the batch's commit. If the batch fails in PostgreSQL (a
/// check, a duplicate key) nothing of it was written, and each plan runs again alone
/// (`Committed::Again`), which gives each its own outcome; if the connection fails, every plan gets the error,
/// as a plan running alone would.
async fn commit_batches(pool: Pool, mut rx: tokio::sync::mpsc::Receiver<Batched>, in_flight: usize) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut waiting: Vec<Batched> = Vec::with_capacity(4 * WRITE_BATCH);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        if waiting.is_empty() && rx.recv_many(&mut waiting, WRITE_BATCH).await == 0 {
            return;
        }
        while waiting.len() < 4 * WRITE_BATCH {
            match rx.try_recv() {
                Ok(w) => waiting.push(w),
                Err(_) => break,
            }
        }
        let batch = take_batch(&mut waiting);
        let pool = pool.clone();
        tokio::spawn(async move {
            commit_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

/// The next batch out of `waiting` (not empty): the oldest plan and the next ones of its shape, as many in all
/// as the largest power of two up to `WRITE_BATCH`; the rest keep their order.
fn take_batch(waiting: &mut Vec<Batched>) -> Vec<Batched> {
    let Some(first) = waiting.first() else { return Vec::new() };
    let same = waiting.iter().filter(|w| w.one.sql == first.one.sql).count().min(WRITE_BATCH);
    let mut n = 1;
    while n * 2 <= same {
        n *= 2;
    }
    let shape = first.one.sql.clone();
    let mut batch = Vec::with_capacity(n);
    let mut rest = Vec::with_capacity(waiting.len());
    for w in waiting.drain(..) {
        if batch.len() < n && w.one.sql == shape {
            batch.push(w);
        } else {
            rest.push(w);
        }
    }
    *waiting = rest;
    batch
}

async fn commit_batch(pool: &Pool, batch: Vec<Batched>) {
    let result = async {
        let first = batch.first().ok_or(StoreError::Closed)?;
        let sql = first
            .one
            .batch_sql(batch.len())
            .ok_or_else(|| StoreError::Corrupt("a batch's parameters could not be numbered".into()))?;
        let types: Vec<Type> = batch.iter().flat_map(|w| w.one.args.iter().map(arg_type)).collect();
        let args: Vec<&(dyn ToSql + Sync)> = batch.iter().flat_map(|w| w.one.args.iter().map(arg_value)).collect();
        let conn = pool.get().await.map_err(pool_err)?;
        let stmt = conn.prepare_typed_cached(&sql, &types).await.map_err(pg_err)?;
        Ok::<_, StoreError>(conn.execute(&stmt, &args).await)
    }
    .await;
    let alone = batch.len() == 1;
    match result {
        Ok(Ok(_)) => {
            for w in batch {
                let _ = w.reply.send(Ok(Committed::Yes));
            }
        }
        // PostgreSQL refused the statement: nothing of it was written.
        Ok(Err(e)) if alone => {
            let answer =
                if e.code() == Some(&SqlState::DIVISION_BY_ZERO) { Ok(Committed::CheckFailed) } else { Err(pg_err(e)) };
            if let Some(w) = batch.into_iter().next() {
                let _ = w.reply.send(answer);
            }
        }
        Ok(Err(e)) if e.code().is_some() => {
            for w in batch {
                let _ = w.reply.send(Ok(Committed::Again(w.one)));
            }
        }
        Ok(Err(e)) => {
            let e = pg_err(e);
            for w in batch {
                let _ = w.reply.send(Err(fan_out(&e)));
            }
        }
        Err(e) => {
            for w in batch {
                let _ = w.reply.send(Err(fan_out(&e)));
            }
        }
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

/// Copies an error for each lookup or plan of a failed batch.
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

    fn stmt(sql: &'static str, args: usize, check: Check) -> crate::sql::Stmt {
        let mut q = Q::new(sql);
        q.args = (0..args).map(|i| Arg::Int(Some(i64::try_from(i).unwrap()))).collect();
        crate::sql::Stmt { q, check }
    }

    #[test]
    fn a_plan_of_independent_writes_is_one_statement_with_its_parameters_renumbered() {
        let plan = Plan(vec![
            stmt("INSERT INTO keys (a, b, c) VALUES ($1, $2, $2) ON CONFLICT (a) DO NOTHING", 2, Check::Key),
            stmt("INSERT INTO sessions (id, data) VALUES ($1, $2)", 2, Check::Any),
            stmt("UPDATE customers SET data = $1 WHERE id = $2 AND version = $3", 3, Check::One),
        ]);
        let one = one_statement(&plan).unwrap();
        assert_eq!(
            one.sql,
            "WITH w0 AS (INSERT INTO keys (a, b, c) VALUES ($1, $2, $2) ON CONFLICT (a) DO NOTHING RETURNING 1), \
             w1 AS (INSERT INTO sessions (id, data) VALUES ($3, $4) RETURNING 1), \
             w2 AS (UPDATE customers SET data = $5 WHERE id = $6 AND version = $7 RETURNING 1) \
             SELECT 1 / CAST((SELECT count(*) FROM w0) = 1 AND (SELECT count(*) FROM w2) = 1 AS INT)"
        );
        let args: Vec<Arg> = plan.0.iter().flat_map(|s| s.q.args.clone()).collect();
        assert_eq!(one.args, args);

        let unchecked = Plan(vec![stmt("DELETE FROM jobs WHERE id = $1", 1, Check::Any)]);
        assert_eq!(
            one_statement(&unchecked).unwrap().sql,
            "WITH w0 AS (DELETE FROM jobs WHERE id = $1 RETURNING 1) SELECT 1"
        );

        // Plain inserts may share a table: each only adds rows.
        let two_jobs = Plan(vec![
            stmt("INSERT INTO jobs (kind) VALUES ($1)", 1, Check::Any),
            stmt("INSERT INTO jobs (kind) VALUES ($1)", 1, Check::Any),
        ]);
        assert!(one_statement(&two_jobs).is_some());
    }

    #[test]
    fn a_plan_whose_statements_could_see_each_others_changes_keeps_the_pipeline() {
        let cases = [
            // A subquery could read a row an earlier statement wrote.
            vec![
                stmt("INSERT INTO test_clocks (id) VALUES ($1)", 1, Check::Any),
                stmt("INSERT INTO jobs (x) VALUES ((SELECT 1 FROM test_clocks WHERE id = $1))", 1, Check::Any),
            ],
            // Two writes of one table, one of which changes existing rows.
            vec![
                stmt("INSERT INTO customers (id) VALUES ($1)", 1, Check::Any),
                stmt("UPDATE customers SET v = 1 WHERE id = $1", 1, Check::One),
            ],
            vec![
                stmt("INSERT INTO keys (a) VALUES ($1) ON CONFLICT (a) DO NOTHING", 1, Check::Key),
                stmt("INSERT INTO keys (a) VALUES ($1)", 1, Check::Any),
            ],
            // RETURNING, a join, a statement of another kind.
            vec![stmt("INSERT INTO jobs (x) VALUES ($1) RETURNING id", 1, Check::Any)],
            vec![stmt("UPDATE jobs SET x = 1 FROM other WHERE other.id = $1", 1, Check::Any)],
            vec![stmt("SET LOCAL statement_timeout = 1", 0, Check::Any)],
            // A parameter past the statement's arguments would bind the next statement's.
            vec![
                stmt("INSERT INTO jobs (a, b) VALUES ($1, $2)", 1, Check::Any),
                stmt("INSERT INTO x (a) VALUES ($1)", 1, Check::Any),
            ],
            // Too long: each shape of plan is a statement prepared on every connection.
            (0..=ONE_STATEMENT_MAX).map(|_| stmt("INSERT INTO jobs (a) VALUES ($1)", 1, Check::Any)).collect(),
            vec![],
        ];
        for plan in cases {
            let shown = format!("{plan:?}");
            assert!(one_statement(&Plan(plan)).is_none(), "{shown}");
        }
    }

    #[test]
    fn plans_that_fail_rather_than_differ_when_batched_may_share_a_statement() {
        let create = Plan(vec![
            stmt("INSERT INTO keys (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = excluded.b", 2, Check::Key),
            stmt("INSERT INTO sessions (id) VALUES ($1)", 1, Check::Any),
        ]);
        let one = one_statement(&create).unwrap();
        assert!(one.batchable);
        assert_eq!(one.batch_sql(1).unwrap(), one.sql);
        assert_eq!(
            one.batch_sql(2).unwrap(),
            "WITH w0 AS (INSERT INTO keys (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = excluded.b \
             RETURNING 1), w1 AS (INSERT INTO sessions (id) VALUES ($3) RETURNING 1), \
             w2 AS (INSERT INTO keys (a, b) VALUES ($4, $5) ON CONFLICT (a) DO UPDATE SET b = excluded.b \
             RETURNING 1), w3 AS (INSERT INTO sessions (id) VALUES ($6) RETURNING 1) \
             SELECT 1 / CAST((SELECT count(*) FROM w0) = 1 AND (SELECT count(*) FROM w2) = 1 AS INT)"
        );
        let checked_update = Plan(vec![stmt("UPDATE customers SET v = $1 WHERE id = $2", 2, Check::One)]);
        assert!(one_statement(&checked_update).unwrap().batchable);
        // Unchecked, a second change of one row would be skipped without a sign: alone.
        for sql in [
            "UPDATE customers SET v = $1 WHERE id = $2",
            "DELETE FROM jobs WHERE id = $1 AND x = $2",
            "INSERT INTO keys (a, b) VALUES ($1, $2) ON CONFLICT (a) DO NOTHING",
        ] {
            let one = one_statement(&Plan(vec![stmt(sql, 2, Check::Any)])).unwrap();
            assert!(!one.batchable, "{sql}");
        }
    }

    fn waiting(shapes: &[&'static str]) -> Vec<Batched> {
        shapes
            .iter()
            .map(|sql| {
                let one = one_statement(&Plan(vec![stmt(sql, 1, Check::Any)])).unwrap();
                Batched { one, reply: tokio::sync::oneshot::channel().0 }
            })
            .collect()
    }

    #[test]
    fn a_batch_is_the_oldest_plans_shape_a_power_of_two_of_them() {
        let (a, b) = ("INSERT INTO a (x) VALUES ($1)", "INSERT INTO b (x) VALUES ($1)");
        let shapes = |w: &[Batched]| {
            w.iter().map(|w| if w.one.sql.contains("INSERT INTO a ") { 'a' } else { 'b' }).collect::<String>()
        };
        let mut w = waiting(&[a, b, a, a, b, a, a]);
        assert_eq!(shapes(&w), "abaabaa");
        let batch = take_batch(&mut w);
        assert_eq!((shapes(&batch), shapes(&w)), ("aaaa".to_owned(), "bba".to_owned()));
        let batch = take_batch(&mut w);
        assert_eq!((shapes(&batch), shapes(&w)), ("bb".to_owned(), "a".to_owned()));
        let batch = take_batch(&mut w);
        assert_eq!((shapes(&batch), w.len()), ("a".to_owned(), 0));
        let mut many = waiting(&[a; 40]);
        assert_eq!(take_batch(&mut many).len(), WRITE_BATCH);
        assert_eq!(many.len(), 40 - WRITE_BATCH);
    }

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

    /// A scratch table of the test database, dropped by the test.
    async fn scratch(pg: &Pg) -> String {
        let table = format!("batch_test_{}", rand::random::<u32>());
        let conn = pg.pool.get().await.unwrap();
        conn.batch_execute(&format!(
            "CREATE TABLE {table} (id TEXT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0, note TEXT)"
        ))
        .await
        .unwrap();
        table
    }

    async fn ids(pg: &Pg, table: &str) -> Vec<(String, i64)> {
        let conn = pg.pool.get().await.unwrap();
        let rows = conn.query(&format!("SELECT id, v FROM {table} ORDER BY id"), &[]).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    fn insert(table: &str, id: &str) -> Plan {
        let mut q = Q::new(format!("INSERT INTO {table} (id, note) VALUES ($1, $2)"));
        q.args = vec![Arg::Text(Some(id.to_owned())), Arg::Text(Some("n".to_owned()))];
        Plan(vec![crate::sql::Stmt { q, check: Check::Any }])
    }

    fn bump(table: &str, id: &str, version: i64) -> Plan {
        let mut q = Q::new(format!("UPDATE {table} SET v = v + 1 WHERE id = $1 AND v = $2"));
        q.args = vec![Arg::Text(Some(id.to_owned())), Arg::Int(Some(version))];
        Plan(vec![crate::sql::Stmt { q, check: Check::One }])
    }

    /// Runs `plans` as one batch; each plan's answer.
    async fn batch(pg: &Pg, plans: &[Plan]) -> Vec<Committed> {
        let mut answers = Vec::new();
        let mut batch = Vec::new();
        for p in plans {
            let (reply, answer) = tokio::sync::oneshot::channel();
            batch.push(Batched { one: one_statement(p).unwrap(), reply });
            answers.push(answer);
        }
        commit_batch(&pg.pool, batch).await;
        let mut out = Vec::new();
        for a in answers {
            out.push(a.await.unwrap().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_batch_commits_every_plan_or_none_and_each_then_runs_alone() {
        let pg = Pg::connect(&url().await, 4).await.unwrap();
        let t = scratch(&pg).await;
        let committed = batch(&pg, &[insert(&t, "a"), insert(&t, "b"), insert(&t, "c"), insert(&t, "d")]).await;
        assert!(committed.iter().all(|c| matches!(c, Committed::Yes)), "{committed:?}");
        assert_eq!(ids(&pg, &t).await.len(), 4);

        // A duplicate key, within the batch or with a stored row: nothing of the batch is written, and each plan
        // is given back to run alone.
        for plans in [vec![insert(&t, "e"), insert(&t, "e")], vec![insert(&t, "f"), insert(&t, "a")]] {
            let answers = batch(&pg, &plans).await;
            assert!(answers.iter().all(|c| matches!(c, Committed::Again(_))), "{answers:?}");
            assert_eq!(ids(&pg, &t).await.len(), 4, "nothing of a failed batch is written");
        }
        // Two claims of one key (an upsert that changes only an unfinished row): the second fails in one
        // statement as it would in order.
        let claim = |id: &str| {
            let mut q = Q::new(format!(
                "INSERT INTO {t} (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET v = {t}.v WHERE {t}.note IS NULL"
            ));
            q.args = vec![Arg::Text(Some(id.to_owned()))];
            Plan(vec![crate::sql::Stmt { q, check: Check::Key }])
        };
        let answers = batch(&pg, &[claim("k"), claim("k")]).await;
        assert!(answers.iter().all(|c| matches!(c, Committed::Again(_))), "{answers:?}");
        let answers = batch(&pg, &[claim("k"), claim("l")]).await;
        assert!(answers.iter().all(|c| matches!(c, Committed::Yes)), "{answers:?}");
        let answers = batch(&pg, &[claim("a")]).await;
        assert!(matches!(answers[..], [Committed::CheckFailed]), "a finished row is not claimed again: {answers:?}");
        // Two compare-and-swaps of one row: in order the second finds the row changed; in one statement it skips
        // it, which fails its check and the batch.
        let answers = batch(&pg, &[bump(&t, "a", 0), bump(&t, "a", 0)]).await;
        assert!(answers.iter().all(|c| matches!(c, Committed::Again(_))), "{answers:?}");
        let answers = batch(&pg, &[bump(&t, "a", 0), bump(&t, "b", 0)]).await;
        assert!(answers.iter().all(|c| matches!(c, Committed::Yes)), "{answers:?}");
        // Alone, a failed check is the plan's own.
        let answers = batch(&pg, &[bump(&t, "a", 0)]).await;
        assert!(matches!(answers[..], [Committed::CheckFailed]), "{answers:?}");

        // Through `apply`, under concurrency: every plan gets its own outcome, batched or not.
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (pg, t) = (pg.clone(), t.clone());
            // Plans 0 and 1 insert the same new row; plans 2 and 3 swap one row from the same version.
            tasks.push(tokio::spawn(async move {
                let plan = match i {
                    0 | 1 => insert(&t, "dup"),
                    2 | 3 => bump(&t, "c", 0),
                    i => insert(&t, &format!("x{i:02}")),
                };
                pg.apply(&plan).await
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let duplicate = results[..2].iter().filter(|r| r.is_err()).count();
        assert_eq!(duplicate, 1, "one of two inserts of one key fails: {:?}", &results[..2]);
        let swaps: Vec<_> = results[2..4].iter().map(|r| *r.as_ref().unwrap()).collect();
        assert!(swaps.contains(&Ran::Done) && swaps.contains(&Ran::Failed(Check::One)), "{swaps:?}");
        assert!(results[4..].iter().all(|r| matches!(r, Ok(Ran::Done))));
        let stored = ids(&pg, &t).await;
        assert_eq!(stored.len(), 4 + 2 + 1 + 60);
        assert!(stored.contains(&("c".to_owned(), 1)), "{stored:?}");
        assert!(stored.contains(&("a".to_owned(), 1)) && stored.contains(&("b".to_owned(), 1)));
        pg.pool.get().await.unwrap().batch_execute(&format!("DROP TABLE {t}")).await.unwrap();
        pg.close();
    }
}
