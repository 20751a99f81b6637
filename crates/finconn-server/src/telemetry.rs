//! Logging: one span per request (method, route, request id), one line when it ends. Never the
//! `Authorization` header, bodies or query strings: they carry keys and client secrets.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
    guard
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
    let span = tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %request_id);
    let start = Instant::now();
    async move {
        let res = next.run(req).await;
        tracing::info!(status = res.status().as_u16(), ms = start.elapsed().as_millis() as u64, "finished");
        res
    }
    .instrument(span)
    .await
}
