//! The institutions' authorization pages, simulated: the user authorizes or cancels. Reached by a popup
//! from the flow (or, in a webview, the system browser); named by the session id and a random state drawn
//! when the institution was selected, never by the client secret.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::panes;
use crate::startup::AppState;

fn not_found() -> Response {
    let mut res = panes::render_page(
        "oauth_page.html",
        context! { institution => context! { name => "finconn" }, requester => "", done => true, approved => false },
    );
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

async fn requester(app: &AppState, account: &str) -> String {
    match app.core.store.get_account(account).await {
        Ok(Some(a)) => a.display_name.unwrap_or_else(|| app.config.display_name.clone()),
        _ => app.config.display_name.clone(),
    }
}

pub async fn page(State(app): State<AppState>, Path((session, state)): Path<(String, String)>) -> Response {
    let Ok((rec, inst)) = app.core.oauth_page(&session, &state).await else { return not_found() };
    let account = rec.scope.map(|s| s.account).unwrap_or_default();
    let requester = requester(&app, &account).await;
    panes::render_page(
        "oauth_page.html",
        context! { institution => context! { name => inst.name }, requester, done => false },
    )
}

pub async fn decide(
    State(app): State<AppState>,
    Path((session, state)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let pairs = crate::extract::form::parse(&body).map(|f| f.pairs).unwrap_or_default();
    let approve = pairs.iter().any(|(k, v)| k == "decision" && v == "authorize");
    // A popup opened by the flow reports back to it; only a page without an opener (a webview's system
    // browser) goes back to the app through return_url.
    let popup = pairs.iter().any(|(k, v)| k == "popup" && v == "1");
    let Ok((rec, inst)) = app.core.oauth_decide(&session, &state, approve).await else { return not_found() };
    // Webview integrations: back to the app, which resumes the flow.
    if let Some(url) = rec.return_url.as_ref().filter(|_| !popup) {
        if let Ok(v) = HeaderValue::from_str(url) {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            return res;
        }
    }
    let account = rec.scope.map(|s| s.account).unwrap_or_default();
    let requester = requester(&app, &account).await;
    panes::render_page(
        "oauth_page.html",
        context! { institution => context! { name => inst.name }, requester, done => true, approved => approve },
    )
}
