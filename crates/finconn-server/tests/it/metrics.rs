//! `GET /metrics`: who may scrape it, and that what it shows moves with the traffic.

use crate::helpers::{Backend, TestApp};

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The value of one sample line (`name{labels} value`) whose name and labels contain all of `parts`.
fn sample(text: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn loopback_scrapes_without_a_token_and_counters_move() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = app.create_customer(&[]).await;
    let path = format!("/v1/customers/{}", c["id"].as_str().unwrap());
    app.get(&path).await.ok();
    let r = scrape(&app, None).await;
    assert_eq!(r.status(), 200);
    let parts =
        ["finconn_http_requests_total{", "route=\"/v1/customers/{customer}\"", "method=\"GET\"", "status=\"200\""];
    let before = sample(&r.text().await.unwrap(), &parts);
    assert!(before >= 1.0);
    app.get(&path).await.ok();
    app.get(&path).await.ok();
    let text = scrape(&app, None).await.text().await.unwrap();
    // Other tests of this process count into the same recorder: at least our two.
    assert!(sample(&text, &parts) >= before + 2.0);
    assert!(text.contains("# TYPE finconn_http_request_duration_seconds histogram"), "{text}");
    assert!(text.contains("finconn_jobs_due "), "{text}");
}

#[tokio::test]
async fn with_a_token_the_bearer_is_required() {
    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.metrics_token = Some(token.to_owned())).await;
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(scrape(&app, Some("metrics-token-wrong00000")).await.status(), 401);
    let ok = scrape(&app, Some(token)).await;
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("finconn_db_pool_connections"), "{text}");
}
