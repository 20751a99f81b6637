//! `POST /link/api/{action}`: the client-side API the panes call. Authorised only by a publishable key
//! (`Authorization: Bearer pk_…`) together with that session's client secret (`Finconn-Client-Secret`),
//! both sent in headers by the iframe, never in a URL.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use finconn_core::flow::{Action, FlowView, Pane};
use finconn_core::keys::{constant_time_eq, ApiKey, KeyKind};
use finconn_core::{DomainError, Scope};
use serde_json::{json, Value};

use super::panes;
use crate::error::ApiError;
use crate::extract::form;
use crate::extract::params::{self, Field};
use crate::startup::AppState;

/// Who may drive the flow: the session's publishable key and its client secret.
struct FlowCaller {
    scope: Scope,
    session_id: String,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn authorize(app: &AppState, headers: &HeaderMap) -> Result<FlowCaller, ApiError> {
    let raw = header_str(headers, "authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    let Some(raw) = raw else { return Err(ApiError::no_api_key(None)) };
    let key = ApiKey::parse(raw).ok_or_else(|| ApiError::invalid_api_key(&finconn_core::keys::mask_key(raw)))?;
    if key.kind != KeyKind::Publishable {
        return Err(ApiError::publishable_key_required());
    }
    let caller = app.core.authenticate(&key).await?.ok_or_else(|| ApiError::invalid_api_key(&key.masked()))?;
    crate::telemetry::record_account(&caller.scope.account);
    let secret = header_str(headers, "finconn-client-secret").unwrap_or_default();
    let invalid = || ApiError::invalid("client_secret", "Invalid client secret.");
    let (session_id, _) = secret.split_once("_secret_").ok_or_else(invalid)?;
    if !session_id.starts_with("fcsess_") {
        return Err(invalid());
    }
    let session = app.core.find_session(&caller.scope, session_id).await.map_err(|_| invalid())?;
    if !constant_time_eq(session.client_secret.as_bytes(), secret.as_bytes()) {
        return Err(invalid());
    }
    Ok(FlowCaller { scope: caller.scope, session_id: session_id.to_owned() })
}

fn action(name: &str, body: &[u8]) -> Result<Action, ApiError> {
    let form = form::parse(body).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    params::parse(&form, |root| {
        let text = |k: &str, max: usize| match root.string(k, max) {
            Field::Value(v) => Some(v),
            _ => Some(String::new()),
        };
        Some(match name {
            "start" | "show" => Action::Show,
            "consent" => Action::Consent,
            "search" => Action::Search { query: text("query", 200)? },
            "select_institution" => {
                Action::SelectInstitution { institution: root.required_string("institution", 200)? }
            }
            "login" => Action::Login { username: text("username", 200)?, password: text("password", 200)? },
            "answer" => Action::Answer { answer: text("answer", 200)? },
            "back" => Action::Back,
            "select_accounts" => Action::SelectAccounts {
                names: root
                    .string_array("accounts", 200, 100)
                    .value()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
                // `subcategories[i]`: the type chosen for the picker's i-th account (live accounts).
                subcategories: root
                    .string_array("subcategories", 40, 200)
                    .value()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(path, v)| {
                        let index = path.strip_prefix("subcategories[")?.strip_suffix(']')?.parse().ok()?;
                        Some((index, v))
                    })
                    .collect(),
            },
            // A SimpleFIN setup token is Base64 of a URL: a few hundred characters.
            "submit_token" => Action::SubmitToken { token: text("token", 4096)? },
            "retry_connection" => Action::RetryConnection,
            "start_manual" => Action::StartManual,
            "manual" => Action::Manual {
                routing_number: text("routing_number", 32)?.trim().to_owned(),
                account_number: text("account_number", 32)?.trim().to_owned(),
                account_type: text("account_type", 32)?,
            },
            "cancel" => Action::Cancel,
            _ => {
                root.report().reject(ApiError::invalid("action", format!("Unknown flow action: {name}")));
                return None;
            }
        })
    })
}

/// The session as Stripe.js hands it to the page: the REST object with `accounts` as a plain array.
fn stripe_js_session(session: &finconn_types::Session) -> Value {
    let mut v = serde_json::to_value(session).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        let accounts = obj.get("accounts").and_then(|a| a.get("data")).cloned().unwrap_or_else(|| json!([]));
        obj.insert("accounts".into(), accounts);
    }
    v
}

fn respond(status: StatusCode, body: Value) -> Response {
    let mut res = crate::json::pretty_value(status, &body);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

fn error_response(e: ApiError, code_for_pane: Option<&str>) -> Response {
    let status = e.status;
    let code = e.code.map(str::to_owned).or_else(|| code_for_pane.map(str::to_owned));
    let (title, message) = match code.as_deref() {
        Some("session_expired") => ("This link has expired".to_owned(), e.message.clone()),
        _ => ("Something went wrong".to_owned(), e.message.clone()),
    };
    let pane = panes::pane_html(
        &Pane::Error {
            code: code.clone().unwrap_or_else(|| "unexpected_error".into()),
            title,
            message,
            expected_at: None,
            retry: false,
        },
        "",
    );
    let mut error = json!({ "type": e.kind.as_str(), "message": e.message });
    if let Some(c) = &code {
        error["code"] = json!(c);
    }
    if let Some(p) = &e.param {
        error["param"] = json!(p);
    }
    respond(status, json!({ "error": error, "pane": pane }))
}

pub async fn flow(
    State(app): State<AppState>,
    Path(name): Path<String>,
    rid: Option<axum::Extension<crate::extract::auth::RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match authorize(&app, &headers).await {
        Ok(c) => c,
        Err(e) => return error_response(e, None),
    };
    let action = match action(&name, &body) {
        Ok(a) => a,
        Err(e) => return error_response(e, None),
    };
    let requester = crate::link::requester(&app, &caller.scope.account).await;
    let origin = finconn_core::model::Origin { request_id: rid.map(|r| r.0 .0.clone()), idempotency_key: None };
    let run = crate::unit::transact(&app, |core| {
        let (caller, requester, action, origin) = (&caller, &requester, action.clone(), &origin);
        async move { core.flow(&caller.scope, &caller.session_id, requester, action, Some(origin)).await }
    });
    match run.await {
        Ok(view) => render_view(&app, &caller.scope, view).await,
        Err(e) => {
            let code = match &e {
                DomainError::Link { code, .. } => Some(*code),
                _ => None,
            };
            error_response(ApiError::from(e), code)
        }
    }
}

async fn render_view(app: &AppState, scope: &Scope, view: FlowView) -> Response {
    let session = match app.core.render_session(scope, &view.session).await {
        Ok(s) => s,
        Err(e) => return error_response(ApiError::from(e), None),
    };
    let pane = panes::pane_html(&view.pane, &view.session.id);
    respond(StatusCode::OK, json!({ "pane": pane, "events": view.events, "session": stripe_js_session(&session) }))
}
