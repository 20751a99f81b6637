//! The merchant dashboard: signing in, the session cookie, CSRF, test/live separation, actions through the
//! domain, the request log.

use std::collections::HashMap;

use reqwest::header::HeaderMap;

use crate::helpers::{random_key, Backend, TestApp};

/// A browser without JavaScript: follows no redirect, keeps cookies by name.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The first form's CSRF token on the page.
    fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: app.base.clone(), client, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn keep(&mut self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        for c in headers.get_all("set-cookie") {
            let first = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        // minijinja escapes `/` in text; the tests read it as a browser shows it.
        Page { status, headers, body: res.text().await.unwrap().replace("&#x2f;", "/") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let res = self.client.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send();
        let res = res.await.unwrap();
        self.keep(res).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req =
            self.client.post(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.keep(res).await
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        let login = self.get("/dashboard/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.csrf();
        self.post("/dashboard/login", &[("csrf", &csrf), ("secret_key", key), ("next", "/dashboard/sessions")], &[])
            .await
    }
}

async fn account_of(app: &TestApp, key: &str) -> String {
    let k = finconn_core::keys::ApiKey::parse(key).unwrap();
    app.state.core.authenticate(&k).await.unwrap().unwrap().scope.account
}

/// A session of `app`'s key with one linked account (Test Institution, "Success"); returns the account id.
async fn linked_account(app: &TestApp) -> String {
    let s = app.customer_session(&[("permissions[]", "transactions")]).await;
    let done = app
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await
        .ok();
    done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn sign_in_with_a_secret_key_sets_a_safe_session_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    let signed = b.sign_in(&app.key).await;
    assert_eq!((signed.status, signed.location()), (303, "/dashboard/sessions"), "{}", signed.body);
    let cookie = signed.set_cookies().into_iter().find(|c| c.starts_with("finconn_dashboard=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "served over http: {cookie}");
    let suffix = &app.key["sk_test_".len()..];
    assert!(!cookie.contains(suffix), "the key is in the cookie: {cookie}");
    let page = b.get("/dashboard/sessions").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&account_of(&app, &app.key).await), "the page names the account");
    assert!(page.body.contains("Test mode"));
    assert!(!page.body.contains(suffix), "the key is never shown back");

    // Signed out: the cookie is cleared and the pages ask to sign in again.
    let csrf = page.csrf();
    let out = b.post("/dashboard/logout", &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status, 303);
    assert!(out.set_cookies().iter().any(|c| c.starts_with("finconn_dashboard=;") && c.contains("Max-Age=0")));
    let again = b.get("/dashboard/sessions").await;
    assert_eq!(again.status, 303);
    assert!(again.location().starts_with("/dashboard/login"), "{}", again.location());
}

async fn the_cookie_is_secure_when_the_public_url_is_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.public_url = Some("https://finconn.example".parse().unwrap())).await;
    let signed = Browser::new(&app).sign_in(&app.key).await;
    assert_eq!(signed.status, 303);
    let cookie = signed.set_cookies().into_iter().find(|c| c.starts_with("finconn_dashboard=")).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn an_unknown_or_publishable_key_cannot_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer(&[]).await; // the sandbox account (and its publishable key) exists
    let mut b = Browser::new(&app);
    let unknown = b.sign_in(&format!("sk_live_{}", finconn_core::ids::random_base62(24))).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("No account has this secret key."), "{}", unknown.body);
    let publishable = b.sign_in(&app.publishable_key()).await;
    assert_eq!(publishable.status, 400);
    assert!(publishable.body.contains("publishable key"), "{}", publishable.body);
    for page in [&unknown, &publishable] {
        assert!(page.body.contains("aria-invalid=\"true\""), "the error is tied to the field");
        assert!(!page.set_cookies().iter().any(|c| c.starts_with("finconn_dashboard=") && !c.contains("Max-Age=0")));
    }
    assert_eq!(b.get("/dashboard/sessions").await.status, 303, "still signed out");
    // A sign-in form from elsewhere (no token from our page) is refused before the key is looked at.
    let mut fresh = Browser::new(&app);
    let forged = fresh.post("/dashboard/login", &[("secret_key", &app.key)], &[]).await;
    assert_eq!(forged.status, 403);
}

async fn a_post_without_or_with_a_wrong_csrf_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = linked_account(&app).await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.key).await;
    let page = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let path = format!("/dashboard/accounts/{id}/disconnect");
    let none = b.post(&path, &[], &[]).await;
    let wrong = b.post(&path, &[("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")], &[]).await;
    let cross = b.post(&path, &[("csrf", &csrf)], &[("origin", "http://evil.example")]).await;
    let no_cookie = Browser::new(&app).post(&path, &[("csrf", &csrf)], &[]).await;
    for (what, r) in
        [("no token", none), ("a wrong token", wrong), ("another origin", cross), ("no session", no_cookie)]
    {
        assert_eq!(r.status, 403, "{what}: {}", r.body);
    }
    let account = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
    assert_eq!(account["status"], "active", "nothing was changed");

    let ok = b.post(&path, &[("csrf", &csrf)], &[("origin", &app.base)]).await;
    assert_eq!((ok.status, ok.location()), (303, format!("/dashboard/accounts/{id}").as_str()));
    let account = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
    assert_eq!(account["status"], "disconnected");
    let shown = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert!(shown.body.contains("The account is disconnected"), "the outcome is shown once");
    let events = app.get("/v1/events?type=financial_connections.account.disconnected").await.ok();
    assert!(events["data"][0]["request"]["id"].as_str().unwrap().starts_with("req_"), "{events}");
}

async fn a_test_key_session_never_shows_live_objects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let test_session = app.customer_session(&[]).await["id"].as_str().unwrap().to_owned();
    let account = account_of(&app, &app.key).await;
    let live_keys = app.state.core.create_account_keys(true, None, Some(&account)).await.unwrap();
    let live = app.with_key(&live_keys.secret_key);
    let live_session = live.customer_session(&[]).await["id"].as_str().unwrap().to_owned();

    let mut b = Browser::new(&app);
    b.sign_in(&app.key).await;
    let list = b.get("/dashboard/sessions").await;
    assert!(list.body.contains(&test_session));
    assert!(!list.body.contains(&live_session), "a live session in the test view");
    assert_eq!(b.get(&format!("/dashboard/sessions/{live_session}")).await.status, 404);
    assert_eq!(b.get(&format!("/dashboard/sessions?q={live_session}")).await.status, 200, "not found, shown as such");

    // The toggle asks for a live key rather than showing live data.
    let csrf = list.csrf();
    let toggle = b.post("/dashboard/mode", &[("csrf", &csrf), ("mode", "live")], &[]).await;
    assert_eq!((toggle.status, toggle.location()), (303, "/dashboard/login?mode=live"));
    assert!(!b.get("/dashboard/sessions").await.body.contains(&live_session));

    // With the live key of the same account, live mode opens (and shows only live objects).
    b.sign_in(&live_keys.secret_key).await;
    let list = b.get("/dashboard/sessions").await;
    assert!(list.body.contains(&live_session) && !list.body.contains(&test_session), "{}", list.body);
    assert!(list.body.contains("Live mode"));
    let csrf = list.csrf();
    let back = b.post("/dashboard/mode", &[("csrf", &csrf), ("mode", "test")], &[]).await;
    assert_eq!(back.status, 303);
    let list = b.get("/dashboard/sessions").await;
    assert!(list.body.contains(&test_session) && !list.body.contains(&live_session));

    // Another tenant's test key sees neither.
    let mut other = Browser::new(&app);
    other.sign_in(&random_key()).await;
    let theirs = other.get("/dashboard/sessions").await;
    assert!(!theirs.body.contains(&test_session) && !theirs.body.contains(&live_session));
}

async fn a_refresh_pressed_in_the_dashboard_runs_and_the_chart_shows_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = linked_account(&app).await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.key).await;
    let page = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert!(page.body.contains("No balance yet"));
    let pressed = b.post(&format!("/dashboard/accounts/{id}/refresh_balance"), &[("csrf", &page.csrf())], &[]).await;
    assert_eq!(pressed.status, 303);
    let pending = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert!(pending.body.contains("data-pending"), "the page knows a refresh runs");
    app.run_jobs().await;
    let a = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "succeeded");
    let done = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert!(!done.body.contains("data-pending"));
    assert!(done.body.contains("data-testid=\"balance-chart\" data-points=\"1\""), "{}", done.body);
    // A refused refresh (the cooldown) is said next to the page, not as an error page.
    let again = b.post(&format!("/dashboard/accounts/{id}/refresh_balance"), &[("csrf", &done.csrf())], &[]).await;
    assert_eq!(again.status, 303);
    let shown = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert!(shown.body.contains("class=\"flash error\""), "{}", shown.body);
}

async fn the_request_log_records_a_request_and_finds_it_by_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let refused = app
        .send(
            app.request(reqwest::Method::POST, "/v1/financial_connections/sessions")
                .header("idempotency-key", "dash-log-1")
                .form(&[("account_holder[type]", "customer"), ("permissions[]", "balances")]),
        )
        .await;
    assert_eq!(refused.status, 400);
    let request_id = refused.header("request-id").unwrap().to_owned();
    let ok = app.get("/v1/financial_connections/accounts").await;
    let ok_id = ok.header("request-id").unwrap().to_owned();

    let mut b = Browser::new(&app);
    b.sign_in(&app.key).await;
    let mut found = None;
    for _ in 0..50 {
        let page = b.get(&format!("/dashboard/logs?request_id={request_id}")).await;
        if page.body.contains("data-testid=\"request-row\"") {
            found = Some(page);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = found.expect("the request shows in the log");
    assert_eq!(page.body.matches("data-testid=\"request-row\"").count(), 1, "only that request");
    for text in
        [&request_id, "/v1/financial_connections/sessions", "POST", "400", "invalid_request_error", "dash-log-1"]
    {
        assert!(page.body.contains(text), "{text} missing: {}", page.body);
    }
    assert!(page.body.contains("account_holder[customer]"), "the error's param");
    assert!(!page.body.contains(&ok_id));
    let all = b.get("/dashboard/logs").await;
    assert!(all.body.contains(&ok_id) && all.body.contains(&request_id));

    // Another tenant's log does not have it.
    let mut other = Browser::new(&app);
    other.sign_in(&random_key()).await;
    assert!(!other.get("/dashboard/logs").await.body.contains(&request_id));

    // Retention: rows past the per-mode limit go at the next prune.
    let retention = finconn_core::console::RequestLogRetention { max_age_seconds: 86_400, max_rows: 1 };
    assert!(app.state.core.prune_request_log(retention).await.unwrap() >= 1);
    let pruned = b.get("/dashboard/logs").await;
    assert_eq!(pruned.body.matches("data-testid=\"request-row\"").count(), 1);
}

crate::on_both_backends!(
    @backend
    sign_in_with_a_secret_key_sets_a_safe_session_cookie,
    the_cookie_is_secure_when_the_public_url_is_https,
    an_unknown_or_publishable_key_cannot_sign_in,
    a_post_without_or_with_a_wrong_csrf_token_is_refused,
    a_test_key_session_never_shows_live_objects,
    a_refresh_pressed_in_the_dashboard_runs_and_the_chart_shows_it,
    the_request_log_records_a_request_and_finds_it_by_request_id,
);
