//! Logging: one span per request (method, route, request id), one line when it ends. Never the
//! `Authorization` header, bodies or query strings: they carry keys and client secrets.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::Instrument;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::extract::auth::RequestId;

/// Installs the subscriber. Lines are written to stderr by a dedicated thread (`tracing-appender`), not by
/// the request's worker thread: a write system call per request line no longer sits on the request path.
/// Nothing is dropped (a full buffer makes the logger wait); the returned guard flushes what is queued
/// when it is dropped, so `main` holds it until the server has stopped.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_env("FINCONN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("finconn-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = if json {
        // Span fields are kept as JSON (`JsonFields`) so `FlatJson` can lift them into each line.
        builder.fmt_fields(JsonFields::new()).event_format(FlatJson).try_init()
    } else {
        builder.with_ansi(ansi).try_init()
    };
    guard
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

/// Names the authenticated account on the request's span, so every later line of the request carries it.
pub fn record_account(account: &str) {
    tracing::Span::current().record("account", account);
}

/// The path holds object ids, never secrets (keys and client secrets travel only in headers and bodies),
/// except the institution pages' random state, which names a one-time authorization: it is cut off.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/link/oauth/") {
        Some(rest) => format!("/link/oauth/{}/…", rest.split('/').next().unwrap_or_default()),
        None => path.to_owned(),
    }
}

pub async fn request_span(mut req: Request, next: Next) -> Response {
    let request_id = format!("{}{}", finconn_core::ids::REQUEST, finconn_core::ids::random_base62(14));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // The path holds object ids, never secrets: finconn takes keys and client secrets only in headers and
    // bodies.
    // `account` is filled in once the key is authenticated (`record_account`).
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %loggable_path(req.uri().path()),
        request_id = %request_id,
        account = tracing::field::Empty,
    );
    let start = Instant::now();
    async move {
        let res = next.run(req).await;
        tracing::info!(status = res.status().as_u16(), ms = start.elapsed().as_millis() as u64, "finished");
        res
    }
    .instrument(span)
    .await
}
