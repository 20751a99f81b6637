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
    // The prune at the end keeps one row of every account in the database: on PostgreSQL this test gets a
    // database of its own, or it would empty the other tests' logs while they read them.
    let own_database = crate::helpers::own_database(backend, "finconn_request_log").await;
    let app = TestApp::spawn_with(backend, |c| {
        if let Some(url) = own_database {
            c.database_url = url;
        }
    })
    .await;
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

/// With a row limit of 200, 500 requests leave the newest 200 to 299 in the log as they arrive (a trim every
/// 100 rows), without waiting for the minute's prune; another account's rows are not touched.
async fn the_request_log_is_trimmed_to_its_row_limit_as_rows_arrive(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.request_log.max_rows = 200).await;
    let other_key = random_key();
    let other = app.with_key(&other_key).get("/v1/financial_connections/accounts").await;
    assert_eq!(other.status, 200);
    let mut ids = Vec::new();
    for _ in 0..500 {
        let r = app.get("/v1/financial_connections/accounts").await;
        assert_eq!(r.status, 200);
        ids.push(r.header("request-id").unwrap().to_owned());
    }
    let scope = finconn_core::Scope { account: account_of(&app, &app.key).await, livemode: false };
    let logged = |scope: finconn_core::Scope| {
        let core = app.state.core.clone();
        async move {
            let filter = finconn_core::console::RequestLogFilter::default();
            let mut rows: Vec<finconn_core::console::RequestLogRecord> = Vec::new();
            loop {
                let before = rows.last().map(|r| r.seq);
                let page = core.request_log(&scope, &filter, before, 100).await.unwrap();
                rows.extend(page.items);
                if !page.has_more {
                    return rows;
                }
            }
        }
    };
    // Trims come every 100 rows, after the batch that crosses the mark: the log ends with the newest 200
    // to 299 rows (500 without trimming).
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = logged(scope.clone()).await;
        if rows.first().is_some_and(|r| r.request_id == ids[499]) && rows.len() < 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!((200..300).contains(&rows.len()), "{} rows kept", rows.len());
    let kept: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    let newest: Vec<&str> = ids[500 - rows.len()..].iter().rev().map(String::as_str).collect();
    assert_eq!(kept, newest, "the newest rows, newest first");
    let other_scope = finconn_core::Scope { account: account_of(&app, &other_key).await, livemode: false };
    assert_eq!(logged(other_scope).await.len(), 1, "the other account keeps its row");
}

/// The token of a link URL printed by `finconn dashboard-link` (or built from a `NewDashboardLink`).
fn link_path(token: &str) -> String {
    format!("/dashboard/link/{token}")
}

/// A one-time link to `app`'s sandbox account in test mode (`ttl` seconds).
async fn test_link(app: &TestApp, ttl: i64) -> (String, String) {
    app.create_customer(&[]).await; // the sandbox account exists
    let account = account_of(app, &app.key).await;
    let link = app.state.core.create_dashboard_link(&account, false, ttl).await.unwrap();
    (account, link.token)
}

async fn a_dashboard_link_signs_in_once_and_a_second_use_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (account, token) = test_link(&app, 900).await;
    let path = link_path(&token);

    // Two tabs open the link; opening (a preview, a prefetch) spends nothing.
    let mut b = Browser::new(&app);
    let mut other = Browser::new(&app);
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&account) && page.body.contains("test mode"), "says what it opens: {}", page.body);
    assert!(!page.set_cookies().iter().any(|c| c.starts_with("finconn_dashboard=")), "a GET signs no one in");
    assert_eq!(page.headers["referrer-policy"], "same-origin", "the token never leaves in a Referer");
    let other_page = other.get(&path).await;
    assert_eq!(other_page.status, 200, "the first GET did not use the link");

    let signed = b.post(&path, &[("csrf", &page.csrf())], &[("origin", &app.base)]).await;
    assert_eq!((signed.status, signed.location()), (303, "/dashboard"), "{}", signed.body);
    let cookie = signed.set_cookies().into_iter().find(|c| c.starts_with("finconn_dashboard=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains(&token), "{cookie}");
    let sessions = b.get("/dashboard/sessions").await;
    assert_eq!(sessions.status, 200);
    assert!(sessions.body.contains(&account) && sessions.body.contains("Test mode"));

    // The second use, from the other tab, is refused, and so is the link itself from now on.
    let second = other.post(&path, &[("csrf", &other_page.csrf())], &[]).await;
    assert_eq!(second.status, 410, "{}", second.body);
    assert!(second.body.contains("cannot be used") && second.body.contains("href=\"/dashboard/login\""));
    assert!(!second.set_cookies().iter().any(|c| c.starts_with("finconn_dashboard=")));
    assert_eq!(other.get("/dashboard/sessions").await.status, 303, "the other tab is not signed in");
    let used = Browser::new(&app).get(&path).await;
    assert_eq!(used.status, 410);

    // A used link and one that never existed look the same.
    let unknown = Browser::new(&app).get(&link_path(&"A".repeat(43))).await;
    assert_eq!((unknown.status, &unknown.body), (410, &used.body));
    assert_eq!(Browser::new(&app).get("/dashboard/link/short").await.status, 410);

    // Racing uses (the same database, any process): exactly one wins.
    let (_, token) = test_link(&app, 900).await;
    let core = &app.state.core;
    let (x, y) = tokio::join!(core.redeem_dashboard_link(&token, 60), core.redeem_dashboard_link(&token, 60));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|r| r.is_some()).count(), 1);
}

async fn an_expired_dashboard_link_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = test_link(&app, 60).await;
    let mut b = Browser::new(&app);
    let page = b.get(&link_path(&token)).await;
    assert_eq!(page.status, 200);
    app.clock.advance(61);
    let late = b.post(&link_path(&token), &[("csrf", &page.csrf())], &[]).await;
    assert_eq!(late.status, 410, "{}", late.body);
    assert!(late.body.contains("cannot be used"));
    assert_eq!(b.get("/dashboard/sessions").await.status, 303);
    let unknown = Browser::new(&app).get(&link_path(&"B".repeat(43))).await;
    assert_eq!(Browser::new(&app).get(&link_path(&token)).await.body, unknown.body, "expired looks like unknown");

    // Without the page's token (a form from elsewhere) nothing is used.
    let (_, fresh) = test_link(&app, 60).await;
    assert_eq!(Browser::new(&app).post(&link_path(&fresh), &[], &[]).await.status, 403);
    assert_eq!(Browser::new(&app).get(&link_path(&fresh)).await.status, 200, "still usable");

    // Pruning forgets expired links (the server's housekeeping may have got there first).
    app.clock.advance(120);
    app.state.core.prune_dashboard_auth().await.unwrap();
    use finconn_core::store::ConsoleAuth;
    for t in [&token, &fresh] {
        let stored = app.db.dashboard_link(&finconn_core::keys::hash_key(t)).await.unwrap();
        assert!(stored.is_none(), "an expired link is still stored");
    }
}

async fn a_test_mode_link_never_shows_live_objects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let test_session = app.customer_session(&[]).await["id"].as_str().unwrap().to_owned();
    let account = account_of(&app, &app.key).await;
    let live_keys = app.state.core.create_account_keys(true, None, Some(&account)).await.unwrap();
    let live_session =
        app.with_key(&live_keys.secret_key).customer_session(&[]).await["id"].as_str().unwrap().to_owned();

    let link = app.state.core.create_dashboard_link(&account, false, 900).await.unwrap();
    let mut b = Browser::new(&app);
    let page = b.get(&link_path(&link.token)).await;
    b.post(&link_path(&link.token), &[("csrf", &page.csrf())], &[]).await;
    let list = b.get("/dashboard/sessions").await;
    assert!(list.body.contains(&test_session) && !list.body.contains(&live_session), "{}", list.body);
    assert_eq!(b.get(&format!("/dashboard/sessions/{live_session}")).await.status, 404);
    let toggle = b.post("/dashboard/mode", &[("csrf", &list.csrf()), ("mode", "live")], &[]).await;
    assert_eq!((toggle.status, toggle.location()), (303, "/dashboard/login?mode=live"));
    assert!(!b.get("/dashboard/sessions").await.body.contains(&live_session));

    // A live link opens live data only.
    let live = app.state.core.create_dashboard_link(&account, true, 900).await.unwrap();
    let mut l = Browser::new(&app);
    let page = l.get(&link_path(&live.token)).await;
    assert!(page.body.contains("live mode"), "{}", page.body);
    l.post(&link_path(&live.token), &[("csrf", &page.csrf())], &[]).await;
    let list = l.get("/dashboard/sessions").await;
    assert!(list.body.contains(&live_session) && !list.body.contains(&test_session), "{}", list.body);
    assert!(list.body.contains("Live mode"));
}

async fn signing_out_makes_the_old_cookie_useless(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = linked_account(&app).await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.key).await;
    let page = b.get(&format!("/dashboard/accounts/{id}")).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let stolen = b.cookies.clone();
    let out = b.post("/dashboard/logout", &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status, 303);

    // Someone who copied the cookie before Sign out replays it.
    let mut thief = Browser::new(&app);
    thief.cookies = stolen;
    let replay = thief.get("/dashboard/sessions").await;
    assert_eq!(replay.status, 303);
    assert!(replay.location().starts_with("/dashboard/login"), "{}", replay.location());
    let action = thief.post(&format!("/dashboard/accounts/{id}/disconnect"), &[("csrf", &csrf)], &[]).await;
    assert_eq!(action.status, 403, "{}", action.body);
    let account = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
    assert_eq!(account["status"], "active", "nothing was changed");
}

async fn revoking_all_sessions_signs_every_browser_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (account, token) = test_link(&app, 900).await;
    let mut by_key = Browser::new(&app);
    by_key.sign_in(&app.key).await;
    let mut by_link = Browser::new(&app);
    let page = by_link.get(&link_path(&token)).await;
    by_link.post(&link_path(&token), &[("csrf", &page.csrf())], &[]).await;
    let mut elsewhere = Browser::new(&app);
    elsewhere.sign_in(&random_key()).await; // another account: not touched
    for b in [&mut by_key, &mut by_link, &mut elsewhere] {
        assert_eq!(b.get("/dashboard/sessions").await.status, 200);
    }
    let unused = app.state.core.create_dashboard_link(&account, false, 900).await.unwrap();

    let (sessions, links) = app.state.core.end_dashboard_sessions(&account).await.unwrap();
    assert_eq!((sessions, links), (2, 1));
    for b in [&mut by_key, &mut by_link] {
        let r = b.get("/dashboard/sessions").await;
        assert_eq!(r.status, 303);
        assert!(r.location().starts_with("/dashboard/login"));
    }
    assert_eq!(elsewhere.get("/dashboard/sessions").await.status, 200, "another account's session stays");
    assert_eq!(Browser::new(&app).get(&link_path(&unused.token)).await.status, 410, "unused links are void too");
    // Signing in again works.
    assert_eq!(by_key.sign_in(&app.key).await.status, 303);
    assert_eq!(by_key.get("/dashboard/sessions").await.status, 200);
}

async fn two_servers_on_one_database_let_a_link_sign_in_once(backend: Backend) {
    let one = TestApp::spawn(backend).await;
    let url = one.state.config.database_url.clone();
    let two = TestApp::spawn_with(backend, |c| c.database_url = url).await;
    for _ in 0..5 {
        let (_, token) = test_link(&one, 900).await;
        let (mut a, mut b) = (Browser::new(&one), Browser::new(&two));
        let (pa, pb) = (a.get(&link_path(&token)).await, b.get(&link_path(&token)).await);
        assert_eq!((pa.status, pb.status), (200, 200), "both servers know the link");
        let (ca, cb) = (pa.csrf(), pb.csrf());
        let path = link_path(&token);
        let (fa, fb) = ([("csrf", ca.as_str())], [("csrf", cb.as_str())]);
        let (ra, rb) = tokio::join!(a.post(&path, &fa, &[]), b.post(&path, &fb, &[]));
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [303, 410], "exactly one server signs in");
    }
}

/// `finconn dashboard-link` against the real binary and a real `finconn serve` on the same database.
#[tokio::test]
async fn the_dashboard_link_command_prints_a_link_that_signs_in_once() {
    use tokio::process::Command;
    const BIN: &str = env!("CARGO_BIN_EXE_finconn");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let cli = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args).args(["--database", &db]).current_dir(dir.path());
        c.env_remove("FINCONN_DATABASE_URL").env_remove("FINCONN_PUBLIC_URL").env_remove("FINCONN_LISTEN");
        c
    };
    let keys = cli(&["keys", "create"]).output().await.unwrap();
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
    let text = String::from_utf8(keys.stdout).unwrap();
    let account = text.lines().find_map(|l| l.strip_prefix("account:")).unwrap().trim().to_owned();

    // Unknown account: exit status 1 and a clear message, no link.
    let bad = cli(&["dashboard-link", "--account", "acct_nope"]).output().await.unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no account acct_nope"), "{:?}", bad);
    assert!(bad.stdout.is_empty());
    let long = cli(&["dashboard-link", "--account", &account, "--ttl-minutes", "1441"]).output().await.unwrap();
    assert!(!long.status.success(), "more than 24 hours is refused");

    // Without public_url the link is built from the listen address, as the server's own URLs are.
    let default = cli(&["dashboard-link", "--account", &account]).output().await.unwrap();
    assert!(default.status.success(), "{}", String::from_utf8_lossy(&default.stderr));
    let url = String::from_utf8(default.stdout).unwrap();
    assert!(url.starts_with("http://127.0.0.1:8420/dashboard/link/") && url.trim().len() == 37 + 43, "{url}");
    let said = String::from_utf8_lossy(&default.stderr);
    assert!(said.contains(&account) && said.contains("test mode") && said.contains("once"), "{said}");

    // Served by the binary, with public_url naming it.
    let mut server = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env("FINCONN_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncReadExt;
    let mut stderr = server.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut all = String::new();
        stderr.read_to_string(&mut all).await.unwrap();
        all
    });
    let (addr, _lines) = crate::helpers::listening(&mut server).await;
    let base = format!("http://{addr}");
    let out = cli(&["dashboard-link", "--account", &account, "--mode", "live", "--ttl-minutes", "5"])
        .env("FINCONN_PUBLIC_URL", &base)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(String::from_utf8_lossy(&out.stderr).contains("live mode"));
    let path = url.strip_prefix(&base).expect("the link names the server").to_owned();
    let token = path.strip_prefix("/dashboard/link/").unwrap().to_owned();
    let raw = std::fs::read(dir.path().join("d.db")).unwrap();
    assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()), "only the token's hash is stored");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let pre = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    assert!(body.contains(&account) && body.contains("live mode"), "{body}");
    let start = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = body[start..].split('"').next().unwrap().to_owned();
    let post = || client.post(&url).header("cookie", &pre).form(&[("csrf", &csrf)]).send();
    let signed = post().await.unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let dash = client.get(format!("{base}/dashboard/sessions")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(dash.status(), 200);
    assert!(dash.text().await.unwrap().contains("Live mode"));
    assert_eq!(post().await.unwrap().status(), 410, "a link signs in once");

    // --revoke-all from the shell signs that browser out of the running server.
    let revoke = cli(&["dashboard-link", "--account", &account, "--revoke-all"]).output().await.unwrap();
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let said = String::from_utf8(revoke.stdout).unwrap();
    assert!(said.contains("signed out 1 dashboard session(s)"), "{said}");
    let after = client.get(format!("{base}/dashboard/sessions")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(after.status(), 303);

    // The server logged the link's requests, never its token.
    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(server.wait().await.unwrap().success());
    let logs = logs.await.unwrap();
    assert!(logs.contains("/dashboard/link/…"), "{logs}");
    assert!(!logs.contains(&token), "the token is in the log: {logs}");
}

/// The sessions of `ids` that a dashboard page lists.
fn listed<'a>(page: &Page, ids: &'a [String]) -> Vec<&'a String> {
    ids.iter().filter(|id| page.body.contains(id.as_str())).collect()
}

fn href(page: &Page, testid: &str) -> Option<String> {
    let at = page.body.find(&format!("data-testid=\"{testid}\""))?;
    let start = page.body[..at].rfind("href=\"")? + 6;
    Some(page.body[start..].split('"').next()?.replace("&amp;", "&"))
}

async fn filtered_lists_fill_their_pages_and_page_through_the_matches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_customer(&[]).await["id"].as_str().unwrap().to_owned();
    let b = app.create_customer(&[]).await["id"].as_str().unwrap().to_owned();
    // 25 sessions of A and 5 of B, interleaved; ids newest first.
    let (mut of_a, mut of_b) = (Vec::new(), Vec::new());
    for i in 0..30 {
        let who = if i % 6 == 0 { &b } else { &a };
        let form =
            [("account_holder[type]", "customer"), ("account_holder[customer]", who), ("permissions[]", "balances")];
        let id = app.create_session(&form).await.ok()["id"].as_str().unwrap().to_owned();
        if who == &a {
            of_a.insert(0, id)
        } else {
            of_b.insert(0, id)
        }
    }
    let mut view = Browser::new(&app);
    view.sign_in(&app.key).await;
    let few = view.get(&format!("/dashboard/sessions?customer={b}")).await;
    assert_eq!(listed(&few, &of_b).len(), 5, "every match on one page");
    assert!(listed(&few, &of_a).is_empty());
    assert!(href(&few, "next").is_none() && href(&few, "prev").is_none());

    let first = view.get(&format!("/dashboard/sessions?customer={a}")).await;
    assert_eq!(listed(&first, &of_a), of_a[..20].iter().collect::<Vec<_>>(), "a full page, newest first");
    assert!(listed(&first, &of_b).is_empty());
    let next = href(&first, "next").expect("a next page");
    assert!(next.contains(&format!("customer={a}")), "the filter stays: {next}");
    let second = view.get(&next).await;
    assert_eq!(listed(&second, &of_a), of_a[20..].iter().collect::<Vec<_>>());
    assert!(href(&second, "next").is_none(), "nothing older");
    let back = view.get(&href(&second, "prev").expect("a previous page")).await;
    assert_eq!(listed(&back, &of_a), of_a[..20].iter().collect::<Vec<_>>());

    // States: one completed, one cancelled; the clock passes the rest's expiry.
    let done = &of_a[3];
    app.post(
        &format!("/v1/test_helpers/financial_connections/sessions/{done}/complete"),
        &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")],
    )
    .await
    .ok();
    let completed = view.get("/dashboard/sessions?status=completed").await;
    assert_eq!(listed(&completed, &of_a), vec![done]);
    let open = view.get("/dashboard/sessions?status=open").await;
    assert_eq!(listed(&open, &of_a).len() + listed(&open, &of_b).len(), 20, "a full page of open sessions");
    assert!(!open.body.contains(done.as_str()));
    app.clock.advance(7200); // past the client secrets' hour, within the dashboard session's 12 hours
    let expired = view.get("/dashboard/sessions?status=expired").await;
    assert_eq!(listed(&expired, &of_a).len() + listed(&expired, &of_b).len(), 20);
    assert_eq!(listed(&view.get("/dashboard/sessions?status=open").await, &of_a).len(), 0);

    // Accounts by status: one of the two linked accounts disconnected.
    let accounts = app.get("/v1/financial_connections/accounts").await.ok();
    let ids: Vec<String> =
        accounts["data"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    app.post(&format!("/v1/financial_connections/accounts/{}/disconnect", ids[1]), &[]).await.ok();
    let gone = view.get("/dashboard/accounts?status=disconnected").await;
    assert_eq!(listed(&gone, &ids), vec![&ids[1]]);
    let active = view.get("/dashboard/accounts?status=active").await;
    assert_eq!(listed(&active, &ids), vec![&ids[0]]);
}

async fn transactions_are_searched_by_status_and_description(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = linked_account(&app).await;
    let helper = format!("/v1/test_helpers/financial_connections/accounts/{id}/transactions");
    app.post(&helper, &[("amount", "-450"), ("description", "Dashlink Coffee Roasters"), ("status", "pending")])
        .await
        .ok();
    app.post(&format!("/v1/financial_connections/accounts/{id}/refresh"), &[("features[]", "transactions")]).await.ok();
    app.run_jobs().await;
    let all = app.get(&format!("/v1/financial_connections/transactions?account={id}&limit=100")).await.ok();
    let all: Vec<String> =
        all["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    assert!(all.len() > 20, "more than a page of transactions: {}", all.len());

    let mut view = Browser::new(&app);
    view.sign_in(&app.key).await;
    let found = view.get(&format!("/dashboard/accounts/{id}?q=DASHLINK+coffee")).await;
    assert_eq!(listed(&found, &all).len(), 1, "case-insensitive words of the description");
    assert!(found.body.contains("Dashlink Coffee Roasters"));
    let pending = view.get(&format!("/dashboard/accounts/{id}?txn_status=pending")).await;
    assert!(pending.body.contains("Dashlink Coffee Roasters"));
    let posted = view.get(&format!("/dashboard/accounts/{id}?txn_status=posted&q=dashlink")).await;
    assert!(posted.body.contains("data-testid=\"no-transactions\""), "pending is not posted");

    // Unfiltered, a full page and a next page that continues where it stopped.
    let first = view.get(&format!("/dashboard/accounts/{id}")).await;
    let page1 = listed(&first, &all);
    assert_eq!(page1.len(), 20);
    let second = view.get(&href(&first, "next").expect("a next page")).await;
    let page2 = listed(&second, &all);
    assert!(!page2.is_empty() && page2.iter().all(|t| !page1.contains(t)), "no transaction on both pages");
    assert_eq!(
        page1.into_iter().chain(page2).take(all.len().min(40)).collect::<Vec<_>>(),
        all.iter().take(40).collect::<Vec<_>>()
    );
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
    a_dashboard_link_signs_in_once_and_a_second_use_is_refused,
    an_expired_dashboard_link_is_refused,
    a_test_mode_link_never_shows_live_objects,
    signing_out_makes_the_old_cookie_useless,
    revoking_all_sessions_signs_every_browser_out,
    filtered_lists_fill_their_pages_and_page_through_the_matches,
    transactions_are_searched_by_status_and_description,
    two_servers_on_one_database_let_a_link_sign_in_once,
    the_request_log_is_trimmed_to_its_row_limit_as_rows_arrive,
);
