//! Every `/v1` route, tried as an attacker would: with another tenant's key, with the same account's other
//! mode, and with the account's publishable key. Nothing of the victim's is read or changed.

use serde_json::Value;

use crate::helpers::{random_key, Backend, TestApp};

/// A request to try: method, path (with query), form.
type Route = (reqwest::Method, String, Vec<(&'static str, String)>);

struct Victim {
    ids: Vec<String>,
    routes: Vec<Route>,
}

async fn victim(app: &TestApp) -> Victim {
    let cus = app.create_customer(&[("email", "victim@example.com")]).await;
    let cus_id = cus["id"].as_str().unwrap().to_owned();
    let s = app.customer_session(&[("permissions[]", "transactions"), ("permissions[]", "ownership")]).await;
    let sess = s["id"].as_str().unwrap().to_owned();
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{sess}/complete"),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    let acct = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/financial_connections/accounts/{acct}/refresh"),
        &[("features[]", "transactions"), ("features[]", "ownership")],
    )
    .await
    .ok();
    app.run_jobs().await;
    let a = app.get(&format!("/v1/financial_connections/accounts/{acct}")).await.ok();
    let ownership = a["ownership"].as_str().unwrap().to_owned();
    let txns = app.get(&format!("/v1/financial_connections/transactions?account={acct}&limit=1")).await.ok();
    let txn = txns["data"][0]["id"].as_str().unwrap().to_owned();
    let we = app
        .post("/v1/webhook_endpoints", &[("url", "https://hooks.example.com/victim"), ("enabled_events[]", "*")])
        .await
        .ok();
    let we_id = we["id"].as_str().unwrap().to_owned();
    let clock = app.post("/v1/test_helpers/test_clocks", &[("frozen_time", "1800000000")]).await.ok();
    let clock_id = clock["id"].as_str().unwrap().to_owned();
    let evs = app.get("/v1/events?limit=1").await.ok();
    let evt = evs["data"][0]["id"].as_str().unwrap().to_owned();
    let s2 = app.customer_session(&[]).await;
    let open_sess = s2["id"].as_str().unwrap().to_owned();
    use reqwest::Method as M;
    let none = Vec::new;
    let routes = vec![
        (M::GET, format!("/v1/customers/{cus_id}"), none()),
        (M::POST, format!("/v1/customers/{cus_id}"), vec![("name", "pwned".into())]),
        (M::DELETE, format!("/v1/customers/{cus_id}"), none()),
        (M::GET, format!("/v1/financial_connections/sessions/{sess}"), none()),
        (M::GET, format!("/v1/financial_connections/accounts/{acct}"), none()),
        (M::POST, format!("/v1/financial_connections/accounts/{acct}/disconnect"), none()),
        (M::POST, format!("/v1/financial_connections/accounts/{acct}/refresh"), vec![("features[]", "balance".into())]),
        (
            M::POST,
            format!("/v1/financial_connections/accounts/{acct}/subscribe"),
            vec![("features[]", "transactions".into())],
        ),
        (
            M::POST,
            format!("/v1/financial_connections/accounts/{acct}/unsubscribe"),
            vec![("features[]", "transactions".into())],
        ),
        (M::GET, format!("/v1/financial_connections/accounts/{acct}/owners?ownership={ownership}"), none()),
        (M::GET, format!("/v1/financial_connections/accounts?session={sess}"), none()),
        (M::GET, format!("/v1/financial_connections/accounts?account_holder[customer]={cus_id}"), none()),
        (M::GET, format!("/v1/financial_connections/transactions?account={acct}"), none()),
        (M::GET, format!("/v1/financial_connections/transactions/{txn}"), none()),
        (M::GET, format!("/v1/events/{evt}"), none()),
        (M::GET, format!("/v1/webhook_endpoints/{we_id}"), none()),
        (M::POST, format!("/v1/webhook_endpoints/{we_id}"), vec![("url", "https://attacker.example.com/".into())]),
        (M::DELETE, format!("/v1/webhook_endpoints/{we_id}"), none()),
        (M::GET, format!("/v1/webhook_endpoints/{we_id}/attempts"), none()),
        (
            M::POST,
            format!("/v1/test_helpers/financial_connections/sessions/{open_sess}/complete"),
            vec![("institution", "fcinst_TestInstitution".into())],
        ),
        (M::POST, format!("/v1/test_helpers/financial_connections/sessions/{open_sess}/expire"), none()),
        (M::POST, format!("/v1/test_helpers/financial_connections/accounts/{acct}/deactivate"), none()),
        (M::POST, format!("/v1/test_helpers/financial_connections/accounts/{acct}/reactivate"), none()),
        (M::GET, format!("/v1/test_helpers/test_clocks/{clock_id}"), none()),
        (
            M::POST,
            format!("/v1/test_helpers/test_clocks/{clock_id}/advance"),
            vec![("frozen_time", "1800086400".into())],
        ),
        (M::DELETE, format!("/v1/test_helpers/test_clocks/{clock_id}"), none()),
        (
            M::POST,
            "/v1/financial_connections/sessions".into(),
            vec![
                ("account_holder[type]", "customer".into()),
                ("account_holder[customer]", cus_id.clone()),
                ("permissions[]", "balances".into()),
            ],
        ),
        (M::POST, "/v1/customers".into(), vec![("test_clock", clock_id.clone())]),
    ];
    let ids = vec![cus_id, sess, acct, ownership, txn, we_id, clock_id, evt, open_sess];
    Victim { ids, routes }
}

/// The victim's state, as its owner sees it.
async fn snapshot(app: &TestApp, v: &Victim) -> Vec<Value> {
    let mut out = Vec::new();
    for (m, path, _) in &v.routes {
        if *m == reqwest::Method::GET {
            out.push(app.get(path).await.body);
        }
    }
    out
}

async fn nothing_of_a_tenant_is_reachable_with_another_key_mode_or_the_publishable_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let v = victim(&app).await;
    let before = snapshot(&app, &v).await;
    let scope = {
        let k = finconn_core::keys::ApiKey::parse(&app.key).unwrap();
        app.state.core.authenticate(&k).await.unwrap().unwrap().scope
    };
    let live = app.state.core.create_account_keys(true, None, Some(&scope.account)).await.unwrap();
    let stranger = app.with_key(&random_key());
    stranger.create_customer(&[]).await;
    let callers = [("another tenant", stranger), ("the other mode", app.with_key(&live.secret_key))];
    for (who, caller) in &callers {
        for (method, path, form) in &v.routes {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = caller.send(caller.request(method.clone(), path).form(&form)).await;
            if r.status == 200 && r.body["object"] == "list" {
                // A list filtered by a foreign id: empty (nothing to tell apart from an unknown id).
                assert_eq!(r.body["data"], serde_json::json!([]), "{who}: {method} {path}");
                continue;
            }
            assert!(r.status == 404 || r.status == 400, "{who}: {method} {path} → {} {}", r.status, r.body);
            assert_eq!(r.body["error"]["type"], "invalid_request_error", "{who}: {method} {path}");
            for id in &v.ids {
                let text = r.body.to_string();
                // An id the request itself named may be echoed ("No such customer: 'cus_…'"); no other.
                let named = path.contains(id.as_str()) || form.iter().any(|(_, v)| v.contains(id.as_str()));
                assert!(named || !text.contains(id.as_str()), "{who}: {method} {path} leaks {id}: {text}");
            }
        }
        for list in [
            "/v1/customers",
            "/v1/financial_connections/accounts",
            "/v1/events",
            "/v1/webhook_endpoints",
            "/v1/test_helpers/test_clocks",
        ] {
            let r = caller.get(list).await;
            let text = r.body.to_string();
            for id in &v.ids {
                assert!(!text.contains(id.as_str()), "{who}: {list} shows the victim's {id}");
            }
        }
    }
    let public = app.with_key(&app.publishable_key());
    for (method, path, form) in &v.routes {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = public.send(public.request(method.clone(), path).form(&form)).await;
        assert_eq!((r.status, r.error("code").as_str()), (403, Some("secret_key_required")), "pk: {method} {path}");
    }
    assert_eq!(snapshot(&app, &v).await, before, "nothing of the victim's changed");
}

crate::on_both_backends!(@backend nothing_of_a_tenant_is_reachable_with_another_key_mode_or_the_publishable_key);
