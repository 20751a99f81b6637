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
}

impl Q {
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self { sql: sql.into(), args: Vec::new() }
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
///
/// A connection keeps its read transaction open between reads (a snapshot), and a read reuses it while
/// nothing was committed since: beginning and ending a read transaction on every statement took two
/// `fcntl` locks on the WAL index and its in-process mutex, which the worker threads contended for
/// (strace: a futex sleep and wake-up on half the retrieves). A snapshot is reused only
/// - if no commit of this process to the file came after it began: every commit of the writer thread and
///   of the sqlx write pool calls [`Changes::bump`] before anyone hears of it, and a read compares;
/// - and for at most [`FRESH_FOR`], the bound on how late another process's commits (`finconn keys
///   create` beside `finconn serve`) are seen. A lookup that finds nothing looks again on a fresh
///   snapshot ([`Readers::find`]), so what another process created is found at once.
///
/// A held snapshot keeps a checkpoint from copying the WAL past it and the WAL from starting over, so a
/// read ends its snapshot when something was committed while it ran (it could not be reused), the writer
/// ends the idle connections' snapshots around each of its checkpoints ([`Changes::release_idle`]), and a
/// sweeper thread ends idle snapshots once they are [`FRESH_FOR`] old, for the checkpoints the writer does
/// not run; it sleeps on a condition variable while no connection holds one.
pub(crate) struct Readers {
    path: std::path::PathBuf,
    keep: usize,
    shared: std::sync::Arc<ReadersShared>,
}

/// What the sweeper thread shares with the readers.
struct ReadersShared {
    idle: std::sync::Mutex<Vec<Reader>>,
    /// Bumped after every commit of this process to the file.
    changes: Changes,
    /// Set while an idle connection may hold a snapshot: the sweeper is awake or due (changed under `idle`).
    armed: std::sync::atomic::AtomicBool,
    /// The readers are gone: the sweeper exits (changed under `idle`).
    closed: std::sync::atomic::AtomicBool,
    wake: std::sync::Condvar,
}

/// A reader's connection and its open read transaction, if any: when it began, and the [`Changes`] count
/// it began after.
struct Reader {
    conn: rusqlite::Connection,
    snapshot: Option<(std::time::Instant, u64)>,
}

/// The longest a read transaction serves new reads: another process's commit to the file is seen by this
/// process's reads within this time (this process's own commits at once).
pub(crate) const FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(10);

/// How often the sweeper looks at idle connections while one holds a snapshot.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// The count of this process's commits to one SQLite file, which readers compare with their snapshot's,
/// and a way for the file's writer to end the idle readers' snapshots before it checkpoints.
#[derive(Clone)]
pub(crate) struct Changes {
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
    readers: std::sync::Weak<ReadersShared>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Changes").field(&self.get()).finish()
    }
}

impl Changes {
    /// Called after a commit to the file and before its outcome is handed to anyone.
    pub(crate) fn bump(&self) {
        self.count.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn get(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Ends the snapshots of the idle reader connections. The writer calls it before and after a checkpoint: a
    /// snapshot keeps the checkpoint from copying the WAL past it, and the next write transaction from
    /// starting the WAL over (which needs every frame copied and no reader on them). Without it, readers
    /// that held a snapshot a few milliseconds at a time let the WAL grow past a gigabyte in a create load.
    pub(crate) fn release_idle(&self) {
        let Some(shared) = self.readers.upgrade() else { return };
        lock(&shared.idle).retain_mut(|r| r.snapshot.is_none() || r.end().is_ok());
    }

    /// Bumps when dropped: at the end of a sqlx write however it ends, early returns included.
    pub(crate) fn on_drop(&self) -> BumpOnDrop<'_> {
        BumpOnDrop(self)
    }
}

/// See [`Changes::on_drop`].
pub(crate) struct BumpOnDrop<'a>(&'a Changes);

impl Drop for BumpOnDrop<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
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
    /// Readers of the file at `path`, keeping up to `keep` idle connections, and their sweeper thread.
    pub(crate) fn new(path: std::path::PathBuf, keep: usize) -> Result<Self, StoreError> {
        let shared = std::sync::Arc::new_cyclic(|weak| ReadersShared {
            idle: std::sync::Mutex::new(Vec::new()),
            changes: Changes { count: std::sync::Arc::default(), readers: weak.clone() },
            armed: std::sync::atomic::AtomicBool::new(false),
            closed: std::sync::atomic::AtomicBool::new(false),
            wake: std::sync::Condvar::new(),
        });
        let sweeper = shared.clone();
        std::thread::Builder::new()
            .name("finconn-readers".into())
            .spawn(move || sweep(&sweeper))
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        Ok(Self { path, keep: keep.max(1), shared })
    }

    /// The commit count that this file's writers bump.
    pub(crate) fn changes(&self) -> &Changes {
        &self.shared.changes
    }

    /// Runs `f` on an idle connection (or a new one), on its snapshot if that is still current, then keeps
    /// the connection for the next read.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read(false, |c, _| f(c))
    }

    /// A lookup: `with`, and if it found nothing on a snapshot begun before the call, once more on a fresh
    /// one. So an object that another process has just committed (a key from `finconn keys create`, a
    /// dashboard link) is found at once; only what exists but changed may be read up to [`FRESH_FOR`] late.
    pub(crate) fn find<T>(
        &self,
        f: impl Fn(&rusqlite::Connection) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut began_now = false;
        let found = self.read(false, |c, began| {
            began_now = began;
            f(c)
        })?;
        if found.is_some() || began_now {
            return Ok(found);
        }
        self.read(true, |c, _| f(c))
    }

    /// Runs `f` with the connection and whether its snapshot was begun for this read.
    fn read<T>(
        &self,
        fresh: bool,
        f: impl FnOnce(&rusqlite::Connection, bool) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Read before the snapshot begins (at the first statement after `BEGIN`): a snapshot never counts
        // as newer than it is.
        let changes = self.shared.changes.get();
        let reader = lock(&self.shared.idle).pop();
        let mut reader = match reader {
            Some(r) => r,
            None => {
                let conn = open_lite(&self.path)?;
                conn.execute_batch("PRAGMA query_only = ON;").map_err(lite_err)?;
                Reader { conn, snapshot: None }
            }
        };
        let now = std::time::Instant::now();
        let current = !fresh
            && !reader.conn.is_autocommit()
            && reader.snapshot.is_some_and(|(since, seen)| seen == changes && now.duration_since(since) < FRESH_FOR);
        if !current {
            // An error here drops the connection (and with it any transaction).
            reader.end()?;
            reader.conn.execute_batch("BEGIN").map_err(lite_err)?;
            reader.snapshot = Some((now, changes));
        }
        let out = f(&reader.conn, !current);
        // A snapshot that something committed after cannot serve another read: ended now, not held while
        // idle. Under a write load that is almost every read, and a held snapshot keeps the checkpoint from
        // copying the WAL past it and the writer from starting the WAL over.
        let stale = self.shared.changes.get() != changes;
        if (out.is_err() || stale) && reader.end().is_err() {
            return out;
        }
        let mut idle = lock(&self.shared.idle);
        if idle.len() < self.keep {
            let held = reader.snapshot.is_some();
            idle.push(reader);
            if held && !self.shared.armed.swap(true, std::sync::atomic::Ordering::AcqRel) {
                self.shared.wake.notify_one();
            }
        }
        out
    }
}

impl Reader {
    /// Ends the read transaction, if one is open.
    fn end(&mut self) -> Result<(), StoreError> {
        self.snapshot = None;
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("COMMIT").map_err(lite_err)
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        let _idle = lock(&self.shared.idle);
        self.shared.closed.store(true, std::sync::atomic::Ordering::Release);
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The sweeper thread: while an idle connection may hold a snapshot, every [`SWEEP_EVERY`] it ends those
/// [`FRESH_FOR`] old or older; otherwise it waits to be armed. Exits (closing the idle connections) when
/// the readers are dropped.
fn sweep(shared: &ReadersShared) {
    use std::sync::atomic::Ordering;
    let mut idle = lock(&shared.idle);
    loop {
        if shared.closed.load(Ordering::Acquire) {
            idle.clear();
            return;
        }
        if !shared.armed.load(Ordering::Acquire) {
            idle = shared.wake.wait(idle).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        drop(idle);
        std::thread::sleep(SWEEP_EVERY);
        idle = lock(&shared.idle);
        let now = std::time::Instant::now();
        let mut held = false;
        idle.retain_mut(|r| match r.snapshot {
            Some((since, _)) if now.duration_since(since) >= FRESH_FOR => r.end().is_ok(),
            Some(_) => {
                held = true;
                true
            }
            None => true,
        });
        shared.armed.store(held, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL file with a table `t(n)`, readers on it, and a second connection standing for another
    /// process's writes (it bumps no `Changes`).
    fn setup() -> (tempfile::TempDir, Readers, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let other = open_lite(&path).expect("open");
        other.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER);").expect("schema");
        let readers = Readers::new(path, 4).expect("readers");
        (dir, readers, other)
    }

    fn count(readers: &Readers) -> i64 {
        readers.with(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).map_err(lite_err)).expect("count")
    }

    fn find(readers: &Readers, n: i64) -> Option<i64> {
        readers
            .find(|c| {
                use rusqlite::OptionalExtension;
                c.query_row("SELECT n FROM t WHERE n = ?1", [n], |r| r.get(0)).optional().map_err(lite_err)
            })
            .expect("find")
    }

    /// Polls for up to five seconds (far beyond `FRESH_FOR` and `SWEEP_EVERY`): true once `check` holds.
    fn eventually(mut check: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if check() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_commit_announced_through_changes_is_read_at_once() {
        let (_dir, readers, other) = setup();
        assert_eq!(count(&readers), 0);
        for n in 1..=50 {
            other.execute("INSERT INTO t (n) VALUES (?1)", [n]).expect("insert");
            readers.changes().bump();
            assert_eq!(count(&readers), n, "the read right after commit {n}");
        }
    }

    #[test]
    fn another_process_commit_is_found_at_once_and_read_by_every_read_soon() {
        let (_dir, readers, other) = setup();
        for n in 1..=50 {
            assert_eq!(find(&readers, n), None);
            other.execute("INSERT INTO t (n) VALUES (?1)", [n]).expect("insert");
            assert_eq!(find(&readers, n), Some(n), "a lookup finds row {n} committed before it");
        }
        other.execute("INSERT INTO t (n) VALUES (0)", []).expect("insert");
        assert!(eventually(|| count(&readers) == 51), "a plain read sees it once its snapshot is old");
    }

    #[test]
    fn idle_readers_let_the_wal_start_over() {
        let (_dir, readers, other) = setup();
        other.execute("INSERT INTO t (n) VALUES (1)", []).expect("insert");
        // Several connections in use at once, each left idle holding a snapshot.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| assert_eq!(find(&readers, 1), Some(1)));
            }
        });
        // A TRUNCATE checkpoint completes (busy = 0, empty WAL) only when no reader holds a snapshot of the
        // WAL: the sweeper has ended them.
        let truncated = eventually(|| {
            let (busy, log): (i64, i64) = other
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("checkpoint");
            busy == 0 && log == 0
        });
        assert!(truncated, "an idle reader still holds the WAL");
        // And the readers still read, on new snapshots.
        other.execute("INSERT INTO t (n) VALUES (2)", []).expect("insert");
        readers.changes().bump();
        assert_eq!(count(&readers), 2);
    }

    #[test]
    fn a_read_during_which_something_committed_holds_no_snapshot_after() {
        let (_dir, readers, other) = setup();
        let n = readers
            .with(|c| {
                let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).map_err(lite_err)?;
                other.execute("INSERT INTO t (n) VALUES (1)", []).map_err(lite_err)?;
                readers.changes().bump();
                Ok(n)
            })
            .expect("read");
        assert_eq!(n, 0, "the read ran on its snapshot");
        // Without waiting for the sweeper (a passive checkpoint waits for no one): no reader holds the WAL,
        // so every frame of it can be copied.
        let (log, copied): (i64, i64) =
            other.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).expect("checkpoint");
        assert!(log > 0);
        assert_eq!(copied, log, "frames copied of the WAL's");
        assert_eq!(count(&readers), 1);
    }

    /// Readers that keep snapshots between reads, read between every commit, must not keep the writer from
    /// starting the WAL over after its checkpoints: 6,000 commits of a 4 KiB row (two pages or more each)
    /// would make a WAL of 48 MiB or more if it never restarted; restarting after each checkpoint (every 800
    /// statements), it stays near 800 commits' worth, about 10 MiB.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_between_commits_let_the_wal_start_over() {
        let (dir, readers, other) = setup();
        drop(other);
        let readers = std::sync::Arc::new(readers);
        let writer = crate::writes::Writer::start(&dir.path().join("r.db"), "test-writer", readers.changes().clone())
            .expect("writer");
        let blob = vec![7u8; 4096];
        for n in 0..6000_i64 {
            let mut plan = Plan::default();
            plan.push(Q::new("INSERT INTO t (n) VALUES ($1)").bind(Arg::Bytes(Some(blob.clone()))));
            writer.apply(plan).await.expect("commit");
            // Several connections left idle with a snapshot.
            if n % 100 == 0 {
                std::thread::scope(|s| {
                    for _ in 0..3 {
                        s.spawn(|| count(&readers));
                    }
                });
            }
            assert_eq!(count(&readers), n + 1);
        }
        let wal = std::fs::metadata(dir.path().join("r.db-wal")).expect("wal").len();
        assert!(wal < 16 << 20, "the WAL grew to {wal} bytes");
        writer.stop();
    }

    /// The checkpointer copies the WAL while the writer goes on committing, which never leaves the WAL copied to
    /// its end under load: the writer must copy the rest itself, or the WAL only grows. 64 tasks commit 12,000
    /// rows of 4 KiB between them without a pause (batches of many units) and read between commits: 60 MiB of
    /// WAL without the writer's copies (measured), about 6 MiB with them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_never_idle_still_starts_the_wal_over() {
        let (dir, readers, other) = setup();
        drop(other);
        let readers = std::sync::Arc::new(readers);
        let writer = crate::writes::Writer::start(&dir.path().join("r.db"), "test-writer", readers.changes().clone())
            .expect("writer");
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let writer = writer.clone();
                let readers = readers.clone();
                tokio::spawn(async move {
                    for n in 0..(12_000 / 64) {
                        let mut plan = Plan::default();
                        plan.push(Q::new("INSERT INTO t (n) VALUES ($1)").bind(Arg::Bytes(Some(vec![7u8; 4096]))));
                        writer.apply(plan).await.expect("commit");
                        // A point read, as most of the server's (a count would walk the whole table).
                        let last: i64 = readers
                            .with(|c| c.query_row("SELECT max(rowid) FROM t", [], |r| r.get(0)).map_err(lite_err))
                            .expect("read");
                        assert!(last > n);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(count(&readers), 12_000 / 64 * 64);
        let wal = std::fs::metadata(dir.path().join("r.db-wal")).expect("wal").len();
        assert!(wal < 16 << 20, "the WAL grew to {wal} bytes");
        writer.stop();
    }

    #[test]
    fn a_failed_read_leaves_the_connection_usable() {
        let (_dir, readers, _other) = setup();
        let err = readers.with(|c| c.query_row("SELECT nope FROM t", [], |r| r.get::<_, i64>(0)).map_err(lite_err));
        assert!(err.is_err());
        assert_eq!(count(&readers), 0);
    }

    #[test]
    fn dropping_the_readers_stops_the_sweeper() {
        let (_dir, readers, _other) = setup();
        assert_eq!(count(&readers), 0);
        let shared = std::sync::Arc::downgrade(&readers.shared);
        drop(readers);
        assert!(eventually(|| shared.upgrade().is_none()), "the sweeper thread still holds the readers' state");
    }
}
