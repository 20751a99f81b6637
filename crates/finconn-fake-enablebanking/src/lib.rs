//! A fake Enable Banking API for finconn's tests, written from Enable Banking's API reference: every call
//! must carry an RS256 JWT of the registered application (checked with its public key: `kid`, `iss`,
//! `aud`, `iat`, `exp`, at most a day); `GET /application`, `GET /aspsps`, `POST /auth` (returns the URL
//! of this fake's "bank page"), the bank page itself (Approve / Deny, redirecting to the `redirect_url`
//! with `code` and `state`, or `error` and `error_description`), `POST /sessions` (single-use codes),
//! `GET|DELETE /sessions/{id}`, `GET /accounts/{uid}/details|balances|transactions` (pages of 25 with a
//! `continuation_key`), and consents that expire or are revoked.
//!
//! Control routes (`/_control/…`, no JWT) let tests read what the fake holds, change it, and see every
//! request it received and whether its JWT was valid.
// Helpers return the error response a handler sends as is; a test server, not a hot path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const APPLICATION_ID: &str = "0b7d1e8a-5c3f-4e2a-9d61-7f2c8b4a1e05";
/// Transactions per page.
pub const PAGE: usize = 25;
const DAY: i64 = 86_400;

/// An RSA key pair for the fake application: `(private PKCS#8 PEM, public SPKI PEM)`.
pub fn generate_key() -> Result<(String, String), String> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| format!("cannot generate a key: {e}"))?;
    let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    Ok((private, public))
}

pub struct Options {
    pub application_id: String,
    /// The application's public key (SPKI PEM), as uploaded to Enable Banking.
    pub public_key_pem: String,
    /// Registered redirect URLs; empty: any is accepted.
    pub redirect_urls: Vec<String>,
}

impl Options {
    pub fn new(public_key_pem: String) -> Self {
        Self { application_id: APPLICATION_ID.to_owned(), public_key_pem, redirect_urls: Vec::new() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Txn {
    pub entry_reference: Option<String>,
    /// Minor units (cents), signed: negative is money out.
    pub amount: i64,
    pub currency: String,
    /// `BOOK` or `PDNG`.
    pub status: String,
    /// `YYYY-MM-DD`.
    pub booking_date: Option<String>,
    pub transaction_date: String,
    pub remittance: Vec<String>,
    pub counterpart: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub uid: String,
    pub session: String,
    pub name: String,
    pub holder: String,
    pub iban: String,
    pub cash_account_type: String,
    pub product: String,
    pub currency: String,
    /// Minor units.
    pub booked: i64,
    pub available: i64,
    pub transactions: Vec<Txn>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub id: String,
    pub aspsp: (String, String),
    pub accounts: Vec<String>,
    pub valid_until: i64,
    /// `AUTHORIZED`, `REVOKED`, `CLOSED`.
    pub status: String,
}

#[derive(Clone, Debug)]
struct Authorization {
    aspsp: (String, String),
    state: String,
    redirect_url: String,
    valid_until: i64,
}

/// One request the fake received.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    /// `None`: the route needs no JWT (the bank page, control routes).
    pub jwt_valid: Option<bool>,
    pub jwt_error: Option<String>,
}

#[derive(Default)]
struct Inner {
    authorizations: HashMap<String, Authorization>,
    codes: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    accounts: HashMap<String, Account>,
    log: Vec<LogEntry>,
    /// `continuation_key` → (account, query, next offset).
    pages: HashMap<String, (String, String, usize)>,
    fail_auth: Option<u16>,
    /// Registered redirect URLs; empty: any is accepted.
    redirect_urls: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    origin: String,
    application_id: String,
    key: Arc<jsonwebtoken::DecodingKey>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct FakeEnableBanking {
    shared: Shared,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeEnableBanking {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

fn random(n: usize) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n).map(|_| A[rng.gen_range(0..A.len())] as char).collect()
}

fn uuid() -> String {
    let r = random(32);
    format!("{}-{}-{}-{}-{}", &r[..8], &r[8..12], &r[12..16], &r[16..20], &r[20..])
}

/// The banks the fake offers: `(name, country, maximum consent seconds)`.
pub const BANKS: &[(&str, &str, i64)] = &[
    ("Fake Bank", "FI", 180 * DAY),
    ("Nordea", "FI", 180 * DAY),
    ("Nordea", "SE", 90 * DAY),
    ("Commerzbank", "DE", 90 * DAY),
];

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Unix seconds → `YYYY-MM-DD`.
pub fn date(t: i64) -> String {
    let z = t.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 };
    format!("{y:04}-{m:02}-{d:02}")
}

fn parse_date(s: &str) -> Option<i64> {
    let p: Vec<i64> = s.get(..10)?.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    (p.len() == 3).then(|| days_from_civil(p[0], p[1], p[2]) * DAY)
}

fn rfc3339(t: i64) -> String {
    let s = t.rem_euclid(DAY);
    format!("{}T{:02}:{:02}:{:02}.000000+00:00", date(t), s / 3600, s % 3600 / 60, s % 60)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let day = parse_date(s)?;
    let t = s.get(11..19)?;
    let p: Vec<i64> = t.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let rest = s.get(19..)?.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let off = match rest {
        "Z" | "" => 0,
        o if o.len() == 6 => {
            let v = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    Some(day + p.first()? * 3600 + p.get(1)? * 60 + p.get(2)? - off)
}

/// A deterministic generator (the data only has to look like a bank's and be the same every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The accounts a new session at a bank gets: a checking account with six months of history (some
/// transactions without any id, two pending), a savings account, a card.
fn accounts_for(session: &str, today: i64) -> Vec<Account> {
    let mut rng = Lcg(42);
    let shops = ["K-Market Tapiola", "Alepa", "HSL", "Lidl", "Verkkokauppa.com", "Cafe Regatta", "S-Market"];
    let mut chk = Vec::new();
    for i in 0..170 {
        let day = today - (175 - i) * DAY;
        let (amount, remittance, counterpart) = if i % 30 == 5 {
            (250_000, vec!["Salary".to_owned()], Some("Acme Oy".to_owned()))
        } else if i % 30 == 10 {
            (-95_000, vec!["Rent".to_owned(), "RF18539007547034".to_owned()], Some("Vuokra-Asunnot Oy".to_owned()))
        } else {
            let shop = shops[rng.next(shops.len() as u64) as usize];
            (
                -(i64::try_from(rng.next(9000)).unwrap_or(0) + 150),
                vec![format!("Card payment {shop}")],
                Some(shop.to_owned()),
            )
        };
        // Every 17th has no reference at all (the connector must make a stable id itself).
        let entry_reference = (i % 17 != 3).then(|| format!("2024{i:06}-{:04}", rng.next(10_000)));
        chk.push(Txn {
            entry_reference,
            amount,
            currency: "EUR".into(),
            status: "BOOK".into(),
            booking_date: Some(date(day + DAY)),
            transaction_date: date(day),
            remittance,
            counterpart,
        });
    }
    // Two equal purchases on one day without references: two transactions, not one.
    for _ in 0..2 {
        chk.push(Txn {
            entry_reference: None,
            amount: -350,
            currency: "EUR".into(),
            status: "BOOK".into(),
            booking_date: Some(date(today - 20 * DAY)),
            transaction_date: date(today - 21 * DAY),
            remittance: vec!["Coffee".into()],
            counterpart: Some("Cafe Regatta".into()),
        });
    }
    for (n, amount) in [(1, -1_299), (2, -4_550)] {
        chk.push(Txn {
            entry_reference: Some(format!("PDNG-{n}")),
            amount,
            currency: "EUR".into(),
            status: "PDNG".into(),
            booking_date: None,
            transaction_date: date(today - (n - 1) * DAY),
            remittance: vec![format!("Card payment pending {n}")],
            counterpart: Some("Alepa".into()),
        });
    }
    let booked: i64 = 120_000 + chk.iter().filter(|t| t.status == "BOOK").map(|t| t.amount).sum::<i64>();
    let pending: i64 = chk.iter().filter(|t| t.status == "PDNG").map(|t| t.amount).sum();
    let mut sav = Vec::new();
    for i in 0..6 {
        sav.push(Txn {
            entry_reference: Some(format!("SAV-{i}")),
            amount: 50_000,
            currency: "EUR".into(),
            status: "BOOK".into(),
            booking_date: Some(date(today - (150 - i * 25) * DAY)),
            transaction_date: date(today - (150 - i * 25) * DAY),
            remittance: vec!["Monthly savings".into()],
            counterpart: Some("Maija Meikäläinen".into()),
        });
    }
    let mut card = Vec::new();
    for i in 0..30 {
        card.push(Txn {
            entry_reference: Some(format!("CARD-{i}")),
            amount: -(i64::try_from(rng.next(20_000)).unwrap_or(0) + 99),
            currency: "EUR".into(),
            status: "BOOK".into(),
            booking_date: Some(date(today - (120 - i * 4) * DAY)),
            transaction_date: date(today - (120 - i * 4) * DAY),
            remittance: vec![format!("Purchase {}", shops[i as usize % shops.len()])],
            counterpart: Some(shops[i as usize % shops.len()].into()),
        });
    }
    let card_balance: i64 = card.iter().map(|t| t.amount).sum();
    let sav_balance: i64 = 400_000 + sav.iter().map(|t| t.amount).sum::<i64>();
    let acct =
        |name: &str, iban: &str, kind: &str, product: &str, booked: i64, available: i64, txns: Vec<Txn>| Account {
            uid: uuid(),
            session: session.to_owned(),
            name: name.into(),
            holder: "Maija Meikäläinen".into(),
            iban: iban.into(),
            cash_account_type: kind.into(),
            product: product.into(),
            currency: "EUR".into(),
            booked,
            available,
            transactions: txns,
        };
    vec![
        acct("Käyttötili", "FI2112345600000785", "CACC", "Current account", booked, booked + pending, chk),
        acct("Säästötili", "FI5544443333222211", "SVGS", "Savings account", sav_balance, sav_balance, sav),
        acct("Visa Credit", "FI7799998888777766", "CARD", "Credit card", card_balance, 500_000 + card_balance, card),
    ]
}

fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "message": message, "code": status.as_u16(), "error": code, "detail": null })))
        .into_response()
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Checks the bearer JWT as Enable Banking does; records the request either way.
fn check_jwt(s: &Shared, headers: &HeaderMap, method: &str, path: &str) -> Result<(), Response> {
    let verdict = (|| -> Result<(), String> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or("no Authorization header")?;
        let token = auth.strip_prefix("Bearer ").ok_or("not a Bearer token")?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("bad header: {e}"))?;
        if header.alg != jsonwebtoken::Algorithm::RS256 {
            return Err("alg is not RS256".into());
        }
        if header.typ.as_deref() != Some("JWT") {
            return Err("typ is not JWT".into());
        }
        if header.kid.as_deref() != Some(s.application_id.as_str()) {
            return Err("kid is not the application id".into());
        }
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["api.enablebanking.com"]);
        v.set_issuer(&["enablebanking.com"]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &s.key, &v).map_err(|e| format!("invalid: {e}"))?;
        let c = data.claims;
        if c.iss != "enablebanking.com" || c.aud != "api.enablebanking.com" {
            return Err("wrong iss or aud".into());
        }
        if c.exp - c.iat > DAY || c.iat > now() + 60 {
            return Err("iat/exp out of bounds".into());
        }
        Ok(())
    })();
    s.lock().log.push(LogEntry {
        method: method.into(),
        path: path.into(),
        jwt_valid: Some(verdict.is_ok()),
        jwt_error: verdict.clone().err(),
    });
    verdict.map_err(|e| err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED_ACCESS", &format!("JWT rejected: {e}")))
}

impl FakeEnableBanking {
    pub async fn start(options: Options) -> std::io::Result<FakeEnableBanking> {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(options.public_key_pem.as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner { redirect_urls: options.redirect_urls, ..Inner::default() })),
            origin: format!("http://127.0.0.1:{}", addr.port()),
            application_id: options.application_id,
            key: Arc::new(key),
        };
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeEnableBanking { shared, addr, stop: Some(tx) })
    }

    /// The API base: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers the application's redirect URLs (as in Enable Banking's control panel).
    pub fn set_redirect_urls(&self, urls: Vec<String>) {
        self.shared.lock().redirect_urls = urls;
    }

    pub fn requests(&self) -> Vec<LogEntry> {
        self.shared.lock().log.clone()
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.shared.lock().sessions.values().cloned().collect()
    }

    pub fn account(&self, uid: &str) -> Option<Account> {
        self.shared.lock().accounts.get(uid).cloned()
    }

    /// Ends a session's consent now (as if `valid_until` had passed).
    pub fn expire(&self, session: &str) {
        if let Some(s) = self.shared.lock().sessions.get_mut(session) {
            s.valid_until = now() - 1;
        }
    }

    pub fn revoke(&self, session: &str) {
        if let Some(s) = self.shared.lock().sessions.get_mut(session) {
            s.status = "REVOKED".into();
        }
    }

    /// A pending transaction posts (same reference, a booking date).
    pub fn book(&self, uid: &str, reference: &str) -> bool {
        let mut inner = self.shared.lock();
        let Some(a) = inner.accounts.get_mut(uid) else { return false };
        let Some(t) = a.transactions.iter_mut().find(|t| t.entry_reference.as_deref() == Some(reference)) else {
            return false;
        };
        t.status = "BOOK".into();
        t.booking_date = Some(t.transaction_date.clone());
        a.booked += t.amount;
        true
    }

    /// A pending transaction disappears (the merchant released the hold).
    pub fn drop_pending(&self, uid: &str, reference: &str) -> bool {
        let mut inner = self.shared.lock();
        let Some(a) = inner.accounts.get_mut(uid) else { return false };
        let before = a.transactions.len();
        a.transactions.retain(|t| !(t.status == "PDNG" && t.entry_reference.as_deref() == Some(reference)));
        let dropped = a.transactions.len() < before;
        if dropped {
            a.available =
                a.booked + a.transactions.iter().filter(|t| t.status == "PDNG").map(|t| t.amount).sum::<i64>();
        }
        dropped
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/application", get(application))
        .route("/aspsps", get(aspsps))
        .route("/auth", post(start_auth))
        .route("/sessions", post(create_session))
        .route("/sessions/{id}", get(get_session).delete(delete_session))
        .route("/accounts/{uid}/details", get(details))
        .route("/accounts/{uid}/balances", get(balances))
        .route("/accounts/{uid}/transactions", get(transactions))
        .route("/bank/authorize/{id}", get(bank_page).post(bank_decide))
        .route("/logos/{file}", get(logo))
        .route("/_control/requests", get(|State(s): State<Shared>| async move { Json(s.lock().log.clone()) }))
        .route(
            "/_control/sessions",
            get(|State(s): State<Shared>| async move { Json(s.lock().sessions.values().cloned().collect::<Vec<_>>()) }),
        )
        .route("/_control/sessions/{id}/expire", post(control_expire))
        .route("/_control/sessions/{id}/revoke", post(control_revoke))
        .route("/_control/accounts/{uid}", get(control_account))
        .route("/_control/auth_failure", post(control_auth_failure))
        .route(
            "/_control/redirect_urls",
            post(|State(s): State<Shared>, Json(urls): Json<Vec<String>>| async move {
                s.lock().redirect_urls = urls;
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_control/accounts",
            get(|State(s): State<Shared>| async move { Json(s.lock().accounts.values().cloned().collect::<Vec<_>>()) }),
        )
        .with_state(shared)
}

async fn application(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/application") {
        return r;
    }
    let countries: Vec<&str> = {
        let mut c: Vec<&str> = BANKS.iter().map(|b| b.1).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    Json(json!({
        "name": "finconn test application", "description": "fake", "kid": s.application_id,
        "environment": "SANDBOX", "redirect_urls": s.lock().redirect_urls.clone(), "active": true,
        "countries": countries, "services": ["AIS"]
    }))
    .into_response()
}

async fn aspsps(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/aspsps") {
        return r;
    }
    let list: Vec<Value> = BANKS
        .iter()
        .filter(|b| q.get("country").is_none_or(|c| c.eq_ignore_ascii_case(b.1)))
        .map(|(name, country, max)| {
            json!({
                "name": name, "country": country, "logo": format!("{}/logos/{}.png", s.origin, name.replace(' ', "")),
                "psu_types": ["personal", "business"], "auth_methods": [], "maximum_consent_validity": max,
                "sandbox": null, "beta": false, "bic": "FAKEFIHH", "required_psu_headers": [], "payments": []
            })
        })
        .collect();
    Json(json!({ "aspsps": list })).into_response()
}

async fn start_auth(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "POST", "/auth") {
        return r;
    }
    if let Some(code) = s.lock().fail_auth {
        return err(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "ASPSP_ERROR",
            "The bank is down",
        );
    }
    let name = body["aspsp"]["name"].as_str().unwrap_or_default();
    let country = body["aspsp"]["country"].as_str().unwrap_or_default();
    let Some(bank) = BANKS.iter().find(|b| b.0 == name && b.1 == country) else {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "WRONG_ASPSP_PROVIDED", "No such ASPSP");
    };
    let (Some(state), Some(redirect_url)) = (body["state"].as_str(), body["redirect_url"].as_str()) else {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "WRONG_REQUEST_PARAMETERS",
            "state and redirect_url are required",
        );
    };
    let registered = s.lock().redirect_urls.clone();
    if !registered.is_empty() && !registered.iter().any(|u| u == redirect_url) {
        return err(StatusCode::BAD_REQUEST, "REDIRECT_URI_NOT_ALLOWED", "redirect_url is not registered");
    }
    let Some(valid_until) = body["access"]["valid_until"].as_str().and_then(parse_rfc3339) else {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "WRONG_REQUEST_PARAMETERS", "access.valid_until is required");
    };
    if valid_until > now() + bank.2 + 60 || valid_until <= now() {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "WRONG_REQUEST_PARAMETERS",
            "valid_until exceeds maximum_consent_validity",
        );
    }
    let id = uuid();
    s.lock().authorizations.insert(
        id.clone(),
        Authorization {
            aspsp: (name.into(), country.into()),
            state: state.into(),
            redirect_url: redirect_url.into(),
            valid_until,
        },
    );
    Json(json!({ "url": format!("{}/bank/authorize/{id}", s.origin), "authorization_id": id, "psu_id_hash": random(16) }))
        .into_response()
}

async fn bank_page(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    s.lock().log.push(LogEntry {
        method: "GET".into(),
        path: "/bank/authorize".into(),
        jwt_valid: None,
        jwt_error: None,
    });
    let Some(a) = s.lock().authorizations.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><title>Not found</title><p>Unknown authorization."))
            .into_response();
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{bank} — sign in (fake bank)</title></head>
<body><main>
<h1>{bank} ({country})</h1>
<p>finconn asks to read your accounts' balances and transactions. (Enable Banking test fake: no password.)</p>
<form method="post">
<button type="submit" name="decision" value="approve" data-testid="bank-approve">Approve</button>
<button type="submit" name="decision" value="deny" data-testid="bank-deny">Deny</button>
</form>
</main></body></html>"#,
        bank = a.aspsp.0,
        country = a.aspsp.1
    ))
    .into_response()
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
}

async fn bank_decide(State(s): State<Shared>, Path(id): Path<String>, Form(d): Form<Decision>) -> Response {
    s.lock().log.push(LogEntry {
        method: "POST".into(),
        path: "/bank/authorize".into(),
        jwt_valid: None,
        jwt_error: None,
    });
    let Some(a) = s.lock().authorizations.remove(&id) else {
        return (StatusCode::NOT_FOUND, "Unknown authorization").into_response();
    };
    let Ok(mut url) = url::Url::parse(&a.redirect_url) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_url").into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        if d.decision == "approve" {
            let code = random(24);
            s.lock().codes.insert(code.clone(), id.clone());
            s.lock().authorizations.insert(id, a.clone());
            q.append_pair("code", &code);
        } else {
            q.append_pair("error", "access_denied");
            q.append_pair("error_description", "The user cancelled the authorization at the bank");
        }
        q.append_pair("state", &a.state);
    }
    (StatusCode::FOUND, [("location", url.to_string())]).into_response()
}

fn account_json(a: &Account) -> Value {
    json!({
        "account_id": { "iban": a.iban }, "all_account_ids": [],
        "name": a.holder, "details": a.name, "usage": "PRIV", "cash_account_type": a.cash_account_type,
        "product": a.product, "currency": a.currency, "uid": a.uid,
        "identification_hash": format!("hash-{}", a.iban), "identification_hashes": []
    })
}

async fn create_session(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "POST", "/sessions") {
        return r;
    }
    let code = body["code"].as_str().unwrap_or_default();
    let mut inner = s.lock();
    let Some(auth_id) = inner.codes.remove(code) else {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "WRONG_AUTHORIZATION_CODE", "Wrong authorization code");
    };
    let Some(a) = inner.authorizations.remove(&auth_id) else {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "EXPIRED_AUTHORIZATION_CODE", "Authorization expired");
    };
    let id = uuid();
    let accounts = accounts_for(&id, now());
    let session = Session {
        id: id.clone(),
        aspsp: a.aspsp.clone(),
        accounts: accounts.iter().map(|a| a.uid.clone()).collect(),
        valid_until: a.valid_until,
        status: "AUTHORIZED".into(),
    };
    let resources: Vec<Value> = accounts.iter().map(account_json).collect();
    for acct in accounts {
        inner.accounts.insert(acct.uid.clone(), acct);
    }
    inner.sessions.insert(id.clone(), session);
    Json(json!({
        "session_id": id, "accounts": resources,
        "aspsp": { "name": a.aspsp.0, "country": a.aspsp.1 }, "psu_type": "personal",
        "access": { "valid_until": rfc3339(a.valid_until) }
    }))
    .into_response()
}

/// The session's state for data calls: usable, or the error Enable Banking gives.
fn usable(inner: &Inner, session: &str) -> Result<(), Response> {
    match inner.sessions.get(session) {
        None => Err(err(StatusCode::NOT_FOUND, "SESSION_DOES_NOT_EXIST", "Session does not exist")),
        Some(s) if s.status == "REVOKED" => Err(err(StatusCode::UNAUTHORIZED, "REVOKED_SESSION", "Session is revoked")),
        Some(s) if s.status == "CLOSED" => Err(err(StatusCode::UNAUTHORIZED, "CLOSED_SESSION", "Session is closed")),
        Some(s) if s.valid_until <= now() => {
            Err(err(StatusCode::UNAUTHORIZED, "EXPIRED_SESSION", "Session is expired"))
        }
        Some(_) => Ok(()),
    }
}

async fn get_session(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/sessions/{id}") {
        return r;
    }
    let inner = s.lock();
    let Some(sess) = inner.sessions.get(&id) else {
        return err(StatusCode::NOT_FOUND, "SESSION_DOES_NOT_EXIST", "Session does not exist");
    };
    let status =
        if sess.status == "AUTHORIZED" && sess.valid_until <= now() { "EXPIRED" } else { sess.status.as_str() };
    if status != "AUTHORIZED" {
        if let Err(r) = usable(&inner, &id) {
            return r;
        }
    }
    Json(json!({
        "status": status, "accounts": sess.accounts,
        "accounts_data": sess.accounts.iter().map(|u| json!({"uid": u, "identification_hash": "h", "identification_hashes": []})).collect::<Vec<_>>(),
        "aspsp": { "name": sess.aspsp.0, "country": sess.aspsp.1 }, "psu_type": "personal", "psu_id_hash": "x",
        "access": { "valid_until": rfc3339(sess.valid_until) }, "created": rfc3339(now())
    }))
    .into_response()
}

async fn delete_session(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "DELETE", "/sessions/{id}") {
        return r;
    }
    match s.lock().sessions.get_mut(&id) {
        Some(sess) => {
            sess.status = "CLOSED".into();
            Json(json!({ "message": "OK" })).into_response()
        }
        None => err(StatusCode::NOT_FOUND, "SESSION_DOES_NOT_EXIST", "Session does not exist"),
    }
}

/// The account behind a data call, if its session may be read.
fn readable(s: &Shared, uid: &str) -> Result<Account, Response> {
    let inner = s.lock();
    let a = inner
        .accounts
        .get(uid)
        .cloned()
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "ACCOUNT_DOES_NOT_EXIST", "No such account"))?;
    usable(&inner, &a.session)?;
    Ok(a)
}

async fn details(State(s): State<Shared>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/accounts/{uid}/details") {
        return r;
    }
    match readable(&s, &uid) {
        Ok(a) => Json(account_json(&a)).into_response(),
        Err(r) => r,
    }
}

async fn balances(State(s): State<Shared>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/accounts/{uid}/balances") {
        return r;
    }
    let a = match readable(&s, &uid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let today = date(now());
    Json(json!({ "balances": [
        { "name": "Available", "balance_amount": { "currency": a.currency, "amount": decimal(a.available) }, "balance_type": "ITAV", "reference_date": today },
        { "name": "Booked", "balance_amount": { "currency": a.currency, "amount": decimal(a.booked) }, "balance_type": "CLBD", "reference_date": today },
        { "name": "Expected", "balance_amount": { "currency": a.currency, "amount": "0.01" }, "balance_type": "XPCD" }
    ]}))
    .into_response()
}

fn txn_json(t: &Txn) -> Value {
    let (party, key) = if t.amount < 0 { ("creditor", "DBIT") } else { ("debtor", "CRDT") };
    let mut v = json!({
        "entry_reference": t.entry_reference,
        "transaction_amount": { "currency": t.currency, "amount": decimal(t.amount.abs()) },
        "credit_debit_indicator": key, "status": t.status,
        "booking_date": t.booking_date, "value_date": t.booking_date, "transaction_date": t.transaction_date,
        "remittance_information": t.remittance, "reference_number": null,
        "bank_transaction_code": { "description": if t.amount < 0 { "Card purchase" } else { "Credit transfer" } }
    });
    if let Some(c) = &t.counterpart {
        v[party] = json!({ "name": c });
    }
    v
}

async fn transactions(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_jwt(&s, &headers, "GET", "/accounts/{uid}/transactions") {
        return r;
    }
    let a = match readable(&s, &uid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let from = q.get("date_from").and_then(|d| parse_date(d));
    let to = q.get("date_to").and_then(|d| parse_date(d));
    if q.contains_key("date_to") && from.is_none() {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "DATE_TO_WITHOUT_DATE_FROM", "date_to without date_from");
    }
    let query_key = format!("{:?}|{:?}", from, to);
    let offset = match q.get("continuation_key") {
        None => 0,
        Some(k) => match s.lock().pages.get(k) {
            Some((acct, qk, off)) if *acct == uid && *qk == query_key => *off,
            _ => return err(StatusCode::UNPROCESSABLE_ENTITY, "WRONG_CONTINUATION_KEY", "Wrong continuation key"),
        },
    };
    let mut list: Vec<&Txn> = a
        .transactions
        .iter()
        .filter(|t| {
            let d = parse_date(t.booking_date.as_deref().unwrap_or(&t.transaction_date)).unwrap_or(0);
            from.is_none_or(|f| d >= f) && to.is_none_or(|e| d <= e)
        })
        .collect();
    // Newest first, as banks list them.
    list.sort_by(|x, y| {
        let dx = x.booking_date.as_deref().unwrap_or(&x.transaction_date);
        let dy = y.booking_date.as_deref().unwrap_or(&y.transaction_date);
        dy.cmp(dx)
    });
    let page: Vec<Value> = list.iter().skip(offset).take(PAGE).map(|t| txn_json(t)).collect();
    let next = offset + PAGE;
    let continuation_key = (next < list.len()).then(|| {
        let k = random(20);
        s.lock().pages.insert(k.clone(), (uid.clone(), query_key.clone(), next));
        k
    });
    Json(json!({ "transactions": page, "continuation_key": continuation_key })).into_response()
}

async fn control_expire(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.lock().sessions.get_mut(&id) {
        Some(sess) => {
            sess.valid_until = now() - 1;
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn control_revoke(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    match s.lock().sessions.get_mut(&id) {
        Some(sess) => {
            sess.status = "REVOKED".into();
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn control_account(State(s): State<Shared>, Path(uid): Path<String>) -> Response {
    match s.lock().accounts.get(&uid) {
        Some(a) => Json(a.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `{"status": 503}` makes `POST /auth` fail with that status; `{}` clears it.
async fn control_auth_failure(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    s.lock().fail_auth = body["status"].as_u64().and_then(|v| u16::try_from(v).ok());
    StatusCode::NO_CONTENT.into_response()
}

/// A 2×2 PNG (one per bank: the name picks the colour), as a CDN serves logos.
pub fn logo_png(name: &str) -> Vec<u8> {
    // A valid PNG made by hand: IHDR, one IDAT (stored, uncompressed deflate), IEND; CRCs computed.
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn adler(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + u32::from(d)) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let h = name.bytes().fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    let rgb = [h, h.wrapping_mul(3), h.wrapping_add(90)];
    // Two rows, each: filter byte 0 (none), then two pixels.
    let row = [&[0u8][..], &rgb, &rgb].concat();
    let raw = [row.clone(), row].concat();
    let mut z = vec![0x78, 0x01, 0x01];
    let len = u16::try_from(raw.len()).unwrap_or(0);
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(&raw);
    z.extend_from_slice(&adler(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn logo(State(s): State<Shared>, Path(file): Path<String>) -> Response {
    s.lock().log.push(LogEntry { method: "GET".into(), path: "/logos".into(), jwt_valid: None, jwt_error: None });
    match file.strip_suffix(".png") {
        Some(name) => ([("content-type", "image/png")], logo_png(name)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
