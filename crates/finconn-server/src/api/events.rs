//! `/v1/events` and `/v1/webhook_endpoints`.

use axum::extract::{Path, State};
use finconn_core::events::EndpointChanges;
use finconn_core::store::EventFilter;
use finconn_types::event_types::ENABLED_EVENTS;
use finconn_types::List;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field, Obj};
use crate::json::Json;
use crate::startup::AppState;

/// `GET /v1/events`: `type` (with `*` wildcards) or `types[]` (up to 20), `created`, `delivery_success`,
/// pagination. The last 30 days.
pub async fn list_events(ctx: Ctx) -> Result<Json, ApiError> {
    let (filter, page, expand) = params::parse(&ctx.form, |root| {
        let one = root.string("type", 5000).value();
        let many = root.string_array("types", 5000, 20);
        let kinds = match (one, many) {
            (Some(_), Field::Value(_)) => {
                root.report().reject(ApiError::exclusive("type", "types"));
                None
            }
            (Some(t), _) => Some(vec![t]),
            (None, Field::Value(items)) => Some(items.into_iter().map(|(_, v)| v).collect()),
            (None, _) => Some(Vec::new()),
        };
        let created = super::range(&root, "created");
        let delivery_success = root.boolean("delivery_success");
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((EventFilter { kinds: kinds?, created: created?, delivery_success }, page?, expand))
    })?;
    let out = ctx.core.list_events(ctx.scope(), filter, &page).await?;
    expand::list(&ctx, List::new(out.items, out.has_more, "/v1/events"), &expand, expand::NONE).await
}

/// `GET /v1/events/{id}`
pub async fn retrieve_event(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let event = ctx.core.retrieve_event(ctx.scope(), &id).await?;
    expand::object(&ctx, event, &expand, expand::NONE).await
}

/// A well-formed http(s) URL that the webhook address policy of the caller's mode allows (checked again
/// when connecting, after DNS).
fn valid_url(root: &Obj<'_>, u: &str, policy: &finconn_providers::outbound::Outbound) -> bool {
    let Some(parsed) =
        url::Url::parse(u).ok().filter(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some())
    else {
        root.report().reject(ApiError::url_invalid("url"));
        return false;
    };
    if let Err(e) = policy.check_url(&parsed) {
        root.report().reject(ApiError::invalid("url", format!("Invalid URL: {e}.")));
        return false;
    }
    true
}

fn enabled_events(root: &Obj<'_>, required: bool) -> Option<Option<Vec<String>>> {
    match root.string_array("enabled_events", 5000, 300) {
        Field::Value(items) if !items.is_empty() => {
            let mut out: Vec<String> = Vec::new();
            for (path, e) in items {
                if e != "*" && !ENABLED_EVENTS.contains(&e.as_str()) {
                    root.report()
                        .reject(ApiError::invalid(path.clone(), format!("Invalid {path}: {e} is not an event type")));
                    return None;
                }
                if !out.contains(&e) {
                    out.push(e);
                }
            }
            Some(Some(out))
        }
        Field::Absent if !required => Some(None),
        Field::Absent if root.has("enabled_events") => None,
        _ => {
            root.report().reject(ApiError::missing("enabled_events"));
            None
        }
    }
}

fn changes(root: &Obj<'_>, create: bool, policy: &finconn_providers::outbound::Outbound) -> Option<EndpointChanges> {
    let url = if create { root.required_string("url", 5000) } else { root.string_set("url", 5000) };
    if let Some(u) = &url {
        valid_url(root, u, policy);
    }
    let enabled_events = enabled_events(root, create);
    let description = match root.string("description", 5000) {
        Field::Value(d) => Some(Some(d)),
        Field::Empty => Some(None),
        Field::Absent => None,
    };
    let metadata = root.metadata("metadata").map(|m| m.map(|pairs| pairs.into_iter().collect()));
    let (disabled, api_version) = if create {
        let api_version = root.string_set("api_version", 5000);
        if api_version.as_deref().is_some_and(|v| !crate::extract::auth::valid_version(v)) {
            root.report().reject(ApiError::invalid("api_version", "Invalid api_version: not a Stripe API version"));
        }
        if root.boolean("connect") == Some(true) {
            root.report()
                .reject(ApiError::invalid("connect", "Connect webhook endpoints are not supported by finconn."));
        }
        (None, api_version)
    } else {
        (root.boolean("disabled"), None)
    };
    Some(EndpointChanges { url, enabled_events: enabled_events?, description, metadata, disabled, api_version })
}

/// `POST /v1/webhook_endpoints`: the answer carries the `whsec_…` secret, this once.
pub async fn create_webhook_endpoint(State(app): State<AppState>, ctx: Ctx) -> Result<Json, ApiError> {
    let (c, expand) = params::parse(&ctx.form, |root| {
        let changes = changes(&root, true, app.webhooks.for_mode(ctx.scope().livemode));
        let expand = root.expand();
        Some((changes?, expand))
    })?;
    let e = ctx.core.create_webhook_endpoint(ctx.scope(), c).await?;
    expand::object(&ctx, e, &expand, expand::NONE).await
}

/// `GET /v1/webhook_endpoints/{id}`
pub async fn retrieve_webhook_endpoint(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let e = ctx.core.retrieve_webhook_endpoint(ctx.scope(), &id).await?;
    expand::object(&ctx, e, &expand, expand::NONE).await
}

/// `POST /v1/webhook_endpoints/{id}`
pub async fn update_webhook_endpoint(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json, ApiError> {
    let (c, expand) = params::parse(&ctx.form, |root| {
        let changes = changes(&root, false, app.webhooks.for_mode(ctx.scope().livemode));
        let expand = root.expand();
        Some((changes?, expand))
    })?;
    let e = ctx.core.update_webhook_endpoint(ctx.scope(), &id, c).await?;
    expand::object(&ctx, e, &expand, expand::NONE).await
}

/// `DELETE /v1/webhook_endpoints/{id}`
pub async fn delete_webhook_endpoint(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    params::parse(&ctx.form, |_| Some(()))?;
    let d = ctx.core.delete_webhook_endpoint(ctx.scope(), &id).await?;
    Ok(Json::wire(&d))
}

/// `GET /v1/webhook_endpoints`
pub async fn list_webhook_endpoints(ctx: Ctx) -> Result<Json, ApiError> {
    let (page, expand) = params::parse(&ctx.form, |root| {
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((page?, expand))
    })?;
    let out = ctx.core.list_webhook_endpoints(ctx.scope(), &page).await?;
    expand::list(&ctx, List::new(out.items, out.has_more, "/v1/webhook_endpoints"), &expand, expand::NONE).await
}

/// `GET /v1/webhook_endpoints/{id}/attempts` (finconn extension): the latest delivery attempts, newest
/// first, with their time, status code, latency and error, and `failed_deliveries`: how many events
/// were given up on after three days (the endpoint is failing).
pub async fn list_attempts(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let limit = params::parse(&ctx.form, |root| match root.integer("limit", 1, 100) {
        Field::Value(n) => Some(n),
        _ => Some(10),
    })?;
    let (attempts, failed) = ctx.core.list_attempts(ctx.scope(), &id, limit).await?;
    let data: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "object": "webhook_attempt",
                "event": a.event,
                "webhook_endpoint": a.endpoint,
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
            })
        })
        .collect();
    Ok(Json::value(json!({
        "data": data,
        "failed_deliveries": failed,
        "has_more": false,
        "object": "list",
        "url": format!("/v1/webhook_endpoints/{id}/attempts"),
    })))
}
