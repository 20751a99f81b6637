//! `/v1/test_helpers/financial_connections/…`: automate the link flow without a browser (test mode only).

use axum::extract::Path;
use serde_json::Value;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field};
use crate::json::Json;

/// `POST /v1/test_helpers/financial_connections/sessions/{session}/complete`: `institution` (required),
/// `accounts[]` (account names; default every account the session allows, up to its limit).
pub async fn complete_session(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    let (institution, accounts, expand) = params::parse(&ctx.form, |root| {
        let institution = root.required_string("institution", 5000);
        let accounts = match root.string_array("accounts", 5000, 100) {
            Field::Value(a) => Some(Some(a)),
            Field::Absent if root.has("accounts") => None,
            _ => Some(None),
        };
        Some((institution?, accounts?, root.expand()))
    })?;
    let session =
        ctx.core.complete_session_for_test(ctx.scope(), &id, &institution, accounts, Some(&ctx.origin())).await?;
    expand::object(&ctx, session, &expand, expand::SESSION).await
}

/// `POST /v1/test_helpers/financial_connections/sessions/{session}/expire`: its client secret stops working.
pub async fn expire_session(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let session = ctx.core.expire_session_for_test(ctx.scope(), &id).await?;
    expand::object(&ctx, session, &expand, expand::SESSION).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/deactivate` (finconn extension): the
/// institution stops giving access; the account turns `inactive` (`financial_connections.account.deactivated`).
pub async fn deactivate_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    set_access(&ctx, &id, false).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/reactivate` (finconn extension): access
/// is back; the account is `active` again (`financial_connections.account.reactivated`).
pub async fn reactivate_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    set_access(&ctx, &id, true).await
}

async fn set_access(ctx: &Ctx, id: &str, active: bool) -> Result<Json<Value>, ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let account = ctx.core.set_access_for_test(ctx.scope(), id, active, Some(&ctx.origin())).await?;
    expand::object(ctx, account, &expand, expand::ACCOUNT).await
}
