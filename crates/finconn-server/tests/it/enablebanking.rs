//! Live mode through the Enable Banking connector (PSD2), against a fake Enable Banking API written from
//! its reference (`finconn-fake-enablebanking`) on 127.0.0.1: banks by country, the bank's own page in
//! the popup and finconn's callback, a denied authorization and its retry, data to the cent (every page,
//! booked and pending), holder names, consents that end, and a JWT on every call.

use finconn_fake_enablebanking::{generate_key, FakeEnableBanking, Options};
use finconn_server::config::EnableBankingConfig;
use serde_json::Value;

use crate::helpers::{all_transactions, flow, refresh, Backend, LiveApp, Resp};

struct Bank {
    fake: FakeEnableBanking,
    private_pem: String,
}

impl Bank {
    fn start_key() -> (String, String) {
        generate_key().expect("an RSA key")
    }

    async fn start() -> Bank {
        let (private_pem, public) = Self::start_key();
        let fake = FakeEnableBanking::start(Options::new(public)).await.expect("fake");
        Bank { fake, private_pem }
    }
}

/// A live finconn with the Enable Banking connector pointed at the fake, the fake's registered redirect
/// URL set to finconn's callback, and the bank list loaded.
async fn live(backend: Backend, bank: &Bank) -> LiveApp {
    let pem = bank.private_pem.clone();
    let api = bank.fake.base_url();
    let mut callback = String::new();
    let live = LiveApp::spawn_with(backend, |c, base| {
        c.connector_allow_loopback = true;
        c.public_url = Some(url::Url::parse(base).expect("base"));
        c.enable_banking = Some(EnableBankingConfig {
            application_id: finconn_fake_enablebanking::APPLICATION_ID.into(),
            private_key_pem: zeroize::Zeroizing::new(pem.into_bytes()),
            api_base: url::Url::parse(&api).expect("api"),
            countries: Vec::new(),
            max_consent_days: None,
        });
        callback = format!("{base}/link/oauth/callback");
    })
    .await;
    bank.fake.set_redirect_urls(vec![callback]);
    for _ in 0..200 {
        if !live.app.state.core.providers.connectors.institutions().is_empty() {
            return live;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the bank list never loaded");
}

fn pane(r: &Resp) -> &str {
    r.body["pane"].as_str().unwrap_or_default()
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&amp;", "&").replace("&#x3d;", "=")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A live session for EUR accounts in Finland, at the bank's OAuth pane; `(session id, client secret, the
/// popup's URL)`.
async fn at_bank(live: &LiveApp, bank_name: &str) -> (String, String, String) {
    let app = &live.app;
    let cus = app.create_customer(&[]).await;
    let s = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("permissions[]", "transactions"),
            ("permissions[]", "ownership"),
            ("filters[countries][]", "FI"),
        ])
        .await
        .ok();
    let secret = s["client_secret"].as_str().unwrap().to_owned();
    flow(app, &live.pk, &secret, "start", &[]).await;
    flow(app, &live.pk, &secret, "consent", &[]).await;
    let r = flow(app, &live.pk, &secret, "search", &[("query", "nordea")]).await;
    // Found by country: Finland's Nordea, not Sweden's (the session is for FI).
    assert_eq!(pane(&r).matches("data-institution=").count(), 1, "{}", pane(&r));
    let inst = live
        .app
        .state
        .core
        .providers
        .connectors
        .institutions()
        .into_iter()
        .find(|i| i.name == bank_name && i.countries == ["FI"])
        .expect("the bank is offered");
    let r = flow(app, &live.pk, &secret, "select_institution", &[("institution", &inst.id)]).await;
    assert!(pane(&r).contains("data-testid=\"pane-oauth\""), "{}", pane(&r));
    let p = unescape(pane(&r));
    let at = p.find("data-oauth-url=\"").expect("popup url") + "data-oauth-url=\"".len();
    let url = p[at..].split('"').next().unwrap().to_owned();
    (s["id"].as_str().unwrap().to_owned(), secret, format!("{}{url}", app.base))
}

/// The popup: finconn sends it to the bank, the user decides there, the bank sends it back to finconn.
/// Returns the page finconn's callback rendered.
async fn at_the_bank(popup: &str, decision: &str) -> (u16, String) {
    let http = no_redirects();
    let r = http.get(popup).send().await.expect("popup");
    assert_eq!(r.status().as_u16(), 303, "finconn redirects the popup to the bank");
    let bank_page = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(bank_page.contains("/bank/authorize/"), "{bank_page}");
    let page = http.get(&bank_page).send().await.expect("bank page");
    assert_eq!(page.status().as_u16(), 200);
    let back = http.post(&bank_page).form(&[("decision", decision)]).send().await.expect("decide");
    assert_eq!(back.status().as_u16(), 302);
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.contains("/link/oauth/callback?"), "{callback}");
    let done = http.get(&callback).send().await.expect("callback");
    let status = done.status().as_u16();
    let body = done.text().await.unwrap();
    // The same callback again: the state was single-use.
    let again = http.get(&callback).send().await.expect("replay");
    assert_eq!(again.status().as_u16(), 404, "a callback works once");
    (status, body)
}

/// Links two of the fake bank's three accounts through the popup; the session as the API shows it.
async fn link_two(live: &LiveApp) -> Value {
    let app = &live.app;
    let (session_id, secret, popup) = at_bank(live, "Nordea").await;
    let (status, page) = at_the_bank(&popup, "approve").await;
    assert_eq!(status, 200);
    assert!(page.contains("Access authorized"), "{page}");
    let r = flow(app, &live.pk, &secret, "show", &[]).await;
    assert!(pane(&r).contains("data-testid=\"pane-accounts\""), "{}", pane(&r));
    assert!(r.body["events"].to_string().contains("institution_authorized"), "{}", r.body["events"]);
    let p = pane(&r).to_owned();
    for (name, last4) in [("Käyttötili", "0785"), ("Säästötili", "2211"), ("Visa Credit", "7766")] {
        assert!(p.contains(&format!("value=\"{name}\"")), "{name} offered: {p}");
        assert!(p.contains(&format!("••••{last4}")), "{name}'s last4: {p}");
    }
    assert!(p.contains("EUR"), "balances shown: {p}");
    let r =
        flow(app, &live.pk, &secret, "select_accounts", &[("accounts[]", "Käyttötili"), ("accounts[]", "Visa Credit")])
            .await;
    assert!(pane(&r).contains("pane-success"), "{}", pane(&r));
    app.get(&format!("/v1/financial_connections/sessions/{session_id}")).await.ok()
}

fn named<'a>(session: &'a Value, name: &str) -> &'a Value {
    session["accounts"]["data"].as_array().unwrap().iter().find(|a| a["display_name"] == name).expect(name)
}

fn fake_account(bank: &Bank, last4: &str) -> finconn_fake_enablebanking::Account {
    bank.fake
        .sessions()
        .iter()
        .flat_map(|s| s.accounts.clone())
        .filter_map(|uid| bank.fake.account(&uid))
        .find(|a| a.iban.ends_with(last4))
        .expect("the fake's account")
}

async fn a_psd2_link_reads_every_page_to_the_cent(backend: Backend) {
    let bank = Bank::start().await;
    let live = live(backend, &bank).await;
    let app = &live.app;
    let session = link_two(&live).await;
    assert_eq!(session["accounts"]["data"].as_array().unwrap().len(), 2);
    let chk = named(&session, "Käyttötili").clone();
    let card = named(&session, "Visa Credit").clone();
    assert_eq!((chk["category"].as_str(), chk["subcategory"].as_str()), (Some("cash"), Some("checking")));
    assert_eq!((card["category"].as_str(), card["subcategory"].as_str()), (Some("credit"), Some("credit_card")));
    assert_eq!(chk["last4"], "0785");
    assert_eq!(chk["institution_name"], "Nordea");
    let fake_session = bank.fake.sessions().pop().expect("a session at the bank");
    assert_eq!(
        chk["status_details"]["active"]["expected_deactivation_date"], fake_session.valid_until,
        "the consent's end, as Stripe's status_details: {chk}"
    );
    assert_eq!(chk["status_details"]["active"]["cause"], "access_expired");

    let chk_id = chk["id"].as_str().unwrap();
    let card_id = card["id"].as_str().unwrap();
    for id in [chk_id, card_id] {
        let r = refresh(app, id, &["balance", "transactions", "ownership"]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    app.run_jobs().await;
    let f = fake_account(&bank, "0785");
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "succeeded", "{a}");
    assert_eq!(a["balance"]["current"]["eur"], f.booked, "CLBD is the current balance");
    assert_eq!(a["balance"]["cash"]["available"]["eur"], f.available, "ITAV is the available balance");
    let c = app.get(&format!("/v1/financial_connections/accounts/{card_id}")).await.ok();
    assert_eq!(c["balance"]["type"], "credit");
    assert_eq!(c["balance"]["current"]["eur"], fake_account(&bank, "7766").booked);

    // Every transaction of the last 180 days across the fake's pages of 25, booked and pending.
    let txns = all_transactions(app, chk_id).await;
    let since = finconn_core::Clock::now(&finconn_core::SystemClock) - 180 * 86_400;
    let expected: Vec<_> = f
        .transactions
        .iter()
        .filter(|t| {
            let d = t.booking_date.clone().unwrap_or(t.transaction_date.clone());
            d >= finconn_fake_enablebanking::date(since)
        })
        .collect();
    assert!(expected.len() > 3 * finconn_fake_enablebanking::PAGE, "the listing spans several pages");
    assert_eq!(txns.len(), expected.len(), "every transaction, id-less twins included");
    let sum: i64 = txns.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, expected.iter().map(|t| t.amount).sum::<i64>(), "to the cent");
    let pending: Vec<&Value> = txns.iter().filter(|t| t["status"] == "pending").collect();
    assert_eq!(pending.len(), expected.iter().filter(|t| t.status == "PDNG").count());
    assert_eq!(pending.len(), 2);
    assert!(txns.iter().all(|t| t["currency"] == "eur" && t["livemode"] == true));
    assert!(txns.iter().any(|t| t["description"] == "Salary"), "remittance information is the description");
    let rent = txns.iter().find(|t| t["amount"] == -95_000).expect("rent");
    assert_eq!(rent["description"], "Rent RF18539007547034");

    // Ownership: the account holder's name as the bank gives it.
    assert_eq!(a["ownership_refresh"]["status"], "succeeded", "{a}");
    let ownership = a["ownership"].as_str().expect("an ownership");
    let owners =
        app.get(&format!("/v1/financial_connections/accounts/{chk_id}/owners?ownership={ownership}")).await.ok();
    assert_eq!(owners["data"][0]["name"], "Maija Meikäläinen");

    // A pending transaction books (same reference: same transaction) and one disappears (void).
    let refs: Vec<String> =
        f.transactions.iter().filter(|t| t.status == "PDNG").filter_map(|t| t.entry_reference.clone()).collect();
    assert!(bank.fake.book(&f.uid, &refs[0]));
    assert!(bank.fake.drop_pending(&f.uid, &refs[1]));
    app.clock.advance(3600);
    refresh(app, chk_id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let after = all_transactions(app, chk_id).await;
    assert_eq!(after.len(), txns.len(), "no duplicates");
    let status_of = |t: &Value| after.iter().find(|x| x["id"] == t["id"]).expect("same id")["status"].clone();
    let mut statuses: Vec<String> = pending.iter().map(|t| status_of(t).as_str().unwrap().to_owned()).collect();
    statuses.sort();
    assert_eq!(statuses, ["posted", "void"]);

    // Every request carried a valid JWT of the application.
    let log = bank.fake.requests();
    let api_calls: Vec<_> = log.iter().filter(|e| e.jwt_valid.is_some()).collect();
    assert!(api_calls.len() > 10, "{log:?}");
    assert!(api_calls.iter().all(|e| e.jwt_valid == Some(true)), "{log:?}");
    for path in ["/auth", "/sessions", "/accounts/{uid}/transactions", "/accounts/{uid}/details", "/aspsps"] {
        assert!(api_calls.iter().any(|e| e.path == path), "{path} was called");
    }

    // The private key is nowhere in the database (SQLite: the whole file).
    if let Some(db) = &live.db_file {
        let bytes = std::fs::read(db).expect("db");
        let text = String::from_utf8_lossy(&bytes);
        for line in bank.private_pem.lines().filter(|l| l.len() > 40) {
            assert!(!text.contains(line), "a line of the private key is in the database");
        }
        assert!(!text.contains(&fake_session.id), "the Enable Banking session id is sealed, not stored in the clear");
    }
}

async fn an_ended_consent_deactivates_the_accounts(backend: Backend) {
    let bank = Bank::start().await;
    let live = live(backend, &bank).await;
    let app = &live.app;
    let session = link_two(&live).await;
    let chk_id = named(&session, "Käyttötili")["id"].as_str().unwrap().to_owned();
    let card_id = named(&session, "Visa Credit")["id"].as_str().unwrap().to_owned();
    let fake_session = bank.fake.sessions().pop().expect("session");
    bank.fake.expire(&fake_session.id);
    refresh(app, &chk_id, &["balance"]).await.ok();
    app.run_jobs().await;
    for id in [&chk_id, &card_id] {
        let a = app.get(&format!("/v1/financial_connections/accounts/{id}")).await.ok();
        assert_eq!(a["status"], "inactive", "{a}");
        assert_eq!(a["status_details"]["inactive"]["action"], "relink_required", "{a}");
    }
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "failed");
    let events = app.get("/v1/events?type=financial_connections.account.deactivated").await.ok();
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "one deactivated event per account");
    // An inactive account cannot be refreshed (as Stripe).
    let r = refresh(app, &chk_id, &["balance"]).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_consent_deactivates_too() {
    let bank = Bank::start().await;
    let live = live(Backend::Sqlite, &bank).await;
    let app = &live.app;
    let session = link_two(&live).await;
    let chk_id = named(&session, "Käyttötili")["id"].as_str().unwrap().to_owned();
    bank.fake.revoke(&bank.fake.sessions().pop().expect("session").id);
    refresh(app, &chk_id, &["transactions"]).await.ok();
    app.run_jobs().await;
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!(a["status"], "inactive", "{a}");
    assert_eq!(a["transaction_refresh"]["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_authorization_says_so_and_the_retry_links() {
    let bank = Bank::start().await;
    let live = live(Backend::Sqlite, &bank).await;
    let app = &live.app;
    let (session_id, secret, popup) = at_bank(&live, "Nordea").await;
    let (status, page) = at_the_bank(&popup, "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("Access not authorized"), "{page}");
    let r = flow(app, &live.pk, &secret, "show", &[]).await;
    let p = pane(&r);
    assert!(p.contains("data-testid=\"oauth-error\""), "{p}");
    assert!(p.contains("You did not authorize access at Nordea"), "{p}");
    assert!(p.contains("role=\"alert\"") && p.contains("Try again"), "{p}");
    // The old popup URL is spent; the pane's new one works.
    let http = no_redirects();
    assert_eq!(http.get(&popup).send().await.unwrap().status().as_u16(), 404);
    let p = unescape(p);
    let at = p.find("data-oauth-url=\"").unwrap() + "data-oauth-url=\"".len();
    let retry = format!("{}{}", app.base, p[at..].split('"').next().unwrap());
    assert_ne!(retry, popup);
    let (_, page) = at_the_bank(&retry, "approve").await;
    assert!(page.contains("Access authorized"), "{page}");
    let r = flow(app, &live.pk, &secret, "show", &[]).await;
    assert!(pane(&r).contains("pane-accounts"), "{}", pane(&r));
    let s = app.get(&format!("/v1/financial_connections/sessions/{session_id}")).await.ok();
    assert_eq!(s["accounts"]["data"].as_array().unwrap().len(), 0, "nothing linked until the user picks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_that_cannot_start_an_authorization_is_shown_with_a_retry() {
    let bank = Bank::start().await;
    let live = live(Backend::Sqlite, &bank).await;
    let app = &live.app;
    let (_, secret, popup) = at_bank(&live, "Nordea").await;
    reqwest::Client::new()
        .post(format!("{}/_control/auth_failure", bank.fake.base_url()))
        .json(&serde_json::json!({ "status": 503 }))
        .send()
        .await
        .unwrap();
    let r = no_redirects().get(&popup).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 502);
    assert!(r.text().await.unwrap().contains("Enable Banking answered HTTP 503"));
    let r = flow(app, &live.pk, &secret, "show", &[]).await;
    assert!(pane(&r).contains("data-testid=\"oauth-error\""), "{}", pane(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_application_key_is_refused_by_the_bank_api() {
    let bank = Bank::start().await;
    let (other_key, _) = Bank::start_key();
    let http = finconn_providers::outbound::Outbound::new(finconn_providers::outbound::Policy {
        allow_loopback: true,
        ..Default::default()
    })
    .unwrap();
    let settings = |pem: &str| finconn_providers::enablebanking::Settings {
        application_id: finconn_fake_enablebanking::APPLICATION_ID.into(),
        private_key_pem: zeroize::Zeroizing::new(pem.as_bytes().to_vec()),
        api_base: url::Url::parse(&bank.fake.base_url()).unwrap(),
        redirect_url: "http://127.0.0.1:1/link/oauth/callback".into(),
        countries: vec![],
        max_consent_seconds: None,
    };
    let wrong = finconn_providers::enablebanking::EnableBanking::new(settings(&other_key), http.clone()).unwrap();
    let e = wrong.application().await.expect_err("another key's signature is refused");
    assert!(e.to_string().contains("application credentials"), "{e}");
    let right = finconn_providers::enablebanking::EnableBanking::new(settings(&bank.private_pem), http).unwrap();
    assert_eq!(right.application().await.expect("the registered key").countries, ["DE", "FI", "SE"]);
    let log = bank.fake.requests();
    assert_eq!(log.iter().map(|e| e.jwt_valid).collect::<Vec<_>>(), [Some(false), Some(true)]);
}

crate::on_both_backends!(@backend a_psd2_link_reads_every_page_to_the_cent, an_ended_consent_deactivates_the_accounts);

/// `finconn doctor` against the fake: the application, whether the callback is registered, the banks; and
/// start-up refusing a key that is not RSA, naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_application_and_a_bad_key_stops_start_up() {
    const BIN: &str = env!("CARGO_BIN_EXE_finconn");
    let bank = Bank::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("eb.pem");
    std::fs::write(&key, &bank.private_pem).unwrap();
    let run = |public_url: &str| {
        std::process::Command::new(BIN)
            .arg("doctor")
            .current_dir(dir.path())
            .env("FINCONN_ENABLE_BANKING_APPLICATION_ID", finconn_fake_enablebanking::APPLICATION_ID)
            .env("FINCONN_ENABLE_BANKING_PRIVATE_KEY_FILE", &key)
            .env("FINCONN_ENABLE_BANKING_API_BASE", bank.fake.base_url())
            .env("FINCONN_CONNECTOR_ALLOW_LOOPBACK", "true")
            .env("FINCONN_PUBLIC_URL", public_url)
            .output()
            .unwrap()
    };
    bank.fake.set_redirect_urls(vec!["https://finconn.example.com/link/oauth/callback".into()]);
    let ok = run("https://finconn.example.com");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}\n{}", String::from_utf8_lossy(&ok.stderr));
    assert!(text.contains("callback https://finconn.example.com/link/oauth/callback: registered"), "{text}");
    assert!(text.contains("banks offered: 4"), "{text}");
    let wrong = run("https://other.example.com");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("NOT registered"));
    assert!(!String::from_utf8_lossy(&ok.stdout).contains("BEGIN"), "the key is never printed");

    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n").unwrap();
    let bad = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("FINCONN_ENABLE_BANKING_APPLICATION_ID", finconn_fake_enablebanking::APPLICATION_ID)
        .env("FINCONN_ENABLE_BANKING_PRIVATE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("enable_banking.private_key_file") && err.contains("not an RSA key"), "{err}");
}

/// Bank logos come through finconn's origin (the modal loads nothing from other hosts): the bytes of the
/// provider's image, only when they are a raster image; unknown institutions are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_logos_are_served_from_finconn() {
    let bank = Bank::start().await;
    let live = live(Backend::Sqlite, &bank).await;
    let app = &live.app;
    let nordea = app
        .state
        .core
        .providers
        .connectors
        .institutions()
        .into_iter()
        .find(|i| i.name == "Nordea" && i.countries == ["FI"])
        .unwrap();
    let res = reqwest::get(format!("{}/link/logos/{}", app.base, nordea.id)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap().to_vec(), finconn_fake_enablebanking::logo_png("Nordea"));
    let fetched = bank.fake.requests().iter().filter(|e| e.path == "/logos").count();
    // Kept: a second request does not go to the provider again.
    let again = reqwest::get(format!("{}/link/logos/{}", app.base, nordea.id)).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(bank.fake.requests().iter().filter(|e| e.path == "/logos").count(), fetched);
    for unknown in ["fcinst_EB0000000000000000", "fcinst_TestInstitution", "..%2F..%2Fetc"] {
        let r = reqwest::get(format!("{}/link/logos/{unknown}", app.base)).await.unwrap();
        assert_eq!(r.status(), 404, "{unknown}");
    }
    // The search results show it.
    let cus = app.create_customer(&[]).await;
    let s = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("filters[countries][]", "FI"),
        ])
        .await
        .ok();
    let secret = s["client_secret"].as_str().unwrap();
    flow(app, &live.pk, secret, "consent", &[]).await;
    let r = flow(app, &live.pk, secret, "search", &[("query", "nordea")]).await;
    let p = unescape(pane(&r));
    assert!(p.contains(&format!("src=\"/link/logos/{}\"", nordea.id)), "{p}");
}

/// An ended consent is repaired with a relink session: consent, the bank's page again, the same two
/// accounts (same ids, same authorization) active again and readable with the new consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relink_session_repairs_accounts_whose_consent_ended() {
    let bank = Bank::start().await;
    let live = live(Backend::Sqlite, &bank).await;
    let app = &live.app;
    let session = link_two(&live).await;
    let chk = named(&session, "Käyttötili").clone();
    let chk_id = chk["id"].as_str().unwrap().to_owned();
    let authz = chk["authorization"].as_str().unwrap().to_owned();
    bank.fake.expire(&bank.fake.sessions().pop().expect("session").id);
    refresh(app, &chk_id, &["balance"]).await.ok();
    app.run_jobs().await;
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!(a["status"], "inactive");

    let r = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", session["account_holder"]["customer"].as_str().unwrap()),
            ("permissions[]", "balances"),
            ("filters[countries][]", "FI"),
            ("relink_options[authorization]", &authz),
        ])
        .await
        .ok();
    let secret = r["client_secret"].as_str().unwrap();
    flow(app, &live.pk, secret, "start", &[]).await.ok();
    let v = flow(app, &live.pk, secret, "consent", &[]).await;
    assert!(pane(&v).contains("pane-oauth"), "straight to the bank: {}", pane(&v));
    let p = unescape(pane(&v));
    let at = p.find("data-oauth-url=\"").unwrap() + "data-oauth-url=\"".len();
    let popup = format!("{}{}", app.base, p[at..].split('"').next().unwrap());
    let (_, page) = at_the_bank(&popup, "approve").await;
    assert!(page.contains("Access authorized"), "{page}");
    let v = flow(app, &live.pk, secret, "show", &[]).await;
    let p = pane(&v).to_owned();
    assert!(p.contains("value=\"Käyttötili\"") && p.contains("value=\"Visa Credit\""), "{p}");
    assert!(!p.contains("value=\"Säästötili\""), "only the authorization's accounts: {p}");
    let v =
        flow(app, &live.pk, secret, "select_accounts", &[("accounts[]", "Käyttötili"), ("accounts[]", "Visa Credit")])
            .await;
    assert!(pane(&v).contains("pane-success"), "{}", v.body);
    let done = app.get(&format!("/v1/financial_connections/sessions/{}", r["id"].as_str().unwrap())).await.ok();
    assert_eq!(done["relink_result"]["authorization"], authz.as_str(), "{done}");
    let ids: Vec<&str> =
        done["accounts"]["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&chk_id.as_str()) && ids.len() == 2, "{ids:?}");
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!((a["status"].as_str(), a["authorization"].as_str()), (Some("active"), Some(authz.as_str())));
    // Readable again, through the new consent (the fake's new session, new account uids).
    app.clock.advance(3600);
    refresh(app, &chk_id, &["balance"]).await.ok();
    app.run_jobs().await;
    let a = app.get(&format!("/v1/financial_connections/accounts/{chk_id}")).await.ok();
    assert_eq!(a["balance_refresh"]["status"], "succeeded", "{a}");
    let newest = bank.fake.sessions().into_iter().max_by_key(|s| s.valid_until).unwrap();
    let f = newest.accounts.iter().filter_map(|u| bank.fake.account(u)).find(|x| x.iban.ends_with("0785")).unwrap();
    assert_eq!(a["balance"]["current"]["eur"], f.booked);
    let events = app.get("/v1/events?type=financial_connections.account.reactivated").await.ok();
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}
