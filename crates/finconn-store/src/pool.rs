//! Connection set-up, the one place where the two backends differ in code.

use std::str::FromStr;
use std::time::Duration;

use finconn_core::store::MigrationStatus;
use sqlx::migrate::{AppliedMigration, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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
            $crate::pool::Pools::Sqlite { write: $p, .. } => $body,
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
    Lite { url: String, message: String },
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
        describe: String,
    },
    Postgres {
        pool: PgPool,
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
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                // No ping before every acquire: a round trip per query. A dead connection fails its
                // query, which the caller sees as an error and sqlx replaces the connection.
                .test_before_acquire(false)
                .connect(url)
                .await
                .map_err(open)?;
            return Ok(Pools::Postgres { pool, describe: format!("PostgreSQL {}", redact(url)) });
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
        let lite = |e: finconn_core::StoreError| ConnectError::Lite { url: redact(url), message: e.to_string() };
        let writer = crate::writes::Writer::start(std::path::Path::new(path)).map_err(lite)?;
        // A read holds its connection only while it runs on a worker thread, so as many as there are
        // threads are in use at once; the rest would be opened and closed per read.
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        let keep = (max_connections as usize).max(threads).clamp(1, 64);
        let readers = std::sync::Arc::new(crate::sql::Readers::new(path.into(), keep));
        Ok(Pools::Sqlite { read, write, writer, readers, describe: format!("SQLite {absolute}") })
    }

    pub(crate) async fn migrate(&self) -> Result<(), ConnectError> {
        let err = |source| ConnectError::Migrate { url: self.describe(), source };
        match self {
            Pools::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await.map_err(err),
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

    /// Runs a plan in a transaction of its own (SQLite: in the writer's next batch).
    pub(crate) async fn apply(
        &self,
        plan: crate::sql::Plan,
    ) -> Result<finconn_core::store::CommitOutcome, finconn_core::StoreError> {
        use finconn_core::store::CommitOutcome;
        match self {
            Pools::Sqlite { writer, .. } => writer.apply(plan).await,
            Pools::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.map_err(crate::db_err)?;
                let outcome = crate::sql::run_on(&mut *tx, &plan).await.map(crate::writes::outcome);
                match outcome {
                    Ok(CommitOutcome::Committed) => tx.commit().await.map_err(crate::db_err)?,
                    _ => tx.rollback().await.map_err(crate::db_err)?,
                }
                outcome
            }
        }
    }

    /// Every row of a read.
    pub(crate) async fn all<T: crate::sql::Row>(&self, q: crate::sql::Q) -> Result<Vec<T>, finconn_core::StoreError> {
        match self {
            Pools::Sqlite { readers, .. } => readers.with(|c| q.all_lite(c)),
            Pools::Postgres { pool, .. } => {
                let rows = q.sqlx::<sqlx::Postgres>().fetch_all(pool).await.map_err(crate::db_err)?;
                rows.iter().map(T::pg).collect::<Result<_, _>>().map_err(crate::db_err)
            }
        }
    }

    /// The first row of a read, if any.
    pub(crate) async fn opt<T: crate::sql::Row>(
        &self,
        q: crate::sql::Q,
    ) -> Result<Option<T>, finconn_core::StoreError> {
        match self {
            Pools::Sqlite { readers, .. } => readers.with(|c| q.first_lite(c)),
            Pools::Postgres { pool, .. } => {
                let row = q.sqlx::<sqlx::Postgres>().fetch_optional(pool).await.map_err(crate::db_err)?;
                row.as_ref().map(T::pg).transpose().map_err(crate::db_err)
            }
        }
    }

    /// The one row of a read that always answers one (an aggregate).
    pub(crate) async fn one<T: crate::sql::Row>(&self, q: crate::sql::Q) -> Result<T, finconn_core::StoreError> {
        let sql = q.sql.clone();
        self.opt(q).await?.ok_or_else(|| finconn_core::StoreError::Corrupt(format!("no row from {sql}")))
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
            Pools::Postgres { pool, .. } => of(pool.size(), pool.num_idle()),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Pools::Sqlite { describe, .. } | Pools::Postgres { describe, .. } => describe.clone(),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pools::Sqlite { read, write, writer, .. } => {
                writer.stop();
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { pool, .. } => pool.close().await,
        }
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
