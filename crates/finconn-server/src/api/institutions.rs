//! `/v1/financial_connections/institutions`: the institutions of the key's mode, in the shape of Stripe's
//! newer API (`financial_connections.institution`).

use axum::extract::{Path, State};
use finconn_core::provider::{Institution, InstitutionStatus};
use finconn_core::store::Cursor;
use finconn_types::{List, Permission};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params;
use crate::json::Json;
use crate::startup::AppState;

const OBJECT: &str = "financial_connections.institution";

pub fn to_wire(i: &Institution, livemode: bool) -> Value {
    let supported = |p: Permission| json!({ "supported": i.features.contains(&p) });
    let status = match i.status {
        InstitutionStatus::Active => "active",
        InstitutionStatus::Erroring => "degraded",
        InstitutionStatus::DownScheduled { .. } | InstitutionStatus::DownUnscheduled => "down",
    };
    json!({
        "countries": i.countries,
        "features": {
            "balances": supported(Permission::Balances),
            "ownership": supported(Permission::Ownership),
            "payment_method": supported(Permission::PaymentMethod),
            "transactions": supported(Permission::Transactions),
        },
        "id": i.id,
        "livemode": livemode,
        "name": i.name,
        "object": OBJECT,
        "routing_numbers": [],
        "status": status,
        "url": i.url,
    })
}

/// `GET /v1/financial_connections/institutions`
pub async fn list_institutions(State(app): State<AppState>, ctx: Ctx) -> Result<Json, ApiError> {
    let (page, expand) = params::parse(&ctx.form, |root| {
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((page?, expand))
    })?;
    let livemode = ctx.scope().livemode;
    // The key's mode's provider (live: its catalogue), with the tenant's test-helper downtimes applied.
    let all: Vec<Institution> = if livemode {
        app.core.provider(livemode).map(|p| p.institutions()).unwrap_or_default()
    } else {
        ctx.core.institutions(ctx.scope()).await?
    };
    let position = |id: &str, param: &str| {
        all.iter()
            .position(|i| i.id == id)
            .ok_or_else(|| ApiError::from(finconn_core::DomainError::not_found(OBJECT, id, Some(param))))
    };
    let limit = page.limit as usize;
    let (items, has_more) = match &page.cursor {
        None => (all.iter().take(limit).collect::<Vec<_>>(), all.len() > limit),
        Some(Cursor::After(id)) => {
            let start = position(id, "starting_after")? + 1;
            (all[start..].iter().take(limit).collect(), all.len() > start + limit)
        }
        Some(Cursor::Before(id)) => {
            let end = position(id, "ending_before")?;
            let start = end.saturating_sub(limit);
            (all[start..end].iter().collect(), start > 0)
        }
    };
    let list = List::new(
        items.into_iter().map(|i| to_wire(i, livemode)).collect(),
        has_more,
        "/v1/financial_connections/institutions",
    );
    expand::list(&ctx, list, &expand, expand::NONE).await
}

/// `GET /v1/financial_connections/institutions/{institution}`
pub async fn retrieve_institution(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let livemode = ctx.scope().livemode;
    let inst = if livemode {
        app.core.provider(livemode).and_then(|p| p.institution(&id))
    } else {
        ctx.core.institutions(ctx.scope()).await?.into_iter().find(|i| i.id == id)
    }
    .ok_or_else(|| ApiError::from(finconn_core::DomainError::not_found(OBJECT, &id, None)))?;
    expand::object(&ctx, to_wire(&inst, livemode), &expand, expand::NONE).await
}
