//! `/v1/test_helpers/test_clocks`: Stripe's test clocks (test mode only). finconn runs the accounts linked
//! for a clock's customers on the clock's time (see `finconn_core::test_clocks`).

use axum::extract::Path;
use finconn_types::List;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field, Obj};
use crate::json::Json;

/// The latest time a clock may show: the end of year 9999.
const MAX_TIME: i64 = 253_402_300_799;

fn test_mode(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    Ok(())
}

/// `frozen_time`, required: a unix time.
fn frozen_time(root: &Obj<'_>) -> Option<i64> {
    match root.integer("frozen_time", 0, MAX_TIME) {
        Field::Value(t) => Some(t),
        Field::Absent if root.has("frozen_time") => None,
        _ => {
            root.report().reject(ApiError::missing("frozen_time"));
            None
        }
    }
}

/// `POST /v1/test_helpers/test_clocks`: `frozen_time` (required), `name`, `customer`.
pub async fn create_test_clock(ctx: Ctx) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let (frozen, name, customer, expand) = params::parse(&ctx.form, |root| {
        let frozen = frozen_time(&root);
        let name = root.string_set("name", 300);
        let customer = root.string_set("customer", 5000);
        let expand = root.expand();
        Some((frozen?, name, customer, expand))
    })?;
    let clock = ctx.core.create_test_clock(ctx.scope(), frozen, name, customer.as_deref(), Some(&ctx.origin())).await?;
    expand::object(&ctx, clock, &expand, expand::NONE).await
}

/// `GET /v1/test_helpers/test_clocks`
pub async fn list_test_clocks(ctx: Ctx) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let (page, expand) = params::parse(&ctx.form, |root| {
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((page?, expand))
    })?;
    let out = ctx.core.list_test_clocks(ctx.scope(), &page).await?;
    let list = List::new(out.items, out.has_more, "/v1/test_helpers/test_clocks");
    expand::list(&ctx, list, &expand, expand::NONE).await
}

/// `GET /v1/test_helpers/test_clocks/{test_clock}`
pub async fn retrieve_test_clock(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let clock = ctx.core.retrieve_test_clock(ctx.scope(), &id).await?;
    expand::object(&ctx, clock, &expand, expand::NONE).await
}

/// `DELETE /v1/test_helpers/test_clocks/{test_clock}`: its customers are deleted and their linked accounts
/// disconnected.
pub async fn delete_test_clock(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    params::parse(&ctx.form, |_| Some(()))?;
    let deleted = ctx.core.delete_test_clock(ctx.scope(), &id, Some(&ctx.origin())).await?;
    Ok(Json::wire(&deleted))
}

/// `POST /v1/test_helpers/test_clocks/{test_clock}/advance`: answers `advancing` at once; the clock is
/// `ready` when everything due on the way has run.
pub async fn advance_test_clock(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let (frozen, expand) = params::parse(&ctx.form, |root| {
        let frozen = frozen_time(&root);
        let expand = root.expand();
        Some((frozen?, expand))
    })?;
    let clock = ctx.core.advance_test_clock(ctx.scope(), &id, frozen, Some(&ctx.origin())).await?;
    expand::object(&ctx, clock, &expand, expand::NONE).await
}
