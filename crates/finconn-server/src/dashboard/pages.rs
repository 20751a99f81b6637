//! The dashboard's pages. Each reads through the domain (`Finconn`, in the viewer's account and mode) and
//! renders a template; each form posts to a handler that checks the CSRF token, runs the same domain
//! operation the `/v1` handler runs (on a unit of work, `unit::transact`), and redirects back with a
//! message.

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use finconn_core::accounts::Feature;
use finconn_core::console::{RequestLogFilter, SessionFilter, SessionState, TransactionSearch};
use finconn_core::model::Origin;
use finconn_core::store::{Cursor, EventFilter, PageRequest};
use finconn_core::DomainError;
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::Value as Json;

use super::auth::{checked_form, clear_flash, field, flash, urlencode, Viewer};
use super::{chart, render, see_other};
use crate::error::ApiError;
use crate::extract::auth::RequestId;
use crate::startup::AppState;

const PAGE_SIZE: u32 = 20;

/// A full page: the layout's context (viewer, section) and the page's own.
fn page(app: &AppState, viewer: &Viewer, name: &str, section: &str, ctx: Value) -> Response {
    let full = context! { viewer => viewer.context(), section, ..ctx };
    let mut res = render(StatusCode::OK, name, full);
    if viewer.flash.is_some() {
        clear_flash(app, &mut res);
    }
    res
}

fn mode_name(viewer: &Viewer) -> &'static str {
    if viewer.livemode {
        "live"
    } else {
        "test"
    }
}

/// A domain error on a GET: 404 for what does not exist (in this mode), else a logged 500.
fn error_page(app: &AppState, viewer: &Viewer, e: DomainError) -> Response {
    let (status, title, message) = match e {
        DomainError::NotFound { .. } => {
            let message = ApiError::from(e).message;
            (StatusCode::NOT_FOUND, "Not found", format!("{message} (You are viewing {} data.)", mode_name(viewer)))
        }
        other => {
            tracing::error!(error = %other, "dashboard page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "This page could not be loaded.".to_owned())
        }
    };
    let ctx = context! { viewer => viewer.context(), title, message, back => "/dashboard/sessions" };
    let mut res = render(status, "message.html", ctx);
    if viewer.flash.is_some() {
        clear_flash(app, &mut res);
    }
    res
}

/// After a form: back to `to` with a message (the domain's own message on a refusal).
fn done(app: &AppState, to: &str, outcome: Result<String, DomainError>) -> Response {
    match outcome {
        Ok(message) => flash(app, see_other(to), "notice", &message),
        Err(e @ (DomainError::Internal(_) | DomainError::Store(_))) => {
            tracing::error!(error = %e, "dashboard action failed");
            flash(app, see_other(to), "error", "That did not work because of a server error. Try again.")
        }
        Err(e) => flash(app, see_other(to), "error", &ApiError::from(e).message),
    }
}

/// Events caused from the dashboard name the dashboard request that caused them.
fn origin(request: &RequestId) -> Origin {
    Origin { request_id: Some(request.0.clone()), idempotency_key: None }
}

/// `starting_after` / `ending_before` of a list page.
#[derive(Deserialize, Default)]
pub struct Paging {
    starting_after: Option<String>,
    ending_before: Option<String>,
}

impl Paging {
    fn request(&self, limit: u32) -> PageRequest {
        let cursor = match (nonempty(&self.starting_after), nonempty(&self.ending_before)) {
            (Some(a), _) => Some(Cursor::After(a)),
            (None, Some(b)) => Some(Cursor::Before(b)),
            _ => None,
        };
        PageRequest { limit, cursor }
    }
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v.len() <= 200)
}

/// Links to the previous and next page, keeping the other parameters (`base` ends with `?` or `&`).
fn pager(base: &str, first: Option<&str>, last: Option<&str>, request: &PageRequest, has_more: bool) -> Value {
    let backwards = matches!(request.cursor, Some(Cursor::Before(_)));
    // Going back, `has_more` says there are newer ones; going forward, older ones.
    let newer = if backwards { has_more } else { request.cursor.is_some() };
    let older = if backwards { true } else { has_more };
    context! {
        prev => first.filter(|_| newer).map(|id| format!("{base}ending_before={}", urlencode(id))),
        next => last.filter(|_| older).map(|id| format!("{base}starting_after={}", urlencode(id))),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

// --- sessions ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct SessionsQuery {
    status: Option<String>,
    customer: Option<String>,
    q: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

/// `GET /dashboard/sessions`
pub async fn list_sessions(State(app): State<AppState>, viewer: Viewer, Query(q): Query<SessionsQuery>) -> Response {
    let scope = viewer.scope();
    let mut search_error = None;
    if let Some(id) = nonempty(&q.q) {
        match app.core.find_session(&scope, &id).await {
            Ok(s) => return see_other(&format!("/dashboard/sessions/{}", urlencode(&s.id))),
            Err(DomainError::NotFound { .. }) => {
                search_error = Some(format!("No session {id} in {} mode.", mode_name(&viewer)))
            }
            Err(e) => return error_page(&app, &viewer, e),
        }
    }
    let state = q.status.as_deref().and_then(SessionState::parse);
    let filter = SessionFilter { state, customer: nonempty(&q.customer) };
    let request = q.paging.request(PAGE_SIZE);
    let found = match app.core.list_sessions(&scope, &filter, &request).await {
        Ok(p) => p,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let now = app.core.now();
    let rows: Vec<Value> = found
        .items
        .iter()
        .map(|s| {
            context! {
                id => s.id,
                created => s.created,
                state => SessionState::of(s, now).as_str(),
                customer => s.holder.customer,
                accounts => s.accounts.len(),
                permissions => to_json(&s.permissions),
            }
        })
        .collect();
    let base = format!(
        "/dashboard/sessions?status={}&customer={}&",
        state.map(SessionState::as_str).unwrap_or(""),
        urlencode(filter.customer.as_deref().unwrap_or(""))
    );
    let pages = pager(
        &base,
        found.items.first().map(|s| s.id.as_str()),
        found.items.last().map(|s| s.id.as_str()),
        &request,
        found.has_more,
    );
    let states: Vec<&str> = SessionState::ALL.iter().map(|s| s.as_str()).collect();
    page(
        &app,
        &viewer,
        "sessions.html",
        "sessions",
        context! {
            rows, pages, states, search_error,
            status => state.map(SessionState::as_str),
            customer => filter.customer,
            q => q.q,
        },
    )
}

/// `GET /dashboard/sessions/{session}`
pub async fn session_page(State(app): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let scope = viewer.scope();
    let rec = match app.core.find_session(&scope, &id).await {
        Ok(r) => r,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let wire = match app.core.render_session(&scope, &rec).await {
        Ok(w) => w,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let accounts: Vec<Json> = to_json(&wire)["accounts"]["data"].as_array().cloned().unwrap_or_default();
    let state = SessionState::of(&rec, app.core.now());
    // Test mode: the sandbox institutions a session can be completed at without the modal.
    let institutions: Vec<Value> = if !scope.livemode && state == SessionState::Open {
        app.core
            .institutions(&scope)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|i| context! { id => i.id, name => i.name })
            .collect()
    } else {
        Vec::new()
    };
    page(
        &app,
        &viewer,
        "session.html",
        "sessions",
        context! {
            session => to_json(&wire),
            state => state.as_str(),
            holder => to_json(&rec.holder),
            filters => to_json(&rec.filters),
            accounts,
            institutions,
            json => pretty(&wire),
        },
    )
}

/// `POST /dashboard/sessions/{session}/link` (test mode): `institution` — the test helper's
/// `complete_session_for_test`, which links every account the session allows there.
pub async fn link_sandbox_accounts(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Extension(request): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match checked_form(&viewer, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let back = format!("/dashboard/sessions/{}", urlencode(&id));
    if viewer.livemode {
        return done(&app, &back, Err(DomainError::InvalidState("Sandbox accounts exist in test mode only.".into())));
    }
    let institution = field(&pairs, "institution").unwrap_or("").to_owned();
    let scope = viewer.scope();
    let origin = origin(&request);
    let outcome = crate::unit::transact(&app, |core| {
        let (scope, id, institution, origin) = (scope.clone(), id.clone(), institution.clone(), origin.clone());
        async move { core.complete_session_for_test(&scope, &id, &institution, None, Some(&origin)).await }
    })
    .await
    .map(|s| format!("Linked {} sandbox account(s) to this session.", s.accounts.data.len()));
    done(&app, &back, outcome)
}

// --- accounts ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct AccountsQuery {
    status: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

const ACCOUNT_STATUSES: [&str; 3] = ["active", "inactive", "disconnected"];

/// `GET /dashboard/accounts`
pub async fn list_accounts(State(app): State<AppState>, viewer: Viewer, Query(q): Query<AccountsQuery>) -> Response {
    let scope = viewer.scope();
    let status = q.status.clone().filter(|s| ACCOUNT_STATUSES.contains(&s.as_str()));
    let request = q.paging.request(PAGE_SIZE);
    let found = match app.core.list_accounts_with_status(&scope, status.as_deref(), &request).await {
        Ok(p) => p,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let rows: Vec<Json> = found.items.iter().map(to_json).collect();
    let base = format!("/dashboard/accounts?status={}&", status.as_deref().unwrap_or(""));
    let pages = pager(
        &base,
        found.items.first().map(|a| a.id.as_str()),
        found.items.last().map(|a| a.id.as_str()),
        &request,
        found.has_more,
    );
    page(&app, &viewer, "accounts.html", "accounts", context! { rows, pages, status, statuses => ACCOUNT_STATUSES })
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    txn_status: Option<String>,
    q: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

const TRANSACTION_STATUSES: [&str; 3] = ["pending", "posted", "void"];

/// `GET /dashboard/accounts/{account}`
pub async fn account_page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let scope = viewer.scope();
    let account = match app.core.retrieve_account(&scope, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let history = match app.core.balance_history(&scope, &id).await {
        Ok(h) => h,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let currencies = chart::currencies(&history);
    let charts: Vec<Value> = currencies
        .iter()
        .filter_map(|c| chart::svg(&history, c).map(|svg| context! { currency => c.to_uppercase(), svg }))
        .collect();
    let ownership = match &account.ownership {
        Some(finconn_types::Expandable::Id(o)) => Some(o.clone()),
        _ => None,
    };
    let owners: Vec<Json> = match &ownership {
        Some(o) => app
            .core
            .list_owners(&scope, &id, o, &PageRequest { limit: 20, cursor: None })
            .await
            .map(|p| p.items.iter().map(to_json).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // Transactions: newest first, filtered by status and by words of the description.
    let txn_status = q.txn_status.clone().filter(|s| TRANSACTION_STATUSES.contains(&s.as_str()));
    let filter = TransactionSearch { status: txn_status.clone(), search: nonempty(&q.q).map(|s| s.to_lowercase()) };
    let request = q.paging.request(PAGE_SIZE);
    let has_transactions =
        account.permissions.as_ref().is_some_and(|p| p.contains(&finconn_types::Permission::Transactions));
    let transactions = if has_transactions {
        match app.core.search_transactions(&scope, &id, &filter, &request).await {
            Ok(p) => Some(p),
            Err(e) => return error_page(&app, &viewer, e),
        }
    } else {
        None
    };
    let (txns, txn_pages) = match &transactions {
        Some(p) => {
            let base = format!(
                "/dashboard/accounts/{}?txn_status={}&q={}&",
                urlencode(&id),
                txn_status.as_deref().unwrap_or(""),
                urlencode(q.q.as_deref().unwrap_or(""))
            );
            let pages = pager(
                &base,
                p.items.first().map(|t| t.id.as_str()),
                p.items.last().map(|t| t.id.as_str()),
                &request,
                p.has_more,
            );
            (p.items.iter().map(to_json).collect::<Vec<_>>(), pages)
        }
        None => (Vec::new(), Value::UNDEFINED),
    };
    let wire = to_json(&account);
    let pending = ["balance_refresh", "ownership_refresh", "transaction_refresh"]
        .iter()
        .any(|k| wire[k]["status"].as_str() == Some("pending"));
    page(
        &app,
        &viewer,
        "account.html",
        "accounts",
        context! {
            account => wire,
            charts,
            history_points => history.len(),
            owners,
            ownership,
            has_transactions,
            transactions => txns,
            txn_pages,
            txn_status,
            txn_statuses => TRANSACTION_STATUSES,
            q => q.q,
            pending,
            json => pretty(&account),
        },
    )
}

/// `POST /dashboard/accounts/{account}/{action}`: `refresh_balance`, `refresh_ownership`,
/// `refresh_transactions`, `subscribe`, `unsubscribe`, `disconnect` — the `/v1` operations.
pub async fn account_action(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((id, action)): Path<(String, String)>,
    Extension(request): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = checked_form(&viewer, &headers, &body) {
        return refused.into_response();
    }
    let back = format!("/dashboard/accounts/{}", urlencode(&id));
    let scope = viewer.scope();
    let origin = origin(&request);
    let feature = action.strip_prefix("refresh_").and_then(Feature::parse);
    let outcome = crate::unit::transact(&app, |core| {
        let (scope, id, action, origin) = (scope.clone(), id.clone(), action.clone(), origin.clone());
        async move {
            match (action.as_str(), feature) {
                (_, Some(f)) => {
                    let param = format!("features[0]={}", action.trim_start_matches("refresh_"));
                    core.refresh_account(&scope, &id, &[(param, f)]).await?;
                    Ok("Refresh requested: it runs in the background and this page updates when it ends.".to_owned())
                }
                ("subscribe", None) => {
                    core.subscribe_account(&scope, &id).await?;
                    Ok("Subscribed to daily transaction refreshes.".to_owned())
                }
                ("unsubscribe", None) => {
                    core.unsubscribe_account(&scope, &id).await?;
                    Ok("Unsubscribed from transaction refreshes.".to_owned())
                }
                ("disconnect", None) => {
                    core.disconnect_account(&scope, &id, Some(&origin)).await?;
                    Ok("The account is disconnected: its data can no longer be refreshed.".to_owned())
                }
                _ => Err(DomainError::InvalidState(format!("Unknown action {action}."))),
            }
        }
    })
    .await;
    done(&app, &back, outcome)
}

// --- events and webhooks ----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct EventsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

/// The event types finconn sends, for the type filter (any other type can be typed in the URL).
const EVENT_TYPES: [&str; 12] = [
    "financial_connections.account.created",
    "financial_connections.account.deactivated",
    "financial_connections.account.disconnected",
    "financial_connections.account.reactivated",
    "financial_connections.account.refreshed_balance",
    "financial_connections.account.refreshed_ownership",
    "financial_connections.account.refreshed_transactions",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.created",
    "test_helpers.test_clock.deleted",
    "test_helpers.test_clock.internal_failure",
    "test_helpers.test_clock.ready",
];

/// `GET /dashboard/events`
pub async fn list_events(State(app): State<AppState>, viewer: Viewer, Query(q): Query<EventsQuery>) -> Response {
    let scope = viewer.scope();
    let kind = nonempty(&q.kind);
    let filter =
        EventFilter { kinds: kind.iter().cloned().collect(), created: (i64::MIN, i64::MAX), delivery_success: None };
    let request = q.paging.request(PAGE_SIZE);
    let found = match app.core.list_events(&scope, filter, &request).await {
        Ok(p) => p,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let rows: Vec<Json> = found.items.iter().map(to_json).collect();
    let base = format!("/dashboard/events?type={}&", urlencode(kind.as_deref().unwrap_or("")));
    let pages = pager(
        &base,
        found.items.first().map(|e| e.id.as_str()),
        found.items.last().map(|e| e.id.as_str()),
        &request,
        found.has_more,
    );
    let types = EVENT_TYPES;
    page(&app, &viewer, "events.html", "events", context! { rows, pages, kind, types })
}

/// `GET /dashboard/events/{event}`
pub async fn event_page(State(app): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let scope = viewer.scope();
    let event = match app.core.retrieve_event(&scope, &id).await {
        Ok(e) => e,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let endpoints: Vec<Json> = app
        .core
        .list_webhook_endpoints(&scope, &PageRequest { limit: 100, cursor: None })
        .await
        .map(|p| p.items.iter().map(to_json).collect())
        .unwrap_or_default();
    page(
        &app,
        &viewer,
        "event.html",
        "events",
        context! { event => to_json(&event), json => pretty(&event), endpoints },
    )
}

/// `POST /dashboard/events/{event}/resend`: `endpoint` — `Finconn::resend_event`, as the test helper.
pub async fn resend_event(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match checked_form(&viewer, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let endpoint = field(&pairs, "endpoint").unwrap_or("").to_owned();
    let back = if endpoint.starts_with("we_") {
        format!("/dashboard/webhooks/{}", urlencode(&endpoint))
    } else {
        format!("/dashboard/events/{}", urlencode(&id))
    };
    let scope = viewer.scope();
    let outcome = crate::unit::transact(&app, |core| {
        let (scope, id, endpoint) = (scope.clone(), id.clone(), endpoint.clone());
        async move { core.resend_event(&scope, &id, &endpoint).await }
    })
    .await
    .map(|e| format!("{} is being sent again to {endpoint} (a new delivery, with its own retries).", e.id));
    done(&app, &back, outcome)
}

/// `GET /dashboard/webhooks`
pub async fn list_webhooks(State(app): State<AppState>, viewer: Viewer, Query(q): Query<Paging>) -> Response {
    let scope = viewer.scope();
    let request = q.request(PAGE_SIZE);
    let found = match app.core.list_webhook_endpoints(&scope, &request).await {
        Ok(p) => p,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let mut rows = Vec::new();
    for e in &found.items {
        let (attempts, failed) = app.core.list_attempts(&scope, &e.id, 1).await.unwrap_or_default();
        rows.push(context! { endpoint => to_json(e), last => attempts.first().map(attempt), failed });
    }
    let pages = pager(
        "/dashboard/webhooks?",
        found.items.first().map(|e| e.id.as_str()),
        found.items.last().map(|e| e.id.as_str()),
        &request,
        found.has_more,
    );
    page(&app, &viewer, "webhooks.html", "webhooks", context! { rows, pages })
}

fn attempt(a: &finconn_core::model::AttemptRecord) -> Value {
    let ok = a.status_code.is_some_and(|s| (200..300).contains(&s));
    context! {
        event => a.event,
        at => a.attempted_at,
        status_code => a.status_code,
        latency_ms => a.latency_ms,
        error => a.error,
        ok,
    }
}

/// `GET /dashboard/webhooks/{endpoint}`
pub async fn webhook_page(State(app): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let scope = viewer.scope();
    let endpoint = match app.core.retrieve_webhook_endpoint(&scope, &id).await {
        Ok(e) => e,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let (attempts, failed) = match app.core.list_attempts(&scope, &id, 50).await {
        Ok(a) => a,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let attempts: Vec<Value> = attempts.iter().map(attempt).collect();
    page(&app, &viewer, "webhook.html", "webhooks", context! { endpoint => to_json(&endpoint), attempts, failed })
}

// --- the request log --------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct LogQuery {
    request_id: Option<String>,
    errors: Option<String>,
    before: Option<i64>,
}

/// `GET /dashboard/logs`
pub async fn request_log(State(app): State<AppState>, viewer: Viewer, Query(q): Query<LogQuery>) -> Response {
    let scope = viewer.scope();
    let filter = RequestLogFilter { request_id: nonempty(&q.request_id), errors_only: q.errors.is_some() };
    let found = match app.core.request_log(&scope, &filter, q.before, 50).await {
        Ok(p) => p,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let rows: Vec<Value> = found
        .items
        .iter()
        .map(|r| {
            context! {
                request_id => r.request_id,
                at => r.created_ms / 1000,
                method => r.method,
                path => r.path,
                status => r.status,
                duration_ms => r.duration_ms,
                idempotency_key => r.idempotency_key,
                error_type => r.error_type,
                error_code => r.error_code,
                error_param => r.error_param,
            }
        })
        .collect();
    let older = found.items.last().filter(|_| found.has_more).map(|r| {
        format!(
            "/dashboard/logs?request_id={}{}&before={}",
            urlencode(filter.request_id.as_deref().unwrap_or("")),
            if filter.errors_only { "&errors=1" } else { "" },
            r.seq
        )
    });
    let retention = app.config.request_log;
    page(
        &app,
        &viewer,
        "logs.html",
        "logs",
        context! {
            rows, older,
            request_id => filter.request_id,
            errors => filter.errors_only,
            enabled => retention.max_rows > 0,
            days => retention.max_age_seconds / 86_400,
            max_rows => retention.max_rows,
        },
    )
}

// --- test mode --------------------------------------------------------------------------------------

/// `YYYY-MM-DDTHH:MM` (an `<input type="datetime-local">`, read as UTC) to Unix seconds.
fn parse_local_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T').or_else(|| s.split_once(' ')).unwrap_or((s, "00:00"));
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?.parse::<i64>().ok()?, d.next()?.parse::<u32>().ok()?, d.next()?.parse::<u32>().ok()?);
    let mut t = time.split(':');
    let (h, min) = (t.next()?.parse::<i64>().ok()?, t.next().unwrap_or("0").parse::<i64>().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || !(0..24).contains(&h) || !(0..60).contains(&min) {
        return None;
    }
    Some(finconn_providers::calendar::days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60)
}

fn local_time(ts: i64) -> String {
    super::iso8601(ts)[..16].to_owned()
}

fn test_mode_only(app: &AppState, viewer: &Viewer, what: &str) -> Response {
    let ctx = context! {
        viewer => viewer.context(),
        title => what,
        message => format!("{what} exist in test mode only. Switch to test mode to use them."),
        back => "/dashboard/sessions",
    };
    let mut res = render(StatusCode::OK, "message.html", ctx);
    if viewer.flash.is_some() {
        clear_flash(app, &mut res);
    }
    res
}

/// `GET /dashboard/test-clocks`
pub async fn test_clocks(State(app): State<AppState>, viewer: Viewer) -> Response {
    if viewer.livemode {
        return test_mode_only(&app, &viewer, "Test clocks");
    }
    clocks_page(&app, &viewer, StatusCode::OK, None, None).await
}

async fn clocks_page(
    app: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: Option<(&str, String)>,
    name: Option<String>,
) -> Response {
    let scope = viewer.scope();
    let clocks = match app.core.list_test_clocks(&scope, &PageRequest { limit: 100, cursor: None }).await {
        Ok(p) => p.items,
        Err(e) => return error_page(app, viewer, e),
    };
    let rows: Vec<Value> = clocks
        .iter()
        .map(|c| {
            let v = to_json(c);
            context! { clock => v, next => local_time(c.frozen_time + 86_400) }
        })
        .collect();
    let (error_field, error) = match error {
        Some((f, m)) => (Some(f), Some(m)),
        None => (None, None),
    };
    let mut res = page(
        app,
        viewer,
        "test_clocks.html",
        "test-clocks",
        context! { rows, error_field, error, name, now => local_time(app.core.now()) },
    );
    *res.status_mut() = status;
    res
}

/// `POST /dashboard/test-clocks`: `name`, `frozen_time` (`YYYY-MM-DDTHH:MM`, UTC).
pub async fn create_test_clock(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match checked_form(&viewer, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    if viewer.livemode {
        return test_mode_only(&app, &viewer, "Test clocks");
    }
    let name = field(&pairs, "name").map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.chars().count() > 300) {
        let e = ("name", "Use at most 300 characters.".to_owned());
        return clocks_page(&app, &viewer, StatusCode::BAD_REQUEST, Some(e), name).await;
    }
    let Some(frozen_time) = field(&pairs, "frozen_time").and_then(parse_local_time) else {
        let e = ("frozen_time", "Enter a date and time (UTC), e.g. 2026-01-31T09:00.".to_owned());
        return clocks_page(&app, &viewer, StatusCode::BAD_REQUEST, Some(e), name).await;
    };
    let scope = viewer.scope();
    let outcome = crate::unit::transact(&app, |core| {
        let (scope, name) = (scope.clone(), name.clone());
        async move { core.create_test_clock(&scope, frozen_time, name, None, None).await }
    })
    .await;
    match outcome {
        Ok(c) => done(&app, "/dashboard/test-clocks", Ok(format!("Created test clock {}.", c.id))),
        Err(e @ (DomainError::InvalidParam { .. } | DomainError::InvalidState(_))) => {
            let e = ("frozen_time", ApiError::from(e).message);
            clocks_page(&app, &viewer, StatusCode::BAD_REQUEST, Some(e), name).await
        }
        Err(e) => done(&app, "/dashboard/test-clocks", Err(e)),
    }
}

/// `POST /dashboard/test-clocks/{clock}/advance`: `frozen_time`.
pub async fn advance_test_clock(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match checked_form(&viewer, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let Some(frozen_time) = field(&pairs, "frozen_time").and_then(parse_local_time) else {
        let e = Err(DomainError::InvalidParam {
            param: "frozen_time".into(),
            message: "Enter a date and time (UTC) to advance to, e.g. 2026-01-31T09:00.".into(),
        });
        return done(&app, "/dashboard/test-clocks", e);
    };
    let scope = viewer.scope();
    let outcome = crate::unit::transact(&app, |core| {
        let (scope, id) = (scope.clone(), id.clone());
        async move { core.advance_test_clock(&scope, &id, frozen_time, None).await }
    })
    .await
    .map(|c| format!("{} is advancing to {}.", c.id, super::human_time(frozen_time)));
    done(&app, "/dashboard/test-clocks", outcome)
}

/// `GET /dashboard/institutions`: the sandbox institutions (test mode) or the live connectors' banks.
pub async fn institutions(State(app): State<AppState>, viewer: Viewer) -> Response {
    let scope = viewer.scope();
    let list = match app.core.institutions(&scope).await {
        Ok(l) => l,
        Err(e) => return error_page(&app, &viewer, e),
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|i| {
            let status = match i.status {
                finconn_core::provider::InstitutionStatus::Active => "active".to_owned(),
                finconn_core::provider::InstitutionStatus::DownScheduled { available_in_seconds } => {
                    format!("down (scheduled, back in {} min)", available_in_seconds.max(0) / 60)
                }
                finconn_core::provider::InstitutionStatus::DownUnscheduled => "down (unscheduled)".to_owned(),
                finconn_core::provider::InstitutionStatus::Erroring => "erroring".to_owned(),
            };
            context! {
                id => i.id,
                name => i.name,
                status,
                countries => i.countries.join(", "),
                features => to_json(&i.features),
                login => format!("{:?}", i.login),
            }
        })
        .collect();
    page(&app, &viewer, "institutions.html", "institutions", context! { rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_datetime_local_value_as_utc() {
        assert_eq!(parse_local_time("1970-01-02T00:01"), Some(86_460));
        assert_eq!(parse_local_time("2026-13-01T00:00"), None);
        assert_eq!(parse_local_time("soon"), None);
        assert_eq!(local_time(86_460), "1970-01-02T00:01");
    }
}
