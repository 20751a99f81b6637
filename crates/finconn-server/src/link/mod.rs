//! The end user's side: the Stripe.js-compatible embed (`/v3/`), the hosted flow in finconn's iframe
//! (`/link/frame`, server-rendered panes, the client-side API `/link/api/*`), the institutions' simulated
//! authorization pages (`/link/oauth/*`) and the demo merchant page (`/demo`).

mod api;
mod demo;
mod logos;
pub use logos::{image_kind, Logos};
mod oauth;
mod panes;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::startup::AppState;

const EMBED_JS: &str = include_str!("../../../../web/embed/finconn.js");
const LOADER_JS: &str = include_str!("../../../../web/embed/loader.mjs");
const FRAME_JS: &str = include_str!("../../../../web/link/frame.js");
const OAUTH_DONE_JS: &str = include_str!("../../../../web/link/oauth-done.js");
const OAUTH_PAGE_JS: &str = include_str!("../../../../web/link/oauth-page.js");
const LINK_CSS: &str = include_str!("../../../../web/link/link.css");
const DEMO_JS: &str = include_str!("../../../../web/link/demo.js");

/// The modal's frame may be framed by any merchant origin; it loads nothing from anywhere else.
const FRAME_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors *; base-uri 'none'";
/// Every other page (the institution's authorization page, the demo) may not be framed at all.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3", get(embed))
        .route("/v3/", get(embed))
        .route("/js/finconn.js", get(embed))
        .route("/v3/loader.mjs", get(loader))
        .route("/link/frame", get(frame))
        .route("/link/brand/logo", get(brand_logo))
        .route("/link/static/frame.js", get(|| async { asset(FRAME_JS, "text/javascript; charset=utf-8") }))
        .route("/link/static/oauth-page.js", get(|| async { asset(OAUTH_PAGE_JS, "text/javascript; charset=utf-8") }))
        .route("/link/static/oauth-done.js", get(|| async { asset(OAUTH_DONE_JS, "text/javascript; charset=utf-8") }))
        .route("/link/static/demo.js", get(|| async { asset(DEMO_JS, "text/javascript; charset=utf-8") }))
        .route("/link/static/link.css", get(|| async { asset(LINK_CSS, "text/css; charset=utf-8") }))
        .route("/link/api/{action}", post(api::flow))
        .route("/link/oauth/callback", get(oauth::callback))
        .route("/link/logos/{institution}", get(logos::logo))
        .route("/link/oauth/{session}/{state}", get(oauth::page).post(oauth::decide))
        .route("/demo", get(demo::page))
        .route("/demo/session", post(demo::create_session))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

async fn embed() -> Response {
    let mut res = asset(EMBED_JS, "text/javascript; charset=utf-8");
    // Merchant pages on any origin load it.
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// The ES module with `loadStripe` (imported cross-origin by merchant pages and bundles).
async fn loader() -> Response {
    let mut res = asset(LOADER_JS, "text/javascript; charset=utf-8");
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// HTML with the flow's security headers; not frameable.
/// The name the flow shows for the merchant: the account's display name, else the server's.
pub(crate) async fn requester(app: &AppState, account: &str) -> String {
    match app.core.display_name(account).await {
        Ok(Some(name)) => name,
        _ => app.config.display_name.clone(),
    }
}

pub(crate) fn html(body: String) -> Response {
    html_with(body, PAGE_CSP)
}

fn html_with(body: String, csp: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    if csp == PAGE_CSP {
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    }
    res
}

/// The modal's frame: the one page merchant sites embed.
async fn frame(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let logo = app.config.logo.is_some();
    let name = app.config.display_name.clone();
    html_with(panes::render("frame.html", minijinja::context! { logo, name }), FRAME_CSP)
}

/// `logo_file`: the merchant's logo, from finconn's origin (the modal loads nothing from other hosts).
async fn brand_logo(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    match &app.config.logo {
        Some((kind, bytes)) => {
            let mut res = bytes.as_ref().clone().into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            res
        }
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
