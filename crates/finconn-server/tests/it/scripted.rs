//! The sandbox test helpers that script an account: refresh outcomes, balances, transactions.

use serde_json::Value;

use crate::helpers::{all_transactions, refresh, TestApp};

async fn linked(app: &TestApp) -> String {
    let s = app.customer_session(&[("permissions[]", "transactions"), ("permissions[]", "ownership")]).await;
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned()
}

fn helper(id: &str, what: &str) -> String {
    format!("/v1/test_helpers/financial_connections/accounts/{id}/{what}")
}

async fn account(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok()
}

async fn event_types(app: &TestApp) -> Vec<String> {
    let events = app.get("/v1/events?limit=100").await.ok();
    events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

async fn refresh_outcomes_fail_hold_and_release(app: TestApp) {
    let id = linked(&app).await;
    let a = app.post(&helper(&id, "refresh_outcome"), &[("feature", "balance"), ("outcome", "failed")]).await.ok();
    assert_eq!(a["object"], "financial_connections.account");
    refresh(&app, &id, &["balance"]).await.ok();
    app.run_jobs().await;
    let a = account(&app, &id).await;
    assert_eq!(a["balance_refresh"]["status"], "failed", "{a}");
    assert!(a["balance"].is_null(), "a failed refresh stores no balance");
    assert!(event_types(&app).await.contains(&"financial_connections.account.refreshed_balance".to_owned()));

    // pending holds the refresh; succeeded releases it.
    app.clock.advance(60);
    app.post(&helper(&id, "refresh_outcome"), &[("feature", "balance"), ("outcome", "pending")]).await.ok();
    refresh(&app, &id, &["balance"]).await.ok();
    app.run_jobs().await;
    app.clock.advance(3600);
    app.run_jobs().await;
    assert_eq!(account(&app, &id).await["balance_refresh"]["status"], "pending", "held while the outcome is pending");
    app.post(&helper(&id, "refresh_outcome"), &[("feature", "balance"), ("outcome", "succeeded")]).await.ok();
    app.run_jobs().await;
    let a = account(&app, &id).await;
    assert_eq!(a["balance_refresh"]["status"], "succeeded", "{a}");
    assert!(a["balance"]["current"]["usd"].is_i64());

    // The other features are untouched by the balance's script.
    refresh(&app, &id, &["ownership"]).await.ok();
    app.run_jobs().await;
    assert_eq!(account(&app, &id).await["ownership_refresh"]["status"], "succeeded");

    let bad = app.post(&helper(&id, "refresh_outcome"), &[("feature", "balances"), ("outcome", "failed")]).await;
    assert_eq!((bad.status, bad.error("param").as_str()), (400, Some("feature")), "{}", bad.body);
    let missing = app.post(&helper(&id, "refresh_outcome"), &[("feature", "balance")]).await;
    assert_eq!(missing.error("message"), "Missing required param: outcome.");
    let unknown =
        app.post(&helper("fca_nope", "refresh_outcome"), &[("feature", "balance"), ("outcome", "failed")]).await;
    assert_eq!(unknown.status, 404);
}

async fn scripted_balance_and_transactions_appear_on_refresh(app: TestApp) {
    let id = linked(&app).await;
    app.post(&helper(&id, "balance"), &[("current", "123456"), ("available", "100000")]).await.ok();
    refresh(&app, &id, &["balance"]).await.ok();
    app.run_jobs().await;
    let a = account(&app, &id).await;
    assert_eq!(a["balance"]["current"]["usd"], 123456, "{a}");
    assert_eq!(a["balance"]["cash"]["available"]["usd"], 100000);

    refresh(&app, &id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let t = app
        .post(&helper(&id, "transactions"), &[("amount", "-4599"), ("description", "COFFEE"), ("status", "pending")])
        .await
        .ok();
    assert_eq!(t["object"], "financial_connections.transaction");
    assert_eq!((t["amount"].as_i64(), t["status"].as_str()), (Some(-4599), Some("pending")));
    assert!(t["status_transitions"]["posted_at"].is_null());
    let txn = t["id"].as_str().unwrap().to_owned();
    assert!(txn.starts_with("fctxn_"));
    // The account's generated series may add its own transactions in any minute the clock moves, so the
    // scripted one is looked for by id, not counted.
    let listed_ids = |list: Vec<Value>| list.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let listed = listed_ids(all_transactions(&app, &id).await);
    assert!(!listed.contains(&txn), "not listed before a refresh");

    app.clock.advance(60);
    refresh(&app, &id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let listed = listed_ids(all_transactions(&app, &id).await);
    assert_eq!(listed.iter().filter(|t| **t == txn).count(), 1, "listed once after a refresh");
    let stored = app.get(&format!("/v1/financial_connections/transactions/{txn}")).await.ok();
    assert_eq!((stored["status"].as_str(), stored["description"].as_str()), (Some("pending"), Some("COFFEE")));

    app.clock.advance(30);
    let posted = app.post(&format!("{}/{txn}/post", helper(&id, "transactions")), &[]).await.ok();
    assert_eq!(posted["status"], "posted");
    let posted_at = posted["status_transitions"]["posted_at"].as_i64().unwrap();
    assert_eq!(posted_at, finconn_core::Clock::now(&*app.clock));
    let again = app.post(&format!("{}/{txn}/void", helper(&id, "transactions")), &[]).await;
    assert_eq!(again.status, 400, "only a pending transaction moves: {}", again.body);
    app.clock.advance(60);
    refresh(&app, &id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let stored = app.get(&format!("/v1/financial_connections/transactions/{txn}")).await.ok();
    assert_eq!(stored["status"], "posted", "{stored}");
    assert_eq!(stored["status_transitions"]["posted_at"], posted_at);

    let v = app.post(&helper(&id, "transactions"), &[("amount", "100"), ("description", "REFUND")]).await.ok();
    assert_eq!(v["status"], "posted", "posted by default");
    let p = app
        .post(&helper(&id, "transactions"), &[("amount", "-1"), ("description", "HOLD"), ("status", "pending")])
        .await
        .ok();
    let voided =
        app.post(&format!("{}/{}/void", helper(&id, "transactions"), p["id"].as_str().unwrap()), &[]).await.ok();
    assert_eq!(voided["status"], "void");
    assert!(voided["status_transitions"]["void_at"].is_i64());

    let bad = app.post(&helper(&id, "transactions"), &[("amount", "ten"), ("description", "x")]).await;
    assert_eq!((bad.status, bad.error("param").as_str()), (400, Some("amount")));
    let void_new =
        app.post(&helper(&id, "transactions"), &[("amount", "1"), ("description", "x"), ("status", "void")]).await;
    assert_eq!((void_new.status, void_new.error("param").as_str()), (400, Some("status")));
    let nope = app.post(&format!("{}/fctxn_nope/post", helper(&id, "transactions")), &[]).await;
    assert_eq!(nope.status, 404);
}

async fn institution_downtimes_show_for_the_tenant_and_end_on_schedule(app: TestApp) {
    let inst = "fcinst_TestInstitution";
    let path = format!("/v1/test_helpers/financial_connections/institutions/{inst}/downtime");
    let status = |app: TestApp| async move {
        app.get(&format!("/v1/financial_connections/institutions/{inst}")).await.ok()["status"].clone()
    };
    assert_eq!(status(app.with_key(&app.key)).await, "active");

    let r = app.post(&path, &[("kind", "unscheduled")]).await.ok();
    assert_eq!((r["object"].as_str(), r["status"].as_str()), (Some("financial_connections.institution"), Some("down")));
    assert_eq!(status(app.with_key(&app.key)).await, "down");
    let listed = app.get("/v1/financial_connections/institutions?limit=100").await.ok();
    let entry = listed["data"].as_array().unwrap().iter().find(|i| i["id"] == inst).unwrap().clone();
    assert_eq!(entry["status"], "down");
    // The link flow refuses it as Stripe.js's down banks are refused.
    let s = app.customer_session(&[]).await;
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", inst)],
        )
        .await;
    assert_eq!(done.status, 400, "{}", done.body);
    assert_eq!(done.error("code"), "institution_unavailable_unplanned");
    // Another tenant's sandbox is untouched.
    let other = app.with_key(&crate::helpers::random_key());
    assert_eq!(status(other).await, "active");

    // Scheduled: down until `until`, then up by itself.
    let now = finconn_core::Clock::now(&*app.clock);
    let until = (now + 3600).to_string();
    app.post(&path, &[("kind", "scheduled"), ("until", until.as_str())]).await.ok();
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", inst)],
        )
        .await;
    assert_eq!(done.error("code"), "institution_unavailable_planned");
    app.clock.advance(3600);
    assert_eq!(status(app.with_key(&app.key)).await, "active", "over at `until`");

    app.post(&path, &[("kind", "error")]).await.ok();
    assert_eq!(status(app.with_key(&app.key)).await, "degraded");
    let ended = app.delete(&path).await.ok();
    assert_eq!(ended["status"], "active");
    assert_eq!(status(app.with_key(&app.key)).await, "active");

    let no_until = app.post(&path, &[("kind", "scheduled")]).await;
    assert_eq!((no_until.status, no_until.error("param").as_str()), (400, Some("until")));
    let past = app.post(&path, &[("kind", "scheduled"), ("until", "1000")]).await;
    assert_eq!(past.error("param"), "until");
    let bad = app.post(&path, &[("kind", "sometimes")]).await;
    assert_eq!(bad.error("param"), "kind");
    let unknown = app
        .post("/v1/test_helpers/financial_connections/institutions/fcinst_nope/downtime", &[("kind", "error")])
        .await;
    assert_eq!(unknown.status, 404);
}

/// A scheduled downtime ends at `until` on the clock of the session's customer, whatever the server's time.
async fn a_scheduled_downtime_ends_on_the_sessions_test_clock(app: TestApp) {
    let inst = "fcinst_TestInstitution";
    let now = finconn_core::Clock::now(&*app.clock);
    let clock = app.post("/v1/test_helpers/test_clocks", &[("frozen_time", now.to_string().as_str())]).await.ok();
    let clock = clock["id"].as_str().unwrap().to_owned();
    let cus = app.create_customer(&[("test_clock", clock.as_str())]).await;
    let on_clock = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
        ])
        .await
        .ok();
    let plain = app.customer_session(&[]).await;
    let until = (now + 3_600).to_string();
    app.post(
        &format!("/v1/test_helpers/financial_connections/institutions/{inst}/downtime"),
        &[("kind", "scheduled"), ("until", until.as_str())],
    )
    .await
    .ok();
    let complete = |s: &Value| {
        let path = format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap());
        let app = app.with_key(&app.key);
        async move { app.post(&path, &[("institution", inst)]).await }
    };
    assert_eq!(complete(&on_clock).await.error("code"), "institution_unavailable_planned");
    let advanced = app
        .post(
            &format!("/v1/test_helpers/test_clocks/{clock}/advance"),
            &[("frozen_time", (now + 7_200).to_string().as_str())],
        )
        .await
        .ok();
    assert_eq!(advanced["status"], "advancing");
    app.run_jobs().await;
    let done = complete(&on_clock).await;
    assert_eq!(done.status, 200, "the clock is past `until`: {}", done.body);
    assert_eq!(done.body["accounts"]["data"][0]["institution_name"], "Test Institution");
    // Real time has not moved: a session without a clock still finds the bank down.
    assert_eq!(complete(&plain).await.error("code"), "institution_unavailable_planned");
}

crate::on_both_backends!(
    a_scheduled_downtime_ends_on_the_sessions_test_clock,
    refresh_outcomes_fail_hold_and_release,
    scripted_balance_and_transactions_appear_on_refresh,
    institution_downtimes_show_for_the_tenant_and_end_on_schedule,
);
