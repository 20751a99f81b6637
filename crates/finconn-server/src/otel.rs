//! OpenTelemetry export (the `otel` feature): the request and job spans, over OTLP/HTTP (protobuf), to the
//! collector at `otel_endpoint`.
//!
//! What leaves is decided here, by allow-list, not by what the spans happen to carry: a request span is
//! exported as `{method} {route}` with `http.request.method`, `http.route` (the route template, never the
//! path with its ids), `http.response.status_code`, `request_id` and `account`; a job span as
//! `job {kind}` with `job.id`, `job.kind` and `account`. Every other field, every log line (span event),
//! the raw path, and anything someone adds to a span later stays out. Keys, client secrets and bodies never
//! reach a span in the first place (see `telemetry`).
//!
//! The endpoint is the operator's, like the database URL: it is not put under the outbound policy of
//! provider calls and webhooks (`finconn_providers::outbound`). The exporter connects to exactly that
//! address, through no proxy and following no redirect.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{filter_fn, FilterFn};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The names of the spans that are exported (`telemetry::request_span`, `jobs::run_job`).
pub const REQUEST_SPAN: &str = "request";
pub const JOB_SPAN: &str = "job";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporter and the layer that feeds it. `None` when no endpoint is configured.
pub struct Otel<S> {
    pub provider: SdkTracerProvider,
    pub layer: Box<dyn Layer<S> + Send + Sync>,
}

/// Builds the exporter for `traces_url` and the `tracing` layer that turns finconn's request and job spans
/// into OpenTelemetry spans. Batching (`OTEL_BSP_*` are honoured) runs on the SDK's own thread.
pub fn init<S>(traces_url: &str, service_name: &str) -> anyhow::Result<Otel<S>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    // The blocking client owns a runtime of its own: it is built (and later dropped) off the async
    // workers, where building one would panic.
    let client = std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the OTLP client could not be built"))??;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(traces_url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let batch = BatchSpanProcessor::builder(exporter).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(AllowList(batch))
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
        .build();
    let tracer = provider.tracer("finconn");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(exported_spans());
    Ok(Otel { provider, layer: Box::new(layer) })
}

/// Only finconn's request and job spans reach the exporter: no events (log lines stay in the logs), no
/// spans of the libraries (the exporter's own HTTP client among them, which would feed itself).
fn exported_spans() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    filter_fn(|meta| {
        meta.is_span()
            && meta.target().starts_with("finconn_server")
            && (meta.name() == REQUEST_SPAN || meta.name() == JOB_SPAN)
    })
    // Both are `info` spans: the layer makes no debug or trace callsite worth evaluating.
    .with_max_level_hint(tracing::Level::INFO)
}

/// Flushes what is queued and stops the exporter, waiting at most `timeout`.
pub fn shutdown(provider: &SdkTracerProvider, timeout: Duration) {
    if let Err(e) = provider.shutdown_with_timeout(timeout) {
        tracing::warn!(error = %e, "OpenTelemetry: spans still queued at shutdown may be lost");
    }
}

/// Hands the batch processor only what may leave, shaped as OpenTelemetry's conventions name it.
#[derive(Debug)]
struct AllowList<P>(P);

impl<P: SpanProcessor> SpanProcessor for AllowList<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: SpanData) {
        self.0.on_end(shape(span));
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// The span as exported: allow-listed attributes (renamed to the semantic conventions' names), a name
/// that says what it was, no events.
fn shape(mut span: SpanData) -> SpanData {
    let attribute = |key: &str| span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone());
    // (exported name, span field)
    let (kept, name, kind): (&[(&'static str, &str)], String, SpanKind) = match span.name.as_ref() {
        REQUEST_SPAN => {
            let method = attribute("method").map(|v| v.as_str().into_owned()).unwrap_or_else(|| "HTTP".into());
            let name = match attribute("http.route") {
                Some(route) => format!("{method} {}", route.as_str()),
                None => method,
            };
            let fields: &[(&str, &str)] = &[
                ("http.request.method", "method"),
                ("http.route", "http.route"),
                ("http.response.status_code", "http.response.status_code"),
                ("request_id", "request_id"),
                ("account", "account"),
            ];
            (fields, name, SpanKind::Server)
        }
        JOB_SPAN => {
            let name = match attribute("job.kind") {
                Some(kind) => format!("job {}", kind.as_str()),
                None => "job".to_owned(),
            };
            (&[("job.id", "job.id"), ("job.kind", "job.kind"), ("account", "account")], name, SpanKind::Internal)
        }
        _ => (&[], span.name.clone().into_owned(), SpanKind::Internal),
    };
    let attributes: Vec<KeyValue> =
        kept.iter().filter_map(|(to, from)| attribute(from).map(|v| KeyValue::new(*to, v))).collect();
    // A server span is an error when the server failed (5xx), not when the client did (4xx).
    let failed = attributes
        .iter()
        .any(|kv| kv.key.as_str() == "http.response.status_code" && matches!(kv.value, Value::I64(s) if s >= 500));
    span.status = if failed { Status::error("") } else { Status::Unset };
    span.dropped_attributes_count = 0;
    span.attributes = attributes;
    span.events = Default::default();
    span.name = Cow::Owned(name);
    span.span_kind = kind;
    span
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId};
    use opentelemetry::InstrumentationScope;
    use std::time::SystemTime;

    fn span(name: &'static str, attributes: Vec<KeyValue>) -> SpanData {
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    fn keys(span: &SpanData) -> Vec<&str> {
        span.attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn a_request_span_keeps_only_the_allowed_attributes_under_their_conventional_names() {
        let shaped = shape(span(
            REQUEST_SPAN,
            vec![
                KeyValue::new("method", "GET"),
                KeyValue::new("path", "/v1/financial_connections/sessions/fcsess_123"),
                KeyValue::new("request_id", "req_abc"),
                KeyValue::new("account", "acct_1"),
                KeyValue::new("http.route", "/v1/financial_connections/sessions/{session}"),
                KeyValue::new("http.response.status_code", 200_i64),
                KeyValue::new("code.filepath", "src/telemetry.rs"),
                KeyValue::new("anything_added_later", "sk_test_x"),
            ],
        ));
        assert_eq!(shaped.name, "GET /v1/financial_connections/sessions/{session}");
        assert_eq!(shaped.span_kind, SpanKind::Server);
        assert_eq!(
            keys(&shaped),
            ["http.request.method", "http.route", "http.response.status_code", "request_id", "account"]
        );
        assert_eq!(shaped.status, Status::Unset);
    }

    #[test]
    fn a_server_error_marks_the_span_failed_and_a_client_error_does_not() {
        let with = |status: i64| {
            shape(span(
                REQUEST_SPAN,
                vec![KeyValue::new("method", "POST"), KeyValue::new("http.response.status_code", status)],
            ))
        };
        assert!(matches!(with(500).status, Status::Error { .. }));
        assert_eq!(with(404).status, Status::Unset);
        assert_eq!(with(404).name, "POST");
    }

    #[test]
    fn a_job_span_is_named_by_its_kind_and_other_spans_lose_every_attribute() {
        let job = shape(span(
            JOB_SPAN,
            vec![
                KeyValue::new("job.id", 7_i64),
                KeyValue::new("job.kind", "refresh_balance"),
                KeyValue::new("x", 1_i64),
            ],
        ));
        assert_eq!(job.name, "job refresh_balance");
        assert_eq!(keys(&job), ["job.id", "job.kind"]);
        let other = shape(span("other", vec![KeyValue::new("secret", "sk_test_x")]));
        assert!(other.attributes.is_empty());
    }
}
