//! Events, webhook endpoints, deliveries and attempts.

use finconn_core::model::{
    AttemptRecord, DeliveryRecord, DeliveryStatus, EventRecord, JobKind, NewJob, Scope, WebhookEndpointRecord,
};
use finconn_core::store::{EventFilter, Page, PageRequest};
use finconn_core::StoreError;

use crate::effects::StoredEvent;
use crate::objects::{finish_page, from_json, page_bounds, to_json};
use crate::pool::{BeginWrite, Exec, Pools};
use crate::sql::Q;
use crate::{corrupt, db_err};

type EventRow = (String, String, bool, String, i64, i64, String);
/// id, account, livemode, event, endpoint, status, attempts, created.
type DeliveryRow = (i64, String, bool, String, String, String, i64, i64);

fn decode_event(row: EventRow) -> Result<EventRecord, StoreError> {
    let (id, account, livemode, kind, created, pending, data) = row;
    let stored: StoredEvent = from_json(&data)?;
    Ok(EventRecord {
        id,
        scope: Scope { account, livemode },
        kind,
        created,
        object: stored.object,
        previous_attributes: stored.previous_attributes,
        request: stored.request,
        pending_webhooks: pending,
    })
}

const EVENT_COLUMNS: &str = "id, account_id, livemode, type, created, pending_webhooks, data";

pub(crate) async fn get_event(pools: &Pools, scope: &Scope, id: &str) -> Result<Option<EventRecord>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND account_id = $2 AND livemode = $3");
    let row: Option<EventRow> =
        pools.opt(Q::new(sql.clone()).bind(id).bind(&scope.account).bind(scope.livemode)).await?;
    row.map(decode_event).transpose()
}

/// `financial_connections.account.*` → a LIKE pattern (`%` for `*`, with `%`, `_` and `\` escaped).
fn like_pattern(kind: &str) -> String {
    let mut out = String::with_capacity(kind.len());
    for c in kind.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) async fn list_events(
    pools: &Pools,
    scope: &Scope,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<EventRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "events", scope, page).await?;
    // Up to 20 type patterns: each is a bound parameter ($7 onwards).
    let kinds: Vec<String> = filter.kinds.iter().map(|k| like_pattern(k)).collect();
    let type_clause = if kinds.is_empty() {
        String::new()
    } else {
        let ors: Vec<String> = (0..kinds.len()).map(|i| format!("type LIKE ${} ESCAPE '\\'", i + 7)).collect();
        format!(" AND ({})", ors.join(" OR "))
    };
    let delivered = match filter.delivery_success {
        Some(true) => " AND pending_webhooks = 0",
        Some(false) => " AND pending_webhooks > 0",
        None => "",
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE account_id = $1 AND livemode = $2 AND created >= $3 AND created <= $4 \
         AND seq {cmp} $5{type_clause}{delivered} ORDER BY seq {order} LIMIT $6"
    );
    let mut q = Q::new(sql)
        .bind(&scope.account)
        .bind(scope.livemode)
        .bind(filter.created.0)
        .bind(filter.created.1)
        .bind(bound)
        .bind(i64::from(page.limit) + 1);
    for k in &kinds {
        q = q.bind(k);
    }
    let rows: Vec<EventRow> = pools.all(q).await?;
    let items = rows.into_iter().map(decode_event).collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn prune_events(pools: &Pools, before: i64) -> Result<u64, StoreError> {
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d \
             JOIN events e ON e.id = d.event_id WHERE e.created < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM events WHERE created < $1)")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM events WHERE created < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    })
}

pub(crate) async fn get_webhook_endpoint(
    pools: &Pools,
    scope: &Scope,
    id: &str,
) -> Result<Option<WebhookEndpointRecord>, StoreError> {
    let row: Option<(i64, String)> = pools
        .opt(
            Q::new("SELECT version, data FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND livemode = $3")
                .bind(id)
                .bind(&scope.account)
                .bind(scope.livemode),
        )
        .await?;
    row.map(|(v, d)| crate::objects::decode::<WebhookEndpointRecord>(&d, scope.clone(), v)).transpose()
}

pub(crate) async fn list_webhook_endpoints(
    pools: &Pools,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Page<WebhookEndpointRecord>, StoreError> {
    let (cmp, order, bound) = page_bounds(pools, "webhook_endpoints", scope, page).await?;
    let sql = format!(
        "SELECT version, data FROM webhook_endpoints WHERE account_id = $1 AND livemode = $2 AND seq {cmp} $3 \
         ORDER BY seq {order} LIMIT $4"
    );
    let rows: Vec<(i64, String)> = pools
        .all(Q::new(sql.clone()).bind(&scope.account).bind(scope.livemode).bind(bound).bind(i64::from(page.limit) + 1))
        .await?;
    let items = rows
        .into_iter()
        .map(|(v, d)| crate::objects::decode::<WebhookEndpointRecord>(&d, scope.clone(), v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish_page(items, page))
}

pub(crate) async fn active_webhook_endpoints(
    pools: &Pools,
    scope: &Scope,
) -> Result<Vec<WebhookEndpointRecord>, StoreError> {
    let rows: Vec<(i64, String)> = pools.all(Q::new(
        "SELECT version, data FROM webhook_endpoints WHERE account_id = $1 AND livemode = $2 AND disabled = $3 ORDER BY seq"
    )
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(false)
    ).await?;
    rows.into_iter().map(|(v, d)| crate::objects::decode::<WebhookEndpointRecord>(&d, scope.clone(), v)).collect()
}

const MARK_DONE: &str = "UPDATE jobs SET done_at = locked_until WHERE id = $1 AND done_at IS NULL";

pub(crate) async fn finish_fanout(
    pools: &Pools,
    job: i64,
    event: &str,
    endpoints: &[String],
    resent_at: Option<i64>,
) -> Result<(), StoreError> {
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        if sqlx::query(MARK_DONE).bind(job).execute(&mut *tx).await.map_err(db_err)?.rows_affected() != 1 {
            return Ok(());
        }
        let row: Option<(String, bool, i64)> =
            sqlx::query_as("SELECT account_id, livemode, created FROM events WHERE id = $1")
                .bind(event)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some((account, livemode, created)) = row else { return Ok(()) };
        // A resend's delivery has its own three days of retries.
        let created = resent_at.unwrap_or(created);
        for endpoint in endpoints {
            let delivery: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_deliveries (account_id, livemode, event_id, endpoint_id, status, attempts, created) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5) RETURNING id",
            )
            .bind(&account)
            .bind(livemode)
            .bind(event)
            .bind(endpoint)
            .bind(created)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let kind = to_json(&JobKind::DeliverWebhook { delivery })?;
            sqlx::query(crate::data::INSERT_JOB)
                .bind(&account)
                .bind(livemode)
                .bind(&kind)
                .bind(created)
                .bind(created)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let set = if resent_at.is_some() {
            "UPDATE events SET pending_webhooks = pending_webhooks + $1 WHERE id = $2"
        } else {
            "UPDATE events SET pending_webhooks = $1 WHERE id = $2"
        };
        sqlx::query(set)
            .bind(i64::try_from(endpoints.len()).unwrap_or(i64::MAX))
            .bind(event)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    })
}

pub(crate) async fn get_delivery(pools: &Pools, id: i64) -> Result<Option<DeliveryRecord>, StoreError> {
    let row: Option<DeliveryRow> = pools.opt(Q::new(
        "SELECT id, account_id, livemode, event_id, endpoint_id, status, attempts, created FROM webhook_deliveries WHERE id = $1"
    )
    .bind(id)
    ).await?;
    row.map(|(id, account, livemode, event, endpoint, status, attempts, created)| {
        Ok(DeliveryRecord {
            id,
            scope: Scope { account, livemode },
            event,
            endpoint,
            status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt(format!("delivery status {status}")))?,
            attempts,
            created,
        })
    })
    .transpose()
}

pub(crate) async fn finish_delivery(
    pools: &Pools,
    job: i64,
    attempt: &AttemptRecord,
    status: DeliveryStatus,
    attempts: i64,
    next: Option<NewJob>,
) -> Result<(), StoreError> {
    let data = to_json(attempt)?;
    let next = next.map(|j| Ok::<_, StoreError>((to_json(&j.kind)?, j.run_at))).transpose()?;
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        if sqlx::query(MARK_DONE).bind(job).execute(&mut *tx).await.map_err(db_err)?.rows_affected() != 1 {
            return Ok(());
        }
        let row: Option<(String, bool)> =
            sqlx::query_as("SELECT account_id, livemode FROM webhook_deliveries WHERE id = $1")
                .bind(attempt.delivery)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some((account, livemode)) = row else { return Ok(()) };
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, account_id, livemode, endpoint_id, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(attempt.delivery)
        .bind(&account)
        .bind(livemode)
        .bind(&attempt.endpoint)
        .bind(&data)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE webhook_deliveries SET status = $1, attempts = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(attempts)
            .bind(attempt.delivery)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if status == DeliveryStatus::Succeeded {
            sqlx::query(
                "UPDATE events SET pending_webhooks = pending_webhooks - 1 WHERE id = $1 AND pending_webhooks > 0",
            )
            .bind(&attempt.event)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        if let Some((kind, run_at)) = &next {
            sqlx::query(crate::data::INSERT_JOB)
                .bind(&account)
                .bind(livemode)
                .bind(kind)
                .bind(run_at)
                .bind(run_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    })
}

pub(crate) async fn list_attempts(
    pools: &Pools,
    scope: &Scope,
    endpoint: &str,
    limit: i64,
) -> Result<Vec<AttemptRecord>, StoreError> {
    let rows: Vec<(String,)> = pools.all(Q::new(
        "SELECT data FROM webhook_attempts WHERE endpoint_id = $1 AND account_id = $2 AND livemode = $3 ORDER BY seq DESC LIMIT $4"
    )
    .bind(endpoint)
    .bind(&scope.account)
    .bind(scope.livemode)
    .bind(limit)
    ).await?;
    rows.into_iter().map(|(d,)| from_json(&d)).collect()
}

pub(crate) async fn failed_deliveries(pools: &Pools, scope: &Scope, endpoint: &str) -> Result<i64, StoreError> {
    pools.one::<(i64,)>(Q::new(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND account_id = $2 AND livemode = $3 AND status = 'failed'"
    )
    .bind(endpoint)
    .bind(&scope.account)
    .bind(scope.livemode)
    ).await.map(|(n,)| n)
}
