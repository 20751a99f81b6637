//! Test clock requests and `advance_and_wait`'s polling, against the scripted server.

use std::time::Duration;

use finconn_client::params::{CreateTestClock, Page};
use finconn_client::{Client, Error, TestClockId, TestClockStatus};
use futures::TryStreamExt;
use serde_json::json;

use crate::fake::{Canned, FakeServer};
use crate::fixtures::{clock_with, ready_clock};

const ID: &str = "clock_1Mr3I2LkdIwHu7ixjAzGv8bt";

fn client(url: &str) -> Client {
    Client::builder("sk_test_fake123").base_url(url).max_retries(0).build().unwrap()
}

fn id() -> TestClockId {
    ID.parse().unwrap()
}

fn ready() -> Canned {
    Canned::new(200, ready_clock().to_string())
}

fn advancing() -> Canned {
    Canned::new(200, clock_with("advancing", json!({"advancing": {"target_frozen_time": 1_700_176_400}})).to_string())
}

#[tokio::test]
async fn test_clock_requests_use_stripes_paths_and_bodies() {
    let list = json!({"data": [ready_clock()], "has_more": false, "object": "list",
        "url": "/v1/test_helpers/test_clocks"});
    let server = FakeServer::start(vec![
        ready(),
        ready(),
        Canned::new(200, list.to_string()),
        Canned::new(200, json!({"deleted": true, "id": ID, "object": "test_helpers.test_clock"}).to_string()),
    ]);
    let c = client(&server.url);
    let clocks = c.test_helpers().test_clocks();
    let created = clocks
        .create(&CreateTestClock::new(1_700_000_000).name("renewals").customer("cus_1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!((created.id.as_str(), created.status), (ID, TestClockStatus::Ready));
    assert_eq!(clocks.retrieve(&id()).await.unwrap().frozen_time, 1_700_000_000);
    let all: Vec<_> = clocks.list_all(&Page::limit(5)).try_collect().await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(clocks.delete(&id()).await.unwrap().deleted);

    let reqs = server.requests();
    let seen: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.target.as_str(), r.body.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/test_helpers/test_clocks", "frozen_time=1700000000&name=renewals&customer=cus_1"),
            ("GET", "/v1/test_helpers/test_clocks/clock_1Mr3I2LkdIwHu7ixjAzGv8bt", ""),
            ("GET", "/v1/test_helpers/test_clocks?limit=5", ""),
            ("DELETE", "/v1/test_helpers/test_clocks/clock_1Mr3I2LkdIwHu7ixjAzGv8bt", ""),
        ]
    );
    assert!(reqs[0].header("idempotency-key").is_some());
}

#[tokio::test]
async fn advance_and_wait_polls_until_the_clock_is_ready() {
    let server = FakeServer::start(vec![advancing(), advancing(), advancing(), ready()]);
    let clock = client(&server.url)
        .test_helpers()
        .test_clocks()
        .advance_and_wait(&id(), 1_700_176_400, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(clock.status, TestClockStatus::Ready);
    let reqs = server.requests();
    let seen: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.target.as_str(), r.body.as_str())).collect();
    let get = ("GET", "/v1/test_helpers/test_clocks/clock_1Mr3I2LkdIwHu7ixjAzGv8bt", "");
    assert_eq!(
        seen,
        [
            ("POST", "/v1/test_helpers/test_clocks/clock_1Mr3I2LkdIwHu7ixjAzGv8bt/advance", "frozen_time=1700176400"),
            get,
            get,
            get
        ]
    );
}

#[tokio::test]
async fn advance_and_wait_fails_when_the_advance_fails() {
    let failed = Canned::new(200, clock_with("internal_failure", json!({})).to_string());
    let server = FakeServer::start(vec![advancing(), advancing(), failed]);
    let err = client(&server.url)
        .test_helpers()
        .test_clocks()
        .advance_and_wait(&id(), 1_700_176_400, Duration::from_secs(10))
        .await
        .unwrap_err();
    let Error::TestClockNotReady { clock, .. } = &err else { panic!("{err}") };
    assert_eq!(clock.status, TestClockStatus::InternalFailure);
    assert!(err.to_string().starts_with("test clock clock_1Mr3I2LkdIwHu7ixjAzGv8bt is internal_failure"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn wait_until_ready_gives_up_at_the_timeout() {
    let server = FakeServer::start((0..20).map(|_| advancing()).collect());
    let started = std::time::Instant::now();
    let err = client(&server.url)
        .test_helpers()
        .test_clocks()
        .wait_until_ready(&id(), Duration::from_millis(250))
        .await
        .unwrap_err();
    let Error::TestClockNotReady { clock, waited } = &err else { panic!("{err}") };
    assert_eq!(clock.status, TestClockStatus::Advancing);
    assert!(*waited >= Duration::from_millis(250), "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Polled at once, then after 100 ms, then at the deadline (the pause is cut to what is left).
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn api_errors_while_waiting_are_returned_as_they_are() {
    let missing = Canned::new(
        404,
        r#"{"error": {"code": "resource_missing", "message": "No such test clock", "param": "test_clock", "type": "invalid_request_error"}}"#,
    );
    let server = FakeServer::start(vec![advancing(), missing]);
    let err = client(&server.url)
        .test_helpers()
        .test_clocks()
        .advance_and_wait(&id(), 1_700_176_400, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(err.as_api().unwrap().code.as_deref(), Some("resource_missing"), "{err}");
}
