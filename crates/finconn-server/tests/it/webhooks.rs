//! Events and webhook deliveries: what is written, how it is signed, retried and recorded.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// A webhook receiver on a random port: records every request and answers with the next scripted status
/// (200 once the script runs out).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start_on(listener: tokio::net::TcpListener, script: Vec<u16>) -> Receiver {
        let r = Receiver { got: Arc::default(), script: Arc::new(Mutex::new(script)) };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push((headers, body));
                    let mut s = state.script.lock().unwrap();
                    let code = if s.is_empty() { 200 } else { s.remove(0) };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    async fn start(script: Vec<u16>) -> (Receiver, String) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        (Receiver::start_on(l, script).await, url)
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

async fn link(app: &TestApp, accounts: &[&str]) -> Value {
    let s = app.customer_session(&[]).await;
    let mut form = vec![("institution", "fcinst_TestInstitution")];
    form.extend(accounts.iter().map(|a| ("accounts[]", *a)));
    let req = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
        )
        .header("Idempotency-Key", format!("link-{}", s["id"].as_str().unwrap()))
        .form(&form);
    let r = app.send(req).await;
    let request_id = r.header("request-id").unwrap().to_owned();
    let mut body = r.ok();
    body["_request_id"] = json!(request_id);
    body
}

async fn events_are_written_for_every_change_and_listed(app: TestApp) {
    let done = link(&app, &["Success", "Savings"]).await;
    let created = app.get("/v1/events?type=financial_connections.account.created").await.ok();
    let data = created["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let e = &data[0];
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(e["object"], "event");
    assert_eq!(e["api_version"], finconn_types::API_VERSION);
    assert_eq!(e["livemode"], false);
    assert_eq!(e["pending_webhooks"], 0);
    assert_eq!(e["data"]["object"]["object"], "financial_connections.account");
    assert_eq!(e["request"]["id"], done["_request_id"]);
    assert!(e["request"]["idempotency_key"].as_str().unwrap().starts_with("link-"));
    let ids: Vec<&str> = data.iter().map(|e| e["data"]["object"]["id"].as_str().unwrap()).collect();
    let linked: Vec<&str> =
        done["accounts"]["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|i| linked.contains(i)));

    let acct = linked[0];
    app.post(&format!("/v1/financial_connections/accounts/{acct}/refresh"), &[("features[]", "balance")]).await.ok();
    app.run_jobs().await;
    let refreshed = app.get("/v1/events?type=financial_connections.account.refreshed_balance").await.ok();
    let r = &refreshed["data"][0];
    assert_eq!(r["data"]["object"]["balance_refresh"]["status"], "succeeded");
    assert_eq!(r["request"], json!({"id": null, "idempotency_key": null}), "a background refresh has no request");

    app.post(&format!("/v1/financial_connections/accounts/{acct}/disconnect"), &[]).await.ok();
    let all = app.get("/v1/events?type=financial_connections.account.*").await.ok();
    let types: Vec<&str> = all["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "financial_connections.account.disconnected",
            "financial_connections.account.refreshed_balance",
            "financial_connections.account.created",
            "financial_connections.account.created"
        ],
        "newest first"
    );
    let two = app.get("/v1/events?types[]=financial_connections.account.disconnected&types[]=financial_connections.account.refreshed_balance").await.ok();
    assert_eq!(two["data"].as_array().unwrap().len(), 2);
    let one = app.get(&format!("/v1/events/{}", all["data"][0]["id"].as_str().unwrap())).await.ok();
    assert_eq!(one, all["data"][0]);
    assert_eq!(app.get("/v1/events?delivery_success=false").await.ok()["data"], json!([]));
    assert_eq!(app.get("/v1/events?created[lt]=1").await.ok()["data"], json!([]));
    let r = app.get("/v1/events?type=a&types[]=b").await;
    assert_eq!(r.status, 400);
    assert_eq!(app.get("/v1/events/evt_nope").await.status, 404);
    let stranger = app.with_key(&crate::helpers::random_key());
    assert_eq!(stranger.get("/v1/events").await.ok()["data"], json!([]));
    // Events are kept 30 days.
    app.clock.advance(31 * 86_400);
    assert_eq!(app.get(&format!("/v1/events/{}", all["data"][0]["id"].as_str().unwrap())).await.status, 404);
    assert_eq!(app.get("/v1/events").await.ok()["data"], json!([]));
}

async fn webhook_endpoints_are_managed_like_stripes(app: TestApp) {
    let created = app
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://example.com/hook"),
                ("enabled_events[]", "*"),
                ("description", "mine"),
                ("metadata[team]", "a"),
            ],
        )
        .await
        .ok();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("we_"));
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_") && created["secret"].as_str().unwrap().len() >= 38
    );
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["application"], Value::Null);
    let got = app.get(&format!("/v1/webhook_endpoints/{id}")).await.ok();
    assert!(got.get("secret").is_none(), "the secret is shown only at creation");
    let upd = app
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[("disabled", "true"), ("enabled_events[]", "financial_connections.account.created"), ("description", "")],
        )
        .await
        .ok();
    assert_eq!(upd["status"], "disabled");
    assert_eq!(upd["enabled_events"], json!(["financial_connections.account.created"]));
    assert_eq!(upd["description"], Value::Null);
    assert_eq!(upd["metadata"], json!({"team": "a"}));
    let list = app.get("/v1/webhook_endpoints").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let del = app.delete(&format!("/v1/webhook_endpoints/{id}")).await.ok();
    assert_eq!(del, json!({"deleted": true, "id": id, "object": "webhook_endpoint"}));
    assert_eq!(app.get(&format!("/v1/webhook_endpoints/{id}")).await.status, 404);

    for (form, param) in [
        (vec![("enabled_events[]", "*")], "url"),
        (vec![("url", "https://example.com/h")], "enabled_events"),
        (vec![("url", "ftp://example.com/h"), ("enabled_events[]", "*")], "url"),
        (vec![("url", "https://example.com/h"), ("enabled_events[]", "nope.event")], "enabled_events[0]"),
    ] {
        let r = app.post("/v1/webhook_endpoints", &form).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some(param)), "{form:?}: {}", r.body);
    }
}

async fn deliveries_are_signed_and_verifiable(app: TestApp) {
    let (rx, url) = Receiver::start(vec![]).await;
    let we = app
        .post(
            "/v1/webhook_endpoints",
            &[("url", url.as_str()), ("enabled_events[]", "financial_connections.account.created")],
        )
        .await
        .ok();
    let secret = we["secret"].as_str().unwrap().to_owned();
    app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "customer.created")]).await.ok();
    link(&app, &["Success"]).await;
    app.run_jobs().await;
    assert_eq!(rx.count(), 1, "only the endpoint that wants the event gets it");
    let (headers, body) = rx.got.lock().unwrap()[0].clone();
    let sig = headers["stripe-signature"].to_str().unwrap().to_owned();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(v1, finconn_core::events::sign(&secret, t, body.as_bytes()));
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "financial_connections.account.created");
    let listed = app.get(&format!("/v1/events/{}", event["id"].as_str().unwrap())).await.ok();
    assert_eq!(listed["pending_webhooks"], 0, "delivered");
    assert_eq!(app.get("/v1/events?delivery_success=true").await.ok()["data"].as_array().unwrap().len(), 1);
}

async fn a_failing_receiver_gets_the_event_later(app: TestApp) {
    let (rx, url) = Receiver::start(vec![500, 503]).await;
    let we = app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await.ok();
    let we_id = we["id"].as_str().unwrap();
    link(&app, &["Success"]).await;
    app.run_jobs().await;
    assert_eq!(rx.count(), 1);
    let ev = app.get("/v1/events").await.ok();
    assert_eq!(ev["data"][0]["pending_webhooks"], 1);
    assert_eq!(app.get("/v1/events?delivery_success=false").await.ok()["data"].as_array().unwrap().len(), 1);
    app.run_jobs().await;
    assert_eq!(rx.count(), 1, "no retry before its time");
    app.clock.advance(60);
    app.run_jobs().await;
    assert_eq!(rx.count(), 2, "retried after a minute");
    app.clock.advance(119);
    app.run_jobs().await;
    assert_eq!(rx.count(), 2, "then after two minutes, not sooner");
    app.clock.advance(1);
    app.run_jobs().await;
    assert_eq!(rx.count(), 3);
    assert_eq!(app.get("/v1/events").await.ok()["data"][0]["pending_webhooks"], 0);
    let attempts = app.get(&format!("/v1/webhook_endpoints/{we_id}/attempts")).await.ok();
    let codes: Vec<i64> =
        attempts["data"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [200, 503, 500], "every attempt is recorded, newest first");
    assert!(attempts["data"][0]["latency_ms"].is_i64());
    assert_eq!(attempts["failed_deliveries"], 0);
}

async fn redirects_are_not_followed_and_deliveries_give_up_after_three_days(app: TestApp) {
    let (rx, url) = Receiver::start(vec![302; 100]).await;
    let we = app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await.ok();
    link(&app, &["Success"]).await;
    app.run_jobs().await;
    for _ in 0..40 {
        app.clock.advance(6 * 3600);
        app.run_jobs().await;
    }
    let n = rx.count();
    assert!((8..=20).contains(&n), "a dozen or so attempts over three days, then none: {n}");
    app.clock.advance(86_400);
    app.run_jobs().await;
    assert_eq!(rx.count(), n);
    let attempts =
        app.get(&format!("/v1/webhook_endpoints/{}/attempts?limit=100", we["id"].as_str().unwrap())).await.ok();
    assert!(attempts["data"].as_array().unwrap().iter().all(|a| a["status_code"] == 302));
    assert_eq!(attempts["failed_deliveries"], 1, "the endpoint is reported failing");
    assert_eq!(app.get("/v1/events").await.ok()["data"][0]["pending_webhooks"], 1, "never delivered");
}

async fn an_event_is_resent_to_one_endpoint(app: TestApp) {
    let (rx, url) = Receiver::start(vec![]).await;
    // The endpoint does not subscribe to the event's type: a resend goes to it all the same.
    let we = app
        .post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "customer.created")])
        .await
        .ok();
    let we_id = we["id"].as_str().unwrap();
    link(&app, &["Success"]).await;
    app.run_jobs().await;
    assert_eq!(rx.count(), 0, "not subscribed");
    let ev = app.get("/v1/events?type=financial_connections.account.created").await.ok();
    let ev_id = ev["data"][0]["id"].as_str().unwrap().to_owned();

    let r = app.post(&format!("/v1/test_helpers/events/{ev_id}/resend"), &[("webhook_endpoint", we_id)]).await.ok();
    assert_eq!((r["id"].as_str(), r["object"].as_str()), (Some(ev_id.as_str()), Some("event")));
    app.run_jobs().await;
    assert_eq!(rx.count(), 1);
    let (headers, body) = rx.got.lock().unwrap()[0].clone();
    assert!(headers.get("stripe-signature").is_some());
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], ev_id.as_str());
    let attempts = app.get(&format!("/v1/webhook_endpoints/{we_id}/attempts")).await.ok();
    assert_eq!(attempts["data"][0]["status_code"], 200);
    assert_eq!(app.get(&format!("/v1/events/{ev_id}")).await.ok()["pending_webhooks"], 0);

    let missing = app.post(&format!("/v1/test_helpers/events/{ev_id}/resend"), &[]).await;
    assert_eq!(missing.error("message"), "Missing required param: webhook_endpoint.");
    let no_we = app.post(&format!("/v1/test_helpers/events/{ev_id}/resend"), &[("webhook_endpoint", "we_nope")]).await;
    assert_eq!((no_we.status, no_we.error("param").as_str()), (400, Some("webhook_endpoint")), "{}", no_we.body);
    let no_ev = app.post("/v1/test_helpers/events/evt_nope/resend", &[("webhook_endpoint", we_id)]).await;
    assert_eq!(no_ev.status, 404);
}

crate::on_both_backends!(
    an_event_is_resent_to_one_endpoint,
    events_are_written_for_every_change_and_listed,
    webhook_endpoints_are_managed_like_stripes,
    deliveries_are_signed_and_verifiable,
    a_failing_receiver_gets_the_event_later,
    redirects_are_not_followed_and_deliveries_give_up_after_three_days,
);

/// The receiver is down; finconn restarts (a new process on the same database); the receiver comes back:
/// the event still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_across_a_restart_still_gets_the_event() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens there for now
    let url = format!("http://{addr}/hook");
    app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await.ok();
    link(&app, &["Success"]).await;
    app.run_jobs().await;
    let we = app.get("/v1/webhook_endpoints").await.ok();
    let attempts =
        app.get(&format!("/v1/webhook_endpoints/{}/attempts", we["data"][0]["id"].as_str().unwrap())).await.ok();
    assert_eq!(attempts["data"][0]["error"], "could not deliver", "coarse: no port fingerprinting");

    // "Restart": a fresh server state on the same database file, the same clock.
    let config = (*app.state.config).clone();
    let db = finconn_store::Db::connect(&config.database_url).await.unwrap();
    db.migrate().await.unwrap();
    let restarted = finconn_server::startup::AppState::new(config, db, app.clock.clone());
    let rx = Receiver::start_on(tokio::net::TcpListener::bind(addr).await.unwrap(), vec![]).await;
    app.clock.advance(60);
    let key = finconn_core::keys::ApiKey::parse(&app.key).unwrap();
    let account = restarted.core.authenticate(&key).await.unwrap().unwrap().scope.account;
    finconn_server::jobs::drain(&restarted, Some(&account)).await;
    assert_eq!(rx.count(), 1);
    let body: Value = serde_json::from_str(&rx.got.lock().unwrap()[0].1).unwrap();
    assert_eq!(body["type"], "financial_connections.account.created");
}

/// Registration classifies the URL (no DNS, no connection): link-local and metadata never; loopback in test
/// mode only; private networks only with `webhook_allow_private`. Endpoints accepted here live in tenants
/// that produce no events and are deleted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_are_checked_against_the_address_policy_of_the_mode() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let live_keys = app.state.core.create_account_keys(true, None, None).await.unwrap();
    let live = app.with_key(&live_keys.secret_key);
    let register = |app: &TestApp, url: &str| {
        let app = app.with_key(&app.key);
        let url = url.to_owned();
        async move { app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await }
    };
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "http://[::ffff:a9fe:a9fe]/",
    ] {
        for who in [&app, &live] {
            let r = register(who, url).await;
            assert_eq!((r.status, r.error("param").as_str()), (400, Some("url")), "{url}: {}", r.body);
        }
    }
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://2130706433:9/",
        "http://[::1]:9/",
        "http://10.0.0.1/",
    ] {
        let r = register(&live, url).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some("url")), "live {url}: {}", r.body);
    }
    for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
        let r = register(&app, url).await;
        assert_eq!(r.status, 200, "test mode allows loopback: {url}: {}", r.body);
        app.delete(&format!("/v1/webhook_endpoints/{}", r.body["id"].as_str().unwrap())).await.ok();
    }
    let r = register(&app, "http://192.168.1.20/hook").await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("url")), "private networks need the setting");
    let r = register(&live, "https://hooks.example.com/stripe").await;
    assert_eq!(r.status, 200, "a public name is checked when connecting: {}", r.body);
    live.delete(&format!("/v1/webhook_endpoints/{}", r.body["id"].as_str().unwrap())).await.ok();
}

/// The check is made again when connecting: a live endpoint that points at this machine (stored before the
/// policy, or reached by a name that resolves here) gets no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_deliveries_to_this_machine_are_refused_when_connecting() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let keys = app.state.core.create_account_keys(true, None, None).await.unwrap();
    let live = app.with_key(&keys.secret_key);
    let (rx, url) = Receiver::start(vec![]).await;
    let scope = {
        let key = finconn_core::keys::ApiKey::parse(&keys.secret_key).unwrap();
        app.state.core.authenticate(&key).await.unwrap().unwrap().scope
    };
    // Written to the store directly, as an endpoint registered before this policy existed would be.
    let rec = finconn_core::model::WebhookEndpointRecord {
        id: finconn_core::ids::new_id("we_"),
        scope: Some(scope.clone()),
        created: app.state.core.now(),
        url,
        enabled_events: vec!["*".into()],
        description: None,
        metadata: Default::default(),
        api_version: None,
        secret: "whsec_test".into(),
        disabled: false,
        version: 0,
    };
    finconn_core::store::Objects::insert_webhook_endpoint(&app.db, &scope, &rec).await.unwrap();
    // An event in the live tenant (written with a test clock record, the store's simplest carrier of effects).
    let now = app.state.core.now();
    let event = finconn_core::model::NewEvent {
        id: finconn_core::ids::new_id("evt_"),
        kind: "financial_connections.account.created".into(),
        created: now,
        object: json!({"id": "fca_x", "object": "financial_connections.account"}),
        previous_attributes: None,
        request: None,
    };
    let clock = finconn_core::model::TestClockRecord {
        id: finconn_core::ids::new_id("clock_"),
        scope: Some(scope.clone()),
        created: now,
        deletes_after: now + 86_400,
        frozen_time: now,
        name: None,
        status: finconn_core::model::TestClockStatus::Ready,
        target: None,
        deleted: false,
        version: 0,
    };
    let effects = finconn_core::store::Effects { jobs: Vec::new(), events: vec![event] };
    assert!(finconn_core::store::Objects::insert_test_clock(&app.db, &scope, &clock, None, &effects).await.unwrap());
    live.run_all_jobs().await;
    let attempts = live.get(&format!("/v1/webhook_endpoints/{}/attempts", rec.id)).await.ok();
    assert_eq!(rx.count(), 0, "the loopback receiver saw no request");
    let first = &attempts["data"][0];
    assert_eq!(first["error"], "could not deliver: the address is not allowed", "{attempts}");
}

/// Stripe's cap: 16 webhook endpoints per account and mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_has_at_most_sixteen_webhook_endpoints() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    for i in 0..16 {
        let url = format!("https://hooks.example.com/{i}");
        app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await.ok();
    }
    let r =
        app.post("/v1/webhook_endpoints", &[("url", "https://hooks.example.com/17"), ("enabled_events[]", "*")]).await;
    assert_eq!((r.status, r.error("type").as_str()), (400, Some("invalid_request_error")), "{}", r.body);
    assert!(r.error("message").as_str().unwrap().contains("16"));
    assert_eq!(app.get("/v1/webhook_endpoints?limit=100").await.ok()["data"].as_array().unwrap().len(), 16);
}
