//! The wire conventions every endpoint shares: auth, routing, encodings, headers, limits.

use crate::helpers::TestApp;

async fn authentication_errors_are_stripes(app: TestApp) {
    let url = format!("{}/v1/customers", app.base);
    let c = reqwest::Client::new();
    let send = |req: reqwest::RequestBuilder| app.send(req);

    let r = send(c.get(&url)).await;
    assert_eq!(r.status, 401);
    assert!(r.error("message").as_str().unwrap().starts_with("You did not provide an API key."));
    assert!(r.error("code").is_null() && r.error("param").is_null());
    assert!(r.header("request-id").is_none(), "Stripe sends no Request-Id on a 401");

    let r = send(c.get(&url).header("authorization", "Bearer")).await;
    assert_eq!(r.status, 401);
    assert!(r
        .error("message")
        .as_str()
        .unwrap()
        .contains("though you did set your Authorization header to \"Bearer\""));

    let r = send(c.get(&url).bearer_auth("sk_test_abcd1234x")).await;
    assert_eq!(r.status, 200, "a well-formed sandbox key provisions its account");
    let r = send(c.get(&url).bearer_auth("sk_live_abcd1234")).await;
    assert_eq!(r.status, 401, "live keys are never provisioned");
    assert_eq!(r.error("message"), "Invalid API Key provided: sk_live_****1234");
    let r = send(c.get(&url).bearer_auth("nonsense-key-123")).await;
    assert_eq!(r.error("message"), "Invalid API Key provided: nonsense****-123");

    let r = send(c.get(&url).basic_auth(&app.key, Some(""))).await;
    assert_eq!(r.status, 200, "HTTP Basic with the key as user name");

    let r = send(c.get(&url).bearer_auth(app.publishable_key())).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error("code"), "secret_key_required");
    assert!(r.header("request-id").is_some());
}

async fn unknown_routes_and_methods_are_404_before_auth(app: TestApp) {
    let c = reqwest::Client::new();
    let r = app.send(c.get(format!("{}/v1/financial_connections/sessions", app.base))).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error("message"),
        "Unrecognized request URL (GET: /v1/financial_connections/sessions). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
    );
    let r = app.send(c.delete(format!("{}/v1/financial_connections/sessions/x", app.base))).await;
    assert_eq!(r.status, 404);
    let r = app.get("/v1/customers/").await;
    assert_eq!(r.status, 404);
    assert!(r.error("message").as_str().unwrap().contains("remove the trailing slash"));
    let h = app.send(c.get(format!("{}/healthz", app.base))).await;
    assert_eq!(h.status, 200);
}

async fn bad_bodies_get_stripe_errors_not_500s(app: TestApp) {
    let path = "/v1/financial_connections/sessions";
    let r = app.post_raw(path, b"account_holder[type]=%FF%FE".to_vec()).await;
    assert_eq!(r.status, 400);
    assert!(r.error("message").as_str().unwrap().contains("UTF-8"));
    let r = app.post_raw(path, "a[b=1").await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("a[b")));
    let deep = format!("a{}=1", "[x]".repeat(50));
    assert_eq!(app.post_raw(path, deep).await.status, 400);
    let r = app.post_raw(path, "permissions=x&permissions[0]=y").await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("permissions")));
    let huge = format!("return_url={}", "a".repeat(2 << 20));
    let r = app.post_raw(path, huge).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error("type"), "invalid_request_error");
    let many = "x=1&".repeat(5000);
    assert_eq!(app.post_raw(path, many).await.status, 400);

    let r = app
        .send(
            app.request(reqwest::Method::POST, "/v1/customers")
                .header("content-type", "application/json")
                .body("{\"email\":\"a@b.c\"}"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error("message"),
        "Invalid request: unsupported Content-Type application/json. If error persists and you need assistance, please contact support@stripe.com."
    );
    // The server is still fine and nothing was stored by the failures.
    assert_eq!(app.get("/v1/customers").await.ok()["data"].as_array().unwrap().len(), 0);
}

async fn both_array_styles_and_charset_are_accepted(app: TestApp) {
    let cus = app.create_customer(&[]).await;
    let cus = cus["id"].as_str().unwrap();
    let body = format!(
        "account_holder[type]=customer&account_holder[customer]={cus}&permissions[]=balances&permissions[1]=ownership"
    );
    let r = app
        .send(
            app.request(reqwest::Method::POST, "/v1/financial_connections/sessions")
                .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
                .body(body),
        )
        .await
        .ok();
    assert_eq!(r["permissions"], serde_json::json!(["balances", "ownership"]));
}

async fn every_response_carries_stripes_headers(app: TestApp) {
    let r = app
        .send(app.request(reqwest::Method::GET, "/v1/customers").header("Stripe-Version", "2026-10-28.endive"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("stripe-version"), Some("2026-10-28.endive"));
    assert_eq!(r.header("cache-control"), Some("no-cache, no-store"));
    let id = r.header("request-id").unwrap();
    assert!(id.starts_with("req_") && id.len() == 18, "{id}");
    let r = app.get("/v1/customers").await;
    assert_eq!(r.header("stripe-version"), Some(finconn_types::API_VERSION));
    let r = app.send(app.request(reqwest::Method::GET, "/v1/customers").header("Stripe-Version", "2019-2-19")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error("message"), "Invalid Stripe API version: 2019-2-19");
    let r = app.get("/v1/customers/cus_x").await;
    assert_eq!(r.header("stripe-should-retry"), Some("false"));
    assert!(r.header("request-id").is_some());
}

/// NUL and other control characters are refused before any query, on both backends (PostgreSQL text
/// cannot hold U+0000: it used to answer 500), with the parameter named; nothing stored changes.
async fn control_characters_are_refused_before_the_store(app: TestApp) {
    let cus = app.create_customer(&[("email", "keep@example.com")]).await;
    let id = cus["id"].as_str().unwrap();
    let r = app.post("/v1/customers", &[("email", "a\u{0}b")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("email")), "{}", r.body);
    assert_eq!(r.error("type"), "invalid_request_error");
    let r = app.post(&format!("/v1/customers/{id}"), &[("name", "x\u{1}y")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("name")), "{}", r.body);
    for path in [
        "/v1/customers/cus_%00".to_owned(),
        "/v1/financial_connections/sessions/fcsess_%00x".to_owned(),
        "/v1/financial_connections/accounts/fca_%01".to_owned(),
        "/v1/customers?starting_after=cus_%00".to_owned(),
        "/v1/customers?email=a%00".to_owned(),
        "/v1/financial_connections/transactions?account=fca_%00".to_owned(),
        "/v1/events?type=%00".to_owned(),
        "/v1/financial_connections/accounts?session=%00".to_owned(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error("type"), "invalid_request_error", "{path}");
    }
    let r = app.send(app.request(reqwest::Method::POST, "/v1/customers/cus_%00").form(&[("name", "x")])).await;
    assert_eq!(r.status, 400);
    let again = app.get(&format!("/v1/customers/{id}")).await.ok();
    assert_eq!(again["email"], "keep@example.com");
    assert_eq!(again["name"], serde_json::Value::Null);
}

crate::on_both_backends!(
    control_characters_are_refused_before_the_store,
    authentication_errors_are_stripes,
    unknown_routes_and_methods_are_404_before_auth,
    bad_bodies_get_stripe_errors_not_500s,
    both_array_styles_and_charset_are_accepted,
    every_response_carries_stripes_headers,
);

/// With a rate of 20 a second, a burst of 200 from one key gets 429 `rate_limit` for the excess, as Stripe
/// words it; another key is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_rate_limit_gets_429_for_that_key_only() {
    let (addr, _dir) = crate::helpers::serve_with(finconn_server::config::Config {
        rate_limit_per_second: 20,
        ..finconn_server::config::Config::default()
    })
    .await;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let key = crate::helpers::random_key();
    let burst =
        futures::future::join_all((0..200).map(|_| http.get(format!("{base}/v1/customers")).bearer_auth(&key).send()))
            .await;
    let mut limited = 0;
    for r in burst {
        let r = r.unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("stripe-should-retry").is_none());
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limit");
            assert_eq!(body["error"]["type"], "invalid_request_error");
            assert!(body["error"]["message"].as_str().unwrap().starts_with("Testmode request rate limit exceeded"));
            limited += 1;
        } else {
            assert_eq!(r.status(), 200);
        }
    }
    assert!((170..=181).contains(&limited), "{limited} of 200 refused (20 a second, plus what refilled meanwhile)");
    let other =
        http.get(format!("{base}/v1/customers")).bearer_auth(crate::helpers::random_key()).send().await.unwrap();
    assert_eq!(other.status(), 200, "another key has its own budget");
    let write =
        http.post(format!("{base}/v1/customers")).bearer_auth(&key).form(&[("name", "x")]).send().await.unwrap();
    assert_eq!(write.status(), 200, "reads and writes are counted apart");
}

/// Slow clients are cut off: a head sent a byte at a time, an idle socket, a body that stalls. None of them
/// keeps its connection past the configured deadlines (1 s here; generous bounds below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _dir) = crate::helpers::serve_with(finconn_server::config::Config {
        header_read_timeout: std::time::Duration::from_secs(1),
        body_read_timeout: std::time::Duration::from_secs(1),
        ..finconn_server::config::Config::default()
    })
    .await;
    let bound = std::time::Duration::from_secs(10);

    // Headers at one byte every 200 ms: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = b"GET /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_slowloris\r\n\r\n";
    let started = std::time::Instant::now();
    let mut closed = false;
    for b in head.iter() {
        if slow.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::from_millis(200), slow.read(&mut buf)).await {
            // 0: closed; anything else: the server answered (408) and will close.
            closed = true;
            let _ = n;
            break;
        }
    }
    assert!(closed, "a head sent at a byte per 200 ms was still being read after {:?}", started.elapsed());
    assert!(started.elapsed() < bound);

    // An idle socket is closed too.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(bound, idle.read(&mut buf)).await.expect("closed within the bound").unwrap_or(0);
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"), "{:?}", String::from_utf8_lossy(&buf[..n]));

    // A body that stalls gets 408.
    let mut stall = tokio::net::TcpStream::connect(addr).await.unwrap();
    stall
        .write_all(
            b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_slowbody\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(bound, stall.read_to_end(&mut answer)).await.expect("answered within the bound");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");

    // And the server still serves everyone else.
    let ok = reqwest::Client::new()
        .get(format!("http://{addr}/v1/customers"))
        .bearer_auth(crate::helpers::random_key())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// An over-long URL and over-large headers get Stripe's envelope, not an empty body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_urls_and_headers_get_stripe_errors() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let long = format!("/v1/customers?email={}", "a".repeat(20 * 1024));
    let r = app.get(&long).await;
    assert_eq!((r.status, r.error("type").as_str()), (414, Some("invalid_request_error")), "{}", r.body);
    let r =
        app.send(app.request(reqwest::Method::GET, "/v1/customers").header("x-padding", "b".repeat(40 * 1024))).await;
    assert_eq!((r.status, r.error("type").as_str()), (431, Some("invalid_request_error")), "{}", r.body);
}
