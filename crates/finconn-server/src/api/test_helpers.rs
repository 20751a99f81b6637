//! `/v1/test_helpers/financial_connections/…`: automate the link flow without a browser (test mode only).

use axum::extract::Path;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field};
use crate::json::Json;

/// `POST /v1/test_helpers/financial_connections/sessions/{session}/complete`: `institution` (required),
/// `accounts[]` (account names; default every account the session allows, up to its limit).
pub async fn complete_session(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
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
pub async fn expire_session(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let session = ctx.core.expire_session_for_test(ctx.scope(), &id).await?;
    expand::object(&ctx, session, &expand, expand::SESSION).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/deactivate` (finconn extension): the
/// institution stops giving access; the account turns `inactive` (`financial_connections.account.deactivated`).
pub async fn deactivate_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    set_access(&ctx, &id, false).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/reactivate` (finconn extension): access
/// is back; the account is `active` again (`financial_connections.account.reactivated`).
pub async fn reactivate_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    set_access(&ctx, &id, true).await
}

async fn set_access(ctx: &Ctx, id: &str, active: bool) -> Result<Json, ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let account = ctx.core.set_access_for_test(ctx.scope(), id, active, Some(&ctx.origin())).await?;
    expand::object(ctx, account, &expand, expand::ACCOUNT).await
}

/// Minor units the amount helpers accept: ±10^12 (ten billion in a two-decimal currency).
const MAX_AMOUNT: i64 = 1_000_000_000_000;

fn test_mode(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.scope().livemode {
        return Err(ApiError::test_mode_only());
    }
    Ok(())
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/refresh_outcome` (finconn extension):
/// `feature` (`balance`, `ownership`, `transactions`) and `outcome` (`succeeded`, `failed`, `pending`). The
/// account's next refreshes of that feature end so; `pending` holds them until another outcome is set.
pub async fn refresh_outcome(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    use finconn_core::accounts::Feature;
    use finconn_core::scripted::Outcome;
    test_mode(&ctx)?;
    let (feature, outcome, expand) = params::parse(&ctx.form, |root| {
        let feature = root.required_enum("feature", Feature::VALUES, Feature::parse);
        let outcome = root.required_enum("outcome", Outcome::VALUES, Outcome::parse);
        Some((feature?, outcome?, root.expand()))
    })?;
    let account = ctx.core.script_refresh_outcome(ctx.scope(), &id, feature, outcome).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/balance` (finconn extension): `current`
/// and optional `available` (cash accounts; default `current`), in minor units. Reported from the next
/// balance refresh on.
pub async fn script_balance(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let (current, available, expand) = params::parse(&ctx.form, |root| {
        let current = root.required_integer("current", -MAX_AMOUNT, MAX_AMOUNT);
        let available = root.integer("available", -MAX_AMOUNT, MAX_AMOUNT).value();
        Some((current?, available, root.expand()))
    })?;
    let account = ctx.core.script_balance(ctx.scope(), &id, current, available).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

fn transaction_status(s: &str) -> Option<finconn_core::provider::TransactionStatus> {
    use finconn_core::provider::TransactionStatus;
    match s {
        "pending" => Some(TransactionStatus::Pending),
        "posted" => Some(TransactionStatus::Posted),
        _ => None,
    }
}

fn currency(s: &str) -> Option<String> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic())).then(|| s.to_ascii_lowercase())
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/transactions` (finconn extension):
/// `amount` (minor units, negative for money out), `description`, optional `status` (`pending` or `posted`,
/// default `posted`), `transacted_at` (default now) and `currency` (default the account's). Answers the
/// `financial_connections.transaction`, which the next transaction refresh lists with the same id.
pub async fn script_transaction(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    use finconn_core::provider::TransactionStatus;
    test_mode(&ctx)?;
    let (new, expand) = params::parse(&ctx.form, |root| {
        let amount = root.required_integer("amount", -MAX_AMOUNT, MAX_AMOUNT);
        let description = root.required_string("description", 5000);
        let status = root.enumeration("status", &["pending", "posted"], transaction_status).value();
        let transacted_at = root.integer("transacted_at", 0, 253_402_300_799).value();
        let currency = root.enumeration("currency", &["a three-letter ISO code"], currency).value();
        Some((
            finconn_core::scripted::NewScriptedTransaction {
                amount: amount?,
                currency,
                description: description?,
                status: status.unwrap_or(TransactionStatus::Posted),
                transacted_at,
            },
            root.expand(),
        ))
    })?;
    let t = ctx.core.script_transaction(ctx.scope(), &id, new).await?;
    expand::object(&ctx, t, &expand, expand::NONE).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/transactions/{transaction}/post`
/// (finconn extension): a pending scripted transaction posts (`status_transitions.posted_at`).
pub async fn post_transaction(ctx: Ctx, Path((id, txn)): Path<(String, String)>) -> Result<Json, ApiError> {
    move_transaction(ctx, id, txn, finconn_core::provider::TransactionStatus::Posted).await
}

/// `POST /v1/test_helpers/financial_connections/accounts/{account}/transactions/{transaction}/void`
/// (finconn extension): a pending scripted transaction is voided (`status_transitions.void_at`).
pub async fn void_transaction(ctx: Ctx, Path((id, txn)): Path<(String, String)>) -> Result<Json, ApiError> {
    move_transaction(ctx, id, txn, finconn_core::provider::TransactionStatus::Void).await
}

async fn move_transaction(
    ctx: Ctx,
    id: String,
    txn: String,
    to: finconn_core::provider::TransactionStatus,
) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let t = ctx.core.script_transaction_status(ctx.scope(), &id, &txn, to).await?;
    expand::object(&ctx, t, &expand, expand::NONE).await
}

/// `POST /v1/test_helpers/events/{event}/resend` (finconn extension): `webhook_endpoint` (required). The
/// event is delivered again to that endpoint (a new delivery with its own retries), whatever the
/// endpoint's `enabled_events`. Answers the event.
pub async fn resend_event(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let (endpoint, expand) = params::parse(&ctx.form, |root| {
        let endpoint = root.required_string("webhook_endpoint", 5000);
        Some((endpoint?, root.expand()))
    })?;
    let event = ctx.core.resend_event(ctx.scope(), &id, &endpoint).await?;
    expand::object(&ctx, event, &expand, expand::NONE).await
}

/// `POST /v1/test_helpers/financial_connections/institutions/{institution}/downtime` (finconn extension):
/// `kind` (`scheduled` with `until`, a unix time ahead; `unscheduled`; `error`). For this account's test
/// mode only: the modal and the institutions API show the institution down; a scheduled downtime ends by
/// itself at `until`. Answers the `financial_connections.institution` as it now is.
pub async fn set_downtime(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    use finconn_core::scripted::DowntimeKind;
    test_mode(&ctx)?;
    let (kind, until, expand) = params::parse(&ctx.form, |root| {
        let kind = root.required_enum("kind", DowntimeKind::VALUES, DowntimeKind::parse);
        let until = root.integer("until", 0, 253_402_300_799).value();
        Some((kind?, until, root.expand()))
    })?;
    let inst = ctx.core.set_downtime(ctx.scope(), &id, kind, until).await?;
    expand::object(&ctx, super::institutions::to_wire(&inst, false), &expand, expand::NONE).await
}

/// `DELETE /v1/test_helpers/financial_connections/institutions/{institution}/downtime`: the institution is
/// up again for this account's test mode.
pub async fn end_downtime(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    test_mode(&ctx)?;
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let inst = ctx.core.end_downtime(ctx.scope(), &id).await?;
    expand::object(&ctx, super::institutions::to_wire(&inst, false), &expand, expand::NONE).await
}
