//! The link flow over its client-side API and the test helpers: rules, state machine, security.

use serde_json::{json, Value};

use crate::helpers::{flow, random_key, Resp, TestApp};

fn names(session: &Value) -> Vec<String> {
    let accounts = session["accounts"].get("data").unwrap_or(&session["accounts"]);
    accounts.as_array().unwrap().iter().map(|a| a["display_name"].as_str().unwrap().to_owned()).collect()
}

fn event_names(r: &Resp) -> Vec<String> {
    r.body["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
}

async fn the_flow_links_exactly_the_chosen_accounts(app: TestApp) {
    let s = app.customer_session(&[("permissions[]", "ownership")]).await;
    let (id, secret) = (s["id"].as_str().unwrap(), s["client_secret"].as_str().unwrap());
    let pk = app.publishable_key();
    let r = flow(&app, &pk, secret, "start", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["pane"].as_str().unwrap().contains("data-testid=\"pane-consent\""));
    assert!(r.body["pane"].as_str().unwrap().contains("Account ownership details"));
    let r = flow(&app, &pk, secret, "consent", &[]).await;
    assert_eq!(event_names(&r), ["consent_acquired"]);
    let r = flow(&app, &pk, secret, "search", &[("query", "sandbox")]).await;
    let pane = r.body["pane"].as_str().unwrap();
    assert!(pane.contains("Sandbox Bank (Non-OAuth)") && !pane.contains("Test Institution"), "{pane}");
    let r = flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_SandboxBankNonOAuth")]).await;
    assert_eq!(
        r.body["events"],
        json!([{"name": "institution_selected", "institution_name": "Sandbox Bank (Non-OAuth)"}])
    );
    let r = flow(&app, &pk, secret, "login", &[("username", "u"), ("password", "incorrect")]).await;
    assert!(r.body["pane"].as_str().unwrap().contains("login-error"), "incorrect credentials can be retried");
    let r = flow(&app, &pk, secret, "login", &[("username", "u"), ("password", "mfa")]).await;
    assert!(r.body["pane"].as_str().unwrap().contains("data-challenge=\"code\""));
    let r = flow(&app, &pk, secret, "answer", &[("answer", "12")]).await;
    assert!(r.body["pane"].as_str().unwrap().contains("challenge-error"));
    let r = flow(&app, &pk, secret, "answer", &[("answer", "123456")]).await;
    assert_eq!(event_names(&r), ["institution_authorized"]);
    let r = flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Success"), ("accounts[]", "Savings")]).await;
    assert_eq!(event_names(&r), ["accounts_selected", "success"]);
    assert_eq!(names(&r.body["session"]), ["Success", "Savings"], "the page gets accounts as a plain array");
    assert!(r.body["session"]["accounts"].is_array());

    let server = app.get(&format!("/v1/financial_connections/sessions/{id}")).await.ok();
    assert_eq!(names(&server), ["Success", "Savings"]);
    let a = &server["accounts"]["data"][0];
    assert!(a["id"].as_str().unwrap().starts_with("fca_"));
    assert_eq!(a["object"], "financial_connections.account");
    assert_eq!(a["institution_name"], "Sandbox Bank (Non-OAuth)");
    assert_eq!(a["category"], "cash");
    assert_eq!(a["subcategory"], "checking");
    assert_eq!(a["status"], "active");
    assert_eq!(a["permissions"], json!(["balances", "ownership"]));
    assert_eq!(a["subscriptions"], json!([]));
    assert_eq!(a["supported_payment_method_types"], json!(["us_bank_account", "link"]));
    for field in
        ["balance", "balance_refresh", "ownership", "ownership_refresh", "transaction_refresh", "account_numbers"]
    {
        assert!(a[field].is_null(), "{field} is null until refreshed");
    }
    assert_eq!(a["account_holder"], s["account_holder"]);

    let again = flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Success")]).await;
    assert_eq!((again.status, again.error("code").as_str()), (400, Some("session_expired")), "completion happens once");
    assert_eq!(names(&app.get(&format!("/v1/financial_connections/sessions/{id}")).await.ok()), ["Success", "Savings"]);
}

async fn the_client_api_refuses_everything_but_the_sessions_own_pair(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let other = app.customer_session(&[]).await;
    let secret = s["client_secret"].as_str().unwrap();
    let pk = app.publishable_key();
    // A secret key on the client-side API.
    let r = flow(&app, &app.key, secret, "start", &[]).await;
    assert_eq!((r.status, r.error("code").as_str()), (403, Some("publishable_key_required")));
    // Another tenant's publishable key with this session's secret.
    let other_tenant = app.with_key(&random_key());
    other_tenant.customer_session(&[]).await;
    let stranger = other_tenant.publishable_key();
    assert_eq!(flow(&app, &stranger, secret, "start", &[]).await.status, 400);
    // A publishable key nobody registered is unknown: it provisions nothing.
    let unknown = finconn_core::keys::sandbox_publishable_key(&random_key());
    assert_eq!(flow(&app, &unknown, secret, "start", &[]).await.status, 401);
    // A tampered secret, a secret of another session with this id, no secret.
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let tampered = format!("{}{last}", &secret[..secret.len() - 1]);
    assert_eq!(flow(&app, &pk, &tampered, "start", &[]).await.status, 400);
    let other_secret = other["client_secret"].as_str().unwrap();
    let spliced = format!("{}_secret_{}", s["id"].as_str().unwrap(), other_secret.split("_secret_").nth(1).unwrap());
    assert_eq!(flow(&app, &pk, &spliced, "start", &[]).await.status, 400);
    assert_eq!(flow(&app, &pk, "", "start", &[]).await.status, 400);
    let r = flow(&app, "pk_test_nosuchkey", secret, "start", &[]).await;
    assert!(r.status == 400 || r.status == 401, "{}", r.status);
    // The other session's own pair works.
    assert_eq!(flow(&app, &pk, other_secret, "start", &[]).await.status, 200);
}

/// Stripe's testing guide: its test institutions link "without providing credentials" — one click from the
/// institution to the account picker; the extra institution with a login keeps what the user typed but the
/// password after a wrong one.
async fn stripes_test_institutions_need_no_credentials_and_a_failed_login_keeps_the_username(app: TestApp) {
    let pk = app.publishable_key();
    for inst in ["fcinst_TestInstitution", "fcinst_OwnershipAccounts", "fcinst_InvalidPaymentAccounts"] {
        let s = app.customer_session(&[]).await;
        let secret = s["client_secret"].as_str().unwrap();
        flow(&app, &pk, secret, "consent", &[]).await.ok();
        let r = flow(&app, &pk, secret, "select_institution", &[("institution", inst)]).await;
        let pane = r.body["pane"].as_str().unwrap();
        assert!(pane.contains("data-testid=\"pane-accounts\""), "{inst}: straight to the accounts: {pane}");
        assert_eq!(event_names(&r), ["institution_selected", "institution_authorized"], "{inst}");
    }
    let s = app.customer_session(&[]).await;
    let secret = s["client_secret"].as_str().unwrap();
    flow(&app, &pk, secret, "consent", &[]).await.ok();
    flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_SandboxBankNonOAuth")]).await.ok();
    let r = flow(&app, &pk, secret, "login", &[("username", "jenny.rosen"), ("password", "incorrect")]).await;
    let pane = r.body["pane"].as_str().unwrap();
    assert!(pane.contains("value=\"jenny.rosen\""), "the username is kept: {pane}");
    assert!(!pane.contains("incorrect\""), "the password is not: {pane}");
    assert!(pane.contains("aria-describedby=\"login-error\"") && pane.contains("role=\"alert\""), "{pane}");
}

async fn steps_out_of_order_are_refused(app: TestApp) {
    let s = app.customer_session(&[]).await;
    let secret = s["client_secret"].as_str().unwrap();
    let pk = app.publishable_key();
    let r = flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_TestInstitution")]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("invalid_step")), "no institution before consent");
    flow(&app, &pk, secret, "consent", &[]).await.ok();
    let r = flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Success")]).await;
    assert_eq!(r.error("code"), "invalid_step", "no accounts before logging in");
    let r = flow(&app, &pk, secret, "login", &[("username", "u"), ("password", "p")]).await;
    assert_eq!(r.error("code"), "invalid_step");
    let r = flow(&app, &pk, secret, "consent", &[]).await;
    assert_eq!(r.error("code"), "invalid_step", "consent is not replayed");
    flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_SandboxBankNonOAuth")]).await.ok();
    let r = flow(&app, &pk, secret, "select_accounts", &[("accounts[]", "Success")]).await;
    assert_eq!(r.error("code"), "invalid_step", "no accounts before the login succeeded");
    let r = flow(&app, &pk, secret, "frobnicate", &[]).await;
    assert_eq!(r.status, 400);
}

async fn expired_completed_and_cancelled_sessions_cannot_be_reentered(app: TestApp) {
    let pk = app.publishable_key();
    let s = app.customer_session(&[]).await;
    let (id, secret) = (s["id"].as_str().unwrap(), s["client_secret"].as_str().unwrap());
    let e = app.post(&format!("/v1/test_helpers/financial_connections/sessions/{id}/expire"), &[]).await.ok();
    assert_eq!(e["id"], id);
    let r = flow(&app, &pk, secret, "start", &[]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("session_expired")));
    assert!(r.body["pane"].as_str().unwrap().contains("data-error-code=\"session_expired\""));
    let r = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{id}/complete"),
            &[("institution", "fcinst_TestInstitution")],
        )
        .await;
    assert_eq!(r.error("code"), "session_expired");

    let s = app.customer_session(&[]).await;
    let secret = s["client_secret"].as_str().unwrap();
    let r = flow(&app, &pk, secret, "cancel", &[]).await.ok();
    assert_eq!(r["events"], json!([{"name": "cancel"}]));
    assert_eq!(r["session"]["accounts"], json!([]));
    assert_eq!(flow(&app, &pk, secret, "start", &[]).await.error("code"), "session_expired");

    let s = app.customer_session(&[]).await;
    let id = s["id"].as_str().unwrap();
    app.post(
        &format!("/v1/test_helpers/financial_connections/sessions/{id}/complete"),
        &[("institution", "fcinst_TestInstitution")],
    )
    .await
    .ok();
    let r = flow(&app, &pk, s["client_secret"].as_str().unwrap(), "start", &[]).await;
    assert_eq!(r.error("code"), "session_expired");
}

async fn oauth_institutions_authorize_on_their_own_page(app: TestApp) {
    let pk = app.publishable_key();
    let s = app.customer_session(&[("return_url", "https://merchant.example/back")]).await;
    let secret = s["client_secret"].as_str().unwrap();
    flow(&app, &pk, secret, "consent", &[]).await.ok();
    let r = flow(&app, &pk, secret, "select_institution", &[("institution", "fcinst_TestOAuthInstitution")]).await.ok();
    let pane = r["pane"].as_str().unwrap();
    let start = pane.find("data-oauth-url=\"").unwrap() + "data-oauth-url=\"".len();
    // The attribute is HTML-escaped (`/` as `&#x2f;`), as a browser reads it back.
    let url = &pane[start..start + pane[start..].find('"').unwrap()].replace("&#x2f;", "/");
    assert!(url.starts_with("/link/oauth/") && !url.contains(secret) && !url.contains("secret"), "{url}");
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = c.get(format!("{}{url}", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("Authorize"));
    let wrong = c.get(format!("{}{url}x", app.base)).send().await.unwrap();
    assert_eq!(wrong.status(), 404, "the page is named by its random state");
    let done = c.post(format!("{}{url}", app.base)).form(&[("decision", "authorize")]).send().await.unwrap();
    assert_eq!(done.status(), 303, "webview: back to return_url");
    assert_eq!(done.headers()["location"], "https://merchant.example/back");
    let again = c.post(format!("{}{url}", app.base)).form(&[("decision", "authorize")]).send().await.unwrap();
    assert_eq!(again.status(), 404, "the authorization page is single-use");
    let r = flow(&app, &pk, secret, "show", &[]).await.ok();
    assert!(r["pane"].as_str().unwrap().contains("pane-accounts"), "the flow resumes at the account picker");
}

async fn the_test_helper_applies_the_panes_rules(app: TestApp) {
    let complete = |id: String, form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { app.post(&format!("/v1/test_helpers/financial_connections/sessions/{id}/complete"), &form).await }
    };
    let id = |s: &Value| s["id"].as_str().unwrap().to_owned();

    let s = app.customer_session(&[("filters[account_subcategories][]", "checking"), ("limits[accounts]", "2")]).await;
    let done = complete(id(&s), vec![("institution", "fcinst_TestInstitution")]).await.ok();
    assert_eq!(names(&done), ["Success", "High Balance"], "default: the eligible accounts, up to the limit");

    let s = app.customer_session(&[("filters[account_subcategories][]", "checking")]).await;
    let r = complete(id(&s), vec![("institution", "fcinst_TestInstitution"), ("accounts[]", "Savings")]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("accounts[0]")));
    let r = complete(id(&s), vec![("institution", "fcinst_TestInstitution"), ("accounts[]", "Nope")]).await;
    assert_eq!(r.error("code"), "accounts_unavailable");
    let r = complete(id(&s), vec![("institution", "fcinst_DownBankScheduled")]).await;
    assert_eq!(
        (r.error("code").as_str(), r.error("param").as_str()),
        (Some("institution_unavailable_planned"), Some("institution"))
    );
    let r = complete(id(&s), vec![("institution", "fcinst_DownBankUnscheduled")]).await;
    assert_eq!(r.error("code"), "institution_unavailable_unplanned");
    let r = complete(id(&s), vec![("institution", "fcinst_SandboxBankCanada")]).await;
    assert_eq!((r.status, r.error("code").as_str()), (400, Some("resource_missing")), "outside filters[countries]");
    let r = complete(id(&s), vec![]).await;
    assert_eq!(r.error("message"), "Missing required param: institution.");

    let s = app.customer_session(&[("permissions[]", "payment_method")]).await;
    let r = complete(id(&s), vec![("institution", "fcinst_InvalidPaymentAccounts")]).await;
    assert_eq!(r.error("code"), "no_eligible_accounts");
    let done = complete(
        id(&s),
        vec![("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")],
    )
    .await
    .ok();
    assert_eq!(names(&done), ["Success", "Savings"]);
    let r = complete(id(&s), vec![("institution", "fcinst_TestInstitution")]).await;
    assert_eq!(r.error("code"), "session_expired", "a completed session stays completed");

    let s = app.customer_session(&[("limits[accounts]", "1")]).await;
    let r = complete(
        id(&s),
        vec![("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")],
    )
    .await;
    assert_eq!(r.error("param"), "accounts");

    let stranger = app.with_key(&random_key());
    let r = stranger
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", id(&s)),
            &[("institution", "fcinst_TestInstitution")],
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn institutions_are_listed_for_the_keys_mode(app: TestApp) {
    let list = app.get("/v1/financial_connections/institutions?limit=3").await.ok();
    assert_eq!(list["object"], "list");
    assert_eq!(list["has_more"], true);
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    let first = &list["data"][0];
    assert_eq!(first["object"], "financial_connections.institution");
    assert!(first["id"].as_str().unwrap().starts_with("fcinst_"));
    let next = app
        .get(&format!(
            "/v1/financial_connections/institutions?limit=100&starting_after={}",
            list["data"][2]["id"].as_str().unwrap()
        ))
        .await
        .ok();
    assert_eq!(next["has_more"], false);
    let one = app.get("/v1/financial_connections/institutions/fcinst_DownBankScheduled").await.ok();
    assert_eq!(one["name"], "Down Bank (Scheduled)");
    assert_eq!(one["status"], "down");
    assert_eq!(one["countries"], json!(["US"]));
    assert_eq!(app.get("/v1/financial_connections/institutions/fcinst_nope").await.status, 404);
}

crate::on_both_backends!(
    stripes_test_institutions_need_no_credentials_and_a_failed_login_keeps_the_username,
    the_flow_links_exactly_the_chosen_accounts,
    the_client_api_refuses_everything_but_the_sessions_own_pair,
    steps_out_of_order_are_refused,
    expired_completed_and_cancelled_sessions_cannot_be_reentered,
    oauth_institutions_authorize_on_their_own_page,
    the_test_helper_applies_the_panes_rules,
    institutions_are_listed_for_the_keys_mode,
);

/// A page shows the publishable key; the secret key "of the same suffix" is another, empty account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishable_key_reveals_nothing_of_its_secret_key() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let cus = app.create_customer(&[("email", "owner@example.com")]).await;
    let pk = app.publishable_key();
    assert!(!pk.contains(&app.key["sk_test_".len()..]), "no shared suffix");
    let guessed = app.with_key(&pk.replacen("pk_", "sk_", 1));
    let list = guessed.get("/v1/customers").await.ok();
    assert_eq!(list["data"], json!([]), "the guessed secret key is a different, empty account");
    let r = guessed.get(&format!("/v1/customers/{}", cus["id"].as_str().unwrap())).await;
    assert_eq!(r.status, 404);
}

/// `logo_file`: the merchant's logo in the modal's header, served from finconn's origin; a file that is
/// not a raster image stops start-up naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merchants_logo_is_shown_when_configured() {
    let png = finconn_fake_enablebanking::logo_png("Acme");
    let config = finconn_server::config::Config {
        logo: Some(("image/png", std::sync::Arc::new(png.clone()))),
        display_name: "Acme Rentals".into(),
        ..Default::default()
    };
    let (addr, _dir) = crate::helpers::serve_with(config).await;
    let frame = reqwest::get(format!("http://{addr}/link/frame")).await.unwrap().text().await.unwrap();
    assert!(frame.contains(r#"src="/link/brand/logo" alt="Acme Rentals""#), "{frame}");
    let logo = reqwest::get(format!("http://{addr}/link/brand/logo")).await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.bytes().await.unwrap().to_vec(), png);

    let (plain, _dir2) = crate::helpers::serve_with(finconn_server::config::Config::default()).await;
    let frame = reqwest::get(format!("http://{plain}/link/frame")).await.unwrap().text().await.unwrap();
    assert!(!frame.contains("merchant-logo"));
    assert_eq!(reqwest::get(format!("http://{plain}/link/brand/logo")).await.unwrap().status(), 404);

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("logo.svg");
    std::fs::write(&svg, "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>").unwrap();
    let toml = dir.path().join("finconn.toml");
    std::fs::write(&toml, format!("logo_file = {:?}\n", svg.display().to_string())).unwrap();
    let err = finconn_server::config::Config::load(&finconn_server::config::Overrides {
        config_file: Some(toml),
        ..Default::default()
    })
    .map(|_| ())
    .expect_err("an SVG is refused");
    assert!(err.to_string().contains("logo_file") && err.to_string().contains("PNG"), "{err}");
}
