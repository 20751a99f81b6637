//! Customers and sessions: a JSON record plus the columns queries filter on.

use finconn_core::model::{CustomerRecord, LinkedAccountRecord, Scope, SessionRecord};
use finconn_core::store::{Cursor, CustomerFilter, Page, PageRequest};
use finconn_core::StoreError;

use crate::corrupt;
use crate::pool::{Exec, Pools};
use crate::sql::Q;

pub(crate) fn to_json<T: serde::Serialize>(rec: &T) -> Result<String, StoreError> {
    serde_json::to_string(rec).map_err(corrupt)
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, StoreError> {
    serde_json::from_str(data).map_err(corrupt)
}

/// The `seq` of a cursor object, which must belong to the same list.
pub(crate) async fn cursor_seq(pools: &Pools, table: &str, scope: &Scope, id: &str) -> Result<i64, StoreError> {
    let sql = format!("SELECT seq FROM {table} WHERE id = $1 AND account_id = $2 AND livemode = $3");
    let seq: Option<(i64,)> = pools.opt(Q::new(sql).bind(id).bind(&scope.account).bind(scope.livemode)).await?;
    seq.map(|(s,)| s).ok_or(StoreError::CursorNotFound)
}

/// Where a newest-first page starts: `(comparison, order, seq bound)` for `seq {cmp} bound ORDER BY seq
/// {order}`. `starting_after` walks to older objects, `ending_before` to newer ones; either way the page holds
/// up to `limit` objects and `has_more` says whether more lie beyond it in that direction. A cursor that
/// names no object of this list is `CursorNotFound`.
pub(crate) async fn page_bounds(
    pools: &Pools,
    table: &str,
    scope: &Scope,
    page: &PageRequest,
) -> Result<(&'static str, &'static str, i64), StoreError> {
    Ok(match &page.cursor {
        Some(Cursor::Before(id)) => (">", "ASC", cursor_seq(pools, table, scope, id).await?),
        Some(Cursor::After(id)) => ("<", "DESC", cursor_seq(pools, table, scope, id).await?),
        None => ("<", "DESC", i64::MAX),
    })
}

pub(crate) fn finish_page<T>(mut items: Vec<T>, page: &PageRequest) -> Page<T> {
    let limit = page.limit as usize;
    let has_more = items.len() > limit;
    items.truncate(limit);
    if matches!(page.cursor, Some(Cursor::Before(_))) {
        items.reverse();
    }
    Page { items, has_more }
}

/// Records stored as JSON whose scope and version live in their own columns.
pub(crate) trait Versioned: serde::de::DeserializeOwned + Clone + Send + 'static {
    fn place(&mut self, scope: Scope, version: i64);
}

macro_rules! versioned {
    ($($t:ty),+) => {
        $(impl Versioned for $t {
            fn place(&mut self, scope: Scope, version: i64) {
                self.scope = Some(scope);
                self.version = version;
            }
        })+
    };
}
versioned!(
    CustomerRecord,
    finconn_core::model::TestClockRecord,
    SessionRecord,
    finconn_core::model::LinkedAccountRecord,
    finconn_core::model::ConnectionRecord,
    finconn_core::model::WebhookEndpointRecord
);

/// Decodes a record's JSON (or clones its last decoding, `memo`) and puts back its scope and version.
pub(crate) fn decode<T: Versioned>(data: &str, scope: Scope, version: i64) -> Result<T, StoreError> {
    let mut rec: T = crate::memo::decoded(data)?;
    rec.place(scope, version);
    Ok(rec)
}

/// One record of `table` by id within a tenant, in whichever mode it is (the domain tells the caller's mode
/// from the other's). `table` is one of ours, never user input.
pub(crate) async fn get_in_account<T: Versioned>(
    pools: &Pools,
    table: &'static str,
    account: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let row = pools.lookup(table, id, account).await?;
    row.map(|(livemode, version, data)| decode(&data, Scope { account: account.to_owned(), livemode }, version))
        .transpose()
}

pub(crate) async fn get_customer(pools: &Pools, account: &str, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
    get_in_account(pools, "customers", account, id).await
}

pub(crate) async fn list_customers(
    pools: &Pools,
    scope: &Scope,
    filter: &CustomerFilter,
    page: &PageRequest,
) -> Result<Page<CustomerRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "customers", scope, page).await?;
    let sql = format!(
        "SELECT version, data FROM customers WHERE account_id = $1 AND livemode = $2 AND deleted = $3 \
         AND (CAST($4 AS TEXT) IS NULL OR email = $4) AND seq {cmp} $5 AND created >= $7 AND created <= $8 \
         AND (test_clock = $9 OR (CAST($9 AS TEXT) IS NULL AND test_clock IS NULL)) \
         ORDER BY seq {order} LIMIT $6"
    );
    let rows: Vec<(i64, String)> = pools
        .all(
            Q::new(sql.clone())
                .bind(&scope.account)
                .bind(scope.livemode)
                .bind(false)
                .bind(&filter.email)
                .bind(bound)
                .bind(i64::from(page.limit) + 1)
                .bind(filter.created.0)
                .bind(filter.created.1)
                .bind(&filter.test_clock),
        )
        .await?;
    let items =
        rows.into_iter().map(|(version, data)| decode(&data, scope.clone(), version)).collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn get_session(pools: &Pools, account: &str, id: &str) -> Result<Option<SessionRecord>, StoreError> {
    get_in_account(pools, "sessions", account, id).await
}

pub(crate) async fn find_session_by_id(pools: &Pools, id: &str) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<(String, bool, i64, String)> =
        pools.opt(Q::new("SELECT account_id, livemode, version, data FROM sessions WHERE id = $1").bind(id)).await?;
    row.map(|(account, livemode, version, data)| decode::<SessionRecord>(&data, Scope { account, livemode }, version))
        .transpose()
}

pub(crate) async fn session_accounts(
    pools: &Pools,
    scope: &Scope,
    session: &str,
) -> Result<Vec<LinkedAccountRecord>, StoreError> {
    accounts_where(pools, scope, "session_id", session).await
}

/// A tenant's linked accounts whose `column` (one of ours, never user input) is `value`, oldest first.
pub(crate) async fn accounts_where(
    pools: &Pools,
    scope: &Scope,
    column: &str,
    value: &str,
) -> Result<Vec<LinkedAccountRecord>, StoreError> {
    let sql = format!(
        "SELECT version, data FROM fc_accounts WHERE account_id = $1 AND livemode = $2 AND {column} = $3 ORDER BY seq"
    );
    let rows: Vec<(i64, String)> =
        pools.all(Q::new(sql.clone()).bind(&scope.account).bind(scope.livemode).bind(value)).await?;
    rows.into_iter().map(|(v, d)| decode(&d, scope.clone(), v)).collect()
}

pub(crate) async fn institution_downtimes(
    pools: &Pools,
    scope: &Scope,
) -> Result<Vec<finconn_core::scripted::Downtime>, StoreError> {
    let rows: Vec<(String,)> = pools.all(Q::new(
        "SELECT data FROM institution_downtimes WHERE account_id = $1 AND livemode = $2 ORDER BY institution_id"
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    ).await?;
    rows.iter().map(|(d,)| from_json(d)).collect()
}
