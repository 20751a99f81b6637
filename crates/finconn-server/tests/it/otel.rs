//! The `otel` feature: the real binary exports its request and job spans over OTLP/HTTP to a collector on
//! 127.0.0.1 (a fake one here, which decodes what it receives), flushes them when it is stopped, and
//! exports route templates and ids, never a key, a client secret or a raw path.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_finconn");

/// What the fake collector received: every body as sent (to search for secrets in the bytes) and decoded.
#[derive(Default)]
struct Received {
    bodies: Vec<Vec<u8>>,
    requests: Vec<ExportTraceServiceRequest>,
    content_types: Vec<String>,
}

/// An OTLP/HTTP collector on 127.0.0.1 that accepts protobuf on `POST /v1/traces`.
async fn collector() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut r = store.lock().unwrap();
                r.bodies.push(body.to_vec());
                r.requests.push(request);
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
                r.content_types.push(ct.to_owned());
                (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// One exported span, flattened for the assertions.
#[derive(Debug)]
struct Exported {
    name: String,
    kind: i32,
    attributes: HashMap<String, String>,
    service: String,
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn spans(received: &Received) -> Vec<Exported> {
    let mut out = Vec::new();
    for request in &received.requests {
        for rs in &request.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(&kv.value))
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    assert!(s.events.is_empty(), "a span carried events (log lines): {s:?}");
                    out.push(Exported {
                        name: s.name.clone(),
                        kind: s.kind,
                        attributes: s.attributes.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_with_route_templates_and_ids_and_no_secrets() {
    let (endpoint, received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env_remove("FINCONN_LISTEN")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env("FINCONN_OTEL_ENDPOINT", &endpoint)
        // Nothing is sent on a timer during the test: what arrives was flushed by the shutdown.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("FINCONN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (addr, mut lines) = crate::helpers::listening(&mut child).await;
    let base = format!("http://{addr}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http = reqwest::Client::new();
    let key = format!("sk_test_{}", finconn_core::ids::random_base62(24));
    let request_id = |r: &reqwest::Response| r.headers()["request-id"].to_str().unwrap().to_owned();
    let post =
        |path: &str, form: Vec<(&str, String)>| http.post(format!("{base}{path}")).bearer_auth(&key).form(&form).send();

    let r = post("/v1/customers", vec![("email", "a@example.com".into())]).await.unwrap();
    assert_eq!(r.status(), 200);
    let customer: Value = r.json().await.unwrap();
    let customer = customer["id"].as_str().unwrap().to_owned();
    let r = post(
        "/v1/financial_connections/sessions",
        vec![
            ("account_holder[type]", "customer".into()),
            ("account_holder[customer]", customer.clone()),
            ("permissions[]", "balances".into()),
            ("prefetch[]", "balances".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let created_id = request_id(&r);
    let session: Value = r.json().await.unwrap();
    let session_id = session["id"].as_str().unwrap().to_owned();
    let client_secret = session["client_secret"].as_str().unwrap().to_owned();
    assert!(!client_secret.is_empty());

    let r = http
        .get(format!("{base}/v1/financial_connections/sessions/{session_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let retrieved_id = request_id(&r);
    let r = http
        .get(format!("{base}/v1/financial_connections/sessions/fcsess_doesnotexist"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let missing_id = request_id(&r);
    // A key that names no account: a span with no account.
    let r = http.get(format!("{base}/v1/customers")).bearer_auth("sk_live_unknownkey123").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Linking with `prefetch` queues a balance refresh: a job, with its own span.
    let r = post(
        &format!("/v1/test_helpers/financial_connections/sessions/{session_id}/complete"),
        vec![("institution", "fcinst_TestInstitution".into()), ("accounts[]", "Success".into())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    let linked = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    let mut refreshed = false;
    for _ in 0..100 {
        let a: Value = http
            .get(format!("{base}/v1/financial_connections/accounts/{linked}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if a["balance_refresh"]["status"] == "succeeded" {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refreshed, "the prefetch refresh never ended");
    assert!(received.lock().unwrap().requests.is_empty(), "spans were sent before the shutdown");

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success());

    let received = received.lock().unwrap();
    assert!(!received.requests.is_empty(), "no spans were flushed at shutdown");
    assert!(received.content_types.iter().all(|c| c == "application/x-protobuf"), "{:?}", received.content_types);
    let spans = spans(&received);
    let by_request = |id: &str| {
        let mine: Vec<&Exported> =
            spans.iter().filter(|s| s.attributes.get("request_id").map(String::as_str) == Some(id)).collect();
        assert_eq!(mine.len(), 1, "one span per request {id}: {spans:#?}");
        mine[0]
    };
    let account_id = by_request(&created_id).attributes.get("account").cloned().unwrap_or_default();
    assert!(account_id.starts_with("acct_"), "{account_id}");

    let created = by_request(&created_id);
    assert_eq!(created.name, "POST /v1/financial_connections/sessions");
    assert_eq!(created.kind, SpanKind::Server as i32);
    assert_eq!(created.service, "finconn");
    assert_eq!(created.attributes["http.request.method"], "POST");
    assert_eq!(created.attributes["http.route"], "/v1/financial_connections/sessions");
    assert_eq!(created.attributes["http.response.status_code"], "200");

    let retrieved = by_request(&retrieved_id);
    assert_eq!(retrieved.name, "GET /v1/financial_connections/sessions/{session}");
    assert_eq!(retrieved.attributes["http.route"], "/v1/financial_connections/sessions/{session}");
    assert_eq!(retrieved.attributes["http.response.status_code"], "200");
    assert_eq!(retrieved.attributes["account"], account_id);

    let missing = by_request(&missing_id);
    assert_eq!(missing.attributes["http.route"], "/v1/financial_connections/sessions/{session}");
    assert_eq!(missing.attributes["http.response.status_code"], "404");

    // The refused request: routed, answered 401, no account (and, as Stripe, no Request-Id header).
    let refused = spans
        .iter()
        .find(|s| s.attributes.get("http.response.status_code").map(String::as_str) == Some("401"))
        .unwrap_or_else(|| panic!("no 401 span: {spans:#?}"));
    assert_eq!(refused.attributes["http.route"], "/v1/customers");
    assert!(!refused.attributes.contains_key("account"), "{refused:?}");

    let job = spans
        .iter()
        .find(|s| s.name == "job refresh_balance")
        .unwrap_or_else(|| panic!("no span of the refresh job: {spans:#?}"));
    assert_eq!(job.attributes["job.kind"], "refresh_balance");
    assert_eq!(job.attributes["account"], account_id);

    // Only allow-listed attributes, and no secret, raw path or id of an object anywhere in what was sent.
    let allowed = [
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "request_id",
        "account",
        "job.id",
        "job.kind",
    ];
    for s in &spans {
        for (k, v) in &s.attributes {
            assert!(allowed.contains(&k.as_str()), "attribute {k} exported: {s:?}");
            for secret in [key.as_str(), client_secret.as_str(), "sk_live_unknownkey123", "Bearer"] {
                assert!(!v.contains(secret), "{k} carries a secret: {s:?}");
            }
        }
    }
    let sent: Vec<u8> = received.bodies.concat();
    for needle in [
        key.as_str(),
        client_secret.as_str(),
        "sk_live_unknownkey123",
        session_id.as_str(),
        "fcsess_doesnotexist",
        linked.as_str(),
        customer.as_str(),
    ] {
        assert!(!sent.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} reached the collector");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_delays_the_shutdown_by_at_most_the_flush_timeout() {
    // Accepts connections and never answers them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env_remove("FINCONN_LISTEN")
        .env("FINCONN_OTEL_ENDPOINT", &endpoint)
        .env("FINCONN_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (addr, mut lines) = crate::helpers::listening(&mut child).await;
    let base = format!("http://{addr}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let key = format!("sk_test_{}", finconn_core::ids::random_base62(24));
    let r = reqwest::Client::new().get(format!("{base}/v1/customers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let pid = child.id().unwrap().to_string();
    let asked = std::time::Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    // The flush waits at most EXPORT_FLUSH_TIMEOUT (5 s); the rest of the shutdown takes well under a second.
    let took = asked.elapsed();
    assert!(took < finconn_server::telemetry::EXPORT_FLUSH_TIMEOUT + Duration::from_secs(3), "{took:?}");
    silent.abort();
}
