//! Statements written once, run on either backend: PostgreSQL through tokio-postgres (`pg.rs`; sqlx for the
//! transactions that remain), SQLite through rusqlite on connections this crate owns (no worker-thread hop
//! per statement: a read runs on the calling thread, the group-commit writer runs a whole batch on its own
//! thread).
//!
//! SQL uses `$1…$n` placeholders on both backends (SQLite reads `$1` as a named parameter; binding goes by
//! name, so a placeholder may repeat or appear out of order).

use std::borrow::Cow;

use finconn_core::StoreError;

use crate::db_err;

/// A bound value. `None` binds SQL NULL of the variant's type (PostgreSQL types its parameters).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<Vec<u8>>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })+
    };
}

arg_from!(
    &str => |v| Arg::Text(Some(v.to_owned())),
    String => |v| Arg::Text(Some(v)),
    &String => |v| Arg::Text(Some(v.clone())),
    Option<&str> => |v| Arg::Text(v.map(str::to_owned)),
    Option<String> => |v| Arg::Text(v),
    &Option<String> => |v| Arg::Text(v.clone()),
    Option<&String> => |v| Arg::Text(v.cloned()),
    i64 => |v| Arg::Int(Some(v)),
    &i64 => |v| Arg::Int(Some(*v)),
    Option<i64> => |v| Arg::Int(v),
    &Option<i64> => |v| Arg::Int(*v),
    bool => |v| Arg::Bool(v),
    &bool => |v| Arg::Bool(*v),
    &Vec<u8> => |v| Arg::Bytes(Some(v.clone())),
    &[u8] => |v| Arg::Bytes(Some(v.to_vec())),
);

fn bind_lite(stmt: &mut rusqlite::Statement<'_>, i: usize, arg: &Arg) -> Result<(), StoreError> {
    match arg {
        Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_deref()),
        Arg::Int(v) => stmt.raw_bind_parameter(i, v),
        Arg::Bool(v) => stmt.raw_bind_parameter(i, v),
        Arg::Bytes(v) => stmt.raw_bind_parameter(i, v.as_deref()),
    }
    .map_err(lite_err)
}

/// One statement and its arguments.
#[derive(Clone, Debug)]
pub(crate) struct Q {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
    /// The statement's parameters are `$1`, `$2`, … `$n`, each first written in that order (generated
    /// statements): SQLite numbers them as written, so argument `i` binds to parameter `i` without asking
    /// SQLite their names (`sqlite3_bind_parameter_name` scans a list: quadratic in a statement with
    /// hundreds of parameters).
    in_order: bool,
}

impl Q {
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self { sql: sql.into(), args: Vec::new(), in_order: false }
    }

    /// A statement whose parameters are `$1` … `$n`, each first written in that order (see `in_order`).
    pub(crate) fn numbered_in_order(sql: impl Into<Cow<'static, str>>) -> Self {
        Self { in_order: true, ..Self::new(sql) }
    }

    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The statement for sqlx's driver of `DB`, its arguments bound in order.
    pub(crate) fn sqlx<'q, DB>(&'q self) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        DB: sqlx::Database,
        Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<&'q [u8]>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut q = sqlx::query(&self.sql);
        for a in &self.args {
            q = match a {
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Int(v) => q.bind(*v),
                Arg::Bool(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(v.as_deref()),
            };
        }
        q
    }

    /// The prepared (cached) statement with every `$n` bound to argument `n`.
    fn prepare<'c>(&self, conn: &'c rusqlite::Connection) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
        let mut stmt = conn.prepare_cached(&self.sql).map_err(lite_err)?;
        if self.in_order {
            if stmt.parameter_count() != self.args.len() {
                return Err(StoreError::Corrupt(format!(
                    "statement has {} parameters, {} arguments: {}",
                    stmt.parameter_count(),
                    self.args.len(),
                    self.sql
                )));
            }
            for (i, arg) in self.args.iter().enumerate() {
                bind_lite(&mut stmt, i + 1, arg)?;
            }
            return Ok(stmt);
        }
        for i in 1..=stmt.parameter_count() {
            let n = stmt
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=self.args.len()).contains(n))
                .ok_or_else(|| StoreError::Corrupt(format!("statement parameter {i} has no argument: {}", self.sql)))?;
            bind_lite(&mut stmt, i, &self.args[n - 1])?;
        }
        Ok(stmt)
    }

    /// Runs on a rusqlite connection: the rows changed.
    pub(crate) fn execute_lite(&self, conn: &rusqlite::Connection) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(conn)?;
        Ok(stmt.raw_execute().map_err(lite_err)? as u64)
    }

    pub(crate) fn first_lite<T: Row>(&self, conn: &rusqlite::Connection) -> Result<Option<T>, StoreError> {
        let mut stmt = self.prepare(conn)?;
        let mut rows = stmt.raw_query();
        rows.next().map_err(lite_err)?.map(|row| T::lite(row).map_err(lite_err)).transpose()
    }

    pub(crate) fn all_lite<T: Row>(&self, conn: &rusqlite::Connection) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.prepare(conn)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(lite_err)? {
            out.push(T::lite(row).map_err(lite_err)?);
        }
        Ok(out)
    }
}

pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

/// A value of a result column, on either backend.
pub(crate) trait Col: rusqlite::types::FromSql + for<'r> tokio_postgres::types::FromSql<'r> {}
impl<T: rusqlite::types::FromSql + for<'r> tokio_postgres::types::FromSql<'r>> Col for T {}

/// A result row as a tuple of columns, by position.
pub(crate) trait Row: Sized + Send {
    fn lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
    fn pg(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error>;
}

macro_rules! row_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Col + Send),+> Row for ($($t,)+) {
            fn lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $t>($i)?,)+))
            }
            fn pg(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
                Ok(($(row.try_get::<_, $t>($i)?,)+))
            }
        }
    };
}
row_tuple!(A 0);
row_tuple!(A 0, B 1);
row_tuple!(A 0, B 1, C 2);
row_tuple!(A 0, B 1, C 2, D 3);
row_tuple!(A 0, B 1, C 2, D 3, E 4);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// What a statement of a unit of work must change for the unit to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Anything.
    Any,
    /// Exactly one row, else the unit conflicts (a compare-and-swap that found the record changed).
    One,
    /// Exactly one row, else the unit's idempotency key was used before.
    Key,
}

/// A statement of a write plan.
#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    pub q: Q,
    pub check: Check,
}

/// Statements run in order inside one transaction; the first failed check ends the plan.
#[derive(Default, Debug)]
pub(crate) struct Plan(pub Vec<Stmt>);

impl Plan {
    pub(crate) fn push(&mut self, q: Q) {
        self.0.push(Stmt { q, check: Check::Any });
    }
    pub(crate) fn push_checked(&mut self, q: Q, check: Check) {
        self.0.push(Stmt { q, check });
    }
}

/// How a plan ended: every check held, or the first that did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    Done,
    Failed(Check),
}

pub(crate) fn checked(check: Check, n: u64) -> bool {
    check == Check::Any || n == 1
}

/// Runs a plan on a rusqlite connection inside the caller's transaction.
pub(crate) fn run_lite(conn: &rusqlite::Connection, plan: &Plan) -> Result<Ran, StoreError> {
    for s in &plan.0 {
        if !checked(s.check, s.q.execute_lite(conn)?) {
            return Ok(Ran::Failed(s.check));
        }
    }
    Ok(Ran::Done)
}

/// The sqlx backends a `Q` binds to.
pub(crate) trait Bindable: sqlx::Database {
    fn query(q: &Q) -> sqlx::query::Query<'_, Self, <Self as sqlx::Database>::Arguments<'_>>;
    fn affected(r: &Self::QueryResult) -> u64;
}

impl Bindable for sqlx::Postgres {
    fn query(q: &Q) -> sqlx::query::Query<'_, Self, sqlx::postgres::PgArguments> {
        q.sqlx()
    }
    fn affected(r: &sqlx::postgres::PgQueryResult) -> u64 {
        r.rows_affected()
    }
}

impl Bindable for sqlx::Sqlite {
    fn query(q: &Q) -> sqlx::query::Query<'_, Self, sqlx::sqlite::SqliteArguments<'_>> {
        q.sqlx()
    }
    fn affected(r: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        r.rows_affected()
    }
}

/// Runs a plan through sqlx inside the caller's transaction (PostgreSQL, or SQLite's sqlx connection).
pub(crate) async fn run_on<C>(conn: &mut C, plan: &Plan) -> Result<Ran, StoreError>
where
    C: sqlx::Connection,
    C::Database: Bindable,
    for<'e> &'e mut C: sqlx::Executor<'e, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, C::Database>,
{
    for s in &plan.0 {
        let r = <C::Database as Bindable>::query(&s.q).execute(&mut *conn).await.map_err(db_err)?;
        if !checked(s.check, <C::Database as Bindable>::affected(&r)) {
            return Ok(Ran::Failed(s.check));
        }
    }
    Ok(Ran::Done)
}

/// SQLite connections for reads, opened on demand and kept for reuse. A read runs on the calling thread:
/// SQLite answers from its page cache in microseconds, far less than a hop to another thread costs.
pub(crate) struct Readers {
    path: std::path::PathBuf,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    keep: usize,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).field("keep", &self.keep).finish_non_exhaustive()
    }
}

/// Page cache per rusqlite connection, in KiB (SQLite's `cache_size` as a negative number).
pub(crate) const CACHE_KIB: u32 = 16 * 1024;

/// Opens a connection to the SQLite file with finconn's settings.
pub(crate) fn open_lite(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(lite_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(lite_err)?;
    // The pragmas sqlx sets on its connections: WAL (already the file's mode), FULL sync, foreign keys.
    // A page cache of up to `CACHE_KIB` per connection, allocated as pages are read: with SQLite's default
    // (2 MiB), a retrieve load on a database grown by a create load spent 8% of the server's time reading
    // pages again from the file, a system call each (perf); with 32 MiB, none.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{CACHE_KIB};"
    ))
    .map_err(lite_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl Readers {
    pub(crate) fn new(path: std::path::PathBuf, keep: usize) -> Self {
        Self { path, idle: std::sync::Mutex::new(Vec::new()), keep: keep.max(1) }
    }

    /// Runs `f` on an idle connection (or a new one), then keeps the connection for the next read.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_lite(&self.path)?;
                c.execute_batch("PRAGMA query_only = ON;").map_err(lite_err)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
        out
    }
}
