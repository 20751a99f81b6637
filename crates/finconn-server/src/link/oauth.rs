//! The institutions' authorization pages, simulated: the user authorizes or cancels. Reached by a popup
//! from the flow (or, in a webview, the system browser); named by the session id and a random state drawn
//! when the institution was selected, never by the client secret.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use finconn_core::flow::{BankAnswer, Redirect};
use finconn_core::DomainError;
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

/// The popup's first stop: a live institution's real authorization page (a redirect to the bank, its URL
/// asked of the provider now), or the sandbox's simulated one.
pub async fn page(State(app): State<AppState>, Path((session, state)): Path<(String, String)>) -> Response {
    let (session, state) = (&session, &state);
    match crate::unit::transact(&app, |core| async move { core.oauth_redirect(session, state).await }).await {
        Ok(Redirect::Simulated(found)) => {
            let (rec, inst) = *found;
            let account = rec.scope.map(|s| s.account).unwrap_or_default();
            let requester = crate::link::requester(&app, &account).await;
            panes::render_page(
                "oauth_page.html",
                context! { institution => context! { name => inst.name }, requester, done => false, simulated => true },
            )
        }
        Ok(Redirect::Bank(url)) => match HeaderValue::from_str(&url) {
            Ok(v) => {
                let mut res = StatusCode::SEE_OTHER.into_response();
                res.headers_mut().insert(header::LOCATION, v);
                res.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
            Err(_) => not_found(),
        },
        // The step now says what went wrong (the flow shows it, with a retry): the popup says so too.
        Err(DomainError::Link { message, .. }) => {
            let mut res = panes::render_page(
                "oauth_page.html",
                context! { institution => context! { name => "finconn" }, requester => "", done => true, approved => false, message },
            );
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            res
        }
        Err(_) => not_found(),
    }
}

/// `GET /link/oauth/callback?state=…&code=…` (or `error`, `error_description`): where a real bank's
/// authorization page sends the user back (the URL operators register with the provider).
pub async fn callback(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "state" if v.len() <= 200 => state = Some(v),
            "code" if v.len() <= 4096 => code = Some(v),
            "error" if v.len() <= 200 => error = Some(v),
            "error_description" => description = Some(v.chars().take(500).collect::<String>()),
            _ => {}
        }
    }
    let Some(state) = state else { return not_found() };
    let answer = match (code, error) {
        (_, Some(error)) => BankAnswer::Error { error, description },
        (Some(code), None) => BankAnswer::Code(finconn_core::connector::Secret::new(code)),
        (None, None) => BankAnswer::Error { error: "missing_code".into(), description: None },
    };
    let run = crate::unit::transact(&app, |core| {
        let (state, answer) = (&state, answer.clone());
        async move { core.oauth_callback(state, answer).await }
    });
    let Ok((rec, inst, approved)) = run.await else { return not_found() };
    let account = rec.scope.map(|s| s.account).unwrap_or_default();
    let requester = crate::link::requester(&app, &account).await;
    panes::render_page(
        "oauth_page.html",
        context! { institution => context! { name => inst.name }, requester, done => true, approved },
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
    let (session, state) = (&session, &state);
    let run = crate::unit::transact(&app, |core| async move { core.oauth_decide(session, state, approve).await });
    let Ok((rec, inst)) = run.await else { return not_found() };
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
    let requester = crate::link::requester(&app, &account).await;
    panes::render_page(
        "oauth_page.html",
        context! { institution => context! { name => inst.name }, requester, done => true, approved => approve, simulated => true },
    )
}
