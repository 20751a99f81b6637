//! The job runner wakes from the commit that queued work, whatever path the commit came from: with the
//! runner's poll set to an hour, work queued by each mutating path is done in seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{flow, Backend, TestApp};

/// A runner that would only find work by polling once an hour. On PostgreSQL it gets a database of its
/// own: a running job runner claims every tenant's jobs, and the other tests run theirs when they say so.
async fn sleepy_runner(backend: Backend) -> TestApp {
    let own_database = crate::helpers::own_database(backend, "finconn_wakeup").await;
    TestApp::spawn_with(backend, |c| {
        c.run_jobs = true;
        c.job_poll_interval = Duration::from_secs(3600);
        if let Some(url) = own_database {
            c.database_url = url;
        }
    })
    .await
}

/// Waits (up to 10 s, far below the hour the poll would take) until `done` holds.
async fn within_seconds(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: the job runner did not pick the work up (it was not woken by the commit)");
}

/// A webhook endpoint on this machine that records what it gets.
async fn receiver(app: &TestApp) -> Arc<Mutex<Vec<String>>> {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    app.post("/v1/webhook_endpoints", &[("url", url.as_str()), ("enabled_events[]", "*")]).await.ok();
    got
}

fn delivered(got: &Arc<Mutex<Vec<String>>>, kind: &str) -> usize {
    got.lock().unwrap().iter().filter(|b| serde_json::from_str::<Value>(b).unwrap()["type"] == kind).count()
}

async fn account_balance_state(app: &TestApp, id: &str) -> String {
    let a = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
    a["balance_refresh"]["status"].as_str().unwrap_or("none").to_owned()
}

async fn every_mutating_path_wakes_the_runner(backend: Backend) {
    let app = sleepy_runner(backend).await;
    let got = receiver(&app).await;

    // The test helper: a completion with prefetch queues balance refreshes and account.created events.
    let s = app.customer_session(&[("prefetch[]", "balances")]).await;
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    let helper_account = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    within_seconds("test-helper completion", async || {
        account_balance_state(&app, &helper_account).await == "succeeded"
            && delivered(&got, "financial_connections.account.created") == 1
    })
    .await;

    // The hosted link flow, as the iframe drives it.
    let s = app.customer_session(&[("prefetch[]", "balances")]).await;
    let (pk, secret) = (app.publishable_key(), s["client_secret"].as_str().unwrap());
    flow(&app, &pk, secret, "consent", &[]).await.ok();
    flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_TestInstitution")]).await.ok();
    flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Savings")]).await.ok();
    let linked = app.get(&format!("/v1/financial_connections/sessions/{}", s["id"].as_str().unwrap())).await.ok();
    let flow_account = linked["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    within_seconds("hosted link flow", async || {
        account_balance_state(&app, &flow_account).await == "succeeded"
            && delivered(&got, "financial_connections.account.created") == 2
    })
    .await;

    // The API: a refresh, after the cool-down (the manual clock moves past it).
    app.clock.advance(3600);
    let r = app
        .post(&format!("/v1/financial_connections/accounts/{flow_account}/refresh"), &[("features[]", "balance")])
        .await;
    assert_eq!(r.ok()["balance_refresh"]["status"], "pending");
    within_seconds("refresh", async || account_balance_state(&app, &flow_account).await == "succeeded").await;

    // And a disconnect's event.
    app.post(&format!("/v1/financial_connections/accounts/{helper_account}/disconnect"), &[]).await.ok();
    within_seconds("disconnect", async || delivered(&got, "financial_connections.account.disconnected") == 1).await;
}

crate::on_both_backends!(@backend every_mutating_path_wakes_the_runner);
