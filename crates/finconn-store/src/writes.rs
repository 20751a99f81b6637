//! Every write of the domain (`Write`), applied inside a transaction the caller holds, and the commit of a
//! unit of work: its writes and its idempotency key in one transaction.
//!
//! On SQLite, commits go through one writer task that takes whatever units are queued and commits them
//! together: one `BEGIN IMMEDIATE … COMMIT` (one fsync with `synchronous=FULL`) per batch, each unit inside
//! its own savepoint, so a unit that conflicts or fails rolls back alone. On PostgreSQL each unit is its own
//! transaction on the pool.

use finconn_core::model::{IdempotencyRecord, Scope};
use finconn_core::store::{Commit, CommitOutcome, Write};
use finconn_core::StoreError;
use sqlx::{PgConnection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::data::connection_status;
use crate::db_err;
use crate::objects::to_json;
use crate::pool::BeginWrite;

/// A connection inside an open transaction, of either backend.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the connection of either backend (compiled once per backend).
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite(c) => {
                let $c: &mut SqliteConnection = &mut **c;
                $body
            }
            Conn::Postgres(c) => {
                let $c: &mut PgConnection = &mut **c;
                $body
            }
        }
    };
}

/// Versioned update: `$set` are the columns besides `data` and `version`, bound as `$2…`; the statement
/// ends with the id, tenant, mode and expected version.
fn versioned_update(table: &str, extra: &[&str]) -> String {
    let mut set = vec!["data = $1".to_owned()];
    for (i, col) in extra.iter().enumerate() {
        set.push(format!("{col} = ${}", i + 2));
    }
    let n = extra.len() + 2;
    format!(
        "UPDATE {table} SET {}, version = version + 1 WHERE id = ${n} AND account_id = ${} AND livemode = ${} AND version = ${}",
        set.join(", "),
        n + 1,
        n + 2,
        n + 3
    )
}

const INSERT_ACCOUNT: &str =
    "INSERT INTO fc_accounts (id, account_id, livemode, created, session_id, holder_customer, \
     holder_account, version, data, test_clock, connection_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)";

const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys \
     (account_id, livemode, key, method, path, fingerprint, created, locked_until, status, body, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10) \
     ON CONFLICT (account_id, livemode, key) DO UPDATE SET method = excluded.method, path = excluded.path, \
     fingerprint = excluded.fingerprint, created = excluded.created, locked_until = excluded.locked_until, \
     status = excluded.status, body = excluded.body, request_id = excluded.request_id \
     WHERE idempotency_keys.status IS NULL";

/// Applies one write. `Ok(false)`: a compare-and-swap found the record changed (nothing of this write done;
/// the caller rolls the whole unit back).
pub(crate) async fn apply(conn: &mut Conn<'_>, w: &Write) -> Result<bool, StoreError> {
    let one = |n: u64| n == 1;
    Ok(match w {
        Write::InsertCustomer { scope, rec } => {
            let data = to_json(rec)?;
            on_conn!(conn, |c| sqlx::query(
                "INSERT INTO customers (id, account_id, livemode, created, email, deleted, version, data, test_clock) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)"
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(&rec.email)
            .bind(rec.deleted)
            .bind(&data)
            .bind(&rec.test_clock)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected());
            true
        }
        Write::UpdateCustomer { scope, rec } => {
            let (data, sql) = (to_json(rec)?, versioned_update("customers", &["email", "deleted"]));
            one(on_conn!(conn, |c| sqlx::query(&sql)
                .bind(&data)
                .bind(&rec.email)
                .bind(rec.deleted)
                .bind(&rec.id)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(rec.version)
                .execute(&mut *c)
                .await
                .map_err(db_err)?
                .rows_affected()))
        }
        Write::InsertSession { scope, rec } => {
            let data = to_json(rec)?;
            on_conn!(conn, |c| {
                sqlx::query(
                "INSERT INTO sessions (id, account_id, livemode, created, version, data) VALUES ($1, $2, $3, $4, 0, $5)"
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(&data)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected()
            });
            true
        }
        Write::UpdateSession { scope, rec } => update_session(conn, scope, rec).await?,
        Write::CompleteSession { scope, session, accounts, effects, connection } => {
            if !update_session(conn, scope, session).await? {
                return Ok(false);
            }
            let rows = accounts.iter().map(|a| Ok((a, to_json(a)?))).collect::<Result<Vec<_>, StoreError>>()?;
            let connection = connection.as_ref().map(|c| Ok::<_, StoreError>((c, to_json(c)?))).transpose()?;
            let effects = crate::effects::of(effects)?;
            on_conn!(conn, |c| {
                for (a, json) in &rows {
                    sqlx::query(INSERT_ACCOUNT)
                        .bind(&a.id)
                        .bind(&scope.account)
                        .bind(scope.livemode)
                        .bind(a.created)
                        .bind(&a.session)
                        .bind(&a.holder.customer)
                        .bind(&a.holder.account)
                        .bind(json)
                        .bind(&a.test_clock)
                        .bind(a.connection.as_ref().map(|c| &c.id))
                        .execute(&mut *c)
                        .await
                        .map_err(db_err)?;
                }
                if let Some((con, json)) = &connection {
                    // The connection was made earlier in this flow; only this flow's session changes it.
                    sqlx::query(
                        "UPDATE connections SET data = $1, status = $2, version = version + 1 \
                         WHERE id = $3 AND account_id = $4",
                    )
                    .bind(json)
                    .bind(connection_status(con.status))
                    .bind(&con.id)
                    .bind(&scope.account)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?;
                }
                write_effects!(c, scope, effects);
            });
            true
        }
        Write::InsertConnection { scope, rec } => {
            let data = to_json(rec)?;
            on_conn!(conn, |c| sqlx::query(
                "INSERT INTO connections (id, account_id, livemode, created, status, version, data) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)"
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(connection_status(rec.status))
            .bind(&data)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected());
            true
        }
        Write::UpdateConnection { scope, rec } => {
            let (data, sql) = (to_json(rec)?, versioned_update("connections", &["status"]));
            one(on_conn!(conn, |c| sqlx::query(&sql)
                .bind(&data)
                .bind(connection_status(rec.status))
                .bind(&rec.id)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(rec.version)
                .execute(&mut *c)
                .await
                .map_err(db_err)?
                .rows_affected()))
        }
        Write::UpdateLinkedAccount { scope, rec, effects } => {
            let (data, sql) = (to_json(rec)?, versioned_update("fc_accounts", &[]));
            let effects = crate::effects::of(effects)?;
            on_conn!(conn, |c| {
                let n = sqlx::query(&sql)
                    .bind(&data)
                    .bind(&rec.id)
                    .bind(&scope.account)
                    .bind(scope.livemode)
                    .bind(rec.version)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                if n != 1 {
                    return Ok(false);
                }
                write_effects!(c, scope, effects);
            });
            true
        }
        Write::InsertWebhookEndpoint { scope, rec } => {
            let data = to_json(rec)?;
            on_conn!(conn, |c| sqlx::query(
                "INSERT INTO webhook_endpoints (id, account_id, livemode, created, disabled, version, data) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)"
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(rec.disabled)
            .bind(&data)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected());
            true
        }
        Write::UpdateWebhookEndpoint { scope, rec } => {
            let (data, sql) = (to_json(rec)?, versioned_update("webhook_endpoints", &["disabled"]));
            one(on_conn!(conn, |c| sqlx::query(&sql)
                .bind(&data)
                .bind(rec.disabled)
                .bind(&rec.id)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(rec.version)
                .execute(&mut *c)
                .await
                .map_err(db_err)?
                .rows_affected()))
        }
        Write::DeleteWebhookEndpoint { scope, id } => one(on_conn!(conn, |c| sqlx::query(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND livemode = $3"
        )
        .bind(id)
        .bind(&scope.account)
        .bind(scope.livemode)
        .execute(&mut *c)
        .await
        .map_err(db_err)?
        .rows_affected())),
        Write::InsertTestClock { scope, rec, customer, effects } => {
            let data = to_json(rec)?;
            let customer = customer.as_ref().map(|c| Ok::<_, StoreError>((c, to_json(c)?))).transpose()?;
            let effects = crate::effects::of(effects)?;
            on_conn!(conn, |c| {
                if let Some((cus, json)) = &customer {
                    // Attached once: only a live customer on no clock, at the version the caller read.
                    let n = sqlx::query(
                        "UPDATE customers SET test_clock = $1, data = $2, version = version + 1 \
                         WHERE id = $3 AND account_id = $4 AND livemode = $5 AND version = $6 AND deleted = $7 \
                         AND test_clock IS NULL",
                    )
                    .bind(&rec.id)
                    .bind(json)
                    .bind(&cus.id)
                    .bind(&scope.account)
                    .bind(scope.livemode)
                    .bind(cus.version)
                    .bind(false)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                    if n != 1 {
                        return Ok(false);
                    }
                }
                sqlx::query(
                    "INSERT INTO test_clocks (id, account_id, livemode, created, deletes_after, frozen_time, deleted, \
                     version, data) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
                )
                .bind(&rec.id)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(rec.created)
                .bind(rec.deletes_after)
                .bind(rec.frozen_time)
                .bind(rec.deleted)
                .bind(&data)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
                write_effects!(c, scope, effects);
            });
            true
        }
        Write::SetDowntime { scope, rec } => {
            let data = to_json(rec)?;
            on_conn!(conn, |c| sqlx::query(
                "INSERT INTO institution_downtimes (account_id, livemode, institution_id, created, data) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, livemode, institution_id) \
                 DO UPDATE SET created = excluded.created, data = excluded.data"
            )
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(&rec.institution)
            .bind(rec.created)
            .bind(&data)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected());
            true
        }
        Write::EndDowntime { scope, institution } => {
            on_conn!(conn, |c| sqlx::query(
                "DELETE FROM institution_downtimes WHERE account_id = $1 AND livemode = $2 AND institution_id = $3"
            )
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(institution)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected());
            true
        }
        Write::Enqueue { scope, effects } => {
            let effects = crate::effects::of(effects)?;
            on_conn!(conn, |c| write_effects!(c, scope, effects));
            true
        }
        Write::UpdateTestClock { scope, rec, effects } => {
            let (data, sql) = (to_json(rec)?, versioned_update("test_clocks", &["frozen_time", "deleted"]));
            let effects = crate::effects::of(effects)?;
            on_conn!(conn, |c| {
                let n = sqlx::query(&sql)
                    .bind(&data)
                    .bind(rec.frozen_time)
                    .bind(rec.deleted)
                    .bind(&rec.id)
                    .bind(&scope.account)
                    .bind(scope.livemode)
                    .bind(rec.version)
                    .execute(&mut *c)
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
                        .execute(&mut *c)
                        .await
                        .map_err(db_err)?;
                }
                write_effects!(c, scope, effects);
            });
            true
        }
    })
}

async fn update_session(
    conn: &mut Conn<'_>,
    scope: &Scope,
    rec: &finconn_core::model::SessionRecord,
) -> Result<bool, StoreError> {
    let (data, sql) = (to_json(rec)?, versioned_update("sessions", &[]));
    Ok(on_conn!(conn, |c| sqlx::query(&sql)
        .bind(&data)
        .bind(&rec.id)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(rec.version)
        .execute(&mut *c)
        .await
        .map_err(db_err)?
        .rows_affected())
        == 1)
}

async fn store_key(conn: &mut Conn<'_>, scope: &Scope, rec: &IdempotencyRecord) -> Result<bool, StoreError> {
    let n = on_conn!(conn, |c| sqlx::query(INSERT_IDEMPOTENCY)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(&rec.key)
        .bind(&rec.method)
        .bind(&rec.path)
        .bind(&rec.fingerprint)
        .bind(rec.created)
        .bind(i64::from(rec.response.status))
        .bind(&rec.response.body)
        .bind(&rec.response.request_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?
        .rows_affected());
    Ok(n == 1)
}

/// A unit's writes and key inside the caller's transaction. Anything but `Committed` means the caller must
/// roll back what this wrote.
pub(crate) async fn apply_unit(conn: &mut Conn<'_>, unit: &Commit) -> Result<CommitOutcome, StoreError> {
    // The key first: a request whose key was used before must replay that answer, whatever its writes.
    if let Some((scope, rec)) = &unit.idempotency {
        if !store_key(conn, scope, rec).await? {
            return Ok(CommitOutcome::KeyTaken);
        }
    }
    for w in &unit.writes {
        if !apply(conn, w).await? {
            return Ok(CommitOutcome::Conflict);
        }
    }
    Ok(CommitOutcome::Committed)
}

/// Most units one SQLite transaction takes.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<CommitOutcome, StoreError>>;

/// The SQLite writer: the sending side hands units to the one task that commits them in batches.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<(Commit, Reply)>,
}

impl Writer {
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(pool, rx));
        Self { tx }
    }

    pub(crate) async fn commit(&self, unit: Commit) -> Result<CommitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Database("the database writer has stopped".into());
        self.tx.send((unit, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run_writer(pool: SqlitePool, mut rx: mpsc::Receiver<(Commit, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let units = std::mem::take(&mut batch);
        let started = std::time::Instant::now();
        let result = commit_batch(&pool, &units).await;
        tracing::debug!(units = units.len(), us = started.elapsed().as_micros() as u64, "committed a batch");
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in units.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, units = units.len(), "a batch of writes could not be committed");
                let message = e.to_string();
                for (_, reply) in units {
                    let _ = reply.send(Err(StoreError::Database(message.clone().into())));
                }
            }
        }
        if pool.is_closed() {
            break;
        }
    }
}

/// One transaction for the batch. First every unit goes straight in (no savepoints: almost every batch
/// commits whole); if one conflicts or fails, the batch is rolled back and run again with one savepoint per
/// unit, so that the failing unit rolls back alone. The outcomes are only true once the batch's `COMMIT`
/// returned, which is why they are handed out after it.
async fn commit_batch(
    pool: &SqlitePool,
    units: &[(Commit, Reply)],
) -> Result<Vec<Result<CommitOutcome, StoreError>>, sqlx::Error> {
    let mut tx = pool.begin_write().await?;
    let mut failed = None;
    for (unit, _) in units {
        match apply_unit(&mut Conn::Sqlite(&mut tx), unit).await {
            Ok(CommitOutcome::Committed) => {}
            other => {
                failed = Some(other);
                break;
            }
        }
    }
    match failed {
        None => {
            tx.commit().await?;
            return Ok(units.iter().map(|_| Ok(CommitOutcome::Committed)).collect());
        }
        Some(outcome) if units.len() == 1 => {
            tx.rollback().await?;
            return Ok(vec![outcome]);
        }
        Some(_) => tx.rollback().await?,
    }
    let mut tx = pool.begin_write().await?;
    let mut outcomes = Vec::with_capacity(units.len());
    for (unit, _) in units {
        let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
        let outcome = apply_unit(&mut Conn::Sqlite(&mut savepoint), unit).await;
        match outcome {
            Ok(CommitOutcome::Committed) => savepoint.commit().await?,
            _ => savepoint.rollback().await?,
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}
