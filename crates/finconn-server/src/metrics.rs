//! `GET /metrics`: Prometheus text format, for the operator's alerts.
//!
//! Counters and histograms are recorded as things happen (`metrics` macros, one process-wide recorder);
//! gauges that describe state (job queue, database pool) are read at scrape time. Labels are bounded: the
//! route is axum's route template (`/v1/financial_connections/sessions/{session}`), never the raw path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::startup::AppState;

const REQUESTS: &str = "finconn_http_requests_total";
const DURATION: &str = "finconn_http_request_duration_seconds";

/// The process's recorder, installed on first use (every app in a process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &buckets)
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                if metrics::set_global_recorder(recorder).is_err() {
                    tracing::warn!("a metrics recorder was already installed; /metrics shows only the gauges");
                }
                handle
            }
            Err(e) => {
                tracing::warn!(error = %e, "the metrics recorder could not be built; /metrics shows only the gauges");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// Counts and times every routed `/v1` request by route template, method and status: begun before the
/// key is checked (`router::v1`), so refused requests (401, 400) are counted too.
pub struct RequestTimer {
    start: Instant,
    route: Arc<RouteMetrics>,
}

impl RequestTimer {
    pub fn start(req: &Request) -> Self {
        let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        Self { start: Instant::now(), route: route_metrics(req.method(), route) }
    }

    pub fn finish(self, res: &Response) {
        self.route.duration.record(self.start.elapsed().as_secs_f64());
        self.route.count(res.status().as_u16());
    }
}

/// One (method, route)'s duration histogram and request counters, resolved once: the `metrics` macros build,
/// hash and look up their key on every call. Routes and methods are the router's own, so the set is bounded.
struct RouteMetrics {
    method: String,
    route: String,
    duration: Histogram,
    by_status: RwLock<Vec<(u16, Counter)>>,
}

impl RouteMetrics {
    fn count(&self, status: u16) {
        let known = self
            .by_status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, c)| c.clone());
        let counter = known.unwrap_or_else(|| {
            let counter = metrics::counter!(REQUESTS, "method" => self.method.clone(), "route" => self.route.clone(), "status" => status.to_string());
            self.by_status.write().unwrap_or_else(PoisonError::into_inner).push((status, counter.clone()));
            counter
        });
        counter.increment(1);
    }
}

fn route_metrics(method: &Method, route: &str) -> Arc<RouteMetrics> {
    // Methods and route templates are the router's own (no untrusted keys): foldhash, not SipHash.
    type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
    type Routes = RwLock<Map<Method, Map<String, Arc<RouteMetrics>>>>;
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    let routes = ROUTES.get_or_init(Routes::default);
    let known = routes.read().unwrap_or_else(PoisonError::into_inner).get(method).and_then(|m| m.get(route)).cloned();
    known.unwrap_or_else(|| {
        let mut routes = routes.write().unwrap_or_else(PoisonError::into_inner);
        let entry = routes.entry(method.clone()).or_default().entry(route.to_owned()).or_insert_with(|| {
            Arc::new(RouteMetrics {
                method: method.as_str().to_owned(),
                route: route.to_owned(),
                duration: metrics::histogram!(DURATION, "method" => method.as_str().to_owned(), "route" => route.to_owned()),
                by_status: RwLock::default(),
            })
        });
        entry.clone()
    })
}

/// A finished webhook delivery attempt: `succeeded`, `retrying` or `failed` (given up).
pub fn delivery(outcome: &'static str) {
    metrics::counter!("finconn_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// A finished refresh fetch, by data provider (`sandbox`, a connector's name), feature and outcome.
pub fn refresh(provider: &str, feature: &'static str, ok: bool) {
    let outcome = if ok { "succeeded" } else { "failed" };
    metrics::counter!("finconn_refreshes_total", "provider" => provider.to_owned(), "feature" => feature, "outcome" => outcome)
        .increment(1);
}

/// Whether `/metrics` answers this caller: with `metrics_token` set, the right bearer token (compared in
/// constant time); without, a loopback client.
pub fn allowed(token: Option<&str>, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    match token {
        Some(want) => headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|got| {
                use subtle::ConstantTimeEq;
                got.as_bytes().ct_eq(want.as_bytes()).into()
            }),
        None => peer.is_some_and(|p| p.ip().is_loopback()),
    }
}

/// `GET /metrics`.
pub async fn endpoint(
    State(app): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.map(|axum::Extension(ConnectInfo(p))| p);
    if !allowed(app.config.metrics_token.as_deref(), &headers, peer) {
        let message = if app.config.metrics_token.is_some() {
            "metrics: send Authorization: Bearer <metrics_token>\n"
        } else {
            "metrics: loopback clients only (set metrics_token to scrape from elsewhere)\n"
        };
        let status = if app.config.metrics_token.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
        return (status, [("content-type", "text/plain; charset=utf-8")], message).into_response();
    }
    let handle = handle();
    match app.core.queue_depth().await {
        Ok((due, oldest)) => {
            metrics::gauge!("finconn_jobs_due").set(due as f64);
            metrics::gauge!("finconn_jobs_oldest_due_age_seconds").set(oldest as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the job queue could not be read"),
    }
    let (open, idle) = app.core.pool_usage();
    metrics::gauge!("finconn_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("finconn_db_pool_connections", "state" => "idle").set(f64::from(idle));
    (StatusCode::OK, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, v.parse().unwrap_or_else(|_| unreachable!()));
        h
    }

    #[test]
    fn without_a_token_only_loopback_clients() {
        let none = HeaderMap::new();
        let at = |s: &str| s.parse::<SocketAddr>().ok();
        assert!(allowed(None, &none, at("127.0.0.1:5000")));
        assert!(allowed(None, &none, at("[::1]:5000")));
        assert!(!allowed(None, &none, at("10.0.0.7:5000")));
        assert!(!allowed(None, &none, at("203.0.113.9:5000")));
        assert!(!allowed(None, &none, None));
    }

    #[test]
    fn with_a_token_the_bearer_must_match_from_anywhere() {
        let t = Some("0123456789abcdefXYZ");
        let far = "203.0.113.9:5000".parse::<SocketAddr>().ok();
        assert!(allowed(t, &bearer("Bearer 0123456789abcdefXYZ"), far));
        assert!(!allowed(t, &bearer("Bearer 0123456789abcdefXY"), far));
        assert!(!allowed(t, &bearer("Basic 0123456789abcdefXYZ"), far));
        assert!(!allowed(t, &HeaderMap::new(), "127.0.0.1:1".parse().ok()), "the token applies to loopback too");
    }
}
