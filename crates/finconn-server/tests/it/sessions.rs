use serde_json::{json, Value};

use crate::helpers::{random_key, TestApp};

async fn create_session_with_every_parameter_returns_them_all(app: TestApp) {
    let cus = app.create_customer(&[("email", "jenny@example.com")]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let s = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus_id),
            ("permissions[0]", "balances"),
            ("permissions[1]", "ownership"),
            ("permissions[2]", "transactions"),
            ("permissions[3]", "payment_method"),
            ("prefetch[]", "balances"),
            ("prefetch[]", "transactions"),
            ("filters[countries][]", "us"),
            ("filters[account_subcategories][]", "checking"),
            ("filters[account_subcategories][]", "savings"),
            ("filters[require_payment_method_support]", "at_least_one"),
            ("limits[accounts]", "3"),
            ("manual_entry[mode]", "automatic"),
            ("return_url", "myapp://return"),
        ])
        .await
        .ok();
    let id = s["id"].as_str().unwrap();
    assert!(id.starts_with("fcsess_") && id.len() > 20, "{id}");
    let secret = s["client_secret"].as_str().unwrap();
    let random = secret.strip_prefix(&format!("{id}_secret_")).expect("client secret embeds the session id");
    assert!(random.len() >= 22, "at least 128 bits of base62: {random}");
    assert_eq!(s["object"], "financial_connections.session");
    assert_eq!(s["livemode"], false);
    assert_eq!(s["account_holder"], json!({"customer": cus_id, "type": "customer"}));
    assert_eq!(
        s["accounts"],
        json!({"data": [], "has_more": false, "object": "list", "url": "/v1/financial_connections/accounts"})
    );
    assert_eq!(s["permissions"], json!(["balances", "ownership", "transactions", "payment_method"]));
    assert_eq!(s["prefetch"], json!(["balances", "transactions"]));
    assert_eq!(
        s["filters"],
        json!({"account_subcategories": ["checking", "savings"], "countries": ["US"], "require_payment_method_support": "at_least_one"})
    );
    assert_eq!(s["limits"], json!({"accounts": 3}));
    assert_eq!(s["manual_entry"], json!({"mode": "automatic"}));
    assert_eq!(s["return_url"], "myapp://return");

    let again = app.get(&format!("/v1/financial_connections/sessions/{id}")).await.ok();
    assert_eq!(again, s, "retrieve returns what create returned");
}

async fn minimal_session_omits_optional_fields_and_nulls_nullable_ones(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        // Stripe's order: id and object first, the rest alphabetical.
        [
            "id",
            "object",
            "account_holder",
            "accounts",
            "client_secret",
            "filters",
            "livemode",
            "permissions",
            "prefetch"
        ],
        "return_url, limits, manual_entry are optional and not nullable: left out"
    );
    assert_eq!(s["filters"], json!({"account_subcategories": null, "countries": ["US"]}));
    assert_eq!(s["prefetch"], json!([]));
}

async fn endive_country_filter_is_accepted(app: TestApp) {
    let s = app.customer_session(&[("filters[country]", "ca")]).await;
    assert_eq!(s["filters"]["countries"], json!(["CA"]));
    let cus = app.create_customer(&[]).await;
    let r = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("filters[country]", "CA"),
            ("filters[countries][]", "US"),
        ])
        .await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("filters[country]")));
}

async fn retrieve_expands_the_customer(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let id = s["id"].as_str().unwrap();
    let cus = s["account_holder"]["customer"].as_str().unwrap();
    let e = app.get(&format!("/v1/financial_connections/sessions/{id}?expand[]=account_holder.customer")).await.ok();
    assert_eq!(e["account_holder"]["customer"]["id"], cus);
    assert_eq!(e["account_holder"]["customer"]["object"], "customer");
    let bad = app.get(&format!("/v1/financial_connections/sessions/{id}?expand[0]=filters.countries")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error("message"), "This property cannot be expanded (filters.countries).");
    assert_eq!(bad.error("param"), "expand[0]");
}

async fn account_holder_of_type_account_is_the_callers_own_account(app: TestApp) {
    // The sandbox account behind this key: learn its id from a customer-less session error.
    let other = app
        .create_session(&[
            ("account_holder[type]", "account"),
            ("account_holder[account]", "acct_notmine"),
            ("permissions[]", "ownership"),
        ])
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.error("code"), "resource_missing");
    assert_eq!(other.error("param"), "account_holder[account]");
    let keys = finconn_core::keys::ApiKey::parse(&app.key).unwrap();
    let me = app.state.core.authenticate(&keys).await.unwrap().unwrap().scope.account;
    let s = app
        .create_session(&[
            ("account_holder[type]", "account"),
            ("account_holder[account]", &me),
            ("permissions[]", "ownership"),
            ("expand[]", "account_holder.account"),
        ])
        .await
        .ok();
    assert_eq!(s["account_holder"], json!({"account": {"id": me, "object": "account"}, "type": "account"}));
}

async fn session_validation_names_each_param(app: TestApp) {
    let cus = app.create_customer(&[]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let base = [("account_holder[type]", "customer"), ("account_holder[customer]", cus_id)];
    // (form, status, code, param, message)
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, Option<&'a str>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("permissions[]", "balances")], 400, Some("parameter_missing"), "account_holder", "Missing required param: account_holder."),
        (base.to_vec(), 400, Some("parameter_missing"), "permissions", "Missing required param: permissions."),
        ([&base[..], &[("permissions[]", "balances"), ("bogus", "1")]].concat(), 400, Some("parameter_unknown"), "bogus", "Received unknown parameter: bogus"),
        ([&base[..], &[("permissions[]", "balances"), ("account_holder[x]", "1"), ("filters[y]", "2")]].concat(), 400, Some("parameter_unknown"), "account_holder[x]", "Received unknown parameters: account_holder[x], filters[y]"),
        ([&base[..], &[("permissions[]", "balances"), ("permissions[]", "cards")]].concat(), 400, None, "permissions[1]", "Invalid permissions[1]: must be one of balances, ownership, payment_method, or transactions"),
        ([&base[..], &[("permissions", "balances")]].concat(), 400, None, "permissions", "Invalid array"),
        (vec![("account_holder[type]", "person"), ("permissions[]", "balances")], 400, None, "account_holder[type]", "Invalid account_holder[type]: must be one of account or customer"),
        (vec![("account_holder[type]", "customer"), ("permissions[]", "balances")], 400, Some("parameter_missing"), "account_holder[customer]", "Missing required param: account_holder[customer]."),
        ([&base[..], &[("permissions[]", "balances"), ("limits[accounts]", "1.5")]].concat(), 400, Some("parameter_invalid_integer"), "limits[accounts]", "Invalid integer: 1.5"),
        ([&base[..], &[("permissions[]", "balances"), ("limits[accounts]", "0")]].concat(), 400, None, "limits[accounts]", "This value must be greater than or equal to 1."),
        ([&base[..], &[("permissions[]", "balances"), ("limits[accounts]", "99999999999999999999999")]].concat(), 400, Some("parameter_invalid_integer"), "limits[accounts]", "Invalid integer: 99999999999999999999999"),
        ([&base[..], &[("permissions[]", "balances"), ("limits[foo]", "1")]].concat(), 400, Some("parameter_unknown"), "limits[foo]", "Received unknown parameter: limits[foo]"),
        ([&base[..], &[("permissions[]", "balances"), ("manual_entry[mode]", "sometimes")]].concat(), 400, None, "manual_entry[mode]", "Invalid manual_entry[mode]: must be one of automatic or disabled"),
        ([&base[..], &[("permissions[]", "balances"), ("filters[countries][]", "USA")]].concat(), 400, None, "filters[countries][0]", "Invalid filters[countries][0]: must be a two-letter ISO 3166-1 country code"),
        ([&base[..], &[("permissions[]", "balances"), ("return_url", "not a url")]].concat(), 400, Some("url_invalid"), "return_url", "Not a valid URL"),
        ([&base[..], &[("permissions[]", "balances"), ("prefetch[]", "ownership")]].concat(), 400, None, "prefetch[0]", "Invalid prefetch[0]: prefetching ownership requires the ownership permission in `permissions`"),
        ([&base[..], &[("permissions[]", "balances"), ("account_holder[account]", "acct_1")]].concat(), 400, None, "account_holder[account]", "account_holder[account] cannot be used when account_holder[type] is customer."),
        (vec![("account_holder[type]", "customer"), ("account_holder[customer]", ""), ("permissions[]", "balances")], 400, Some("parameter_invalid_empty"), "account_holder[customer]", "You passed an empty string for 'account_holder[customer]'. We assume empty values are an attempt to unset a parameter; however 'account_holder[customer]' cannot be unset. You should remove 'account_holder[customer]' from your request or supply a non-empty value."),
        (vec![("account_holder[type]", "customer"), ("account_holder[customer]", "cus_doesnotexist"), ("permissions[]", "balances")], 400, Some("resource_missing"), "account_holder[customer]", "No such customer: 'cus_doesnotexist'"),
    ];
    for (form, status, code, param, message) in cases {
        let r = app.create_session(&form).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.body);
        assert_eq!(r.error("type"), "invalid_request_error", "{form:?}");
        assert_eq!(r.error("code").as_str(), code, "{form:?}: {}", r.body);
        assert_eq!(r.error("param"), param, "{form:?}");
        assert_eq!(r.error("message"), message, "{form:?}");
        match code {
            Some(c) => assert_eq!(
                r.error("doc_url").as_str().unwrap(),
                format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-"))
            ),
            None => assert_eq!(r.error("doc_url"), &Value::Null, "no code, no doc_url"),
        }
    }
    let long = format!("https://example.com/{}", "a".repeat(5000));
    let r = app
        .create_session(&[&base[..], &[("permissions[]", "balances"), ("return_url", long.as_str())]].concat())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error("param"), "return_url");
    assert_eq!(r.error("message"), "Invalid string: https://ex...aaaaaaaaaa; must be at most 5000 characters");
}

async fn tenants_and_modes_never_see_each_others_sessions(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let id = s["id"].as_str().unwrap();
    let stranger = app.with_key(&random_key());
    let r = stranger.get(&format!("/v1/financial_connections/sessions/{id}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error("code"), "resource_missing");
    assert_eq!(r.error("message"), format!("No such financial_connections.session: '{id}'").as_str());
    // A customer of another tenant cannot be an account holder here.
    let cus = app.create_customer(&[]).await;
    let r = stranger
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
        ])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error("message"), format!("No such customer: '{}'", cus["id"].as_str().unwrap()).as_str());

    // The same account's live keys see none of its test objects, and are told so.
    let me = app
        .state
        .core
        .authenticate(&finconn_core::keys::ApiKey::parse(&app.key).unwrap())
        .await
        .unwrap()
        .unwrap()
        .scope
        .account;
    let live = app.state.core.create_account_keys(true, None, Some(&me)).await.unwrap();
    let live_app = app.with_key(&live.secret_key);
    let r = live_app.get(&format!("/v1/financial_connections/sessions/{id}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error("message"),
        format!("No such financial_connections.session: '{id}'; a similar object exists in test mode, but a live mode key was used to make this request.").as_str()
    );
    let live_session = live_app
        .create_session(&[
            ("account_holder[type]", "account"),
            ("account_holder[account]", &me),
            ("permissions[]", "balances"),
        ])
        .await
        .ok();
    assert_eq!(live_session["livemode"], true);
    let r = app.get(&format!("/v1/financial_connections/sessions/{}", live_session["id"].as_str().unwrap())).await;
    assert_eq!(r.status, 404);
}

crate::on_both_backends!(
    create_session_with_every_parameter_returns_them_all,
    minimal_session_omits_optional_fields_and_nulls_nullable_ones,
    retrieve_expands_the_customer,
    endive_country_filter_is_accepted,
    account_holder_of_type_account_is_the_callers_own_account,
    session_validation_names_each_param,
    tenants_and_modes_never_see_each_others_sessions,
);

/// `return_url` cannot run script or embed content: javascript:, data: and their kind are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_url_must_be_a_place_to_return_to() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let cus = app.create_customer(&[]).await;
    let id = cus["id"].as_str().unwrap().to_owned();
    let create = |url: &'static str| {
        let (app, id) = (app.with_key(&app.key), id.clone());
        async move {
            app.create_session(&[
                ("account_holder[type]", "customer"),
                ("account_holder[customer]", id.as_str()),
                ("permissions[]", "balances"),
                ("return_url", url),
            ])
            .await
        }
    };
    for bad in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>x</script>",
        "vbscript:x",
        "file:///etc/passwd",
    ] {
        let r = create(bad).await;
        assert_eq!((r.status, r.error("param").as_str()), (400, Some("return_url")), "{bad}: {}", r.body);
    }
    for good in
        ["https://shop.example/done", "http://localhost:3000/done", "http://shop.example/done", "myapp://fc/done"]
    {
        assert_eq!(create(good).await.status, 200, "{good}");
    }
    let keys = app.state.core.create_account_keys(true, None, None).await.unwrap();
    let live = app.with_key(&keys.secret_key);
    let lc = live.create_customer(&[]).await;
    let r = live
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", lc["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("return_url", "http://shop.example/done"),
        ])
        .await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("return_url")), "live mode wants https");
}

/// Only the modal's frame may be framed (by any merchant); the other pages by nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_modal_frame_may_be_framed() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let frame = reqwest::get(format!("{}/link/frame", app.base)).await.unwrap();
    let csp = frame.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    let demo = reqwest::get(format!("{}/demo", app.base)).await.unwrap();
    let csp = demo.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(demo.headers()["x-frame-options"], "DENY");
}
