//! Live mode through the SimpleFIN connector, against a fake SimpleFIN server written from the protocol
//! (`finconn-fake-simplefin`) on 127.0.0.1: the link flow with a setup token, refreshes to the cent,
//! pending transactions, errors mapped to account status, the request budget, credentials at rest, and
//! the outbound address policy.

use finconn_fake_simplefin::{FakeSimplefin, Options};
use serde_json::{json, Value};

use crate::helpers::{all_transactions, flow, refresh, Backend, LiveApp, Resp, TestApp};

const FAKE_INSTITUTION_NAME: &str = "Fake SimpleFIN";

struct Fake {
    server: FakeSimplefin,
    http: reqwest::Client,
}

impl Fake {
    async fn start(now: i64) -> Fake {
        let server = FakeSimplefin::start(Options { now: Some(now), ..Options::default() }).await.expect("fake");
        Fake { server, http: reqwest::Client::new() }
    }

    fn root(&self) -> String {
        self.server.base_url()
    }

    fn control(&self, path: &str) -> String {
        let root = self.root();
        let origin = root.trim_end_matches("/simplefin");
        format!("{origin}/_control{path}")
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let res = self.http.request(method, self.control(path)).json(&body).send().await.expect("control");
        assert!(res.status().is_success(), "control {path}: {}", res.status());
        let text = res.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A new setup token (and its user).
    async fn token(&self) -> (String, String) {
        let v = self.call(reqwest::Method::POST, "/tokens", json!({})).await;
        (v["token"].as_str().unwrap().to_owned(), v["user"].as_str().unwrap().to_owned())
    }

    async fn user(&self, user: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/users/{user}"), Value::Null).await
    }

    async fn requests(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/requests", Value::Null).await.as_array().cloned().unwrap_or_default()
    }
}

/// A live session with `extra` parameters, its flow taken to `institution`'s token pane; its client secret.
async fn at_token_pane(live: &LiveApp, institution: &str, extra: &[(&str, &str)]) -> String {
    let app = &live.app;
    let cus = app.create_customer(&[]).await;
    let mut form = vec![
        ("account_holder[type]", "customer"),
        ("account_holder[customer]", cus["id"].as_str().unwrap()),
        ("permissions[]", "balances"),
    ];
    form.extend_from_slice(extra);
    let s = app.create_session(&form).await.ok();
    let secret = s["client_secret"].as_str().unwrap().to_owned();
    flow(app, &live.pk, &secret, "start", &[]).await;
    flow(app, &live.pk, &secret, "consent", &[]).await;
    let r = flow(app, &live.pk, &secret, "select_institution", &[("institution", institution)]).await;
    assert!(pane(&r).contains("pane-token"), "{}", pane(&r));
    secret
}

fn pane(r: &Resp) -> &str {
    r.body["pane"].as_str().unwrap_or_default()
}

fn fake_institution(live: &LiveApp) -> String {
    let inst = live.app.state.core.providers.connectors.institutions();
    inst.iter().find(|i| i.name == FAKE_INSTITUTION_NAME).expect("the fake is offered").id.clone()
}

/// Decimal string → cents (test-side, independent of the connector's parser).
fn cents(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches(['-', '+']);
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    let f = format!("{f:0<2}");
    let v = w.parse::<i64>().unwrap() * 100 + f[..2].parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

/// Links through the modal's API with a fresh token; returns the session as the API shows it and the
/// fake's user.
async fn link(live: &LiveApp, fake: &Fake, pick: &[&str], types: &[(&str, &str)]) -> (Value, String) {
    let app = &live.app;
    let cus = app.create_customer(&[]).await;
    let s = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("permissions[]", "transactions"),
        ])
        .await
        .ok();
    assert_eq!(s["livemode"], true);
    let secret = s["client_secret"].as_str().unwrap();
    let r = flow(app, &live.pk, secret, "start", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    flow(app, &live.pk, secret, "consent", &[]).await;
    let r = flow(app, &live.pk, secret, "search", &[("query", "simplefin")]).await;
    assert!(pane(&r).contains(FAKE_INSTITUTION_NAME) && pane(&r).contains("SimpleFIN Bridge"), "{}", pane(&r));
    let r = flow(app, &live.pk, secret, "select_institution", &[("institution", &fake_institution(live))]).await;
    assert!(pane(&r).contains("data-testid=\"pane-token\""), "{}", pane(&r));
    assert!(pane(&r).contains("SimpleFIN setup token") && pane(&r).contains("autocomplete=\"off\""));
    let unescaped = pane(&r).replace("&#x2f;", "/");
    assert!(unescaped.contains(&format!("href=\"{}/create\"", fake.root())), "the token page link: {unescaped}");
    let (token, user) = fake.token().await;
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", &format!("  {token}\n"))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(pane(&r).contains("data-testid=\"pane-accounts\""), "{}", pane(&r));
    assert!(
        pane(&r).contains("Example Bank - Jo") && pane(&r).contains("Example Card Co - Jo"),
        "grouped: {}",
        pane(&r)
    );
    assert!(pane(&r).contains("1,520.33 USD"), "balances shown: {}", pane(&r));
    let mut form: Vec<(String, String)> = pick.iter().map(|n| ("accounts[]".to_owned(), (*n).to_owned())).collect();
    for (name, t) in types {
        // The picker's row of `name`: `id="acct-N" name="accounts[]" value="{name}"`.
        let p = pane(&r);
        let at = p.find(&format!("value=\"{name}\"")).expect(name);
        let id_at = p[..at].rfind("id=\"acct-").expect("row id") + "id=\"acct-".len();
        let index: String = p[id_at..].chars().take_while(char::is_ascii_digit).collect();
        form.push((format!("subcategories[{index}]"), (*t).to_owned()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = flow(app, &live.pk, secret, "select_accounts", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(pane(&r).contains("pane-success"), "{}", pane(&r));
    let session = app.get(&format!("/v1/financial_connections/sessions/{}", s["id"].as_str().unwrap())).await.ok();
    (session, user)
}

fn account_named<'a>(session: &'a Value, name: &str) -> &'a Value {
    session["accounts"]["data"].as_array().unwrap().iter().find(|a| a["display_name"] == name).expect(name)
}

async fn account(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok()
}

async fn event_types(app: &TestApp) -> Vec<String> {
    let e = app.get("/v1/events?limit=100").await.ok();
    e["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

async fn a_simplefin_link_reads_balances_and_transactions_to_the_cent(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    // Types are guessed from names ("Rewards Visa Card": a credit card); the user corrects the savings
    // account to checking, and the correction is kept.
    let (session, user) = link(
        &live,
        &fake,
        &["Everyday Checking", "High Yield Savings", "Rewards Visa Card"],
        &[("High Yield Savings", "checking")],
    )
    .await;
    assert_eq!(session["accounts"]["data"].as_array().unwrap().len(), 3);
    let chk = account_named(&session, "Everyday Checking");
    assert_eq!((chk["category"].as_str(), chk["subcategory"].as_str()), (Some("cash"), Some("checking")));
    assert_eq!(chk["institution_name"], FAKE_INSTITUTION_NAME);
    assert_eq!(chk["livemode"], true);
    assert_eq!(chk["balance"], Value::Null, "no balance before a refresh, as Stripe");
    let sav = account_named(&session, "High Yield Savings");
    assert_eq!(sav["subcategory"], "checking", "the user's correction is kept");
    let card = account_named(&session, "Rewards Visa Card");
    assert_eq!((card["category"].as_str(), card["subcategory"].as_str()), (Some("credit"), Some("credit_card")));

    let data = fake.user(&user).await;
    let fake_account = |name: &str| -> Value {
        data["accounts"].as_array().unwrap().iter().find(|a| a["name"] == name).cloned().expect(name)
    };
    let chk_id = chk["id"].as_str().unwrap();
    let card_id = card["id"].as_str().unwrap();
    for id in [chk_id, card_id] {
        let r = refresh(app, id, &["balance", "transactions"]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["balance_refresh"]["status"], "pending");
    }
    app.run_jobs().await;
    let before = fake.user(&user).await["requests"].as_i64().unwrap();
    let a = account(app, chk_id).await;
    assert_eq!(a["balance_refresh"]["status"], "succeeded", "{a}");
    let f = fake_account("Everyday Checking");
    assert_eq!(a["balance"]["current"]["usd"], cents(f["balance"].as_str().unwrap()));
    assert_eq!(a["balance"]["cash"]["available"]["usd"], cents(f["available-balance"].as_str().unwrap()));
    assert_eq!(a["balance"]["as_of"], f["balance-date"]);
    assert_eq!(a["transaction_refresh"]["status"], "succeeded");
    let c = account(app, card_id).await;
    let fc = fake_account("Rewards Visa Card");
    assert_eq!(c["balance"]["type"], "credit");
    assert_eq!(c["balance"]["current"]["usd"], cents(fc["balance"].as_str().unwrap()));
    assert_eq!(c["balance"]["credit"]["used"]["usd"], -cents(fc["balance"].as_str().unwrap()));

    // Every transaction of the last 180 days, pending ones included, to the cent.
    let txns = all_transactions(app, chk_id).await;
    let since = now - 180 * 86_400;
    let expected: Vec<&Value> = f["transactions"]
        .as_array()
        .unwrap()
        .iter()
        // SimpleFIN's `start-date` selects by posted date; a pending transaction (posted 0) by when it
        // happened. (By transacted_at alone this failed each day between 11:00 and 12:00 UTC, when the
        // 180-day edge fell between a transaction's transacted_at and its posted time.)
        .filter(|t| {
            let posted = t["posted"].as_i64().unwrap();
            let at = if t["pending"] == true || posted == 0 {
                t["transacted_at"].as_i64().filter(|v| *v > 0).unwrap_or(posted)
            } else {
                posted
            };
            at >= since
        })
        .collect();
    assert_eq!(txns.len(), expected.len(), "every transaction of 180 days");
    let sum: i64 = txns.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    let want: i64 = expected.iter().map(|t| cents(t["amount"].as_str().unwrap())).sum();
    assert_eq!(sum, want, "amounts to the cent");
    let pending = txns.iter().filter(|t| t["status"] == "pending").count();
    let want_pending = expected.iter().filter(|t| t["pending"] == true || t["posted"] == 0).count();
    assert!(want_pending > 0);
    assert_eq!(pending, want_pending);
    assert!(txns.iter().all(|t| t["currency"] == "usd" && t["livemode"] == true));

    // Two accounts × two features on one connection: one sync, three 60-day windows.
    assert_eq!(before, 1 + 3, "the listing, then one sync of three 60-day windows served every refresh");

    // Events as Stripe sends them.
    let types = event_types(app).await;
    assert!(types.iter().filter(|t| *t == "financial_connections.account.refreshed_balance").count() >= 2);
    assert!(types.contains(&"financial_connections.account.refreshed_transactions".to_owned()));

    // Subscribe: a daily refresh; the first runs now.
    let sub = app
        .post(&format!("/v1/financial_connections/accounts/{chk_id}/subscribe"), &[("features[]", "transactions")])
        .await
        .ok();
    assert_eq!(sub["subscriptions"], json!(["transactions"]));
}

async fn a_pending_transaction_that_posts_keeps_its_id_and_one_that_vanishes_is_void(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (session, user) = link(&live, &fake, &["Everyday Checking"], &[]).await;
    let id = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    refresh(app, &id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let pending: Vec<Value> =
        all_transactions(app, &id).await.into_iter().filter(|t| t["status"] == "pending").collect();
    assert!(pending.len() >= 2, "the fake has two pending transactions");
    let data = fake.user(&user).await;
    let chk = data["accounts"].as_array().unwrap().iter().find(|a| a["name"] == "Everyday Checking").unwrap().clone();
    let fake_pending: Vec<Value> =
        chk["transactions"].as_array().unwrap().iter().filter(|t| t["pending"] == true).cloned().collect();
    let (posts, vanishes) = (fake_pending[0]["id"].as_str().unwrap(), fake_pending[1]["id"].as_str().unwrap());
    let acct = chk["id"].as_str().unwrap();
    let posted_at = now - 3600;
    fake.call(
        reqwest::Method::POST,
        &format!("/users/{user}/accounts/{acct}/transactions/{posts}/post"),
        json!({ "posted": posted_at }),
    )
    .await;
    fake.call(reqwest::Method::DELETE, &format!("/users/{user}/accounts/{acct}/transactions/{vanishes}"), Value::Null)
        .await;
    // The next refresh is gated by the cooldown: move the clock past it.
    app.clock.advance(3600);
    refresh(app, &id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let after = all_transactions(app, &id).await;
    let by_amount_desc = |p: &Value| {
        after.iter().find(|t| t["id"] == p["id"]).cloned().expect("the same transaction id after it changed")
    };
    let statuses: Vec<String> =
        pending.iter().map(|p| by_amount_desc(p)["status"].as_str().unwrap().to_owned()).collect();
    assert!(statuses.contains(&"posted".to_owned()), "{statuses:?}");
    assert!(statuses.contains(&"void".to_owned()), "{statuses:?}");
    let posted = pending.iter().map(by_amount_desc).find(|t| t["status"] == "posted").unwrap();
    assert_eq!(posted["status_transitions"]["posted_at"], posted_at);
    let void = pending.iter().map(by_amount_desc).find(|t| t["status"] == "void").unwrap();
    assert!(void["status_transitions"]["void_at"].is_i64());
    assert_eq!(after.len(), all_transactions(app, &id).await.len(), "no duplicates");
}

async fn a_reused_token_is_refused_with_the_compromise_warning(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (token, _) = fake.token().await;
    // Someone else claimed it first.
    let claim = fake.call(reqwest::Method::POST, "/tokens", json!({})).await;
    let _ = claim;
    let raw = base64_decode(&token);
    let first = reqwest::Client::new().post(&raw).header("content-length", "0").send().await.unwrap();
    assert_eq!(first.status(), 200);
    let secret = &at_token_pane(&live, &fake_institution(&live), &[]).await;
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", &token)]).await;
    assert_eq!(r.status, 200);
    assert!(pane(&r).contains("data-testid=\"token-error\""), "{}", pane(&r));
    assert!(pane(&r).contains("already used") && pane(&r).contains("disable it"), "{}", pane(&r));
    // The pane stays usable: a malformed token says so, a good one links.
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", "not a token!")]).await;
    assert!(pane(&r).contains("not a SimpleFIN setup token"), "{}", pane(&r));
    let (good, _) = fake.token().await;
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", &good)]).await;
    assert!(pane(&r).contains("pane-accounts"), "{}", pane(&r));
}

fn base64_decode(token: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token.trim()).unwrap()).unwrap()
}

async fn revoked_access_deactivates_every_account_and_con_auth_only_its_connection(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (session, user) =
        link(&live, &fake, &["Everyday Checking", "High Yield Savings", "Rewards Visa Card"], &[]).await;
    let id = |n: &str| account_named(&session, n)["id"].as_str().unwrap().to_owned();
    // con.auth on the card's connection: only the card goes inactive.
    fake.call(
        reqwest::Method::POST,
        &format!("/users/{user}/errors"),
        json!({"code": "con.auth", "msg": "Authentication required for Example Card Co - Jo", "conn_id": "CON-B"}),
    )
    .await;
    refresh(app, &id("Everyday Checking"), &["balance"]).await.ok();
    app.run_jobs().await;
    assert_eq!(account(app, &id("Everyday Checking")).await["status"], "active");
    assert_eq!(account(app, &id("Everyday Checking")).await["balance_refresh"]["status"], "succeeded");
    let card = account(app, &id("Rewards Visa Card")).await;
    assert_eq!(card["status"], "inactive", "{card}");
    assert_eq!(account(app, &id("High Yield Savings")).await["status"], "active");
    let types = event_types(app).await;
    assert_eq!(types.iter().filter(|t| *t == "financial_connections.account.deactivated").count(), 1);
    let r = refresh(app, &id("Rewards Visa Card"), &["balance"]).await;
    assert_eq!(r.status, 400, "an inactive account refuses refreshes: {}", r.body);

    // The access is revoked at the server: every remaining account of the token goes inactive.
    fake.call(reqwest::Method::DELETE, &format!("/users/{user}/errors"), Value::Null).await;
    fake.call(reqwest::Method::POST, &format!("/users/{user}/revoke"), Value::Null).await;
    app.clock.advance(3600);
    refresh(app, &id("Everyday Checking"), &["balance"]).await.ok();
    app.run_jobs().await;
    let chk = account(app, &id("Everyday Checking")).await;
    assert_eq!(chk["status"], "inactive");
    assert_eq!(chk["balance_refresh"]["status"], "failed");
    assert_eq!(account(app, &id("High Yield Savings")).await["status"], "inactive");
    let types = event_types(app).await;
    assert_eq!(types.iter().filter(|t| *t == "financial_connections.account.deactivated").count(), 3);
}

async fn upstream_failures_fail_the_refresh_and_keep_the_account(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (session, user) = link(&live, &fake, &["Everyday Checking", "High Yield Savings"], &[]).await;
    let chk = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    let sav = account_named(&session, "High Yield Savings")["id"].as_str().unwrap().to_owned();
    for status in [402, 429, 500] {
        fake.call(reqwest::Method::POST, &format!("/users/{user}/http_status"), json!({"status": status, "times": 1}))
            .await;
        app.clock.advance(3600);
        refresh(app, &chk, &["balance"]).await.ok();
        app.run_jobs().await;
        let a = account(app, &chk).await;
        assert_eq!(a["status"], "active", "HTTP {status}");
        assert_eq!(a["balance_refresh"]["status"], "failed", "HTTP {status}: {a}");
    }
    // act.failed on one account: that account's refresh fails, the other succeeds.
    fake.call(
        reqwest::Method::POST,
        &format!("/users/{user}/errors"),
        json!({"code": "act.failed", "msg": "Failed to get account information. Try again later.", "conn_id": "CON-A", "account_id": "ACT-SAV"}),
    )
    .await;
    app.clock.advance(3600);
    refresh(app, &chk, &["balance"]).await.ok();
    refresh(app, &sav, &["balance"]).await.ok();
    app.run_jobs().await;
    assert_eq!(account(app, &chk).await["balance_refresh"]["status"], "succeeded");
    let s = account(app, &sav).await;
    assert_eq!((s["status"].as_str(), s["balance_refresh"]["status"].as_str()), (Some("active"), Some("failed")));
    // The upstream message is kept for the operator (not on the wire: Stripe's object has no field for it).
    let rec = app.state.core.find_account(&scope(app).await, &sav, None).await.unwrap();
    let kept = rec.balance_refresh.unwrap().error.unwrap();
    assert!(kept.contains("Failed to get account information"), "{kept}");
}

async fn scope(app: &TestApp) -> finconn_core::Scope {
    let key = finconn_core::keys::ApiKey::parse(&app.key).unwrap();
    app.state.core.authenticate(&key).await.unwrap().unwrap().scope
}

async fn refreshes_beyond_the_daily_budget_wait(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (session, user) = link(&live, &fake, &["Everyday Checking"], &[]).await;
    let id = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    // The link's listing spent one request; 23 balance refreshes spend the rest of the day's 24.
    for _ in 0..23 {
        refresh(app, &id, &["balance"]).await.ok();
        app.run_jobs().await;
        app.clock.advance(120);
    }
    let spent = fake.user(&user).await["requests"].as_i64().unwrap();
    assert_eq!(spent, 24);
    let a = account(app, &id).await;
    let next = a["balance_refresh"]["next_refresh_available_at"].as_i64().unwrap();
    let clock_now = finconn_core::Clock::now(app.clock.as_ref());
    assert!(
        next > clock_now + 3600,
        "next_refresh_available_at says when the budget allows one: {next} vs {clock_now}"
    );
    // Asking anyway is refused until then, and nothing reaches the server.
    let r = refresh(app, &id, &["balance"]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    app.run_jobs().await;
    assert_eq!(fake.user(&user).await["requests"].as_i64().unwrap(), 24);
    // A day later it works again.
    app.clock.advance(86_400);
    refresh(app, &id, &["balance"]).await.ok();
    app.run_jobs().await;
    assert_eq!(account(app, &id).await["balance_refresh"]["status"], "succeeded");
    assert_eq!(fake.user(&user).await["requests"].as_i64().unwrap(), 25);
}

async fn credentials_are_sealed_at_rest(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    let (session, _user) = link(&live, &fake, &["Everyday Checking"], &[]).await;
    let id = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    refresh(app, &id, &["balance"]).await.ok();
    app.run_jobs().await;
    // The fake logs every claim; its Access URLs carry user:password. Find this user's from the claim log.
    let requests = fake.requests().await;
    assert!(requests.iter().any(|r| r["path"].as_str().unwrap_or("").contains("/claim/")));
    let access_urls = fake.server.issued_access_urls();
    assert!(!access_urls.is_empty());
    let scope = scope(app).await;
    let conn_id = app.state.core.find_account(&scope, &id, None).await.unwrap().connection.unwrap().id;
    let conn = app.state.core.find_connection(&scope, &conn_id).await.unwrap();
    assert!(conn.credential.as_deref().unwrap().starts_with("v1."));
    let haystack: Vec<u8> = match &live.db_file {
        Some(file) => {
            // The SQLite file, the request log's file beside it, and their WALs, as bytes.
            let mut bytes = std::fs::read(file).unwrap();
            for suffix in ["-wal", "-requests", "-requests-wal"] {
                if let Ok(more) = std::fs::read(format!("{}{suffix}", file.display())) {
                    bytes.extend(more);
                }
            }
            bytes
        }
        None => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&crate::helpers::postgres_url().await).await.unwrap();
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT data FROM connections UNION ALL SELECT data FROM fc_accounts")
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
            rows.into_iter().flat_map(|(d,)| d.into_bytes()).collect()
        }
    };
    for url in access_urls {
        let parsed = url::Url::parse(&url).unwrap();
        let password = percent_encoding::percent_decode_str(parsed.password().unwrap()).decode_utf8().unwrap();
        for needle in [url.as_str(), parsed.password().unwrap(), password.as_ref(), parsed.username()] {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "the database holds a credential in plain text: {needle}"
            );
        }
    }
    assert!(!haystack.is_empty());
}

async fn sessions_that_need_what_simplefin_cannot_share_do_not_offer_it(backend: Backend) {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(backend, &fake.root(), true).await;
    let app = &live.app;
    for permission in ["ownership", "payment_method"] {
        let cus = app.create_customer(&[]).await;
        let s = app
            .create_session(&[
                ("account_holder[type]", "customer"),
                ("account_holder[customer]", cus["id"].as_str().unwrap()),
                ("permissions[]", "balances"),
                ("permissions[]", permission),
            ])
            .await
            .ok();
        let secret = s["client_secret"].as_str().unwrap();
        flow(app, &live.pk, secret, "start", &[]).await;
        let r = flow(app, &live.pk, secret, "consent", &[]).await;
        assert!(pane(&r).contains("institution-none"), "{permission}: {}", pane(&r));
        let r = flow(app, &live.pk, secret, "select_institution", &[("institution", &fake_institution(&live))]).await;
        assert_ne!(r.status, 200, "{permission}");
    }
    // Test mode never offers live connectors.
    let test = app.with_key(&crate::helpers::random_key());
    let s = test.customer_session(&[]).await;
    let secret = s["client_secret"].as_str().unwrap();
    let pk = test.publishable_key();
    flow(&test, &pk, secret, "start", &[]).await;
    let r = flow(&test, &pk, secret, "search", &[("query", "simplefin")]).await;
    assert!(!pane(&r).contains("SimpleFIN"), "{}", pane(&r));
}

crate::on_both_backends!(@backend
    a_simplefin_link_reads_balances_and_transactions_to_the_cent,
    a_pending_transaction_that_posts_keeps_its_id_and_one_that_vanishes_is_void,
    a_reused_token_is_refused_with_the_compromise_warning,
    revoked_access_deactivates_every_account_and_con_auth_only_its_connection,
    upstream_failures_fail_the_refresh_and_keep_the_account,
    refreshes_beyond_the_daily_budget_wait,
    credentials_are_sealed_at_rest,
    sessions_that_need_what_simplefin_cannot_share_do_not_offer_it,
);

/// With `connector_allow_loopback` off (the default), no token reaches this machine: not by address, not
/// by a name resolving to it. The fake (on 127.0.0.1) sees no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_policy_refuses_tokens_for_this_machine() {
    use base64::Engine;
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(Backend::Sqlite, &fake.root(), false).await;
    let app = &live.app;
    let (token, _) = fake.token().await;
    let claim = base64_decode(&token);
    let by_name = claim.replace("127.0.0.1", "localhost");
    let mapped = claim.replace("127.0.0.1", "[::ffff:127.0.0.1]");
    let before = fake.requests().await.len();
    for (what, url) in [("127.0.0.1", claim.clone()), ("localhost", by_name), ("mapped", mapped)] {
        let secret = &at_token_pane(&live, "fcinst_SimpleFINBridge", &[]).await;
        let t = base64::engine::general_purpose::STANDARD.encode(&url);
        let r = flow(app, &live.pk, secret, "submit_token", &[("token", &t)]).await;
        let p = pane(&r);
        assert!(p.contains("token-error"), "{what}: {p}");
        assert!(p.contains("loopback") || p.contains("this machine"), "{what}: a clear message: {p}");
    }
    assert_eq!(fake.requests().await.len(), before, "the loopback listener saw no request");
}

/// Rotation: with the new key current and the old one previous, `reseal` moves every credential to the new
/// key; a server holding only the new key then reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_key_rotation_reseals_every_credential() {
    use finconn_core::vault::{MasterKey, Vault};
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(Backend::Sqlite, &fake.root(), true).await;
    let app = &live.app;
    let (session, _) = link(&live, &fake, &["Everyday Checking"], &[]).await;
    let id = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    let scope = scope(app).await;
    let conn_id = app.state.core.find_account(&scope, &id, None).await.unwrap().connection.unwrap().id;
    let old = app.state.config.master_key.clone().unwrap();
    let new = MasterKey::generate();
    let core = &app.state.core;
    let rotating = core.clone().with_vault(Some(Vault::new(new.clone(), vec![old])));
    assert_eq!(rotating.reseal_credentials().await.unwrap(), 1);
    assert_eq!(rotating.reseal_credentials().await.unwrap(), 0, "nothing left on the old key");
    let sealed = core.find_connection(&scope, &conn_id).await.unwrap().credential.unwrap();
    let only_new = Vault::new(new, Vec::new());
    assert!(only_new.is_current(&sealed));
    let plain = only_new.open(&sealed, conn_id.as_bytes()).unwrap();
    assert!(String::from_utf8(plain.to_vec()).unwrap().starts_with("http://"));
}

/// The token was claimed (it works once) but listing the accounts failed: the pane offers a retry that
/// needs no new token, and it links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_after_the_claim_can_be_retried_without_a_new_token() {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(Backend::Sqlite, &fake.root(), true).await;
    let app = &live.app;
    let (token, user) = fake.token().await;
    fake.call(reqwest::Method::POST, &format!("/users/{user}/http_status"), json!({"status": 503, "times": 1})).await;
    let secret = &at_token_pane(&live, &fake_institution(&live), &[]).await;
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", &token)]).await;
    assert!(pane(&r).contains("token-retry") && pane(&r).contains("HTTP 503"), "{}", pane(&r));
    assert!(!pane(&r).contains("Bad gateway</h1>"), "upstream HTML is never shown raw");
    let r = flow(app, &live.pk, secret, "retry_connection", &[]).await;
    assert!(pane(&r).contains("pane-accounts"), "{}", pane(&r));
    let r = flow(app, &live.pk, secret, "select_accounts", &[("accounts[]", "Everyday Checking")]).await;
    assert!(pane(&r).contains("pane-success"), "{}", pane(&r));
    let claims = fake.requests().await.iter().filter(|r| r["path"].as_str().unwrap_or("").contains("/claim/")).count();
    assert_eq!(claims, 1, "the token was claimed once");
}

/// A SimpleFIN server that redirects `/accounts` to another host: finconn does not follow (the Access
/// URL's credentials would go with it), the refresh fails with a clear message, and the other host sees
/// no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_not_followed() {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(Backend::Sqlite, &fake.root(), true).await;
    let app = &live.app;
    let (session, _) = link(&live, &fake, &["Everyday Checking"], &[]).await;
    let id = account_named(&session, "Everyday Checking")["id"].as_str().unwrap().to_owned();
    // Another listener on this machine, counting connections.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = other.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for location in
        [format!("http://localhost:{other_port}/simplefin/accounts"), "https://169.254.169.254/latest".into()]
    {
        fake.call(reqwest::Method::POST, "/redirect", json!({"path": "/simplefin/accounts", "location": location}))
            .await;
        app.clock.advance(3600);
        refresh(app, &id, &["balance"]).await.ok();
        app.run_jobs().await;
        let a = account(app, &id).await;
        assert_eq!((a["status"].as_str(), a["balance_refresh"]["status"].as_str()), (Some("active"), Some("failed")));
        let rec = app.state.core.find_account(&scope(app).await, &id, None).await.unwrap();
        let why = rec.balance_refresh.unwrap().error.unwrap();
        assert!(why.contains("redirected") || why.contains("does not connect"), "{why}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the other host saw no request");
}

/// `filters[account_subcategories]` applies to the type the user gives a live account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subcategory_filter_applies_to_the_type_the_user_chooses() {
    let now = finconn_core::Clock::now(&finconn_core::SystemClock);
    let fake = Fake::start(now).await;
    let live = LiveApp::spawn(Backend::Sqlite, &fake.root(), true).await;
    let app = &live.app;
    let secret =
        &at_token_pane(&live, &fake_institution(&live), &[("filters[account_subcategories][]", "checking")]).await;
    let (token, _) = fake.token().await;
    let r = flow(app, &live.pk, secret, "submit_token", &[("token", &token)]).await;
    assert!(pane(&r).contains("pane-accounts"));
    let r = flow(app, &live.pk, secret, "select_accounts", &[("accounts[]", "Rewards Visa Card")]).await;
    assert!(pane(&r).contains("accounts-error") && pane(&r).contains("only checking accounts"), "{}", pane(&r));
    let r = flow(app, &live.pk, secret, "select_accounts", &[("accounts[]", "Everyday Checking")]).await;
    assert!(pane(&r).contains("pane-success"), "{}", pane(&r));
}
