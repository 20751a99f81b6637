//! One validation model for every endpoint, table-driven: each failure kind (a missing required
//! parameter, a bad enum, an empty or out-of-range value, a truly unknown parameter) next to *valid*
//! optional parameters, which must never be blamed; routes that do not exist answer 404 as Stripe; JSON
//! objects start with `id` and `object`.

use serde_json::Value;

use crate::helpers::TestApp;

struct Case {
    method: &'static str,
    /// `{account}`, `{customer}`, `{clock}`, `{session}`, `{endpoint}` are filled in.
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    status: u16,
    param: Option<&'static str>,
    /// A fragment of the message; `code` when the error has one.
    message: &'static str,
    code: Option<&'static str>,
}

const fn case(
    method: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    param: &'static str,
    message: &'static str,
    code: Option<&'static str>,
) -> Case {
    Case { method, path, form, status: 400, param: Some(param), message, code }
}

const MISSING: Option<&str> = Some("parameter_missing");
const UNKNOWN: Option<&str> = Some("parameter_unknown");
const INVALID: Option<&str> = None;

const CASES: &[Case] = &[
    // Webhook endpoints (the SDK test suites' first finding).
    case(
        "POST",
        "/v1/webhook_endpoints",
        &[("url", "https://example.com/hook"), ("description", "mine")],
        "enabled_events",
        "Missing required param: enabled_events.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/webhook_endpoints",
        &[("url", "https://example.com/hook"), ("api_version", "2026-07-29.dahlia")],
        "enabled_events",
        "Missing required param: enabled_events.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/webhook_endpoints",
        &[("enabled_events[]", "*"), ("description", "mine"), ("metadata[k]", "v")],
        "url",
        "Missing required param: url.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/webhook_endpoints",
        &[("url", "https://example.com/hook"), ("enabled_events[]", "*"), ("bogus", "1")],
        "bogus",
        "Received unknown parameter: bogus",
        UNKNOWN,
    ),
    case(
        "POST",
        "/v1/webhook_endpoints/{endpoint}",
        &[("description", "x"), ("disabled", "maybe")],
        "disabled",
        "",
        INVALID,
    ),
    case("GET", "/v1/webhook_endpoints?limit=0&ending_before=we_x", &[], "limit", "", INVALID),
    // Refresh, subscribe, unsubscribe.
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/refresh",
        &[("expand[]", "ownership")],
        "features",
        "Missing required param: features.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/refresh",
        &[("features[]", "balance"), ("features[]", "bogus"), ("expand[]", "ownership")],
        "features[1]",
        "",
        INVALID,
    ),
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/subscribe",
        &[("expand[]", "ownership")],
        "features",
        "Missing required param: features.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/unsubscribe",
        &[("expand[]", "ownership")],
        "features",
        "Missing required param: features.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/refresh",
        &[("features[]", "balance"), ("nope", "1")],
        "nope",
        "Received unknown parameter: nope",
        UNKNOWN,
    ),
    case(
        "GET",
        "/v1/financial_connections/accounts/{account}/owners?limit=3",
        &[],
        "ownership",
        "Missing required param: ownership.",
        MISSING,
    ),
    // Lists.
    case(
        "GET",
        "/v1/financial_connections/transactions?account={account}&limit=3&transaction_refresh[after]=",
        &[],
        "transaction_refresh[after]",
        "",
        INVALID,
    ),
    case(
        "GET",
        "/v1/financial_connections/transactions?limit=3",
        &[],
        "account",
        "Missing required param: account.",
        MISSING,
    ),
    case(
        "GET",
        "/v1/financial_connections/accounts?limit=101&account_holder[customer]={customer}",
        &[],
        "limit",
        "",
        INVALID,
    ),
    case("GET", "/v1/customers?email=jenny@example.com&limit=0", &[], "limit", "", INVALID),
    case("GET", "/v1/events?limit=3&type=a&types[]=b", &[], "type", "", INVALID),
    case("GET", "/v1/events?limit=abc&type=financial_connections.account.created", &[], "limit", "", INVALID),
    // Sessions.
    case(
        "POST",
        "/v1/financial_connections/sessions",
        &[("permissions[]", "balances"), ("filters[countries][]", "US"), ("return_url", "https://example.com/back")],
        "account_holder",
        "Missing required param: account_holder.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/financial_connections/sessions",
        &[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", "{customer}"),
            ("permissions[]", "bogus"),
            ("return_url", "https://example.com/back"),
        ],
        "permissions[0]",
        "",
        INVALID,
    ),
    // A truly unknown parameter is reported before a missing one (Stripe's order).
    case(
        "POST",
        "/v1/financial_connections/sessions",
        &[("account_holder[type]", "customer"), ("account_holder[customer]", "{customer}"), ("bogus", "1")],
        "bogus",
        "Received unknown parameter: bogus",
        UNKNOWN,
    ),
    case(
        "POST",
        "/v1/financial_connections/accounts/{account}/refresh",
        &[("expand[]", "ownership"), ("zzz", "1")],
        "zzz",
        "Received unknown parameter: zzz",
        UNKNOWN,
    ),
    // Test clocks.
    case(
        "POST",
        "/v1/test_helpers/test_clocks",
        &[("name", "monthly")],
        "frozen_time",
        "Missing required param: frozen_time.",
        MISSING,
    ),
    case(
        "POST",
        "/v1/test_helpers/test_clocks/{clock}/advance",
        &[("expand[]", "x")],
        "frozen_time",
        "Missing required param: frozen_time.",
        MISSING,
    ),
    // Customers.
    case(
        "POST",
        "/v1/customers",
        &[("email", "not-an-email-but-fine"), ("name", "J"), ("metadata[a]", ""), ("bogus", "x")],
        "bogus",
        "Received unknown parameter: bogus",
        UNKNOWN,
    ),
];

async fn fixtures(app: &TestApp) -> Vec<(&'static str, String)> {
    let s = app.customer_session(&[]).await;
    let customer = s["account_holder"]["customer"].as_str().unwrap().to_owned();
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    let account = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    let clock = app.post("/v1/test_helpers/test_clocks", &[("frozen_time", "1800000000")]).await.ok();
    let endpoint =
        app.post("/v1/webhook_endpoints", &[("url", "https://example.com/hook"), ("enabled_events[]", "*")]).await.ok();
    vec![
        ("{account}", account),
        ("{customer}", customer),
        ("{clock}", clock["id"].as_str().unwrap().to_owned()),
        ("{session}", s["id"].as_str().unwrap().to_owned()),
        ("{endpoint}", endpoint["id"].as_str().unwrap().to_owned()),
    ]
}

fn fill(s: &str, ids: &[(&str, String)]) -> String {
    ids.iter().fold(s.to_owned(), |acc, (k, v)| acc.replace(k, v))
}

async fn every_endpoint_blames_the_right_parameter(app: TestApp) {
    let ids = fixtures(&app).await;
    let mut failures = Vec::new();
    for c in CASES {
        let path = fill(c.path, &ids);
        let form: Vec<(String, String)> = c.form.iter().map(|(k, v)| ((*k).to_owned(), fill(v, &ids))).collect();
        let req = match c.method {
            "GET" => app.request(reqwest::Method::GET, &path),
            _ => app.request(reqwest::Method::POST, &path).form(&form),
        };
        let r = app.send(req).await;
        let e = &r.body["error"];
        let ok = r.status == c.status
            && e["param"].as_str() == c.param
            && e["message"].as_str().is_some_and(|m| m.contains(c.message))
            && (c.code.is_none() || e["code"].as_str() == c.code)
            && e["type"] == "invalid_request_error";
        if !ok {
            failures.push(format!("{} {path} {:?}\n    got {} {}", c.method, c.form, r.status, e));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

async fn routes_that_do_not_exist_are_404(app: TestApp) {
    for (method, path) in [
        (reqwest::Method::GET, "/v1/customers/search?query=email:'a@b.c'"),
        (reqwest::Method::POST, "/v1/customers/search"),
        (reqwest::Method::GET, "/v1/financial_connections/nothing"),
    ] {
        let r = app.send(app.request(method.clone(), path)).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        let route = path.split('?').next().unwrap();
        assert_eq!(
            r.body["error"]["message"].as_str().unwrap().split(". ").next().unwrap(),
            format!("Unrecognized request URL ({method}: {route})"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
    }
}

/// Raw bytes: every object starts with `"id"` then `"object"` (lists with `"object"`), as Stripe writes.
async fn objects_start_with_id_and_object(app: TestApp) {
    let ids = fixtures(&app).await;
    let account = &ids[0].1;
    for path in [
        format!("/v1/financial_connections/accounts/{account}"),
        format!("/v1/financial_connections/sessions/{}", ids[3].1),
        format!("/v1/customers/{}", ids[1].1),
        "/v1/financial_connections/accounts?limit=2".to_owned(),
        format!("/v1/webhook_endpoints/{}", ids[4].1),
        format!("/v1/test_helpers/test_clocks/{}", ids[2].1),
    ] {
        let res = app.request(reqwest::Method::GET, &path).send().await.unwrap();
        let text = res.text().await.unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        if path.contains("?limit") {
            assert_eq!(&keys[..2], ["object", "data"], "{path}: {text}");
        } else {
            assert_eq!(&keys[..2], ["id", "object"], "{path}: {text}");
        }
        // Nested objects too: the first key after every `{` that holds an "object" is "id" or "object".
        let v: Value = serde_json::from_str(&text).unwrap();
        fn check(v: &Value, path: &str) {
            match v {
                Value::Object(m) => {
                    let first: Vec<&String> = m.keys().take(2).collect();
                    if m.contains_key("id") && m.contains_key("object") {
                        assert_eq!(first, ["id", "object"], "{path}");
                    }
                    m.values().for_each(|x| check(x, path));
                }
                Value::Array(a) => a.iter().for_each(|x| check(x, path)),
                _ => {}
            }
        }
        check(&v, &path);
    }
}

crate::on_both_backends!(
    every_endpoint_blames_the_right_parameter,
    routes_that_do_not_exist_are_404,
    objects_start_with_id_and_object
);
