//! The route table: every URL finconn serves.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::{accounts, customers, events, institutions, sessions, test_clocks, test_helpers, transactions};
use crate::error::ApiError;
use crate::extract::auth::api_context;
use crate::startup::AppState;
use crate::telemetry;

pub fn router(app: AppState) -> Router {
    // The metrics recorder is installed before the first request is counted.
    crate::metrics::handle();
    let v1 = Router::new()
        .route("/v1/customers", post(customers::create_customer).get(customers::list_customers))
        // Stripe's customer search is outside the Financial Connections contract: an unknown URL, not a
        // customer named "search".
        .route("/v1/customers/search", axum::routing::any(unrecognized))
        .route(
            "/v1/customers/{customer}",
            get(customers::retrieve_customer).post(customers::update_customer).delete(customers::delete_customer),
        )
        .route("/v1/financial_connections/sessions", post(sessions::create_session))
        .route("/v1/financial_connections/sessions/{session}", get(sessions::retrieve_session))
        .route("/v1/financial_connections/accounts", get(accounts::list_accounts))
        .route("/v1/financial_connections/accounts/{account}", get(accounts::retrieve_account))
        .route("/v1/financial_connections/accounts/{account}/disconnect", post(accounts::disconnect_account))
        .route("/v1/financial_connections/accounts/{account}/refresh", post(accounts::refresh_account))
        .route("/v1/financial_connections/accounts/{account}/subscribe", post(accounts::subscribe_account))
        .route("/v1/financial_connections/accounts/{account}/unsubscribe", post(accounts::unsubscribe_account))
        .route("/v1/financial_connections/accounts/{account}/owners", get(accounts::list_owners))
        .route("/v1/financial_connections/transactions", get(transactions::list_transactions))
        .route("/v1/financial_connections/transactions/{transaction}", get(transactions::retrieve_transaction))
        .route("/v1/events", get(events::list_events))
        .route("/v1/events/{id}", get(events::retrieve_event))
        .route("/v1/webhook_endpoints", post(events::create_webhook_endpoint).get(events::list_webhook_endpoints))
        .route(
            "/v1/webhook_endpoints/{webhook_endpoint}",
            get(events::retrieve_webhook_endpoint)
                .post(events::update_webhook_endpoint)
                .delete(events::delete_webhook_endpoint),
        )
        .route("/v1/webhook_endpoints/{webhook_endpoint}/attempts", get(events::list_attempts))
        .route("/v1/financial_connections/institutions", get(institutions::list_institutions))
        .route("/v1/financial_connections/institutions/{institution}", get(institutions::retrieve_institution))
        .route(
            "/v1/test_helpers/financial_connections/sessions/{session}/complete",
            post(test_helpers::complete_session),
        )
        .route("/v1/test_helpers/financial_connections/sessions/{session}/expire", post(test_helpers::expire_session))
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/deactivate",
            post(test_helpers::deactivate_account),
        )
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/reactivate",
            post(test_helpers::reactivate_account),
        )
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/refresh_outcome",
            post(test_helpers::refresh_outcome),
        )
        .route("/v1/test_helpers/financial_connections/accounts/{account}/balance", post(test_helpers::script_balance))
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/transactions",
            post(test_helpers::script_transaction),
        )
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/transactions/{transaction}/post",
            post(test_helpers::post_transaction),
        )
        .route(
            "/v1/test_helpers/financial_connections/accounts/{account}/transactions/{transaction}/void",
            post(test_helpers::void_transaction),
        )
        .route("/v1/test_helpers/events/{event}/resend", post(test_helpers::resend_event))
        .route(
            "/v1/test_helpers/financial_connections/institutions/{institution}/downtime",
            post(test_helpers::set_downtime).delete(test_helpers::end_downtime),
        )
        .route("/v1/test_helpers/test_clocks", post(test_clocks::create_test_clock).get(test_clocks::list_test_clocks))
        .route(
            "/v1/test_helpers/test_clocks/{test_clock}",
            get(test_clocks::retrieve_test_clock).delete(test_clocks::delete_test_clock),
        )
        .route("/v1/test_helpers/test_clocks/{test_clock}/advance", post(test_clocks::advance_test_clock))
        .route_layer(middleware::from_fn_with_state(app.clone(), v1_layers));

    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(crate::health::readyz))
        .route("/metrics", get(crate::metrics::endpoint))
        .route("/v1/openapi.json", get(crate::openapi::document))
        .merge(crate::link::routes())
        .merge(crate::dashboard::routes())
        // Every routed request names its route template in its log context (unrouted ones have none); the `/v1`
        // routes, merged after this layer, do it in `v1_layers`.
        .route_layer(middleware::from_fn(telemetry::record_route))
        .merge(v1)
        .fallback(unrecognized)
        .method_not_allowed_fallback(unrecognized)
        .layer(middleware::from_fn(edge))
        // Every body (the link API's and the OAuth page's too) must arrive within the body deadline.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(app.config.body_read_timeout))
        .with_state(app)
}

/// Liveness and database reachability.
async fn healthz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    match app.core.check_database().await {
        Ok(()) => (StatusCode::OK, [("content-type", "application/json")], "{\"status\":\"ok\"}\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("content-type", "application/json")],
                "{\"status\":\"database unavailable\"}\n",
            )
                .into_response()
        }
    }
}

/// The longest URL (path and query) finconn reads; longer is 414.
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// The most header bytes finconn reads; more is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// What every request goes through first: its log context (`telemetry::request_scope`, with the `finished`
/// line at the end) and the size limits on its URL and headers.
///
/// This and `v1_layers` are each one middleware doing several things in order, not one layer per
/// concern: axum clones every service beneath a layer on each request, so each layer costs every request.
async fn edge(mut req: Request, next: Next) -> Response {
    let scope = telemetry::request_scope(&mut req);
    let start = Instant::now();
    scope
        .run(async move {
            let res = match too_large(&req) {
                Some(refused) => refused,
                None => next.run(req).await,
            };
            telemetry::finished(&res, start);
            res
        })
        .await
}

/// Every `/v1` request, outermost first: the route template in its log context, the dashboard's request log (it
/// times the whole request and sees its answer), the request metrics (begun before the key is checked, so
/// refused requests are counted too), then the key, version and unit of work (`api_context`).
async fn v1_layers(State(app): State<AppState>, req: Request, next: Next) -> Response {
    telemetry::note_route(&req);
    let log = crate::dashboard::log::Pending::start(&app, &req);
    let timer = crate::metrics::RequestTimer::start(&req);
    let res = api_context(&app, req, next).await;
    timer.finish(&res);
    log.finish(&app, &res);
    res
}

/// A 414 or 431 when the URL or the headers are over their limits, in Stripe's envelope, before hyper's own
/// (larger) limits answer them with an empty body.
fn too_large(req: &Request) -> Option<Response> {
    // Path and query as they arrived (an origin-form target: what a client sends), without building a string.
    let uri = req.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3);
    if uri_bytes > MAX_URI_BYTES {
        return Some(
            ApiError::too_large(
                StatusCode::URI_TOO_LONG,
                format!("The request URL is longer than {MAX_URI_BYTES} bytes."),
            )
            .into_response(),
        );
    }
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(
            ApiError::too_large(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("The request headers are larger than {MAX_HEADER_BYTES} bytes."),
            )
            .into_response(),
        );
    }
    None
}

/// Stripe answers unknown paths and wrong methods alike, before looking at the key.
async fn unrecognized(req: Request) -> Response {
    ApiError::unrecognized_url(req.method().as_str(), req.uri().path()).into_response()
}
