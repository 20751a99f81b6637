//! The dashboard's own reads and its sign-ins (`ConsoleAuth`: links and sessions). The request log is
//! `request_log`.

use async_trait::async_trait;
use finconn_core::console::{
    DashboardLinkRecord, DashboardSessionRecord, SessionFilter, SessionState, TransactionSearch,
};
use finconn_core::model::{LinkedAccountRecord, Scope, SessionRecord, TransactionRecord};
use finconn_core::store::{CommitOutcome, ConsoleAuth, ConsoleLists, Cursor, Page, PageRequest};
use finconn_core::StoreError;

use crate::objects::{decode, finish_page, from_json, page_bounds};
use crate::pool::{BeginWrite, Exec, Pools};
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
