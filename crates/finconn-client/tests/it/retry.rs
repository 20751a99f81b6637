//! Retries, idempotency keys, headers, errors and pagination, against the scripted server.

use std::time::Duration;

use finconn_client::params::{AccountHolder, CreateSession, ListEvents, Page};
use finconn_client::{Client, Error, ErrorKind, Permission};
use futures::TryStreamExt;

use crate::fake::{Canned, FakeServer};

const SESSION: &str = include_str!("../../../../../shared/reference/fixtures/financial_connections.session.json");

fn client(url: &str, retries: u32) -> Client {
    Client::builder("sk_test_fake123")
        .base_url(url)
        .max_retries(retries)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap()
}

fn create() -> CreateSession {
    CreateSession::new(AccountHolder::Customer("cus_1".parse().unwrap()), vec![Permission::Balances])
}

fn error_body(kind: &str, code: &str) -> String {
    format!(r#"{{"error": {{"code": "{code}", "message": "m", "type": "{kind}"}}}}"#)
}

#[tokio::test]
async fn retries_a_500_that_says_retry_with_the_same_idempotency_key() {
    let server = FakeServer::start(vec![
        Canned::new(500, error_body("api_error", "x")).header("Stripe-Should-Retry", "true"),
        Canned::new(200, SESSION),
    ]);
    let session = client(&server.url, 2).sessions().create(&create()).await.unwrap();
    assert_eq!(session.object, "financial_connections.session");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let key = reqs[0].header("idempotency-key").unwrap();
    assert_eq!(key.len(), 36);
    assert_eq!(reqs[1].header("idempotency-key"), Some(key));
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/v1/financial_connections/sessions");
        assert_eq!(r.header("authorization"), Some("Bearer sk_test_fake123"));
        assert_eq!(r.header("stripe-version"), Some(finconn_client::API_VERSION));
        assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(r.body, "account_holder[type]=customer&account_holder[customer]=cus_1&permissions[0]=balances");
    }
}

#[tokio::test]
async fn each_post_gets_its_own_key() {
    let server = FakeServer::start(vec![Canned::new(200, SESSION), Canned::new(200, SESSION)]);
    let c = client(&server.url, 0);
    c.sessions().create(&create()).await.unwrap();
    c.sessions().create(&create()).await.unwrap();
    let reqs = server.requests();
    assert_ne!(reqs[0].header("idempotency-key"), reqs[1].header("idempotency-key"));
}

#[tokio::test]
async fn never_retries_when_told_not_to() {
    let server = FakeServer::start(vec![
        Canned::new(503, error_body("api_error", "x")).header("Stripe-Should-Retry", "false"),
        Canned::new(200, SESSION),
    ]);
    let err = client(&server.url, 3).sessions().create(&create()).await.unwrap_err();
    assert_eq!(err.as_api().unwrap().kind, ErrorKind::Api);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retries_a_4xx_that_says_retry_and_409_429_5xx_by_default() {
    for (status, kind) in [(400, "invalid_request_error"), (409, "invalid_request_error")] {
        let mut first = Canned::new(status, error_body(kind, "lock_timeout"));
        if status == 400 {
            first = first.header("Stripe-Should-Retry", "true");
        }
        let server = FakeServer::start(vec![first, Canned::new(200, SESSION)]);
        client(&server.url, 1).sessions().create(&create()).await.unwrap();
        assert_eq!(server.requests().len(), 2, "{status}");
    }
    // 429 and 502 without the header, until the retries run out.
    let server = FakeServer::start(vec![
        Canned::new(429, error_body("invalid_request_error", "rate_limit")),
        Canned::new(502, "bad gateway"),
        Canned::new(502, "bad gateway"),
    ]);
    let err = client(&server.url, 2).sessions().create(&create()).await.unwrap_err();
    let api = err.as_api().unwrap();
    assert_eq!((api.kind, api.status, api.message.as_deref()), (ErrorKind::Api, 502, Some("bad gateway")));
    assert_eq!(server.requests().len(), 3);
    let keys: Vec<_> = server.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_owned()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]));
}

#[tokio::test]
async fn a_plain_400_is_not_retried_and_carries_the_request_id() {
    let server = FakeServer::start(vec![
        Canned::new(400, r#"{"error": {"code": "parameter_missing", "message": "Missing required param: permissions.", "param": "permissions", "type": "invalid_request_error"}}"#)
            .header("Request-Id", "req_abc123"),
        Canned::new(200, SESSION),
    ]);
    let err = client(&server.url, 2).sessions().create(&create()).await.unwrap_err();
    let Error::Api(api) = &err else { panic!("{err}") };
    assert_eq!(api.kind, ErrorKind::InvalidRequest);
    assert_eq!(api.code.as_deref(), Some("parameter_missing"));
    assert_eq!(api.param.as_deref(), Some("permissions"));
    assert_eq!(api.request_id.as_deref(), Some("req_abc123"));
    assert!(err.to_string().contains("Missing required param"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn gets_carry_no_idempotency_key_and_bad_bodies_are_decode_errors() {
    let server = FakeServer::start(vec![Canned::new(200, r#"{"not": "a session"}"#)]);
    let err = client(&server.url, 0).sessions().retrieve(&"fcsess_1".parse().unwrap(), &[]).await.unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err}");
    let r = &server.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/v1/financial_connections/sessions/fcsess_1");
    assert_eq!(r.header("idempotency-key"), None);
}

#[tokio::test]
async fn network_errors_are_retried_then_reported() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let err = client(&format!("http://127.0.0.1:{port}"), 2).sessions().create(&create()).await.unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(5));
}

#[tokio::test]
async fn list_all_follows_starting_after_and_keeps_the_parameters() {
    let event = |id: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../../../../shared/reference/fixtures/event.json")).unwrap();
        v["id"] = id.into();
        v
    };
    let page = |ids: &[&str], more: bool| {
        serde_json::json!({"data": ids.iter().map(|i| event(i)).collect::<Vec<_>>(), "has_more": more,
            "object": "list", "url": "/v1/events"})
        .to_string()
    };
    let server = FakeServer::start(vec![
        Canned::new(200, page(&["evt_3", "evt_2"], true)),
        Canned::new(200, page(&["evt_1"], true)),
        Canned::new(200, page(&[], false)),
    ]);
    let params = ListEvents {
        types: Some(finconn_client::params::EventTypes::Type("financial_connections.*".into())),
        page: Page::limit(2),
        ..Default::default()
    };
    let all: Vec<_> = client(&server.url, 0).events().list_all(&params).try_collect().await.unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_3", "evt_2", "evt_1"]);
    let targets: Vec<_> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/v1/events?type=financial_connections.*&limit=2",
            "/v1/events?type=financial_connections.*&limit=2&starting_after=evt_2",
            "/v1/events?type=financial_connections.*&limit=2&starting_after=evt_1",
        ]
    );
}

#[tokio::test]
async fn list_all_stops_at_the_first_error() {
    let server = FakeServer::start(vec![Canned::new(
        401,
        r#"{"error": {"message": "Invalid API Key provided: sk_test_****", "type": "invalid_request_error"}}"#,
    )]);
    let results: Vec<_> =
        futures::StreamExt::collect::<Vec<_>>(client(&server.url, 0).events().list_all(&Default::default())).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().as_api().unwrap().kind, ErrorKind::Authentication);
}
