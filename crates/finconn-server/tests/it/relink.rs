//! Relink, as Stripe's preview API: an account's `authorization`; a session with `relink_options` goes
//! from consent straight to the authorization's institution, offers only its accounts, and reactivates
//! them (`financial_connections.account.reactivated`); `relink_result` says how it ended.

use serde_json::Value;

use crate::helpers::{flow, TestApp};

/// Links `names` at Test Institution with the test helper; the session and its accounts.
async fn linked(app: &TestApp, names: &[&str]) -> (Value, Vec<Value>) {
    let s = app.customer_session(&[]).await;
    let mut form = vec![("institution", "fcinst_TestInstitution")];
    form.extend(names.iter().map(|n| ("accounts[]", *n)));
    let done = app
        .post(&format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()), &form)
        .await
        .ok();
    let accounts = done["accounts"]["data"].as_array().unwrap().clone();
    (s, accounts)
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn relink_session(app: &TestApp, holder: &Value, options: &[(&str, &str)]) -> crate::helpers::Resp {
    let mut form = vec![
        ("account_holder[type]", "customer"),
        ("account_holder[customer]", holder["customer"].as_str().unwrap()),
        ("permissions[]", "balances"),
    ];
    form.extend_from_slice(options);
    app.create_session(&form).await
}

async fn an_authorization_is_relinked_through_the_modal(app: TestApp) {
    let (s, accounts) = linked(&app, &["Success", "Savings"]).await;
    let authz = accounts[0]["authorization"].as_str().unwrap().to_owned();
    assert!(authz.starts_with("fcauthz_"), "{authz}");
    assert_eq!(accounts[1]["authorization"], authz.as_str(), "one login, one authorization");
    for a in &accounts {
        app.post(&format!("/v1/test_helpers/financial_connections/accounts/{}/deactivate", id(a)), &[]).await.ok();
    }
    let r = relink_session(&app, &s["account_holder"], &[("relink_options[authorization]", &authz)]).await.ok();
    assert_eq!(r["relink_options"]["authorization"], authz.as_str());
    assert!(r["relink_result"].is_null(), "no result before the flow ends: {r}");
    let secret = r["client_secret"].as_str().unwrap();
    let pk = app.publishable_key();
    flow(&app, &pk, secret, "start", &[]).await.ok();
    // From consent straight to the institution (Test Institution: no login) and its two accounts only.
    let v = flow(&app, &pk, secret, "consent", &[]).await;
    let pane = v.body["pane"].as_str().unwrap();
    assert!(pane.contains("pane-accounts"), "{pane}");
    assert!(pane.contains("value=\"Success\"") && pane.contains("value=\"Savings\""), "{pane}");
    assert!(!pane.contains("value=\"High Balance\""), "only the authorization's accounts: {pane}");
    let v = flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Success"), ("accounts[]", "Savings")]).await;
    assert!(v.body["pane"].as_str().unwrap().contains("pane-success"), "{}", v.body);
    let done = app.get(&format!("/v1/financial_connections/sessions/{}", r["id"].as_str().unwrap())).await.ok();
    assert_eq!(done["relink_result"]["authorization"], authz.as_str());
    assert!(done["relink_result"]["failure_reason"].is_null());
    let ids: Vec<&str> = done["accounts"]["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids.len(), 2);
    assert!(accounts.iter().all(|a| ids.contains(&id(a))), "the same accounts, repaired, not new ones");
    for a in &accounts {
        let now = app.get(&format!("/v1/financial_connections/accounts/{}", id(a))).await.ok();
        assert_eq!(now["status"], "active");
    }
    let events = app.get("/v1/events?type=financial_connections.account.reactivated").await.ok();
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}

/// A relink session for one account of `authz`, completed with the test helper; the session.
async fn relink_one_with_the_test_helper(app: &TestApp, holder: &Value, authz: &str, account: &str) -> Value {
    let r =
        relink_session(app, holder, &[("relink_options[authorization]", authz), ("relink_options[account]", account)])
            .await
            .ok();
    app.post(
        &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", id(&r)),
        &[("institution", "fcinst_TestInstitution")],
    )
    .await
    .ok()
}

async fn one_account_is_relinked_with_the_test_helper_and_failures_are_reported(app: TestApp) {
    let (s, accounts) = linked(&app, &["Success", "Savings"]).await;
    let authz = accounts[0]["authorization"].as_str().unwrap().to_owned();
    let one = id(&accounts[1]).to_owned();
    app.post(&format!("/v1/test_helpers/financial_connections/accounts/{one}/deactivate"), &[]).await.ok();
    let done = relink_one_with_the_test_helper(&app, &s["account_holder"], &authz, &one).await;
    assert_eq!(done["relink_result"]["account"], one.as_str());
    assert_eq!(done["accounts"]["data"].as_array().unwrap().len(), 1);
    assert_eq!(done["accounts"]["data"][0]["status"], "active");

    // A disconnected account cannot be repaired: the session ends with `no_account`.
    app.post(&format!("/v1/financial_connections/accounts/{one}/disconnect"), &[]).await.ok();
    let done = relink_one_with_the_test_helper(&app, &s["account_holder"], &authz, &one).await;
    assert_eq!(done["relink_result"]["failure_reason"], "no_account", "{done}");
    assert!(done["relink_result"]["authorization"].is_null());
    assert_eq!(done["accounts"]["data"].as_array().unwrap().len(), 0);

    // Unknown authorization, an account of another one, another holder: refused at creation.
    let r = relink_session(&app, &s["account_holder"], &[("relink_options[authorization]", "fcauthz_Nope123")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("relink_options[authorization]")), "{}", r.body);
    assert_eq!(r.error("code"), "resource_missing");
    let (_, others) = linked(&app, &["High Balance"]).await;
    let r = relink_session(
        &app,
        &s["account_holder"],
        &[("relink_options[authorization]", &authz), ("relink_options[account]", id(&others[0]))],
    )
    .await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("relink_options[account]")), "{}", r.body);
    let stranger = app.create_customer(&[]).await;
    let holder = serde_json::json!({ "customer": stranger["id"] });
    let r = relink_session(&app, &holder, &[("relink_options[authorization]", &authz)]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("relink_options[authorization]")), "{}", r.body);
    let r = relink_session(&app, &s["account_holder"], &[("relink_options[account]", &one)]).await;
    assert_eq!(r.error("param"), "relink_options[authorization]", "{}", r.body);
}

crate::on_both_backends!(
    an_authorization_is_relinked_through_the_modal,
    one_account_is_relinked_with_the_test_helper_and_failures_are_reported
);
