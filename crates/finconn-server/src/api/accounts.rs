//! `/v1/financial_connections/accounts`: linked accounts, their refreshes, subscriptions and owners.

use axum::extract::Path;
use finconn_core::accounts::Feature;
use finconn_core::store::AccountFilter;
use finconn_types::List;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field, Obj};
use crate::json::Json;

const URL: &str = "/v1/financial_connections/accounts";

/// `GET /v1/financial_connections/accounts`
pub async fn list_accounts(ctx: Ctx) -> Result<Json, ApiError> {
    let (filter, page, expand) = params::parse(&ctx.form, |root| {
        let mut filter = AccountFilter { session: root.string("session", 5000).value(), ..AccountFilter::default() };
        if let Field::Value(h) = root.object("account_holder") {
            filter.customer = h.string("customer", 5000).value();
            filter.account = h.string("account", 5000).value();
            filter.customer_account = h.string("customer_account", 5000).value();
            let given: Vec<&str> = [
                filter.account.as_ref().map(|_| "account_holder[account]"),
                filter.customer.as_ref().map(|_| "account_holder[customer]"),
                filter.customer_account.as_ref().map(|_| "account_holder[customer_account]"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if given.len() > 1 {
                h.report().reject(ApiError::exclusive(given[0], given[1]));
            }
        }
        let page = super::page_request(&root);
        Some((filter, page?, root.expand()))
    })?;
    let out = ctx.core.list_accounts(ctx.scope(), &filter, &page).await?;
    expand::list(&ctx, List::new(out.items, out.has_more, URL), &expand, expand::ACCOUNT).await
}

/// `GET /v1/financial_connections/accounts/{account}`
pub async fn retrieve_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let account = ctx.core.retrieve_account(ctx.scope(), &id).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `POST /v1/financial_connections/accounts/{account}/disconnect`
pub async fn disconnect_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let account = ctx.core.disconnect_account(ctx.scope(), &id, Some(&ctx.origin())).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `features[]` (required), each one of `values`.
fn features(root: &Obj<'_>, values: &[&str]) -> Option<Vec<(String, Feature)>> {
    match root.string_array("features", 100, 10) {
        Field::Value(items) if !items.is_empty() => {
            let mut out: Vec<(String, Feature)> = Vec::new();
            for (path, raw) in items {
                match Feature::parse(&raw).filter(|_| values.contains(&raw.as_str())) {
                    Some(f) if !out.iter().any(|(_, g)| *g == f) => out.push((path, f)),
                    Some(_) => {}
                    None => {
                        let message = format!("Invalid {path}: must be one of {}", one_of(values));
                        root.report().reject(ApiError::invalid(path, message));
                        return None;
                    }
                }
            }
            Some(out)
        }
        Field::Absent if root.has("features") => None,
        _ => {
            root.report().reject(ApiError::missing("features"));
            None
        }
    }
}

fn one_of(values: &[&str]) -> String {
    match values {
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} or {b}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// `POST /v1/financial_connections/accounts/{account}/refresh`
pub async fn refresh_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let (features, expand) = params::parse(&ctx.form, |root| {
        let features = features(&root, Feature::VALUES);
        let expand = root.expand();
        Some((features?, expand))
    })?;
    let account = ctx.core.refresh_account(ctx.scope(), &id, &features).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `POST /v1/financial_connections/accounts/{account}/subscribe`
pub async fn subscribe_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| {
        let features = features(&root, &["transactions"]);
        let expand = root.expand();
        features.map(|_| expand)
    })?;
    let account = ctx.core.subscribe_account(ctx.scope(), &id).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `POST /v1/financial_connections/accounts/{account}/unsubscribe`
pub async fn unsubscribe_account(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| {
        let features = features(&root, &["transactions"]);
        let expand = root.expand();
        features.map(|_| expand)
    })?;
    let account = ctx.core.unsubscribe_account(ctx.scope(), &id).await?;
    expand::object(&ctx, account, &expand, expand::ACCOUNT).await
}

/// `GET /v1/financial_connections/accounts/{account}/owners`
pub async fn list_owners(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let (ownership, page, expand) = params::parse(&ctx.form, |root| {
        let ownership = root.required_string("ownership", 5000);
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((ownership?, page?, expand))
    })?;
    let out = ctx.core.list_owners(ctx.scope(), &id, &ownership, &page).await?;
    let url = format!("{URL}/{id}/owners");
    expand::list(&ctx, List::new(out.items, out.has_more, url), &expand, expand::NONE).await
}
