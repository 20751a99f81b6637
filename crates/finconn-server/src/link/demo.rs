//! `/demo`: a merchant page for newcomers. Test mode only, off with `demo = false`. Its server side
//! creates a customer and a session in a dedicated sandbox account, then the page links through `/v3/`
//! exactly as a merchant page would.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use finconn_core::customers::CustomerChanges;
use finconn_core::keys::ApiKey;
use finconn_core::model::HolderRecord;
use finconn_core::sessions::NewSession;
use finconn_types::{AccountHolderType, ManualEntryMode, Permission};
use serde_json::json;

use super::panes;
use crate::startup::AppState;

/// The demo's sandbox account (its keys are public by design: it only ever holds demo data).
const DEMO_KEY: &str = "sk_test_finconn_demo";

pub async fn page(State(app): State<AppState>) -> Response {
    if !app.config.demo || !app.config.sandbox_keys {
        return (StatusCode::NOT_FOUND, "The demo is switched off on this server.").into_response();
    }
    panes::render_page(
        "demo.html",
        minijinja::context! { publishable_key => finconn_core::keys::sandbox_publishable_key(DEMO_KEY) },
    )
}

pub async fn create_session(State(app): State<AppState>) -> Response {
    if !app.config.demo || !app.config.sandbox_keys {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !app.demo_limiter.allow("demo", true) {
        return crate::error::ApiError::rate_limit(false).into_response();
    }
    let result = crate::unit::transact(&app, |core| async move {
        let key = ApiKey::parse(DEMO_KEY).ok_or_else(|| finconn_core::DomainError::Internal("demo key".into()))?;
        let caller =
            core.authenticate(&key).await?.ok_or_else(|| finconn_core::DomainError::Internal("demo account".into()))?;
        let changes = CustomerChanges {
            email: finconn_core::customers::Patch::Set("demo@example.com".into()),
            ..CustomerChanges::default()
        };
        let customer = core.create_customer(&caller.scope, changes).await?;
        let new = NewSession {
            relink: None,
            holder: HolderRecord {
                kind: AccountHolderType::Customer,
                customer: Some(customer.id),
                account: None,
                customer_account: None,
            },
            permissions: vec![
                Permission::Balances,
                Permission::Ownership,
                Permission::Transactions,
                Permission::PaymentMethod,
            ],
            prefetch: Vec::new(),
            countries: None,
            filters: Default::default(),
            limits: None,
            manual_entry: Some(ManualEntryMode::Automatic),
            return_url: None,
        };
        core.create_session(&caller.scope, new).await
    })
    .await;
    match result {
        Ok(s) => crate::json::Json::value(json!({ "client_secret": s.client_secret, "id": s.id })).into_response(),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}
