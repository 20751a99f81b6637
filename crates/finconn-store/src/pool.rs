//! Connection set-up, the one place where the two backends differ in code.

use std::str::FromStr;
use std::time::Duration;

use finconn_core::store::{CommitOutcome, MigrationStatus};
use finconn_core::StoreError;
use sqlx::migrate::{AppliedMigration, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::sql::{Plan, Q};

/// Runs `$body` with `$p` bound to the right pool of either backend. The body is written once and
/// compiled twice, once per backend's concrete types: no `Any` driver, no trait-bound towers.
/// `read` may use any connection; `write` uses SQLite's single writer (PostgreSQL: the same pool).
macro_rules! on_pool {
    ($pools:expr, read, |$p:ident| $body:expr) => {
        match &$pools {
            $crate::pool::Pools::Sqlite { read: $p, .. } => $body,
            $crate::pool::Pools::Postgres { pool: $p, .. } => $body,
        }
    };
    ($pools:expr, write, |$p:ident| $body:expr) => {
        match &$pools {
            $crate::pool::Pools::Sqlite { write: $p, readers, .. } => {
                // The readers' snapshots from before this write are not reused once it has committed.
                let _changed = readers.changes().on_drop();
                $body
            }
            $crate::pool::Pools::Postgres { pool: $p, .. } => $body,
        }
    };
}

/// Opens a transaction that is going to write. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at
/// the start, so a transaction that reads before it writes waits (busy_timeout) for another process's writer
/// (`finconn keys create` beside `finconn serve`) instead of failing with SQLITE_BUSY when it first writes.
/// Within one process the single writer connection already serializes writes.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// The migrations built into this binary, per backend (mirrored file for file).
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// What `applied` (the database's `_sqlx_migrations` rows) lacks, adds or changed against `known`.
fn compare(known: &Migrator, applied: &[AppliedMigration], failed: Option<i64>) -> MigrationStatus {
    let known: Vec<_> = known.iter().filter(|m| !m.migration_type.is_down_migration()).collect();
    let applied_version = |v: i64| applied.iter().find(|a| a.version == v);
    MigrationStatus {
        latest: known.iter().map(|m| m.version).max().unwrap_or(0),
        pending: known.iter().filter(|m| applied_version(m.version).is_none()).map(|m| m.version).collect(),
        unknown: applied.iter().filter(|a| !known.iter().any(|m| m.version == a.version)).map(|a| a.version).collect(),
        modified: known
            .iter()
            .filter(|m| applied_version(m.version).is_some_and(|a| a.checksum != m.checksum))
            .map(|m| m.version)
            .collect(),
        failed: failed.into_iter().collect(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot open database {url}: {message}")]
    /// The store's own connections (rusqlite, tokio-postgres) or the request log's move failed.
    Store { url: String, message: String },
    #[error("migrating database {url} failed: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
}

#[derive(Clone, Debug)]
pub(crate) enum Pools {
    /// SQLite allows one writer at a time: all writes go through a one-connection pool, so transactions
    /// queue in-process instead of failing with SQLITE_BUSY; reads use their own connections (WAL).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// Units of work, committed in batches on the writer thread's own connection.
        writer: crate::writes::Writer,
        /// Reads of the domain, on the calling thread.
        readers: std::sync::Arc<crate::sql::Readers>,
        /// The request log, in a file of its own.
        requests: LogFile,
        describe: String,
    },
    Postgres {
        /// sqlx: migrations and the transactions that read inside (jobs, webhooks, housekeeping).
        pool: PgPool,
        /// tokio-postgres: the reads of requests and every plan (`pg.rs`).
        fast: crate::pg::Pg,
        describe: String,
    },
}

pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `sqlite://x.db`, `sqlite:x.db` and `x.db` all name the file `x.db`.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// The URL with any password replaced, for logs and start-up messages.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else { return url.to_owned() };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}://{}:***{}", &url[..scheme_end], &userinfo[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

impl Pools {
    pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let open = |source| ConnectError::Open { url: redact(url), source };
        if is_postgres(url) {
            // `max_connections` is shared: three quarters (at least one) for requests on the hot path, the
            // rest (at least two) for sqlx's background work.
            let n = max_connections.max(1);
            let background = (n / 4).max(2);
            let requests = n.saturating_sub(n / 4).max(1);
            let pool = PgPoolOptions::new()
                .max_connections(background)
                .acquire_timeout(Duration::from_secs(10))
                // No ping before every acquire: a round trip per query. A dead connection fails its
                // query, which the caller sees as an error and sqlx replaces the connection.
                .test_before_acquire(false)
                .connect(url)
                .await
                .map_err(open)?;
            let fast = crate::pg::Pg::connect(url, requests as usize)
                .await
                .map_err(|e| ConnectError::Store { url: redact(url), message: e.to_string() })?;
            return Ok(Pools::Postgres { pool, fast, describe: format!("PostgreSQL {}", redact(url)) });
        }
        let path = sqlite_path(url);
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(open)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a write the client was told about is on disk, not only in the OS cache.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(open)?;
        let read = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 8))
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open)?;
        let absolute = std::path::Path::new(path)
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_owned());
        let lite = |e: finconn_core::StoreError| ConnectError::Store { url: redact(url), message: e.to_string() };
        // A read holds its connection only while it runs on a worker thread, so as many as there are
        // threads are in use at once; the rest would be opened and closed per read.
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        let keep = (max_connections as usize).max(threads).clamp(1, 64);
        let readers = std::sync::Arc::new(crate::sql::Readers::new(path.into(), keep).map_err(lite)?);
        let writer = crate::writes::Writer::start(
            std::path::Path::new(path),
            "finconn-sqlite-writer",
            readers.changes().clone(),
        )
        .map_err(lite)?;
        let requests = LogFile::open(&LogFile::path_beside(std::path::Path::new(path)), keep).map_err(lite)?;
        Ok(Pools::Sqlite { read, write, writer, readers, requests, describe: format!("SQLite {absolute}") })
    }

    pub(crate) async fn migrate(&self) -> Result<(), ConnectError> {
        let err = |source| ConnectError::Migrate { url: self.describe(), source };
        match self {
            Pools::Sqlite { write, requests, readers, .. } => {
                let _changed = readers.changes().on_drop();
                requests.adopt_old_rows(write).await.map_err(|e| ConnectError::Store {
                    url: self.describe(),
                    message: format!("moving the request log to {}: {e}", requests.path.display()),
                })?;
                SQLITE_MIGRATIONS.run(write).await.map_err(err)
            }
            Pools::Postgres { pool, .. } => POSTGRES_MIGRATIONS.run(pool).await.map_err(err),
        }
    }

    /// The applied migrations (read on a reader connection: no lock, no write) against this build's.
    pub(crate) async fn migration_status(&self) -> Result<MigrationStatus, sqlx::migrate::MigrateError> {
        use sqlx::migrate::Migrate;
        let (applied, failed) = match self {
            Pools::Sqlite { read, .. } => {
                let mut c = read.acquire().await?;
                (c.list_applied_migrations().await?, c.dirty_version().await?)
            }
            Pools::Postgres { pool, .. } => {
                let mut c = pool.acquire().await?;
                (c.list_applied_migrations().await?, c.dirty_version().await?)
            }
        };
        let known = match self {
            Pools::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Pools::Postgres { .. } => &POSTGRES_MIGRATIONS,
        };
        Ok(compare(known, &applied, failed))
    }

    /// Where the request log is kept: the database (PostgreSQL), or its own file (SQLite).
    pub(crate) fn request_log(&self) -> RequestLog<'_> {
        match self {
            Pools::Sqlite { requests, .. } => RequestLog::File(requests),
            Pools::Postgres { .. } => RequestLog::Database(self),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    pub(crate) fn usage(&self) -> (u32, u32) {
        let of = |size: u32, idle: usize| (size, u32::try_from(idle).unwrap_or(u32::MAX));
        match self {
            Pools::Sqlite { read, .. } => of(read.size(), read.num_idle()),
            Pools::Postgres { pool, fast, .. } => {
                let (size, idle) = of(pool.size(), pool.num_idle());
                let (fast_size, fast_idle) = fast.usage();
                (size.saturating_add(fast_size), idle.saturating_add(fast_idle))
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Pools::Sqlite { describe, .. } | Pools::Postgres { describe, .. } => describe.clone(),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pools::Sqlite { read, write, writer, requests, .. } => {
                writer.stop();
                requests.writer.stop();
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { pool, fast, .. } => {
                fast.close();
                pool.close().await;
            }
        }
    }
}

/// The request log's store (`Pools::request_log`).
pub(crate) enum RequestLog<'a> {
    Database(&'a Pools),
    File(&'a LogFile),
}

impl Exec for RequestLog<'_> {
    async fn apply(&self, plan: Plan) -> Result<CommitOutcome, StoreError> {
        match self {
            RequestLog::Database(p) => p.apply(plan).await,
            RequestLog::File(f) => f.apply(plan).await,
        }
    }

    async fn all<T: crate::sql::Row>(&self, q: Q) -> Result<Vec<T>, StoreError> {
        match self {
            RequestLog::Database(p) => p.all(q).await,
            RequestLog::File(f) => f.all(q).await,
        }
    }

    async fn opt<T: crate::sql::Row>(&self, q: Q) -> Result<Option<T>, StoreError> {
        match self {
            RequestLog::Database(p) => p.opt(q).await,
            RequestLog::File(f) => f.opt(q).await,
        }
    }
}

/// What runs statements: the database's pools, or the SQLite request log's own file.
pub(crate) trait Exec {
    /// Runs a plan in a transaction of its own (SQLite: in the file's writer's next batch).
    async fn apply(&self, plan: Plan) -> Result<CommitOutcome, StoreError>;
    /// Every row of a read.
    async fn all<T: crate::sql::Row>(&self, q: Q) -> Result<Vec<T>, StoreError>;
    /// The first row of a read, if any.
    async fn opt<T: crate::sql::Row>(&self, q: Q) -> Result<Option<T>, StoreError>;
    /// The one row of a read that always answers one (an aggregate).
    async fn one<T: crate::sql::Row>(&self, q: Q) -> Result<T, StoreError> {
        let sql = q.sql.clone();
        self.opt(q).await?.ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }
}

impl Pools {
    /// `(livemode, version, data)` of the row of `table` (one of ours, never user input) with this id in this
    /// account. On PostgreSQL, batched with the other lookups waiting (`pg::Pg::lookup`).
    pub(crate) async fn lookup(
        &self,
        table: &'static str,
        id: &str,
        account: &str,
    ) -> Result<Option<crate::pg::Found>, StoreError> {
        match self {
            Pools::Sqlite { .. } => {
                let sql = format!("SELECT livemode, version, data FROM {table} WHERE id = $1 AND account_id = $2");
                self.opt(Q::new(sql).bind(id).bind(account)).await
            }
            Pools::Postgres { fast, .. } => fast.lookup(table, id, account).await,
        }
    }
}

impl Exec for Pools {
    async fn apply(&self, plan: Plan) -> Result<CommitOutcome, StoreError> {
        match self {
            Pools::Sqlite { writer, .. } => writer.apply(plan).await,
            Pools::Postgres { fast, .. } => fast.apply(&plan).await.map(crate::writes::outcome),
        }
    }

    async fn all<T: crate::sql::Row>(&self, q: Q) -> Result<Vec<T>, StoreError> {
        match self {
            Pools::Sqlite { readers, .. } => readers.with(|c| q.all_lite(c)),
            Pools::Postgres { fast, .. } => fast.all(&q).await,
        }
    }

    async fn opt<T: crate::sql::Row>(&self, q: Q) -> Result<Option<T>, StoreError> {
        match self {
            Pools::Sqlite { readers, .. } => readers.find(|c| q.first_lite(c)),
            Pools::Postgres { fast, .. } => fast.opt(&q).await,
        }
    }
}

/// The request log of a SQLite database, in a file of its own beside it (`<file>-requests`, WAL mode, its own
/// writer thread and readers). Every answered `/v1` request writes a row, GETs included: in the database's
/// own file those commits made every reader connection drop its page cache (SQLite starts a read
/// transaction over with a cold cache whenever the file changed since the last) and queued with the
/// units of work. In a file of its own, a read-only load leaves the database untouched (in throughput the
/// move measured within the benchmark's noise). PostgreSQL keeps the log in its
/// `request_log_blocks` table (the layout: `request_log.rs`).
#[derive(Clone, Debug)]
pub(crate) struct LogFile {
    path: std::path::PathBuf,
    writer: crate::writes::Writer,
    readers: std::sync::Arc<crate::sql::Readers>,
}

impl LogFile {
    /// `finconn.db` → `finconn.db-requests` (beside SQLite's own `-wal` and `-shm`).
    pub(crate) fn path_beside(db: &std::path::Path) -> std::path::PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push("-requests");
        name.into()
    }

    fn open(path: &std::path::Path, keep: usize) -> Result<Self, StoreError> {
        let conn = crate::sql::open_lite(path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL").map_err(crate::sql::lite_err)?;
        let table = |name: &str| -> Result<bool, StoreError> {
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(crate::sql::lite_err)
        };
        if !table("request_log_blocks")? {
            // A new file, or one from before blocks: its one-row-per-request table's rows become blocks of one
            // row each (`block` = their `seq`, so their order and the numbering after them hold), in the same
            // transaction that drops the table.
            let tx = conn.unchecked_transaction().map_err(crate::sql::lite_err)?;
            tx.execute_batch(crate::request_log::SQLITE_SCHEMA).map_err(crate::sql::lite_err)?;
            if table("request_log")? {
                tx.execute_batch(&format!(
                    "{}request_log; DROP TABLE request_log;",
                    crate::request_log::SQLITE_OLD_ROWS_AS_BLOCKS
                ))
                .map_err(crate::sql::lite_err)?;
            }
            tx.commit().map_err(crate::sql::lite_err)?;
        }
        drop(conn);
        let readers = std::sync::Arc::new(crate::sql::Readers::new(path.into(), keep)?);
        let writer = crate::writes::Writer::start(path, "finconn-request-log", readers.changes().clone())?;
        Ok(Self { path: path.into(), writer, readers })
    }

    /// Copies the rows of a database that kept its request log in its own `request_log` table (before
    /// migration 0013, which drops it) into this file, each as a block of its own (`block` = its `seq`, so the
    /// order holds). Run before the migrations;
    /// a copy interrupted before 0013 ran is run again, and rows already copied are skipped.
    async fn adopt_old_rows(&self, db: &SqlitePool) -> Result<(), StoreError> {
        let (old,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'request_log'")
                .fetch_one(db)
                .await
                .map_err(crate::db_err)?;
        if old == 0 {
            return Ok(());
        }
        let mut after = i64::MIN;
        loop {
            let rows: Vec<RequestLogRow> = sqlx::query_as(&format!(
                "SELECT {LOG_COLUMNS} FROM request_log WHERE seq > $1 ORDER BY seq LIMIT 1000"
            ))
            .bind(after)
            .fetch_all(db)
            .await
            .map_err(crate::db_err)?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let mut plan = Plan::default();
            for r in &rows {
                plan.push(
                    Q::new(ADOPT_ROW.as_str())
                        .bind(r.0)
                        .bind(&r.1)
                        .bind(r.2)
                        .bind(&r.3)
                        .bind(r.4)
                        .bind(&r.5)
                        .bind(&r.6)
                        .bind(r.7)
                        .bind(r.8)
                        .bind(&r.9)
                        .bind(&r.10)
                        .bind(&r.11)
                        .bind(&r.12),
                );
            }
            self.apply(plan).await?;
        }
        Ok(())
    }
}

/// One row of the database's old table into the file, as `request_log::SQLITE_OLD_ROWS_AS_BLOCKS` makes a
/// block of it: `$1` … `$13` in `LOG_COLUMNS`' order.
static ADOPT_ROW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let row: Vec<String> = LOG_COLUMNS.split(", ").zip(1..).map(|(c, i)| format!("${i} AS {c}")).collect();
    format!("{}(SELECT {})", crate::request_log::SQLITE_OLD_ROWS_AS_BLOCKS, row.join(", "))
});

const LOG_COLUMNS: &str = "seq, account_id, livemode, request_id, created_ms, method, path, status, duration_ms, \
     idempotency_key, error_type, error_code, error_param";

type RequestLogRow = (
    i64,
    String,
    bool,
    String,
    i64,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Exec for LogFile {
    async fn apply(&self, plan: Plan) -> Result<CommitOutcome, StoreError> {
        self.writer.apply(plan).await
    }

    async fn all<T: crate::sql::Row>(&self, q: Q) -> Result<Vec<T>, StoreError> {
        self.readers.with(|c| q.all_lite(c))
    }

    async fn opt<T: crate::sql::Row>(&self, q: Q) -> Result<Option<T>, StoreError> {
        self.readers.find(|c| q.first_lite(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("finconn.db"), "finconn.db");
    }

    #[test]
    fn migrations_compare_by_version_and_checksum() {
        let latest = SQLITE_MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Vec<AppliedMigration> = SQLITE_MIGRATIONS
            .iter()
            .map(|m| AppliedMigration { version: m.version, checksum: m.checksum.clone() })
            .collect();
        let current = compare(&SQLITE_MIGRATIONS, &applied, None);
        assert!(current.is_current(), "{current:?}");
        assert_eq!(current.latest, latest);

        let behind = compare(&SQLITE_MIGRATIONS, &applied[..applied.len() - 1], None);
        assert_eq!(behind.pending, vec![latest]);
        assert!(!behind.is_current());

        let mut ahead = applied.clone();
        ahead.push(AppliedMigration { version: latest + 1, checksum: vec![0; 48].into() });
        ahead[0].checksum = vec![1; 48].into();
        let status = compare(&SQLITE_MIGRATIONS, &ahead, Some(latest));
        assert_eq!(status.unknown, vec![latest + 1]);
        assert_eq!(status.modified, vec![SQLITE_MIGRATIONS.iter().map(|m| m.version).min().unwrap_or(0)]);
        assert_eq!(status.failed, vec![latest]);
        assert!(status.pending.is_empty());
    }

    #[test]
    fn sqlite_urls_name_files() {
        assert_eq!(sqlite_path("sqlite://a/b.db"), "a/b.db");
        assert_eq!(sqlite_path("sqlite:b.db"), "b.db");
        assert_eq!(sqlite_path("b.db"), "b.db");
        assert!(is_postgres("postgresql://x"));
    }
}
