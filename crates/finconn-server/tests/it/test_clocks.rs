//! Test clocks: the API, and the accounts of a clock's customers living on the clock's time.

use serde_json::{json, Value};

use crate::helpers::{random_key, TestApp};

const F: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const CLOCKS: &str = "/v1/test_helpers/test_clocks";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn new_clock(app: &TestApp, frozen: i64) -> Value {
    app.post(CLOCKS, &[("frozen_time", &frozen.to_string())]).await.ok()
}

/// Advances and runs the jobs until the clock is ready, as the runner would.
async fn advance(app: &TestApp, clock: &str, to: i64) -> Value {
    let r = app.post(&format!("{CLOCKS}/{clock}/advance"), &[("frozen_time", &to.to_string())]).await.ok();
    assert_eq!(r["status"], "advancing");
    assert_eq!(r["status_details"], json!({"advancing": {"target_frozen_time": to}}));
    app.run_jobs().await;
    app.get(&format!("{CLOCKS}/{clock}")).await.ok()
}

async fn live_key(app: &TestApp) -> String {
    let me = app
        .state
        .core
        .authenticate(&finconn_core::keys::ApiKey::parse(&app.key).unwrap())
        .await
        .unwrap()
        .unwrap()
        .scope
        .account;
    app.state.core.create_account_keys(true, None, Some(&me)).await.unwrap().secret_key
}

async fn clocks_are_created_listed_advanced_and_deleted(app: TestApp) {
    let now = finconn_core::Clock::now(&*app.clock);
    let c = app.post(CLOCKS, &[("frozen_time", &F.to_string()), ("name", "renewals")]).await.ok();
    assert!(id(&c).starts_with("clock_"));
    assert_eq!(
        c,
        json!({
            "created": now, "deletes_after": now + 7 * DAY, "frozen_time": F, "id": id(&c), "livemode": false,
            "name": "renewals", "object": "test_helpers.test_clock", "status": "ready", "status_details": {}
        })
    );
    assert_eq!(app.get(&format!("{CLOCKS}/{}", id(&c))).await.ok(), c);
    let unnamed = new_clock(&app, 0).await;
    assert_eq!(unnamed["name"], Value::Null);

    let list = app.get(&format!("{CLOCKS}?limit=1")).await.ok();
    assert_eq!((list["url"].as_str(), list["has_more"].as_bool()), (Some(CLOCKS), Some(true)));
    assert_eq!(list["data"][0]["id"], unnamed["id"], "newest first");
    let next = app.get(&format!("{CLOCKS}?limit=1&starting_after={}", id(&unnamed))).await.ok();
    assert_eq!((next["data"][0]["id"].clone(), next["has_more"].as_bool()), (c["id"].clone(), Some(false)));

    // Advancing: forward only, two years at most, one advance at a time.
    let path = format!("{CLOCKS}/{}/advance", id(&c));
    for (to, why) in [(F, "not after"), (F - 1, "before"), (F + 731 * DAY + 1, "more than two years")] {
        let r = app.post(&path, &[("frozen_time", &to.to_string())]).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some("frozen_time")), "{why}: {:?}", r.body);
    }
    let r = app.post(&path, &[("frozen_time", &(F + DAY).to_string())]).await.ok();
    assert_eq!(r["status"], "advancing");
    let again = app.post(&path, &[("frozen_time", &(F + 2 * DAY).to_string())]).await;
    assert_eq!((again.status, again.error("type").as_str()), (400, Some("invalid_request_error")));
    assert!(again.error("message").as_str().unwrap().contains("already advancing"));
    app.run_jobs().await;
    let ready = app.get(&format!("{CLOCKS}/{}", id(&c))).await.ok();
    assert_eq!((ready["status"].as_str(), ready["frozen_time"].as_i64()), (Some("ready"), Some(F + DAY)));
    assert_eq!(ready["status_details"], json!({}));
    assert_eq!(advance(&app, &id(&c), F + 731 * DAY + DAY).await["frozen_time"], F + 732 * DAY, "two years from there");

    let d = app.delete(&format!("{CLOCKS}/{}", id(&c))).await.ok();
    assert_eq!(d, json!({"deleted": true, "id": id(&c), "object": "test_helpers.test_clock"}));
    let gone = app.get(&format!("{CLOCKS}/{}", id(&c))).await;
    assert_eq!((gone.status, gone.error("code").as_str()), (404, Some("resource_missing")));
    assert_eq!(app.delete(&format!("{CLOCKS}/{}", id(&c))).await.status, 404);
    assert_eq!(app.post(&path, &[("frozen_time", &(F + 800 * DAY).to_string())]).await.status, 404);
    let list = app.get(CLOCKS).await.ok();
    assert_eq!(list["data"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(), [id(&unnamed)]);

    // Every change is an event.
    app.run_jobs().await;
    let events = app.get("/v1/events?type=test_helpers.test_clock.*&limit=100").await.ok();
    let mine: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == c["id"])
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        mine,
        [
            "test_helpers.test_clock.deleted",
            "test_helpers.test_clock.ready",
            "test_helpers.test_clock.advancing",
            "test_helpers.test_clock.ready",
            "test_helpers.test_clock.advancing",
            "test_helpers.test_clock.created"
        ]
    );
}

async fn bad_requests_are_refused_with_stripe_errors(app: TestApp) {
    let missing = app.post(CLOCKS, &[("name", "x")]).await;
    assert_eq!(
        (missing.status, missing.error("code").as_str(), missing.error("param").as_str()),
        (400, Some("parameter_missing"), Some("frozen_time"))
    );
    for bad in ["soon", "1.5", "-1", "99999999999999999999"] {
        let r = app.post(CLOCKS, &[("frozen_time", bad)]).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some("frozen_time")), "{bad}");
    }
    let long = "n".repeat(301);
    let r = app.post(CLOCKS, &[("frozen_time", "1"), ("name", &long)]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("name")));
    let r = app.post(CLOCKS, &[("frozen_time", "1"), ("metadata[a]", "b")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("metadata")), "test clocks have no metadata");
    let c = new_clock(&app, F).await;
    let r = app.post(&format!("{CLOCKS}/{}", id(&c)), &[("name", "x")]).await;
    assert_eq!(r.status, 404, "there is no update: {:?}", r.body);
    let r = app.post(&format!("{CLOCKS}/{}/advance", id(&c)), &[]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("frozen_time")));

    // Another tenant sees nothing; a publishable key may not touch clocks; live mode has none.
    let other = app.with_key(&random_key());
    assert_eq!(other.get(&format!("{CLOCKS}/{}", id(&c))).await.status, 404);
    assert_eq!(other.delete(&format!("{CLOCKS}/{}", id(&c))).await.status, 404);
    assert_eq!(other.get(CLOCKS).await.ok()["data"], json!([]));
    let pk = app.with_key(&app.publishable_key());
    assert_eq!(pk.post(CLOCKS, &[("frozen_time", "1")]).await.status, 403);
    let live = app.with_key(&live_key(&app).await);
    for r in [
        live.post(CLOCKS, &[("frozen_time", "1")]).await,
        live.get(CLOCKS).await,
        live.get(&format!("{CLOCKS}/{}", id(&c))).await,
        live.delete(&format!("{CLOCKS}/{}", id(&c))).await,
    ] {
        assert_eq!((r.status, r.error("type").as_str()), (400, Some("invalid_request_error")), "{:?}", r.body);
    }
    assert_eq!(app.get(&format!("{CLOCKS}/{}", id(&c))).await.ok()["frozen_time"], F, "still there, unchanged");
}

async fn customers_join_a_clock_once(app: TestApp) {
    let c = new_clock(&app, F).await;
    let on = app.create_customer(&[("test_clock", &id(&c)), ("email", "clock@x.test")]).await;
    assert_eq!(on["test_clock"], c["id"]);
    let expanded = app.get(&format!("/v1/customers/{}?expand[]=test_clock", id(&on))).await.ok();
    assert_eq!(expanded["test_clock"], c);
    let plain = app.create_customer(&[("email", "plain@x.test")]).await;
    assert_eq!(plain["test_clock"], Value::Null);
    let session = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", &id(&on)),
            ("permissions[]", "balances"),
        ])
        .await
        .ok();
    let deep = app
        .get(&format!(
            "/v1/financial_connections/sessions/{}?expand[]=account_holder.customer.test_clock",
            id(&session)
        ))
        .await
        .ok();
    assert_eq!(deep["account_holder"]["customer"]["test_clock"], c, "the customer is expanded on the way, as Stripe");

    let all = app.get("/v1/customers").await.ok();
    assert_eq!(
        all["data"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        [id(&plain)],
        "as Stripe: clock customers are left out"
    );
    let mine = app.get(&format!("/v1/customers?test_clock={}", id(&c))).await.ok();
    assert_eq!(mine["data"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(), [id(&on)]);

    let r = app.post("/v1/customers", &[("test_clock", "clock_nope")]).await;
    assert_eq!(
        (r.status, r.error("code").as_str(), r.error("param").as_str()),
        (400, Some("resource_missing"), Some("test_clock"))
    );
    let r = app.post(&format!("/v1/customers/{}", id(&plain)), &[("test_clock", &id(&c))]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("test_clock")), "update does not take a clock");

    // A clock created for an existing customer takes it; a customer belongs to one clock for good.
    let second = app.post(CLOCKS, &[("frozen_time", "5"), ("customer", &id(&plain))]).await.ok();
    assert_eq!(app.get(&format!("/v1/customers/{}", id(&plain))).await.ok()["test_clock"], second["id"]);
    let r = app.post(CLOCKS, &[("frozen_time", "5"), ("customer", &id(&on))]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("customer")));
    let r = app.post(CLOCKS, &[("frozen_time", "5"), ("customer", "cus_nope")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("customer")));
    assert_eq!(app.get(CLOCKS).await.ok()["data"].as_array().unwrap().len(), 2, "refused clocks are not created");

    // Deleting a clock deletes its customers.
    app.delete(&format!("{CLOCKS}/{}", id(&c))).await.ok();
    assert_eq!(app.get(&format!("/v1/customers/{}", id(&on))).await.ok()["deleted"], true);
    assert_eq!(app.get(&format!("/v1/customers/{}", id(&plain))).await.ok()["deleted"], Value::Null);
}

/// Links the Success account for a new customer on `clock`.
async fn link_on_clock(app: &TestApp, clock: Option<&str>, prefetch: &[&str]) -> Value {
    let mut form = vec![("email", "a@x.test")];
    if let Some(c) = clock {
        form.push(("test_clock", c));
    }
    let cus = app.create_customer(&form).await;
    let cus_id = id(&cus);
    let mut s = vec![
        ("account_holder[type]", "customer"),
        ("account_holder[customer]", cus_id.as_str()),
        ("permissions[]", "balances"),
        ("permissions[]", "transactions"),
    ];
    s.extend(prefetch.iter().map(|p| ("prefetch[]", *p)));
    let session = app.create_session(&s).await.ok();
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", id(&session)),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    done["accounts"]["data"][0].clone()
}

async fn accounts_of_a_clock_customer_live_on_the_clock(app: TestApp) {
    let c = new_clock(&app, F).await;
    let clock = id(&c);
    let acct = link_on_clock(&app, Some(&clock), &["balances"]).await;
    let path = format!("/v1/financial_connections/accounts/{}", id(&acct));
    assert_eq!(acct["created"], F, "created at the clock's time");
    assert_eq!(acct["balance_refresh"]["last_attempted_at"], F);
    app.run_jobs().await;
    let a = app.get(&path).await.ok();
    assert_eq!(
        a["balance_refresh"],
        json!({"last_attempted_at": F, "next_refresh_available_at": F + 60, "status": "succeeded"})
    );
    assert!(a["balance"]["as_of"].as_i64().unwrap() <= F);

    // Real time going by does not open the next refresh; the clock does.
    app.clock.advance(3_600);
    let r = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("features[0]")), "{:?}", r.body);

    let s = app.post(&format!("{path}/subscribe"), &[("features[]", "transactions")]).await.ok();
    assert_eq!(s["transaction_refresh"]["last_attempted_at"], F);
    app.run_jobs().await;
    let a = app.get(&path).await.ok();
    let first = a["transaction_refresh"]["id"].as_str().unwrap().to_owned();
    let txns = app.get(&format!("/v1/financial_connections/transactions?account={}&limit=100", id(&acct))).await.ok();
    let times: Vec<i64> =
        txns["data"].as_array().unwrap().iter().map(|t| t["transacted_at"].as_i64().unwrap()).collect();
    assert!(!times.is_empty() && times.iter().all(|t| *t <= F), "history as of the clock's time");
    assert!(times[0] > F - 2 * DAY, "and up to it: newest {}", times[0]);
    assert_eq!(app.run_jobs().await, 0, "nothing is due on the clock yet, however long real time runs");
    app.clock.advance(10 * DAY);
    assert_eq!(app.run_jobs().await, 0, "a clock's daily refresh waits for the clock");

    // Three days and an hour on the clock: the three daily refreshes run, each at its own time.
    let ready = advance(&app, &clock, F + 3 * DAY + 3_600).await;
    assert_eq!((ready["status"].as_str(), ready["frozen_time"].as_i64()), (Some("ready"), Some(F + 3 * DAY + 3_600)));
    let a = app.get(&path).await.ok();
    assert_eq!(a["transaction_refresh"]["last_attempted_at"], F + 3 * DAY, "the third daily refresh");
    assert_eq!(a["transaction_refresh"]["status"], "succeeded");
    assert_ne!(a["transaction_refresh"]["id"], first);
    let new = app
        .get(&format!(
            "/v1/financial_connections/transactions?account={}&transaction_refresh[after]={first}&limit=100",
            id(&acct)
        ))
        .await
        .ok();
    let new = new["data"].as_array().unwrap();
    assert!(!new.is_empty(), "the daily refreshes brought new and settled transactions");
    assert!(new.iter().all(|t| t["transacted_at"].as_i64().unwrap() <= F + 3 * DAY));
    assert!(new.iter().any(|t| t["transacted_at"].as_i64().unwrap() > F), "transactions after the first refresh");
    let refreshed: Vec<Value> =
        app.get("/v1/events?type=financial_connections.account.refreshed_transactions&limit=100").await.ok()["data"]
            .as_array()
            .unwrap()
            .clone();
    assert_eq!(refreshed.len(), 4, "the subscription's first refresh and three daily ones");

    // Now the balance can be refreshed again (the clock passed next_refresh_available_at).
    let r = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await.ok();
    assert_eq!(r["balance_refresh"]["last_attempted_at"], F + 3 * DAY + 3_600);

    // Unsubscribed, the account refreshes no more, however far the clock goes.
    app.run_jobs().await;
    app.post(&format!("{path}/unsubscribe"), &[("features[]", "transactions")]).await.ok();
    advance(&app, &clock, F + 6 * DAY).await;
    assert_eq!(app.get(&path).await.ok()["transaction_refresh"]["last_attempted_at"], F + 3 * DAY);

    // An account whose customer is on no clock keeps real time.
    let real = link_on_clock(&app, None, &[]).await;
    assert_eq!(real["created"], finconn_core::Clock::now(&*app.clock));

    // Deleting the clock disconnects its accounts; their data stays readable.
    app.delete(&format!("{CLOCKS}/{clock}")).await.ok();
    let a = app.get(&path).await.ok();
    assert_eq!((a["status"].as_str(), a["subscriptions"].clone()), (Some("disconnected"), json!([])));
    assert!(a["balance"]["current"]["usd"].is_i64());
    assert_eq!(app.get(&format!("/v1/financial_connections/accounts/{}", id(&real))).await.ok()["status"], "active");
}

/// A year of a daily subscription in one advance: 365 refreshes, in order, each at its time.
async fn a_year_of_daily_refreshes_in_one_advance(app: TestApp) {
    let clock = id(&new_clock(&app, F).await);
    let acct = link_on_clock(&app, Some(&clock), &[]).await;
    let path = format!("/v1/financial_connections/accounts/{}", id(&acct));
    app.post(&format!("{path}/subscribe"), &[("features[]", "transactions")]).await.ok();
    app.run_jobs().await;
    let ready = advance(&app, &clock, F + 365 * DAY).await;
    assert_eq!(ready["status"], "ready");
    let a = app.get(&path).await.ok();
    assert_eq!(a["transaction_refresh"]["last_attempted_at"], F + 365 * DAY);
    let txns = app.get(&format!("/v1/financial_connections/transactions?account={}&limit=1", id(&acct))).await.ok();
    let newest = txns["data"][0]["transacted_at"].as_i64().unwrap();
    assert!(newest > F + 364 * DAY && newest <= F + 365 * DAY, "newest transaction {newest}");
}

async fn clocks_delete_themselves_after_seven_days(app: TestApp) {
    // The sweep deletes every expired clock in the database (other tests share PostgreSQL): this clock is
    // made a week before "now" rather than moving "now" a week past everyone's clocks.
    let now = finconn_core::Clock::now(&*app.clock);
    app.clock.set(now - 7 * DAY + 1);
    let c = new_clock(&app, F).await;
    let cus = app.create_customer(&[("test_clock", &id(&c))]).await;
    app.clock.set(now);
    app.state.core.delete_expired_test_clocks().await.unwrap();
    assert_eq!(app.get(&format!("{CLOCKS}/{}", id(&c))).await.ok()["deletes_after"], now + 1, "a second to go");
    app.clock.set(now + 1);
    assert!(app.state.core.delete_expired_test_clocks().await.unwrap() >= 1);
    assert_eq!(app.get(&format!("{CLOCKS}/{}", id(&c))).await.status, 404);
    assert_eq!(app.get(&format!("/v1/customers/{}", id(&cus))).await.ok()["deleted"], true);
}

crate::on_both_backends!(
    clocks_are_created_listed_advanced_and_deleted,
    bad_requests_are_refused_with_stripe_errors,
    customers_join_a_clock_once,
    accounts_of_a_clock_customer_live_on_the_clock,
    a_year_of_daily_refreshes_in_one_advance,
    clocks_delete_themselves_after_seven_days,
);
