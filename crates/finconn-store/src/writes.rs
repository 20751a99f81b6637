//! Every write of the domain (`Write`), applied inside a transaction the caller holds, and the commit of a
//! unit of work: its writes and its idempotency key in one transaction.
//!
//! A write becomes a `Plan` (statements with the row counts they must reach) before any transaction starts;
//! the plan runs on either backend. On SQLite, commits go through one writer thread that owns a connection
//! and takes whatever units are queued: one `BEGIN IMMEDIATE … COMMIT` (one fsync with `synchronous=FULL`)
//! per batch, each unit inside its own savepoint when one of the batch fails, so a unit that conflicts or
//! fails rolls back alone. On PostgreSQL each unit is its own transaction on the pool.

use finconn_core::model::Scope;
use finconn_core::store::{Commit, CommitOutcome, Write};
use finconn_core::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::data::{connection_status, INSERT_CLOCK_JOB, INSERT_JOB};
use crate::effects::EffectRows;
use crate::objects::to_json;
use crate::sql::{lite_err, open_lite, run_lite, Arg, Check, Plan, Ran, Q};

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

fn scoped(sql: &'static str, id: &str, scope: &Scope) -> Q {
    Q::new(sql).bind(id).bind(&scope.account).bind(scope.livemode)
}

/// A versioned update of `table`: `data`, then `extra` columns' values, then the record's key and version.
fn update(table: &str, extra: &[&str], data: String, values: Vec<Arg>, id: &str, scope: &Scope, version: i64) -> Q {
    let mut q = Q::new(versioned_update(table, extra)).bind(data);
    q.args.extend(values);
    q.bind(id).bind(&scope.account).bind(scope.livemode).bind(version)
}

/// Adds one write's statements to `plan`. A statement checked `One` that changes no row means a
/// compare-and-swap found the record changed: the caller rolls the whole unit back.
pub(crate) fn plan(plan: &mut Plan, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::InsertCustomer { scope, rec } => plan.push(
            Q::new(
                "INSERT INTO customers (id, account_id, livemode, created, email, deleted, version, data, test_clock) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(&rec.email)
            .bind(rec.deleted)
            .bind(to_json(rec)?)
            .bind(&rec.test_clock),
        ),
        Write::UpdateCustomer { scope, rec } => plan.push_checked(
            update(
                "customers",
                &["email", "deleted"],
                to_json(rec)?,
                vec![(&rec.email).into(), rec.deleted.into()],
                &rec.id,
                scope,
                rec.version,
            ),
            Check::One,
        ),
        Write::InsertSession { scope, rec } => plan.push(
            Q::new(
                "INSERT INTO sessions (id, account_id, livemode, created, version, data) VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(to_json(rec)?),
        ),
        Write::UpdateSession { scope, rec } => plan.push_checked(session_update(scope, rec)?, Check::One),
        Write::CompleteSession { scope, session, accounts, effects, connection } => {
            plan.push_checked(session_update(scope, session)?, Check::One);
            for a in accounts {
                plan.push(
                    Q::new(INSERT_ACCOUNT)
                        .bind(&a.id)
                        .bind(&scope.account)
                        .bind(scope.livemode)
                        .bind(a.created)
                        .bind(&a.session)
                        .bind(&a.holder.customer)
                        .bind(&a.holder.account)
                        .bind(to_json(a)?)
                        .bind(&a.test_clock)
                        .bind(a.connection.as_ref().map(|c| &c.id)),
                );
            }
            if let Some(con) = connection {
                // The connection was made earlier in this flow; only this flow's session changes it.
                plan.push(
                    Q::new(
                        "UPDATE connections SET data = $1, status = $2, version = version + 1 \
                         WHERE id = $3 AND account_id = $4",
                    )
                    .bind(to_json(con)?)
                    .bind(connection_status(con.status))
                    .bind(&con.id)
                    .bind(&scope.account),
                );
            }
            effects_plan(plan, scope, &crate::effects::of(effects)?);
        }
        Write::InsertConnection { scope, rec } => plan.push(
            Q::new(
                "INSERT INTO connections (id, account_id, livemode, created, status, version, data) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(connection_status(rec.status))
            .bind(to_json(rec)?),
        ),
        Write::UpdateConnection { scope, rec } => plan.push_checked(
            update(
                "connections",
                &["status"],
                to_json(rec)?,
                vec![connection_status(rec.status).into()],
                &rec.id,
                scope,
                rec.version,
            ),
            Check::One,
        ),
        Write::UpdateLinkedAccount { scope, rec, effects } => {
            plan.push_checked(
                update("fc_accounts", &[], to_json(rec)?, vec![], &rec.id, scope, rec.version),
                Check::One,
            );
            effects_plan(plan, scope, &crate::effects::of(effects)?);
        }
        Write::InsertWebhookEndpoint { scope, rec } => plan.push(
            Q::new(
                "INSERT INTO webhook_endpoints (id, account_id, livemode, created, disabled, version, data) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(&rec.id)
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(rec.created)
            .bind(rec.disabled)
            .bind(to_json(rec)?),
        ),
        Write::UpdateWebhookEndpoint { scope, rec } => plan.push_checked(
            update(
                "webhook_endpoints",
                &["disabled"],
                to_json(rec)?,
                vec![rec.disabled.into()],
                &rec.id,
                scope,
                rec.version,
            ),
            Check::One,
        ),
        Write::DeleteWebhookEndpoint { scope, id } => plan.push_checked(
            scoped("DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND livemode = $3", id, scope),
            Check::One,
        ),
        Write::InsertTestClock { scope, rec, customer, effects } => {
            if let Some(cus) = customer {
                // Attached once: only a live customer on no clock, at the version the caller read.
                plan.push_checked(
                    Q::new(
                        "UPDATE customers SET test_clock = $1, data = $2, version = version + 1 \
                         WHERE id = $3 AND account_id = $4 AND livemode = $5 AND version = $6 AND deleted = $7 \
                         AND test_clock IS NULL",
                    )
                    .bind(&rec.id)
                    .bind(to_json(cus)?)
                    .bind(&cus.id)
                    .bind(&scope.account)
                    .bind(scope.livemode)
                    .bind(cus.version)
                    .bind(false),
                    Check::One,
                );
            }
            plan.push(
                Q::new(
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
                .bind(to_json(rec)?),
            );
            effects_plan(plan, scope, &crate::effects::of(effects)?);
        }
        Write::SetDowntime { scope, rec } => plan.push(
            Q::new(
                "INSERT INTO institution_downtimes (account_id, livemode, institution_id, created, data) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, livemode, institution_id) \
                 DO UPDATE SET created = excluded.created, data = excluded.data",
            )
            .bind(&scope.account)
            .bind(scope.livemode)
            .bind(&rec.institution)
            .bind(rec.created)
            .bind(to_json(rec)?),
        ),
        Write::EndDowntime { scope, institution } => plan.push(
            Q::new("DELETE FROM institution_downtimes WHERE account_id = $1 AND livemode = $2 AND institution_id = $3")
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(institution),
        ),
        Write::Enqueue { scope, effects } => effects_plan(plan, scope, &crate::effects::of(effects)?),
        Write::UpdateTestClock { scope, rec, effects } => {
            plan.push_checked(
                update(
                    "test_clocks",
                    &["frozen_time", "deleted"],
                    to_json(rec)?,
                    vec![rec.frozen_time.into(), rec.deleted.into()],
                    &rec.id,
                    scope,
                    rec.version,
                ),
                Check::One,
            );
            if rec.deleted {
                // Nothing waits for a deleted clock: its jobs run now (on its last time) and find their
                // accounts disconnected.
                plan.push(
                    Q::new("UPDATE jobs SET run_at = 0 WHERE test_clock = $1 AND done_at IS NULL AND run_at <> 0")
                        .bind(&rec.id),
                );
            }
            effects_plan(plan, scope, &crate::effects::of(effects)?);
        }
    }
    Ok(())
}

fn session_update(scope: &Scope, rec: &finconn_core::model::SessionRecord) -> Result<Q, StoreError> {
    Ok(update("sessions", &[], to_json(rec)?, vec![], &rec.id, scope, rec.version))
}

/// The jobs and events of a change, with each event's fan-out job.
pub(crate) fn effects_plan(plan: &mut Plan, scope: &Scope, rows: &EffectRows) {
    for (kind, run_at, clock) in &rows.jobs {
        plan.push(match clock {
            None => Q::new(INSERT_JOB).bind(&scope.account).bind(scope.livemode).bind(kind).bind(run_at).bind(run_at),
            Some(clock) => {
                Q::new(INSERT_CLOCK_JOB).bind(&scope.account).bind(scope.livemode).bind(kind).bind(run_at).bind(clock)
            }
        });
    }
    for e in &rows.events {
        plan.push(
            Q::new(crate::effects::INSERT_EVENT)
                .bind(&e.id)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(&e.kind)
                .bind(e.created)
                .bind(&e.data),
        );
        plan.push(
            Q::new(INSERT_JOB)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(&e.fanout)
                .bind(e.created)
                .bind(e.created),
        );
    }
}

/// A unit of work as statements: the key first (a request whose key was used before must replay that
/// answer, whatever its writes), then every write in order.
pub(crate) fn plan_unit(unit: &Commit) -> Result<Plan, StoreError> {
    let mut p = Plan::default();
    if let Some((scope, rec)) = &unit.idempotency {
        p.push_checked(
            Q::new(INSERT_IDEMPOTENCY)
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(&rec.key)
                .bind(&rec.method)
                .bind(&rec.path)
                .bind(&rec.fingerprint)
                .bind(rec.created)
                .bind(i64::from(rec.response.status))
                .bind(&rec.response.body)
                .bind(&rec.response.request_id),
            Check::Key,
        );
    }
    for w in &unit.writes {
        plan(&mut p, w)?;
    }
    Ok(p)
}

pub(crate) fn outcome(ran: Ran) -> CommitOutcome {
    match ran {
        Ran::Done => CommitOutcome::Committed,
        Ran::Failed(Check::Key) => CommitOutcome::KeyTaken,
        Ran::Failed(_) => CommitOutcome::Conflict,
    }
}

/// Most units one SQLite transaction takes.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<CommitOutcome, StoreError>>;

enum Job {
    Unit(Plan, Reply),
    Stop,
}

/// The SQLite writer: one thread owning one connection, which takes every unit waiting and commits them
/// together. Each unit is a plan of statements made before it is queued, so the thread only runs SQL.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// A writer thread named `name` on the SQLite file at `path`, bumping `changes` after every commit.
    pub(crate) fn start(path: &std::path::Path, name: &str, changes: crate::sql::Changes) -> Result<Self, StoreError> {
        let conn = open_lite(path)?;
        // The WAL is copied by the checkpointer and the writer (`Checkpointer`), not inside whichever COMMIT
        // crosses SQLite's threshold.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0").map_err(lite_err)?;
        let checkpointer = Checkpointer::start(path, name, changes.clone())?;
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run_writer(conn, rx, &changes, checkpointer))
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        Ok(Self { tx })
    }

    pub(crate) async fn apply(&self, plan: Plan) -> Result<CommitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Closed;
        self.tx.send(Job::Unit(plan, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Stops the thread once the units queued before have been committed.
    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
    }
}

/// Statements committed after which the WAL is copied into the database file: a few hundred creates' worth,
/// near SQLite's own threshold of a thousand WAL pages.
const CHECKPOINT_AFTER_STATEMENTS: usize = 800;

/// The most statements committed during the checkpointer's pass for which the writer copies the rest itself
/// (the tail); with more, the checkpointer makes another pass first.
const TAIL_STATEMENTS: usize = 200;

/// Copies the WAL's frames into the database file (`wal_checkpoint(PASSIVE)`: never waits for readers or
/// the writer). SQLite syncs the file only when the copy reached the WAL's end.
fn checkpoint(conn: &rusqlite::Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "SQLite checkpoint failed; retrying after the next batches");
    }
}

/// Copies the WAL into the database file beside the writer.
///
/// A checkpoint after a few hundred creates writes a thousand or more pages to scattered places of the file
/// (random ids in the indexes) and syncs it: 5 to 35 ms here. Run by the writer between batches, every unit
/// queued meanwhile waited for it, and the create's p99 latency was the checkpoint's. So a thread with its
/// own connection makes the copy (a pass) while the writer goes on committing, then syncs the file (SQLite
/// does not: a pass that the writer overtook did not reach the WAL's end). The WAL can only start over at
/// a write that finds every frame copied, which a pass under load never leaves behind: so once a pass is
/// done the writer copies what it committed meanwhile itself, between two batches. That tail is short, and
/// its sync finds little left to write.
struct Checkpointer {
    go: std::sync::mpsc::SyncSender<()>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// A pass was asked for and the writer has not yet seen it done.
    running: bool,
    /// Statements the writer committed since the running (or last) pass began.
    since_pass: usize,
    /// The WAL file, whose header counts the times it started over.
    wal: std::path::PathBuf,
    /// After the writer's copy: the WAL's count then, and the copies made since that did not lead to a start
    /// over.
    restart: Option<(u32, u8)>,
}

/// Copies of the tail made again, one batch apart, when a reader kept the WAL from starting over.
const RESTART_TRIES: u8 = 3;

/// The WAL's checkpoint sequence number (bytes 12 to 15 of its header, big-endian), which SQLite increments
/// each time the WAL starts over.
fn wal_sequence(wal: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 16];
    std::fs::File::open(wal).ok()?.read_exact_at(&mut head, 0).ok()?;
    Some(u32::from_be_bytes([head[12], head[13], head[14], head[15]]))
}

impl Checkpointer {
    fn start(path: &std::path::Path, name: &str, changes: crate::sql::Changes) -> Result<Self, StoreError> {
        let conn = open_lite(path)?;
        let file = std::fs::File::open(path).map_err(|e| StoreError::Database(Box::new(e)))?;
        let (go, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::thread::Builder::new()
            .name(format!("{name}-checkpoint"))
            .spawn(move || {
                // Ends when the writer drops its end.
                while asked.recv().is_ok() {
                    let started = std::time::Instant::now();
                    // As before the writer's own copy (`Checkpointer::tail`): a reader's snapshot stops the copy.
                    changes.release_idle();
                    checkpoint(&conn);
                    // Only makes the tail's sync shorter: the tail's own sync (SQLite's) is what the WAL's
                    // start over relies on.
                    if let Err(e) = file.sync_data() {
                        tracing::warn!(error = %e, "could not sync the SQLite file after a checkpoint");
                    }
                    tracing::debug!(us = started.elapsed().as_micros() as u64, "checkpoint pass");
                    flag.store(true, std::sync::atomic::Ordering::Release);
                }
            })
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self { go, done, running: false, since_pass: 0, wal: wal.into(), restart: None })
    }

    /// After each batch: starts a pass when enough was committed, and copies the tail once a pass is done.
    /// True when the writer copied the WAL's end itself, so that its next write can start the WAL over.
    fn after_batch(&mut self, conn: &rusqlite::Connection, changes: &crate::sql::Changes, statements: usize) -> bool {
        self.since_pass += statements;
        if let Some((before, tries)) = self.restart.take() {
            // This batch was the first write since the writer's copy: it started the WAL over unless a reader
            // was still reading a snapshot from before the copy. The reads are short: another copy, of this
            // one batch, lets the next write try again.
            if wal_sequence(&self.wal).is_some_and(|now| now == before) {
                if tries < RESTART_TRIES {
                    self.tail(conn, changes, tries + 1);
                    return true;
                }
                tracing::debug!("readers kept the WAL from starting over; it grows until the next checkpoint");
            }
        }
        if self.running && self.done.swap(false, std::sync::atomic::Ordering::Acquire) {
            self.running = false;
            if self.since_pass <= TAIL_STATEMENTS {
                self.since_pass = 0;
                self.tail(conn, changes, 0);
                return true;
            }
            // Too much came in meanwhile: another pass, right away, copies most of it.
            self.since_pass = CHECKPOINT_AFTER_STATEMENTS;
        }
        if !self.running && self.since_pass >= CHECKPOINT_AFTER_STATEMENTS {
            self.since_pass = 0;
            if self.go.try_send(()).is_err() {
                // The thread is gone (it cannot be, short of a panic): the writer copies everything itself.
                self.tail(conn, changes, 0);
                return true;
            }
            self.running = true;
        }
        false
    }

    /// The writer's own copy of the WAL, which reaches its end (nothing else writes) and syncs the file;
    /// `tries`: the copies before it since the WAL last started over.
    fn tail(&mut self, conn: &rusqlite::Connection, changes: &crate::sql::Changes, tries: u8) {
        let started = std::time::Instant::now();
        // Idle readers' snapshots are ended before the copy, so that it can copy every frame, and after it,
        // since a read that was running meanwhile kept its snapshot of frames that the next write transaction
        // must see unused to start the WAL over (`sql::Changes::release_idle`).
        changes.release_idle();
        checkpoint(conn);
        // Nothing was committed, but a snapshot from before the copy must not serve new reads: they would
        // keep the WAL from starting over where a new snapshot (of the file alone) would not.
        changes.bump();
        changes.release_idle();
        self.restart = wal_sequence(&self.wal).map(|seq| (seq, tries));
        tracing::debug!(us = started.elapsed().as_micros() as u64, tries, "checkpoint tail");
    }
}

fn run_writer(
    conn: rusqlite::Connection,
    mut rx: mpsc::UnboundedReceiver<Job>,
    changes: &crate::sql::Changes,
    mut checkpointer: Checkpointer,
) {
    let mut batch: Vec<(Plan, Reply)> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    let mut checkpointed = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else { break };
        for job in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match job {
                Job::Unit(plan, reply) => batch.push((plan, reply)),
                Job::Stop => stopping = true,
            }
            if stopping || batch.len() >= MAX_BATCH {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        let units = std::mem::take(&mut batch);
        let started = std::time::Instant::now();
        if std::mem::take(&mut checkpointed) {
            // The first write after a checkpoint is the one that can start the WAL over, if no reader holds a
            // snapshot of its frames: a read that was still running at the release after the checkpoint has
            // most likely ended since (on a loaded machine the sweeper can be late).
            changes.release_idle();
        }
        let statements = units.iter().map(|(plan, _)| plan.0.len()).sum::<usize>();
        let result = commit_batch(&conn, &units);
        // Before any unit hears of its commit: the readers' snapshots from before it are not reused.
        changes.bump();
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
        checkpointed = checkpointer.after_batch(&conn, changes, statements);
    }
}

/// One transaction for the batch. First every unit goes straight in (no savepoints: almost every batch
/// commits whole); if one conflicts or fails, the batch is rolled back and run again with one savepoint per
/// unit, so that the failing unit rolls back alone. The outcomes are only true once the batch's `COMMIT`
/// returned, which is why they are handed out after it.
fn commit_batch(
    conn: &rusqlite::Connection,
    units: &[(Plan, Reply)],
) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
    let exec = |sql: &str| conn.execute_batch(sql).map_err(lite_err);
    exec("BEGIN IMMEDIATE")?;
    let mut failed = None;
    for (plan, _) in units {
        match run_lite(conn, plan) {
            Ok(Ran::Done) => {}
            other => {
                failed = Some(other.map(outcome));
                break;
            }
        }
    }
    match failed {
        None => {
            if let Err(e) = exec("COMMIT") {
                let _ = exec("ROLLBACK");
                return Err(e);
            }
            return Ok(units.iter().map(|_| Ok(CommitOutcome::Committed)).collect());
        }
        Some(outcome) if units.len() == 1 => {
            exec("ROLLBACK")?;
            return Ok(vec![outcome]);
        }
        Some(_) => exec("ROLLBACK")?,
    }
    exec("BEGIN IMMEDIATE")?;
    let mut outcomes = Vec::with_capacity(units.len());
    for (plan, _) in units {
        exec("SAVEPOINT unit")?;
        let ran = run_lite(conn, plan).map(outcome);
        match ran {
            Ok(CommitOutcome::Committed) => exec("RELEASE unit")?,
            _ => exec("ROLLBACK TO unit; RELEASE unit")?,
        }
        outcomes.push(ran);
    }
    if let Err(e) = exec("COMMIT") {
        let _ = exec("ROLLBACK");
        return Err(e);
    }
    Ok(outcomes)
}
