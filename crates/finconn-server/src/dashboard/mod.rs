//! The merchant dashboard at `/dashboard`: server-rendered pages (minijinja, like the link flow's panes)
//! over the same domain operations the `/v1` handlers call, signed in with an account's secret key.
//!
//! - `auth`: sign-in (secret key, or a one-time link from `finconn dashboard-link`), the signed cookie naming
//!   a stored, revocable session, CSRF tokens, the test/live toggle, sign-out.
//! - `pages`: sessions, accounts, events and webhooks, the request log, test-mode tools.
//! - `log`: the request log's middleware and its background writer.
//! - `chart`: the balance chart, inline SVG drawn here.

mod auth;
mod chart;
pub mod log;
mod pages;

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{Environment, Value};

pub use auth::Viewer;

use crate::config::Config;
use crate::startup::AppState;

const CSS: &str = include_str!("../../../../web/dashboard/dashboard.css");
const JS: &str = include_str!("../../../../web/dashboard/dashboard.js");

/// Pages load only finconn's own CSS and JS, post forms only to finconn, and are never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the dashboard keeps per server: the key that signs its cookies and the request log's writer.
pub struct Dashboard {
    keys: auth::CookieKey,
    pub(crate) log: log::Writer,
    /// `Secure` cookies: the public URL is https.
    secure: bool,
}

impl Dashboard {
    pub fn new(config: &Config, core: &finconn_core::Finconn) -> Self {
        Self {
            keys: auth::CookieKey::new(config.master_key.as_ref()),
            log: log::Writer::new(core.clone(), config.request_log),
            secure: config.public_url.as_ref().is_some_and(|u| u.scheme() == "https"),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(|| async { see_other("/dashboard/sessions") }))
        .route("/dashboard/", get(|| async { see_other("/dashboard/sessions") }))
        .route("/dashboard/static/dashboard.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/dashboard/static/dashboard.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .route("/dashboard/login", get(auth::login_page).post(auth::login))
        .route("/dashboard/logout", post(auth::logout))
        .route("/dashboard/link/{token}", get(auth::link_page).post(auth::use_link))
        .route("/dashboard/mode", post(auth::switch_mode))
        .route("/dashboard/sessions", get(pages::list_sessions))
        .route("/dashboard/sessions/{session}", get(pages::session_page))
        .route("/dashboard/sessions/{session}/link", post(pages::link_sandbox_accounts))
        .route("/dashboard/accounts", get(pages::list_accounts))
        .route("/dashboard/accounts/{account}", get(pages::account_page))
        .route("/dashboard/accounts/{account}/{action}", post(pages::account_action))
        .route("/dashboard/events", get(pages::list_events))
        .route("/dashboard/events/{event}", get(pages::event_page))
        .route("/dashboard/events/{event}/resend", post(pages::resend_event))
        .route("/dashboard/webhooks", get(pages::list_webhooks))
        .route("/dashboard/webhooks/{endpoint}", get(pages::webhook_page))
        .route("/dashboard/logs", get(pages::request_log))
        .route("/dashboard/test-clocks", get(pages::test_clocks).post(pages::create_test_clock))
        .route("/dashboard/test-clocks/{clock}/advance", post(pages::advance_test_clock))
        .route("/dashboard/institutions", get(pages::institutions))
}

/// `request_log_retention_days` and `request_log_max_rows` (environment first, then the file), checked.
pub fn retention(
    days: (Option<String>, Option<i64>),
    rows: (Option<String>, Option<i64>),
    default: finconn_core::console::RequestLogRetention,
) -> Result<finconn_core::console::RequestLogRetention, (&'static str, &'static str)> {
    const DAYS: &str = "request_log_retention_days (FINCONN_REQUEST_LOG_RETENTION_DAYS)";
    const ROWS: &str = "request_log_max_rows (FINCONN_REQUEST_LOG_MAX_ROWS)";
    let read = |(env, file): (Option<String>, Option<i64>), key| match env {
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| (key, "expected a whole number")),
        None => Ok(file),
    };
    let mut out = default;
    if let Some(d) = read(days, DAYS)? {
        if !(1..=365).contains(&d) {
            return Err((DAYS, "must be between 1 and 365"));
        }
        out.max_age_seconds = d * 86_400;
    }
    if let Some(n) = read(rows, ROWS)? {
        if !(0..=10_000_000).contains(&n) {
            return Err((ROWS, "must be between 0 (no request log) and 10000000"));
        }
        out.max_rows = n;
    }
    Ok(out)
}

/// Housekeeping: expired sign-in links and sessions (called with the other pruning every 10 minutes).
pub async fn prune(app: &AppState) {
    match app.core.prune_dashboard_auth().await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "pruned expired dashboard sessions and sign-in links"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning dashboard sessions failed"),
    }
}

/// The request log's retention, applied every minute: a busy server writes a row per request, so waiting
/// the ten minutes of the other housekeeping would let the table grow far past `request_log_max_rows` and
/// make each prune a large delete. The store deletes in small chunks, so pruning never holds up requests.
pub async fn prune_request_log_every_minute(app: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match log::off_the_workers(app.core.prune_request_log(app.config.request_log)).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "pruned the request log"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the request log failed"),
        }
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("login.html", include_str!("templates/login.html")),
    ("link.html", include_str!("templates/link.html")),
    ("sessions.html", include_str!("templates/sessions.html")),
    ("session.html", include_str!("templates/session.html")),
    ("accounts.html", include_str!("templates/accounts.html")),
    ("account.html", include_str!("templates/account.html")),
    ("events.html", include_str!("templates/events.html")),
    ("event.html", include_str!("templates/event.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
    ("logs.html", include_str!("templates/logs.html")),
    ("test_clocks.html", include_str!("templates/test_clocks.html")),
    ("institutions.html", include_str!("templates/institutions.html")),
    ("message.html", include_str!("templates/message.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a dashboard template does not compile");
            }
        }
        env.add_filter("time", |ts: i64| human_time(ts));
        env.add_filter("money", |minor: i64, currency: String| finconn_core::link::format_amount(minor, &currency));
        env
    })
}

/// `2026-11-26T08:02:00Z`.
pub(crate) fn iso8601(ts: i64) -> String {
    let (y, m, d) = finconn_providers::calendar::civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `2026-11-26 08:02 UTC`.
pub(crate) fn human_time(ts: i64) -> String {
    let iso = iso8601(ts);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// A rendered page with the dashboard's headers.
pub(crate) fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    let body = match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a dashboard page failed");
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error — finconn \
                 dashboard</title></head><body><main><h1>Something went wrong</h1><p>This page could not be \
                 shown.</p></main></body></html>"
                    .to_owned(),
            );
        }
    };
    html(status, body)
}

fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    res
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

/// 303 to a path of ours (after a form, or to the sign-in page).
pub(crate) fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
