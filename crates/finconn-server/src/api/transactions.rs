//! `/v1/financial_connections/transactions`.

use axum::extract::Path;
use finconn_core::store::TransactionFilter;
use finconn_types::List;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field};
use crate::json::Json;

/// `GET /v1/financial_connections/transactions`: `account` (required), `transacted_at`,
/// `transaction_refresh[after]`, pagination. Newest `transacted_at` first.
pub async fn list_transactions(ctx: Ctx) -> Result<Json, ApiError> {
    let (account, filter, page, expand) = params::parse(&ctx.form, |root| {
        let account = root.required_string("account", 5000);
        let transacted_at = super::range(&root, "transacted_at");
        let after_refresh = match root.object("transaction_refresh") {
            Field::Value(t) => t.required_string("after", 5000),
            _ => None,
        };
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((account?, TransactionFilter { transacted_at: transacted_at?, after_refresh }, page?, expand))
    })?;
    let out = ctx.core.list_transactions(ctx.scope(), &account, filter, &page).await?;
    let list = List::new(out.items, out.has_more, "/v1/financial_connections/transactions");
    expand::list(&ctx, list, &expand, expand::NONE).await
}

/// `GET /v1/financial_connections/transactions/{transaction}`
pub async fn retrieve_transaction(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let t = ctx.core.retrieve_transaction(ctx.scope(), &id).await?;
    expand::object(&ctx, t, &expand, expand::NONE).await
}
