//! Logging: every line of a request carries its context (method, path, request id, route, account), and one
//! line ends it. Never the `Authorization` header, bodies or query strings: they carry keys and client
//! secrets. With the `otel` feature and an `otel_endpoint`, the request and job spans are exported too
//! (`crate::otel`).
//!
//! A request's context is a `tracing` span only where one is needed: when spans are exported, and on a
//! terminal (tracing-subscriber's coloured format prints spans). Otherwise it is a task-local
//! ([`RequestContext`]) that finconn's own formats (`PlainText`, `FlatJson`) print exactly as they print the
//! span, byte for byte (a test compares the two): a span costs every request its registration, its fields
//! formatted into a string, a re-format at each recorded field, and an enter and exit at every poll, which
//! measured about a tenth of a session retrieve's CPU.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::{DefaultVisitor, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::extract::auth::RequestId;

/// What `init` set up: the log writer and, in an `otel` build with an endpoint, the span exporter. Held by
/// `main` until the server has stopped; [`Telemetry::shutdown`] (or dropping it) flushes both.
#[must_use = "dropping the guard stops the log writer and the span exporter"]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    otel: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    // Dropped last: the exporter's farewell warnings still reach the log.
    _log: crate::logsink::Guard,
}

/// How long shutdown waits for the exporter to send the spans still queued.
pub const EXPORT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl Telemetry {
    /// Sends the spans still queued (at most [`EXPORT_FLUSH_TIMEOUT`]), then stops the exporter. Runs off the
    /// async workers: the flush blocks.
    pub async fn shutdown(self) {
        #[cfg(feature = "otel")]
        {
            let mut this = self;
            if let Some(provider) = this.otel.take() {
                let flushed =
                    tokio::task::spawn_blocking(move || crate::otel::shutdown(&provider, EXPORT_FLUSH_TIMEOUT));
                if flushed.await.is_err() {
                    tracing::warn!("OpenTelemetry: the exporter did not stop cleanly");
                }
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Start-up failed after `init`, or `shutdown` was not called: still send what is queued.
        #[cfg(feature = "otel")]
        if let Some(provider) = self.otel.take() {
            crate::otel::shutdown(&provider, EXPORT_FLUSH_TIMEOUT);
        }
    }
}

/// Installs the subscriber. Lines are written to stderr in batches by a thread of their own
/// (`crate::logsink`), not by the request's worker thread: neither a write system call nor a thread
/// wake-up per request line sits on the request path. Nothing is dropped (a full buffer makes the logger
/// wait); the returned guard writes what is left when it is dropped, so `main` holds it until the server
/// has stopped.
///
/// `otel`: the collector's traces URL and the service name (`Config::otel_traces_url`). A build without
/// the `otel` feature warns once that it cannot export, and goes on.
pub fn init(json: bool, otel: Option<(&str, &str)>) -> Telemetry {
    // `FINCONN_LOG` filters the log lines only: quieting the log does not stop the spans' export.
    let filter = EnvFilter::try_from_env("FINCONN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // On a terminal the log is tracing-subscriber's own format, which knows spans, not `RequestContext`.
    if ansi && !json {
        SPANS.store(true, Ordering::Relaxed);
    }
    let (writer, guard) = crate::logsink::start(std::io::stderr());
    let log = if json {
        // Span fields are kept as JSON (`JsonFields`) so `FlatJson` can lift them into each line.
        tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(writer)
            .with_filter(filter)
            .boxed()
    } else {
        if ansi {
            tracing_subscriber::fmt::layer().with_ansi(true).with_writer(writer).with_filter(filter).boxed()
        } else {
            // Not a terminal (a file, a journal, a container's log): the same lines, without colours,
            // written by `PlainText` and `PlainFields` (tracing-subscriber's own format pays for colour
            // styling even when it is off: measured, a fifth of a retrieve's logging cost).
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .fmt_fields(PlainFields)
                .event_format(PlainText)
                .with_writer(writer)
                .with_filter(filter)
                .boxed()
        }
    };
    let registry = tracing_subscriber::registry().with(log);
    #[cfg(feature = "otel")]
    {
        let (layer, provider, failed) = match otel.map(|(url, service)| crate::otel::init(url, service)) {
            Some(Ok(o)) => {
                // The exporter sees spans only.
                SPANS.store(true, Ordering::Relaxed);
                (Some(o.layer), Some(o.provider), None)
            }
            Some(Err(e)) => (None, None, Some(e)),
            None => (None, None, None),
        };
        let _ = registry.with(layer).try_init();
        match (&provider, failed, otel) {
            (Some(_), _, Some((url, service))) => {
                tracing::info!(endpoint = url, service, "OpenTelemetry: exporting spans over OTLP/HTTP")
            }
            (_, Some(e), _) => {
                tracing::warn!(error = %e, "OpenTelemetry: the exporter could not be set up; no spans are exported")
            }
            _ => {}
        }
        Telemetry { otel: provider, _log: guard }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = registry.try_init();
        if otel.is_some() {
            tracing::warn!(
                "otel_endpoint is set, but this build of finconn has no OpenTelemetry support; no spans are exported (build with --features otel)"
            );
        }
        Telemetry { _log: guard }
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, the fields of every span the event is in
/// (outermost first; the request span gives `request_id`, `method`, `path` and, once the key is known,
/// `account`), then the event's own fields and `message`. Flat, unlike tracing-subscriber's `json()`,
/// which nests span fields under `span`/`spans`: `jq 'select(.request_id == "req_…")'` finds a
/// request's lines whatever span they were logged in.
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut timestamp = String::new();
        if FormatTime::format_time(&SystemTime, &mut Writer::new(&mut timestamp)).is_ok() {
            line.insert("timestamp".into(), Value::String(timestamp));
        }
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        let _ = REQUEST.try_with(|request| {
            for (name, value) in request.fields() {
                line.insert(name.into(), Value::String(value.to_owned()));
            }
            line.insert("span".into(), Value::String(REQUEST_SPAN.to_owned()));
        });
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions.get::<FormattedFields<N>>().map(|f| f.fields.as_str()).unwrap_or("");
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
                line.insert("span".into(), Value::String(span.name().to_owned()));
            }
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// tracing-subscriber's default text line without colours, byte for byte (its test compares the two):
/// `2026-12-05T03:07:51.134985Z  INFO request{method=GET …}: finconn_server::telemetry: finished status=200`.
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(256);
        rfc3339_micros(&mut line, std::time::SystemTime::now());
        line.push(' ');
        line.push_str(match *meta.level() {
            tracing::Level::ERROR => "ERROR",
            tracing::Level::WARN => " WARN",
            tracing::Level::INFO => " INFO",
            tracing::Level::DEBUG => "DEBUG",
            tracing::Level::TRACE => "TRACE",
        });
        line.push(' ');
        let mut seen = REQUEST
            .try_with(|request| {
                line.push_str(REQUEST_SPAN);
                line.push('{');
                for (i, (name, value)) in request.fields().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    push_plain_field(&mut line, name, value, i >= 3);
                }
                line.push_str("}:");
            })
            .is_ok();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.push_str(span.metadata().name());
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                    line.push('{');
                    line.push_str(fields);
                    line.push('}');
                }
                line.push(':');
            }
        }
        if seen {
            line.push(' ');
        }
        line.push_str(meta.target());
        line.push_str(": ");
        writer.write_str(&line)?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Span and event fields as tracing-subscriber's `DefaultFields` writes them without colours, byte for byte
/// (the same test compares the two): `name=value` with the value's `Debug`, space-separated. Its own
/// visitor pays for painting every name and `=` with an empty style; this one writes plain fields itself
/// and hands the rest (the message, errors, raw identifiers), where tracing-subscriber escapes terminal
/// control sequences, to `DefaultVisitor`.
pub struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor { writer, empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    /// One field written by tracing-subscriber's own visitor, continuing this line.
    fn delegate(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.empty);
        record(&mut visitor);
        self.result = tracing_subscriber::field::VisitOutput::finish(visitor);
        self.empty = false;
    }
}

/// A field `PlainVisitor` writes itself: not the message (escaped), a raw identifier (`r#type`, written
/// without its `r#`), or a `log` record's metadata (not written).
fn plain_name(name: &str) -> bool {
    name != "message" && !name.starts_with("r#") && !name.starts_with("log.")
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if name == "message" {
            self.delegate(|v| v.record_str(field, value));
        } else if value.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') && plain_name(name) {
            // Printable ASCII without quotes or backslashes: its `Debug` is the text in quotes.
            if self.result.is_ok() {
                let pad = if std::mem::take(&mut self.empty) { "" } else { " " };
                self.result = [pad, name, "=\"", value, "\""].iter().try_for_each(|part| self.writer.write_str(part));
            }
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        // A `log` record's metadata, already on the line (tracing-subscriber skips these too).
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !plain_name(name) {
            return self.delegate(|v| v.record_debug(field, value));
        }
        let pad = if std::mem::take(&mut self.empty) { "" } else { " " };
        self.result = [pad, name, "="].iter().try_for_each(|part| self.writer.write_str(part));
        if self.result.is_ok() {
            self.result = write!(self.writer, "{value:?}");
        }
    }

    // Numbers as `Debug` writes them (the request's `status` and `ms`), without the formatting machinery.
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_number(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_number(field, itoa::Buffer::new().format(value));
    }
}

impl PlainVisitor<'_> {
    fn record_number(&mut self, field: &Field, digits: &str) {
        let name = field.name();
        // As `record_debug`: a `log` record's metadata is not written, other special names are delegated.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !plain_name(name) {
            return self.delegate(|v| v.record_debug(field, &format_args!("{digits}")));
        }
        let pad = if std::mem::take(&mut self.empty) { "" } else { " " };
        self.result = [pad, name, "=", digits].iter().try_for_each(|part| self.writer.write_str(part));
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), as tracing-subscriber's `SystemTime` timer writes it.
fn rfc3339_micros(out: &mut String, t: std::time::SystemTime) {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = finconn_providers::calendar::civil_from_days(i64::try_from(days).unwrap_or(0));
    let (year, month, day) = (u64::try_from(year).unwrap_or(0), u64::from(month), u64::from(day));
    let push = |out: &mut String, n: u64, width: u32| {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + ((n / 10u64.pow(i)) % 10) as u8));
        }
    };
    push(out, year, 4);
    out.push('-');
    push(out, month, 2);
    out.push('-');
    push(out, day, 2);
    out.push('T');
    push(out, rem / 3600, 2);
    out.push(':');
    push(out, rem / 60 % 60, 2);
    out.push(':');
    push(out, rem % 60, 2);
    out.push('.');
    push(out, u64::from(since.subsec_micros()), 6);
    out.push('Z');
}

/// An event's fields as JSON values: numbers and booleans stay numbers and booleans.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The cause chain, as the text format prints it with `{:#}`-style joins.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.0.insert(field.name().to_owned(), Value::String(text));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

/// Names the authenticated account in the request's context, so every later line of the request carries it.
pub fn record_account(account: &str) {
    let _ = REQUEST.try_with(|request| request.account.set(account.to_owned()));
    if spans() {
        tracing::Span::current().record("account", account);
    }
}

/// Names the route template (`/v1/financial_connections/sessions/{session}`, never the path with its ids)
/// in the request's context. Called inside routing (only routing knows the template, and the context is
/// opened before it): by `router::v1` for the API, and as a route layer (`record_route`) elsewhere.
pub fn note_route(req: &Request) {
    if let Some(route) = req.extensions().get::<axum::extract::MatchedPath>() {
        let _ = REQUEST.try_with(|request| request.route.set(route.clone()));
        if spans() {
            tracing::Span::current().record("http.route", route.as_str());
        }
    }
}

/// `note_route` as a route layer, for the routes outside `/v1`.
pub async fn record_route(req: Request, next: Next) -> Response {
    note_route(&req);
    next.run(req).await
}

/// The path holds object ids, never secrets (keys and client secrets travel only in headers and bodies),
/// except the institution pages' random state, which names a one-time authorization, and a dashboard
/// sign-in link's token: both are cut off.
fn loggable_path(path: &str) -> String {
    if path.starts_with("/dashboard/link/") {
        return "/dashboard/link/…".to_owned();
    }
    match path.strip_prefix("/link/oauth/") {
        Some(rest) => format!("/link/oauth/{}/…", rest.split('/').next().unwrap_or_default()),
        None => path.to_owned(),
    }
}

/// Whether requests get a `tracing` span (set by `init`: spans are exported, or the log is on a terminal).
static SPANS: AtomicBool = AtomicBool::new(false);

fn spans() -> bool {
    SPANS.load(Ordering::Relaxed)
}

/// The name a request's context has on its lines, as the span it stands for (`otel::REQUEST_SPAN`).
const REQUEST_SPAN: &str = "request";

/// A request's context on its log lines, where it has no span (see the module's documentation): the fields the
/// request span has, in the order it records them.
pub struct RequestContext {
    method: axum::http::Method,
    path: String,
    request_id: String,
    route: OnceCell<axum::extract::MatchedPath>,
    account: OnceCell<String>,
}

impl RequestContext {
    /// `(name, value)` of each field set so far: `method`, `path` and `request_id` are written as the span's
    /// `%` fields (`Display`), the route and the account as recorded strings.
    fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            Some(("method", self.method.as_str())),
            Some(("path", self.path.as_str())),
            Some(("request_id", self.request_id.as_str())),
            self.route.get().map(|r| ("http.route", r.as_str())),
            self.account.get().map(|a| ("account", a.as_str())),
        ]
        .into_iter()
        .flatten()
    }
}

tokio::task_local! {
    /// The context of the request whose future is being polled on this thread (`RequestScope::run`).
    static REQUEST: RequestContext;
}

/// `name=value` as `PlainFields` writes a field: a `%` field's text as it is; a recorded string in quotes,
/// escaped as its `Debug` unless it is printable ASCII without quotes or backslashes.
fn push_plain_field(line: &mut String, name: &str, value: &str, recorded: bool) {
    line.push_str(name);
    line.push('=');
    if !recorded {
        line.push_str(value);
    } else if value.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        use std::fmt::Write as _;
        let _ = write!(line, "{value:?}");
    }
}

/// What a request runs in: its context, or its span.
pub enum RequestScope {
    Context(RequestContext),
    Span(tracing::Span),
}

impl RequestScope {
    /// Runs `f` inside the request's context or span.
    pub async fn run<F: std::future::Future>(self, f: F) -> F::Output {
        match self {
            RequestScope::Context(context) => REQUEST.scope(context, f).await,
            RequestScope::Span(span) => tracing::Instrument::instrument(f, span).await,
        }
    }
}

/// Opens a request's context or span (the edge middleware, `router::edge`, runs the request inside it) and
/// gives the request its id.
pub fn request_scope(req: &mut Request) -> RequestScope {
    let request_id = finconn_core::ids::new_request_id();
    // The path holds object ids, never secrets: finconn takes keys and client secrets only in headers and
    // bodies.
    let path = loggable_path(req.uri().path());
    let scope = if spans() {
        // `account` is filled in once the key is authenticated (`record_account`), `http.route` once routed
        // (`note_route`). `http.response.status_code` is recorded after the last log line, for the exported
        // span only (the log's `finished` line has `status`).
        RequestScope::Span(tracing::info_span!(
            "request",
            method = %req.method(),
            path = %path,
            request_id = %request_id,
            account = tracing::field::Empty,
            "http.route" = tracing::field::Empty,
            "http.response.status_code" = tracing::field::Empty,
        ))
    } else {
        RequestScope::Context(RequestContext {
            method: req.method().clone(),
            path,
            request_id: request_id.clone(),
            route: OnceCell::new(),
            account: OnceCell::new(),
        })
    };
    req.extensions_mut().insert(RequestId(request_id));
    scope
}

/// The request's last line, `finished` with its status and duration; called inside its context.
pub fn finished(res: &Response, start: Instant) {
    let status = res.status().as_u16();
    tracing::info!(status, ms = start.elapsed().as_millis() as u64, "finished");
    // For the exported span only: a build without `otel` exports nothing, so it skips the record.
    #[cfg(feature = "otel")]
    if spans() {
        tracing::Span::current().record("http.response.status_code", status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        for (secs, micros, want) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 500_000, "2000-02-29T00:00:00.500000Z"),
            (1_709_164_800, 7, "2024-02-29T00:00:00.000007Z"),
            (1_796_440_071, 134_985, "2026-12-05T03:07:51.134985Z"),
            (4_102_444_799, 999_999, "2099-12-31T23:59:59.999999Z"),
        ] {
            let t = std::time::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            let mut out = String::new();
            rfc3339_micros(&mut out, t);
            assert_eq!(out, want);
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        let span = tracing::info_span!("request", method = %"GET", path = %"/v1/x", account = tracing::field::Empty);
        let _g = span.enter();
        tracing::info!("outside a nested span");
        span.record("account", "acct_1");
        let inner = tracing::info_span!("job");
        inner.in_scope(|| tracing::warn!(error = %"it broke", attempt = 3u64, ok = false, "a warning"));
        tracing::info!(status = 200u64, ms = 1u64, route = "/v1/{id}", "finished");
        drop(_g);
        tracing::error!(kind = ?Some("x"), "no span");
        // Terminal control sequences: escaped in a message, `Debug`-escaped in a field; an error with its
        // source; a raw identifier; a `log` record's metadata field, which is not written.
        let io = std::io::Error::other(std::fmt::Error);
        tracing::warn!(
            path = "/v1/\x1b[31mred",
            error = &io as &(dyn std::error::Error + 'static),
            "bell \x07 esc \x1b[2J"
        );
        tracing::info!(
            r#type = "x",
            "log.target" = "sqlx",
            "log.line" = 12u64,
            r#ref = 7u64,
            n = -1i64,
            "{}",
            "formatted \u{9b} message"
        );
        tracing::info!(quoted = "say \"hi\" é\t\\", plain = "ok", empty = "", "strings");
    }

    /// finconn's text log (`PlainText`, no colours) into `buf`.
    fn plain_text(buf: &Buffer) -> impl tracing::Subscriber + Send + Sync {
        let w = buf.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(PlainFields)
            .event_format(PlainText)
            .with_writer(move || w.clone())
            .finish()
    }

    /// Lines without their timestamps (the two runs happen at different instants).
    fn lines(buf: &Buffer) -> Vec<String> {
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| l.get(27..).unwrap_or_default().to_owned()).collect()
    }

    /// The `MatchedPath` axum gives a request for `path` routed by `template`.
    fn matched_path(template: &str, path: &str) -> axum::extract::MatchedPath {
        use tower::ServiceExt;
        let router = axum::Router::new().route(
            template,
            axum::routing::get(|req: Request| async move {
                let route = req.extensions().get::<axum::extract::MatchedPath>().cloned();
                let mut res = Response::new(axum::body::Body::empty());
                res.extensions_mut().insert(route);
                res
            }),
        );
        let req = Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let res = rt.block_on(router.oneshot(req)).unwrap();
        res.extensions().get::<Option<axum::extract::MatchedPath>>().cloned().flatten().unwrap()
    }

    /// A request's lines, logged inside its span (as `request_scope` makes it when spans are on) or inside its
    /// context, with a route and then an account recorded, and a job span within the request.
    fn request_lines(context: bool) {
        let route = matched_path("/v1/customers/{customer}", "/v1/customers/cus_1");
        let lines = || {
            tracing::info!("before the key");
            if context {
                REQUEST.with(|r| {
                    r.route.set(route.clone()).unwrap();
                    r.account.set("acct_1".to_owned()).unwrap();
                });
            } else {
                tracing::Span::current().record("http.route", route.as_str());
                tracing::Span::current().record("account", "acct_1");
            }
            tracing::info_span!("job", kind = "refresh").in_scope(|| tracing::warn!(error = %"e", "inner"));
            tracing::info!(status = 404u64, ms = 3u64, "finished");
        };
        if context {
            let request = RequestContext {
                method: axum::http::Method::GET,
                path: "/v1/customers/cus_\"x\"".to_owned(),
                request_id: "req_abc".to_owned(),
                route: OnceCell::new(),
                account: OnceCell::new(),
            };
            REQUEST.sync_scope(request, lines);
        } else {
            tracing::info_span!(
                "request",
                method = %axum::http::Method::GET,
                path = %"/v1/customers/cus_\"x\"",
                request_id = %"req_abc",
                account = tracing::field::Empty,
                "http.route" = tracing::field::Empty,
                "http.response.status_code" = tracing::field::Empty,
            )
            .in_scope(lines);
        }
        tracing::info!("after the request");
    }

    #[test]
    fn a_request_context_is_logged_as_its_span_would_be() {
        for json in [false, true] {
            let mut got = Vec::new();
            for context in [true, false] {
                let out = Buffer::default();
                let w = out.clone();
                let lines = if json {
                    let sub = tracing_subscriber::fmt()
                        .fmt_fields(JsonFields::new())
                        .event_format(FlatJson)
                        .with_writer(move || w.clone())
                        .finish();
                    tracing::subscriber::with_default(sub, || request_lines(context));
                    // Without the timestamps (taken at different instants), in one key order: a span's recorded
                    // fields come first in the span's JSON, an order no reader of a JSON object sees.
                    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
                    text.lines()
                        .map(|l| {
                            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                            v.as_object_mut().unwrap().remove("timestamp");
                            v.as_object_mut().unwrap().sort_keys();
                            v.to_string()
                        })
                        .collect::<Vec<_>>()
                } else {
                    tracing::subscriber::with_default(plain_text(&out), || request_lines(context));
                    lines(&out)
                };
                got.push(lines);
            }
            assert_eq!(got[0].len(), 4, "{:?}", got[0]);
            assert_eq!(got[0], got[1], "json: {json}");
            let finished = &got[0][2];
            if json {
                let v: serde_json::Value = serde_json::from_str(finished).unwrap();
                assert_eq!(v["request_id"], "req_abc");
                assert_eq!(v["account"], "acct_1");
                assert_eq!(v["http.route"], "/v1/customers/{customer}");
                assert_eq!(v["span"], "request");
                assert_eq!(v["status"], 404);
            } else {
                assert!(
                    finished.contains(
                        "request{method=GET path=/v1/customers/cus_\"x\" request_id=req_abc http.route=\"/v1/customers/{customer}\" account=\"acct_1\"}: "
                    ),
                    "{finished}"
                );
            }
            assert!(!got[0][3].contains("req_abc"), "a line after the request: {}", got[0][3]);
        }
    }

    #[test]
    fn plain_text_writes_the_default_format_without_colours() {
        let (ours, theirs) = (Buffer::default(), Buffer::default());
        tracing::subscriber::with_default(plain_text(&ours), emit);
        let w = theirs.clone();
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(move || w.clone()).finish();
        tracing::subscriber::with_default(sub, emit);
        let (ours, theirs) = (lines(&ours), lines(&theirs));
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, theirs);
        assert!(ours[2].contains("request{method=GET path=/v1/x account=\"acct_1\"}: "), "{}", ours[2]);
        assert!(ours[4].contains("bell \\x07 esc \\x1b[2J"), "{}", ours[4]);
    }
}
