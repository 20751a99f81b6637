//! Linked accounts' data: refreshes, gating, subscriptions, owners, transactions.

use serde_json::{json, Value};

use crate::helpers::{all_transactions, random_key, TestApp};

/// A completed session's accounts (via the test helper).
async fn link(app: &TestApp, extra: &[(&str, &str)], accounts: &[&str]) -> Vec<Value> {
    let s = app.customer_session(extra).await;
    let mut form = vec![("institution", "fcinst_TestInstitution")];
    form.extend(accounts.iter().map(|a| ("accounts[]", *a)));
    let done = app
        .post(&format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()), &form)
        .await
        .ok();
    done["accounts"]["data"].as_array().unwrap().clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn refreshes_go_pending_then_succeed_and_are_gated(app: TestApp) {
    let acct = &link(&app, &[("permissions[]", "transactions")], &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let now = finconn_core::Clock::now(&*app.clock);
    let r = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await.ok();
    assert_eq!(
        r["balance_refresh"],
        json!({"last_attempted_at": now, "next_refresh_available_at": null, "status": "pending"})
    );
    assert!(r["balance"].is_null());
    let again = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await;
    assert_eq!((again.status, again.error("param").as_str()), (400, Some("features[0]")), "refused while pending");

    assert_eq!(app.run_jobs().await, 1);
    let a = app.get(&path).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "succeeded");
    assert_eq!(a["balance_refresh"]["next_refresh_available_at"], now + 60);
    assert_eq!(a["balance"]["type"], "cash");
    assert!(
        a["balance"]["current"]["usd"].is_i64() && a["balance"]["cash"]["available"]["usd"].is_i64(),
        "{}",
        a["balance"]
    );

    let early = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await;
    assert_eq!(early.status, 400, "refused until next_refresh_available_at");
    app.clock.advance(60);
    app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await.ok();

    let no_perm = app.post(&format!("{path}/refresh"), &[("features[]", "ownership")]).await;
    assert_eq!((no_perm.status, no_perm.error("param").as_str()), (400, Some("features[0]")), "{}", no_perm.body);
    let bad = app.post(&format!("{path}/refresh"), &[("features[]", "balances")]).await;
    assert_eq!(bad.error("message"), "Invalid features[0]: must be one of balance, ownership, or transactions");
    let none = app.post(&format!("{path}/refresh"), &[]).await;
    assert_eq!(none.error("message"), "Missing required param: features.");
}

async fn concurrent_refreshes_of_one_account_all_land(app: TestApp) {
    let acct =
        &link(&app, &[("permissions[]", "ownership"), ("permissions[]", "transactions")], &["Joint Checking"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    for _ in 0..3 {
        app.post(
            &format!("{path}/refresh"),
            &[("features[]", "balance"), ("features[]", "ownership"), ("features[]", "transactions")],
        )
        .await
        .ok();
        assert_eq!(app.run_jobs().await, 3, "the three refreshes run at once");
        let a = app.get(&path).await.ok();
        for f in ["balance_refresh", "ownership_refresh", "transaction_refresh"] {
            assert_eq!(a[f]["status"], "succeeded", "{f}: {}", a[f]);
        }
        app.clock.advance(60);
    }
}

async fn failing_accounts_end_their_refreshes_failed(app: TestApp) {
    let acct = &link(&app, &[("permissions[]", "ownership")], &["Refresh Fails"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    app.post(&format!("{path}/refresh"), &[("features[]", "balance"), ("features[]", "ownership")]).await.ok();
    app.run_jobs().await;
    let a = app.get(&path).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "failed");
    assert_eq!(a["ownership_refresh"]["status"], "failed");
    assert!(a["balance"].is_null() && a["ownership"].is_null());
}

async fn ownership_is_read_through_expand_and_the_owners_list(app: TestApp) {
    let accts = link(&app, &[("permissions[]", "ownership"), ("prefetch[]", "ownership")], &["Joint Checking"]).await;
    let acct = &accts[0];
    assert_eq!(acct["ownership_refresh"]["status"], "pending", "prefetch starts the refresh at completion");
    app.run_jobs().await;
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let a = app.get(&format!("{path}?expand[]=ownership")).await.ok();
    let ownership = &a["ownership"];
    assert!(ownership["id"].as_str().unwrap().starts_with("fcaowns_"));
    assert_eq!(ownership["object"], "financial_connections.account_ownership");
    assert_eq!(ownership["owners"]["data"].as_array().unwrap().len(), 2, "a joint account has two owners");
    let plain = app.get(&path).await.ok();
    let ownership_id = plain["ownership"].as_str().unwrap();
    let owners = app.get(&format!("{path}/owners?ownership={ownership_id}&limit=1")).await.ok();
    assert_eq!(owners["has_more"], true);
    let o = &owners["data"][0];
    assert!(o["id"].as_str().unwrap().starts_with("fcaown_"));
    assert_eq!(o["ownership"], ownership_id);
    assert_eq!(o["object"], "financial_connections.account_owner");
    let rest = app.get(&format!("{path}/owners?ownership={ownership_id}&starting_after={}", id(o))).await.ok();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_ne!(rest["data"][0]["id"], o["id"]);
    let missing = app.get(&format!("{path}/owners")).await;
    assert_eq!(missing.error("message"), "Missing required param: ownership.");
    let wrong = app.get(&format!("{path}/owners?ownership=fcaowns_nope")).await;
    assert_eq!(wrong.error("param"), "ownership");
}

async fn subscriptions_refresh_transactions_daily_and_sync_incrementally(app: TestApp) {
    let acct = &link(&app, &[("permissions[]", "transactions")], &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let s = app.post(&format!("{path}/subscribe"), &[("features[]", "transactions")]).await.ok();
    assert_eq!(s["subscriptions"], json!(["transactions"]));
    assert_eq!(s["transaction_refresh"]["status"], "pending", "subscribe starts a refresh at once");
    app.run_jobs().await;
    let a = app.get(&path).await.ok();
    let first_refresh = a["transaction_refresh"]["id"].as_str().unwrap().to_owned();
    assert!(first_refresh.starts_with("fctxnref_"));
    assert_eq!(a["transaction_refresh"]["status"], "succeeded");

    let list = |q: String| {
        let app = &app;
        async move { app.get(&format!("/v1/financial_connections/transactions?account={}&{q}", id(acct))).await.ok() }
    };
    let page = list("limit=100".into()).await;
    let txns = page["data"].as_array().unwrap();
    assert!(txns.len() >= 50, "about 180 days of history: {}", txns.len());
    let t = &txns[0];
    assert!(t["id"].as_str().unwrap().starts_with("fctxn_"));
    assert_eq!(t["object"], "financial_connections.transaction");
    assert_eq!(t["account"], id(acct));
    assert_eq!(t["transaction_refresh"], first_refresh);
    let times: Vec<i64> = txns.iter().map(|t| t["transacted_at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let pending = txns.iter().filter(|t| t["status"] == "pending").count();
    assert!(pending > 0, "recent transactions are pending");

    let nothing_new = list(format!("transaction_refresh[after]={first_refresh}")).await;
    assert_eq!(nothing_new["data"], json!([]));

    // A day later the subscription refreshes by itself. Two days later every transaction that was pending
    // has settled (posted or voided) and the incremental sync returns it, touched by a later refresh.
    let was_pending: Vec<String> = txns.iter().filter(|t| t["status"] == "pending").map(id).collect();
    assert_eq!(app.run_jobs().await, 0, "nothing is due before the day is over");
    app.clock.advance(86_400);
    assert_eq!(app.run_jobs().await, 2, "the daily tick and its refresh");
    let a = app.get(&path).await.ok();
    assert_ne!(a["transaction_refresh"]["id"], first_refresh);
    app.clock.advance(86_400);
    assert_eq!(app.run_jobs().await, 2, "the next day's tick and its refresh");
    let changed = list(format!("transaction_refresh[after]={first_refresh}&limit=100")).await;
    let changed = changed["data"].as_array().unwrap();
    assert!(changed.iter().all(|t| t["transaction_refresh"] != first_refresh));
    for pid in &was_pending {
        let t = changed.iter().find(|t| &id(t) == pid).unwrap_or_else(|| panic!("{pid} settled and is in the sync"));
        match t["status"].as_str().unwrap() {
            "posted" => {
                assert!(t["status_transitions"]["posted_at"].as_i64().unwrap() > t["transacted_at"].as_i64().unwrap())
            }
            "void" => assert!(t["status_transitions"]["void_at"].is_i64()),
            other => panic!("{pid} is still {other} two days later"),
        }
    }
    let one = app.get(&format!("/v1/financial_connections/transactions/{}", id(&changed[0]))).await.ok();
    assert_eq!(one, changed[0]);
    let range = list(format!("transacted_at[gte]={}&limit=100", times[0])).await;
    assert!(range["data"].as_array().unwrap().iter().all(|t| t["transacted_at"].as_i64().unwrap() >= times[0]));

    let u = app.post(&format!("{path}/unsubscribe"), &[("features[]", "transactions")]).await.ok();
    assert_eq!(u["subscriptions"], json!([]));
    let last = app.get(&path).await.ok()["transaction_refresh"]["id"].clone();
    app.clock.advance(86_400);
    assert_eq!(app.run_jobs().await, 1, "the tick finds no subscription and stops");
    assert_eq!(app.get(&path).await.ok()["transaction_refresh"]["id"], last);

    let missing = app.get("/v1/financial_connections/transactions").await;
    assert_eq!(missing.error("message"), "Missing required param: account.");
    let unknown = app
        .get(&format!(
            "/v1/financial_connections/transactions?account={}&transaction_refresh[after]=fctxnref_nope",
            id(acct)
        ))
        .await;
    assert_eq!(unknown.error("param"), "transaction_refresh[after]");
}

/// Transaction pages follow `starting_after` and `ending_before` through the whole list, alone and inside a
/// `transacted_at` range (a cursor outside the range starts at the range's edge), and a cursor that is not
/// one of the account's transactions is an error on its parameter.
async fn transaction_pages_follow_their_cursors_both_ways(app: TestApp) {
    let accts = link(&app, &[("permissions[]", "transactions")], &["Success", "Savings"]).await;
    let (acct, other) = (&accts[0], &accts[1]);
    for a in [acct, other] {
        let path = format!("/v1/financial_connections/accounts/{}/refresh", id(a));
        app.post(&path, &[("features[]", "transactions")]).await.ok();
    }
    app.run_jobs().await;
    let all: Vec<String> = all_transactions(&app, &id(acct)).await.iter().map(id).collect();
    assert!(all.len() >= 50, "about 180 days of history: {}", all.len());
    let page = |q: String| {
        let app = &app;
        async move {
            let p = app.get(&format!("/v1/financial_connections/transactions?account={}&limit=7&{q}", id(acct))).await;
            let p = p.ok();
            let ids: Vec<String> = p["data"].as_array().unwrap().iter().map(id).collect();
            (ids, p["has_more"] == true)
        }
    };

    // Forward from the first page, then back from the last transaction: the same list.
    let (mut forward, mut more) = page(String::new()).await;
    while more {
        let (ids, m) = page(format!("starting_after={}", forward.last().unwrap())).await;
        forward.extend(ids);
        more = m;
    }
    assert_eq!(forward, all);
    let mut backward: Vec<String> = vec![all.last().unwrap().clone()];
    loop {
        let (ids, more) = page(format!("ending_before={}", backward[0])).await;
        assert!(!ids.is_empty());
        backward.splice(0..0, ids);
        if !more {
            break;
        }
    }
    assert_eq!(backward, all, "ending_before gives the transactions just newer, newest first");
    let (after_last, more) = page(format!("starting_after={}", all.last().unwrap())).await;
    assert_eq!((after_last.len(), more), (0, false), "past the end: an empty page");

    // Inside a range: the cursor pages within it; a cursor newer than the range starts at its newest.
    let times: std::collections::HashMap<String, i64> =
        all_transactions(&app, &id(acct)).await.iter().map(|t| (id(t), t["transacted_at"].as_i64().unwrap())).collect();
    let (lo, hi) = (times[&all[all.len() * 3 / 4]], times[&all[all.len() / 4]]);
    let in_range: Vec<&String> = all.iter().filter(|t| (lo..=hi).contains(&times[*t])).collect();
    let range = format!("transacted_at[gte]={lo}&transacted_at[lte]={hi}");
    let (first, _) = page(range.clone()).await;
    assert_eq!(first.iter().collect::<Vec<_>>(), in_range[..7]);
    let (next, _) = page(format!("{range}&starting_after={}", in_range[6])).await;
    assert_eq!(next.iter().collect::<Vec<_>>(), in_range[7..14]);
    let (from_newer, _) = page(format!("{range}&starting_after={}", all[0])).await;
    assert_eq!(from_newer, first, "a cursor newer than the range: the range's first page");
    let (before_older, _) = page(format!("{range}&ending_before={}", all.last().unwrap())).await;
    assert_eq!(before_older.iter().collect::<Vec<_>>(), in_range[in_range.len() - 7..], "the range's last page");

    // Another account's transaction, or none at all, is not a cursor of this list.
    let foreign = id(&all_transactions(&app, &id(other)).await[0]);
    for (q, param) in [
        (format!("starting_after={foreign}"), "starting_after"),
        (format!("ending_before={foreign}"), "ending_before"),
        ("starting_after=fctxn_nope".to_owned(), "starting_after"),
    ] {
        let r = app.get(&format!("/v1/financial_connections/transactions?account={}&{q}", id(acct))).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some(param)), "{q}");
        assert_eq!(r.error("code"), "resource_missing", "{q}");
    }
}

async fn disconnected_accounts_keep_their_data_and_refuse_refreshes(app: TestApp) {
    let acct = &link(&app, &[("permissions[]", "transactions"), ("prefetch[]", "balances")], &["Savings"]).await[0];
    app.run_jobs().await;
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let d = app.post(&format!("{path}/disconnect"), &[]).await.ok();
    assert_eq!(d["status"], "disconnected");
    assert_eq!(d["balance_refresh"]["status"], "succeeded", "data fetched before stays readable");
    assert!(!d["balance"].is_null());
    app.clock.advance(3600);
    let r = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("financial_connections_account_inactive")));
    let r = app.post(&format!("{path}/subscribe"), &[("features[]", "transactions")]).await;
    assert_eq!(r.error("code"), "financial_connections_account_inactive");
}

async fn accounts_are_listed_by_holder_and_session_within_the_tenant(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let cus = s["account_holder"]["customer"].as_str().unwrap().to_owned();
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", id(&s)),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")],
        )
        .await
        .ok();
    link(&app, &[], &["Mortgage"]).await;
    let all = app.get("/v1/financial_connections/accounts").await.ok();
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(all["url"], "/v1/financial_connections/accounts");
    let by_session = app.get(&format!("/v1/financial_connections/accounts?session={}", id(&s))).await.ok();
    let names: Vec<&str> =
        by_session["data"].as_array().unwrap().iter().map(|a| a["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Savings", "Success"], "newest first");
    let by_customer =
        app.get(&format!("/v1/financial_connections/accounts?account_holder[customer]={cus}&limit=1")).await.ok();
    assert_eq!(by_customer["has_more"], true);
    let both = app
        .get(&format!(
            "/v1/financial_connections/accounts?account_holder[customer]={cus}&account_holder[account]=acct_x"
        ))
        .await;
    assert_eq!(both.status, 400);
    let stranger = app.with_key(&random_key());
    assert_eq!(stranger.get("/v1/financial_connections/accounts").await.ok()["data"], json!([]));
    let one = id(&done["accounts"]["data"][0]);
    assert_eq!(stranger.get(&format!("/v1/financial_connections/accounts/{one}")).await.status, 404);
    assert_eq!(
        stranger
            .post(&format!("/v1/financial_connections/accounts/{one}/refresh"), &[("features[]", "balance")])
            .await
            .status,
        404
    );
    assert_eq!(stranger.get(&format!("/v1/financial_connections/transactions?account={one}")).await.status, 400);
}

/// Unsubscribing and subscribing again within a day leaves one daily refresh, not two.
async fn resubscribing_keeps_one_daily_refresh(app: TestApp) {
    use finconn_core::model::JobKind;
    let acct = &link(&app, &[("permissions[]", "transactions")], &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let features = [("features[]", "transactions")];
    app.post(&format!("{path}/subscribe"), &features).await.ok();
    app.run_jobs().await;
    app.post(&format!("{path}/unsubscribe"), &features).await.ok();
    app.clock.advance(3_600);
    app.post(&format!("{path}/subscribe"), &features).await.ok();
    app.run_jobs().await;
    for day in 1..=3 {
        app.clock.advance(86_400);
        let ran = app.run_all_jobs().await;
        let ticks = ran.iter().filter(|k| matches!(k, JobKind::SubscriptionTick { .. })).count();
        let refreshes = ran.iter().filter(|k| matches!(k, JobKind::RefreshTransactions { .. })).count();
        // Day 1 also runs the first subscription's last tick, which ends without a successor.
        let expected_ticks = if day == 1 { 2 } else { 1 };
        assert_eq!((ticks, refreshes), (expected_ticks, 1), "day {day}: {ran:?}");
    }
}

/// The test helpers that take access away and give it back: `.deactivated` and `.reactivated`, refreshes
/// refused meanwhile, the daily refresh skipped while inactive and resumed after.
async fn deactivated_accounts_refuse_refreshes_until_reactivated(app: TestApp) {
    use finconn_core::model::JobKind;
    let acct = &link(&app, &[("permissions[]", "transactions")], &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    let helper = format!("/v1/test_helpers/financial_connections/accounts/{}", id(acct));
    let features = [("features[]", "transactions")];
    app.post(&format!("{path}/subscribe"), &features).await.ok();
    app.run_jobs().await;

    let a = app.post(&format!("{helper}/deactivate"), &[]).await.ok();
    assert_eq!((a["status"].as_str(), a["subscriptions"].clone()), (Some("inactive"), json!(["transactions"])));
    assert_eq!(app.post(&format!("{helper}/deactivate"), &[]).await.ok()["status"], "inactive", "idempotent");
    app.clock.advance(3_600);
    let r = app.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("financial_connections_account_inactive")));
    app.clock.advance(86_400);
    let ran = app.run_all_jobs().await;
    assert!(ran.iter().any(|k| matches!(k, JobKind::SubscriptionTick { .. })), "{ran:?}");
    assert!(
        !ran.iter().any(|k| matches!(k, JobKind::RefreshTransactions { .. })),
        "no refresh while inactive: {ran:?}"
    );

    let a = app.post(&format!("{helper}/reactivate"), &[]).await.ok();
    assert_eq!(a["status"], "active");
    app.clock.advance(86_400);
    let ran = app.run_all_jobs().await;
    let refreshes = ran.iter().filter(|k| matches!(k, JobKind::RefreshTransactions { .. })).count();
    assert_eq!(refreshes, 1, "the daily refresh resumes: {ran:?}");

    let kinds: Vec<String> = app.get("/v1/events?type=financial_connections.account.*activated").await.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["data"]["object"]["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        ["financial_connections.account.reactivated active", "financial_connections.account.deactivated inactive"]
    );

    // Not for other tenants, live keys, or disconnected accounts.
    let other = app.with_key(&crate::helpers::random_key());
    assert_eq!(other.post(&format!("{helper}/deactivate"), &[]).await.status, 404);
    app.post(&format!("{path}/disconnect"), &[]).await.ok();
    let r = app.post(&format!("{helper}/reactivate"), &[]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("financial_connections_account_inactive")));
    assert_eq!(app.get(&path).await.ok()["status"], "disconnected");
}

/// `account_numbers`, included when expanded (as the spec's expandable field and Stripe's tokenized account
/// numbers): only with the `payment_method` permission; tokenized at an OAuth institution; deactivated
/// with the account.
async fn account_numbers_are_included_when_expanded(app: TestApp) {
    let pm = [("permissions[]", "payment_method")];
    let acct = &link(&app, &pm, &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    assert!(app.get(&path).await.ok()["account_numbers"].is_null(), "not included unless expanded");
    let a = app.get(&format!("{path}?expand[]=account_numbers")).await.ok();
    assert_eq!(
        a["account_numbers"],
        json!([{"expected_expiry_date": null, "identifier_type": "account_number", "status": "transactable",
                "supported_networks": ["ach"]}])
    );
    // Lists expand it per item.
    let customer = acct["account_holder"]["customer"].as_str().unwrap();
    let list = app
        .get(&format!(
            "/v1/financial_connections/accounts?account_holder[customer]={customer}&expand[]=data.account_numbers"
        ))
        .await
        .ok();
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["account_numbers"][0]["status"], "transactable", "{list}");
    // An OAuth institution gives a tokenized account number.
    let s = app.customer_session(&pm).await;
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_TestOAuthInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    let oauth = id(&done["accounts"]["data"][0]);
    let a = app.get(&format!("/v1/financial_connections/accounts/{oauth}?expand[]=account_numbers")).await.ok();
    assert_eq!(a["account_numbers"][0]["identifier_type"], "tokenized_account_number", "{a}");
    // Without payment_method: null even when expanded.
    let plain = &link(&app, &[], &["Success"]).await[0];
    let a = app.get(&format!("/v1/financial_connections/accounts/{}?expand[]=account_numbers", id(plain))).await.ok();
    assert!(a["account_numbers"].is_null(), "{a}");
    // Disconnected: deactivated.
    app.post(&format!("{path}/disconnect"), &[]).await.ok();
    let a = app.get(&format!("{path}?expand[]=account_numbers")).await.ok();
    assert_eq!(a["account_numbers"][0]["status"], "deactivated");
}

crate::on_both_backends!(
    account_numbers_are_included_when_expanded,
    deactivated_accounts_refuse_refreshes_until_reactivated,
    resubscribing_keeps_one_daily_refresh,
    refreshes_go_pending_then_succeed_and_are_gated,
    concurrent_refreshes_of_one_account_all_land,
    failing_accounts_end_their_refreshes_failed,
    ownership_is_read_through_expand_and_the_owners_list,
    subscriptions_refresh_transactions_daily_and_sync_incrementally,
    transaction_pages_follow_their_cursors_both_ways,
    disconnected_accounts_keep_their_data_and_refuse_refreshes,
    accounts_are_listed_by_holder_and_session_within_the_tenant,
);

/// A provider that never answers: every fetch hangs.
struct Hanging;

#[async_trait::async_trait]
impl finconn_core::provider::AccountData for Hanging {
    async fn balance(
        &self,
        _: finconn_core::provider::AccountRef<'_>,
        _: i64,
    ) -> Result<finconn_core::provider::BalanceData, finconn_core::provider::FetchError> {
        std::future::pending().await
    }
    async fn owners(
        &self,
        _: finconn_core::provider::AccountRef<'_>,
        _: i64,
    ) -> Result<Vec<finconn_core::provider::OwnerData>, finconn_core::provider::FetchError> {
        std::future::pending().await
    }
    async fn transactions(
        &self,
        _: finconn_core::provider::AccountRef<'_>,
        _: i64,
    ) -> Result<Vec<finconn_core::provider::TransactionData>, finconn_core::provider::FetchError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_provider_that_hangs_ends_the_refresh_failed_not_stuck() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let mut inner = (*app.state).clone();
    let mut config = (*inner.config).clone();
    config.provider_timeout = std::time::Duration::from_millis(200);
    inner.config = std::sync::Arc::new(config);
    inner.core.providers.test_data = Some(std::sync::Arc::new(Hanging));
    let state = finconn_server::startup::AppState::from(inner);
    let acct = &link(&app, &[("permissions[]", "transactions")], &["Success"]).await[0];
    let path = format!("/v1/financial_connections/accounts/{}", id(acct));
    app.post(&format!("{path}/refresh"), &[("features[]", "balance"), ("features[]", "transactions")]).await.ok();
    let key = finconn_core::keys::ApiKey::parse(&app.key).unwrap();
    let account = state.core.authenticate(&key).await.unwrap().unwrap().scope.account;
    let ran = finconn_server::jobs::drain(&state, Some(&account)).await;
    let refreshes = ran.iter().filter(|k| !matches!(k, finconn_core::model::JobKind::FanoutEvent { .. })).count();
    assert_eq!(refreshes, 2);
    let a = app.get(&path).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "failed");
    assert_eq!(a["transaction_refresh"]["status"], "failed");
    assert!(a["balance_refresh"]["next_refresh_available_at"].is_i64(), "a failed refresh can be retried later");
}
