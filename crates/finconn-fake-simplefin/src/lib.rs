#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const DAY: i64 = 86_400;

#[derive(Clone, Debug)]
pub struct Options {
    /// The data set's time base (default: now).
    pub now: Option<i64>,
    /// Answer 411 to a claim without `Content-Length: 0`.
    pub require_content_length_zero: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { now: None, require_content_length_zero: true }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Txn {
    pub id: String,
    pub posted: i64,
    pub amount: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transacted_at: Option<i64>,
    pub pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

impl Txn {
    /// When it happened, for date windows: `transacted_at` of a pending one, else `posted`.
    fn at(&self) -> i64 {
        if self.pending || self.posted == 0 {
            self.transacted_at.unwrap_or(self.posted)
        } else {
            self.posted
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Acct {
    pub id: String,
    pub name: String,
    pub conn_id: String,
    pub currency: String,
    pub balance: String,
    #[serde(rename = "available-balance", skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    #[serde(rename = "balance-date")]
    pub balance_date: i64,
    pub transactions: Vec<Txn>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Conn {
    pub conn_id: String,
    pub name: String,
    pub org_id: String,
    pub org_name: String,
    pub domain: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InjectedError {
    pub code: String,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

#[derive(Clone, Debug)]
struct User {
    id: String,
    username: String,
    password: String,
    revoked: bool,
    errors: Vec<InjectedError>,
    status: Option<(u16, u32)>,
    requests: u64,
    connections: Vec<Conn>,
    accounts: Vec<Acct>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_length: Option<String>,
    pub user_agent: Option<String>,
    pub authorized: bool,
}

#[derive(Default)]
struct Inner {
    users: HashMap<String, User>,
    /// token path segment → (user, claimed)
    claims: HashMap<String, (String, bool)>,
    redirects: HashMap<String, String>,
    log: Vec<LogEntry>,
    issued: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    origin: String,
    now: Option<i64>,
    require_cl0: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        })
    }
}

/// A running fake; stops when dropped.
pub struct FakeSimplefin {
    shared: Shared,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeSimplefin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn random(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Integer minor units as a decimal string with `exp` places.
pub fn decimal(minor: i64, exp: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exp == 0 {
        return format!("{sign}{abs}");
    }
    let div = 10u64.pow(exp);
    format!("{sign}{}.{:0w$}", abs / div, abs % div, w = exp as usize)
}

/// The data set of a new user, deterministic for `now`.
fn dataset(now: i64) -> (Vec<Conn>, Vec<Acct>) {
    let day0 = now - now.rem_euclid(DAY);
    let conns = vec![
        Conn {
            conn_id: "CON-A".into(),
            name: "Example Bank - Jo".into(),
            org_id: "ORG-A".into(),
            org_name: "Example Bank".into(),
            domain: "examplebank.test".into(),
        },
        Conn {
            conn_id: "CON-B".into(),
            name: "Example Card Co - Jo".into(),
            org_id: "ORG-B".into(),
            org_name: "Example Card Co".into(),
            domain: "examplecard.test".into(),
        },
    ];
    let shops = ["GROCERY MART", "COFFEE CORNER", "GAS STATION 42", "BOOKSHOP", "PHARMACY", "TRANSIT"];
    let posted = |t: i64, id: String, cents: i64, exp: u32, desc: &str| Txn {
        id,
        posted: t,
        amount: decimal(cents, exp),
        description: desc.to_owned(),
        transacted_at: Some(t - 3600),
        pending: false,
        payee: None,
        memo: None,
    };
    let mut chk = Vec::new();
    for d in 1..=200i64 {
        let t = day0 - d * DAY + 12 * 3600;
        if d % 14 == 0 {
            let mut p = posted(t, format!("T-CHK-{d}-P"), 250_000, 2, "PAYROLL ACME CORP");
            p.payee = Some("Acme Corp".into());
            p.memo = Some("Salary".into());
            chk.push(p);
        }
        if d % 30 == 0 {
            chk.push(posted(t + 60, format!("T-CHK-{d}-R"), -180_000, 2, "RENT PAYMENT"));
        }
        for k in 0..2i64 {
            let cents = -(350 + (d * 37 + k * 911) % 11_650);
            let shop = shops[((d + k) % 6) as usize];
            let mut p = posted(t + 120 + k * 60, format!("T-CHK-{d}-{k}"), cents, 2, &format!("POS {shop}"));
            if k == 1 {
                p.payee = Some(shop.to_lowercase());
            }
            chk.push(p);
        }
    }
    for (i, hours) in [(1, 5i64), (2, 30)] {
        chk.push(Txn {
            id: format!("T-CHK-PEND-{i}"),
            posted: 0,
            amount: decimal(-(1_234 * i), 2),
            description: format!("PENDING {}", shops[i as usize]),
            transacted_at: Some(now - hours * 3600),
            pending: true,
            payee: None,
            memo: None,
        });
    }
    let mut sav = Vec::new();
    for m in 1..=6i64 {
        sav.push(posted(day0 - m * 30 * DAY, format!("T-SAV-{m}"), 2_000 + m * 7, 2, "INTEREST PAYMENT"));
    }
    let mut jpy = Vec::new();
    for d in (5..=200i64).step_by(5) {
        jpy.push(posted(day0 - d * DAY, format!("T-JPY-{d}"), -(480 + d * 3), 0, "KONBINI"));
    }
    let mut cc = Vec::new();
    for d in 1..=200i64 {
        let t = day0 - d * DAY + 15 * 3600;
        cc.push(posted(t, format!("T-CC-{d}"), -(999 + (d * 53) % 8_000), 2, "ONLINE STORE"));
        if d % 30 == 0 {
            cc.push(posted(t + 60, format!("T-CC-{d}-PAY"), 50_000, 2, "PAYMENT THANK YOU"));
        }
    }
    cc.push(Txn {
        id: "T-CC-PEND-1".into(),
        posted: 0,
        amount: "-45.67".into(),
        description: "PENDING RESTAURANT".into(),
        transacted_at: Some(now - 7200),
        pending: true,
        payee: Some("Trattoria".into()),
        memo: None,
    });
    let acct = |id: &str, name: &str, conn: &str, cur: &str, bal: &str, avail: Option<&str>, txns: Vec<Txn>| Acct {
        id: id.into(),
        name: name.into(),
        conn_id: conn.into(),
        currency: cur.into(),
        balance: bal.into(),
        available: avail.map(str::to_owned),
        balance_date: day0 + 6 * 3600,
        transactions: txns,
    };
    let accounts = vec![
        acct("ACT-CHK", "Everyday Checking", "CON-A", "USD", "1520.33", Some("1490.33"), chk),
        acct("ACT-SAV", "High Yield Savings", "CON-A", "USD", "10250.00", None, sav),
        acct("ACT-JPY", "Yen Wallet", "CON-A", "JPY", "12500", None, jpy),
        acct("ACT-CC", "Rewards Visa Card", "CON-B", "USD", "-432.18", None, cc),
    ];
    (conns, accounts)
}

fn plain(status: StatusCode, body: &str) -> Response {
    (status, [("content-type", "text/plain; charset=utf-8")], body.to_owned()).into_response()
}

impl FakeSimplefin {
    pub async fn start(options: Options) -> std::io::Result<FakeSimplefin> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            inner: Arc::default(),
            origin: format!("http://127.0.0.1:{}", addr.port()),
            now: options.now,
            require_cl0: options.require_content_length_zero,
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
        Ok(FakeSimplefin { shared, addr, stop: Some(tx) })
    }

    /// The protocol root: `http://127.0.0.1:PORT/simplefin`.
    pub fn base_url(&self) -> String {
        format!("http://{}/simplefin", self.addr)
    }

    /// A new setup token for a new user (or for `user`): `(token, claim URL, user)`.
    pub fn create_token(&self, user: Option<&str>) -> (String, String, String) {
        create_token(&self.shared, user)
    }

    /// Every Access URL a claim has handed out (tests look for them where they must not be).
    pub fn issued_access_urls(&self) -> Vec<String> {
        self.shared.lock().issued.clone()
    }

    /// How many `/accounts` requests a user made.
    pub fn requests(&self, user: &str) -> u64 {
        self.shared.lock().users.get(user).map_or(0, |u| u.requests)
    }

    pub fn revoke(&self, user: &str) {
        if let Some(u) = self.shared.lock().users.get_mut(user) {
            u.revoked = true;
        }
    }
}

fn create_token(shared: &Shared, user: Option<&str>) -> (String, String, String) {
    let mut inner = shared.lock();
    let id = match user.filter(|u| inner.users.contains_key(*u)) {
        Some(u) => u.to_owned(),
        None => {
            let id = format!("user-{}", random(10));
            let (connections, accounts) = dataset(shared.now());
            inner.users.insert(
                id.clone(),
                User {
                    id: id.clone(),
                    username: random(12),
                    password: format!("p@ss:w%rd-{}", random(16)),
                    revoked: false,
                    errors: Vec::new(),
                    status: None,
                    requests: 0,
                    connections,
                    accounts,
                },
            );
            id
        }
    };
    let path = random(24);
    inner.claims.insert(path.clone(), (id.clone(), false));
    let claim_url = format!("{}/simplefin/claim/{path}", shared.origin);
    (STANDARD.encode(&claim_url), claim_url, id)
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/simplefin/info", get(|| async { Json(json!({"versions": ["1.0", "2.0"]})) }))
        .route("/simplefin/create", get(create_page))
        .route("/simplefin/claim/{token}", post(claim))
        .route("/simplefin/accounts", get(accounts))
        .route("/_control/tokens", post(control_token))
        .route("/_control/users/{user}", get(control_user))
        .route("/_control/users/{user}/revoke", post(control_revoke))
        .route("/_control/users/{user}/errors", post(control_add_error).delete(control_clear_errors))
        .route("/_control/users/{user}/http_status", post(control_status))
        .route("/_control/users/{user}/accounts/{account}/transactions", post(control_add_txn))
        .route("/_control/users/{user}/accounts/{account}/transactions/{id}/post", post(control_post_txn))
        .route("/_control/users/{user}/accounts/{account}/transactions/{id}", axum::routing::delete(control_drop_txn))
        .route("/_control/users/{user}/accounts/{account}/balance", post(control_balance))
        .route("/_control/redirect", post(control_redirect).delete(control_clear_redirect))
        .route("/_control/requests", get(|State(s): State<Shared>| async move { Json(s.lock().log.clone()) }))
        // What claims handed out: suites look for these where they must never appear (logs, databases).
        .route("/_control/issued", get(|State(s): State<Shared>| async move { Json(s.lock().issued.clone()) }))
        .with_state(shared)
}

fn log(s: &Shared, method: &str, path: &str, query: Option<&str>, headers: &HeaderMap, authorized: bool) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    s.lock().log.push(LogEntry {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_owned),
        content_length: h("content-length"),
        user_agent: h("user-agent"),
        authorized,
    });
}

async fn create_page(State(s): State<Shared>) -> Html<String> {
    let (token, _, _) = create_token(&s, None);
    Html(format!(
        "<!doctype html><html lang=\"en\"><title>Create a SimpleFIN setup token</title><h1>Create a SimpleFIN setup token</h1>\
         <p>Copy this token into the app:</p><pre id=\"token\">{token}</pre></html>"
    ))
}

async fn claim(State(s): State<Shared>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/simplefin/claim/{token}");
    log(&s, "POST", &path, None, &headers, false);
    if let Some(to) = s.lock().redirects.get("/simplefin/claim").cloned() {
        return (StatusCode::FOUND, [("location", to)]).into_response();
    }
    let cl = headers.get("content-length").and_then(|v| v.to_str().ok());
    if s.require_cl0 && cl != Some("0") {
        return plain(StatusCode::LENGTH_REQUIRED, "Content-Length: 0 required");
    }
    let mut inner = s.lock();
    let user = match inner.claims.get_mut(&token) {
        Some((user, claimed)) if !*claimed => {
            *claimed = true;
            user.clone()
        }
        _ => return plain(StatusCode::FORBIDDEN, "Forbidden: the token does not exist or was already claimed"),
    };
    let Some(u) = inner.users.get(&user) else { return plain(StatusCode::FORBIDDEN, "Forbidden") };
    let enc = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
    let host = s.origin.trim_start_matches("http://");
    let access = format!("http://{}:{}@{host}/simplefin", enc(&u.username), enc(&u.password));
    inner.issued.push(access.clone());
    plain(StatusCode::OK, &access)
}

fn basic_user(inner: &Inner, headers: &HeaderMap) -> Option<String> {
    let h = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let raw = String::from_utf8(STANDARD.decode(h.trim()).ok()?).ok()?;
    let (user, pass) = raw.split_once(':')?;
    inner.users.values().find(|u| u.username == user && u.password == pass).map(|u| u.id.clone())
}

async fn accounts(State(s): State<Shared>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut inner = s.lock();
    let user_id = basic_user(&inner, &headers);
    drop(inner);
    log(&s, "GET", "/simplefin/accounts", query.as_deref(), &headers, user_id.is_some());
    inner = s.lock();
    if let Some(to) = inner.redirects.get("/simplefin/accounts").cloned() {
        return (StatusCode::FOUND, [("location", to)]).into_response();
    }
    let Some(user_id) = user_id else {
        return plain(StatusCode::FORBIDDEN, "Authentication failed");
    };
    let now = s.now();
    let Some(user) = inner.users.get_mut(&user_id) else {
        return plain(StatusCode::FORBIDDEN, "Authentication failed");
    };
    user.requests += 1;
    if user.revoked {
        return plain(StatusCode::FORBIDDEN, "Authentication failed: access revoked");
    }
    if let Some((status, times)) = user.status {
        user.status = (times > 1).then_some((status, times - 1));
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return if status >= 500 {
            (code, Html("<html><body><h1>Bad gateway</h1></body></html>".to_owned())).into_response()
        } else {
            plain(code, &format!("HTTP {status}"))
        };
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let num = |k: &str| param(k).and_then(|v| v.parse::<i64>().ok());
    let start = num("start-date").unwrap_or(now - 30 * DAY);
    let end = num("end-date").unwrap_or(i64::MAX);
    if end != i64::MAX && end - start > 90 * DAY {
        return plain(StatusCode::BAD_REQUEST, "The date range is limited to 90 days at a time");
    }
    let pending = param("pending").as_deref() == Some("1");
    let balances_only = param("balances-only").as_deref() == Some("1");
    let v2 = param("version").as_deref() == Some("2");
    let only: Vec<&String> = pairs.iter().filter(|(n, _)| n == "account").map(|(_, v)| v).collect();
    let origin = &s.origin;
    let errors = user.errors.clone();
    let mut out = Vec::new();
    for a in &user.accounts {
        if !only.is_empty() && !only.contains(&&a.id) {
            continue;
        }
        let conn = user.connections.iter().find(|c| c.conn_id == a.conn_id);
        let act_error =
            errors.iter().any(|e| e.code.starts_with("act.") && e.account_id.as_deref() == Some(a.id.as_str()));
        let mut v = json!({
            "id": a.id, "name": a.name, "currency": a.currency, "balance": a.balance, "balance-date": a.balance_date,
            "org": {"domain": conn.map(|c| c.domain.clone()), "name": conn.map(|c| c.org_name.clone()), "sfin-url": format!("{origin}/simplefin")},
        });
        if let Some(av) = &a.available {
            v["available-balance"] = json!(av);
        }
        if v2 {
            v["conn_id"] = json!(a.conn_id);
            v["conn_name"] = json!(conn.map(|c| c.name.clone()));
        }
        if !balances_only {
            let txns: Vec<&Txn> = if act_error {
                Vec::new()
            } else {
                a.transactions
                    .iter()
                    .filter(|t| pending || !(t.pending || t.posted == 0))
                    .filter(|t| (start..end).contains(&t.at()))
                    .collect()
            };
            v["transactions"] = json!(txns);
        }
        out.push(v);
    }
    let mut body = json!({
        "errors": errors.iter().map(|e| e.msg.clone()).collect::<Vec<_>>(),
        "accounts": out,
    });
    if v2 {
        body["errlist"] = json!(errors);
        body["connections"] = json!(user
            .connections
            .iter()
            .map(|c| json!({"conn_id": c.conn_id, "name": c.name, "org_id": c.org_id, "org_name": c.org_name,
                             "org_url": format!("https://{}", c.domain), "sfin_url": format!("{origin}/simplefin")}))
            .collect::<Vec<_>>());
    }
    Json(body).into_response()
}

// --- control -----------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct TokenReq {
    user: Option<String>,
}

async fn control_token(State(s): State<Shared>, body: Option<Json<TokenReq>>) -> Json<Value> {
    let user = body.and_then(|Json(b)| b.user);
    let (token, claim_url, user) = create_token(&s, user.as_deref());
    Json(json!({"token": token, "claim_url": claim_url, "user": user}))
}

fn with_user(s: &Shared, user: &str, f: impl FnOnce(&mut User) -> Value) -> Response {
    match s.lock().users.get_mut(user) {
        Some(u) => Json(f(u)).into_response(),
        None => plain(StatusCode::NOT_FOUND, "no such user"),
    }
}

async fn control_user(State(s): State<Shared>, Path(user): Path<String>) -> Response {
    with_user(
        &s,
        &user,
        |u| json!({"user": u.id, "requests": u.requests, "revoked": u.revoked, "connections": u.connections, "accounts": u.accounts}),
    )
}

async fn control_revoke(State(s): State<Shared>, Path(user): Path<String>) -> Response {
    with_user(&s, &user, |u| {
        u.revoked = true;
        json!({"revoked": true})
    })
}

async fn control_add_error(
    State(s): State<Shared>,
    Path(user): Path<String>,
    Json(e): Json<InjectedError>,
) -> Response {
    with_user(&s, &user, |u| {
        u.errors.push(e);
        json!({"errors": u.errors})
    })
}

async fn control_clear_errors(State(s): State<Shared>, Path(user): Path<String>) -> Response {
    with_user(&s, &user, |u| {
        u.errors.clear();
        json!({"errors": []})
    })
}

#[derive(Deserialize)]
struct StatusReq {
    status: u16,
    times: u32,
}

async fn control_status(State(s): State<Shared>, Path(user): Path<String>, Json(r): Json<StatusReq>) -> Response {
    with_user(&s, &user, |u| {
        u.status = (r.times > 0).then_some((r.status, r.times));
        json!({"status": r.status, "times": r.times})
    })
}

#[derive(Deserialize)]
struct NewTxn {
    id: Option<String>,
    amount: String,
    description: String,
    #[serde(default)]
    pending: bool,
    posted: Option<i64>,
    transacted_at: Option<i64>,
}

async fn control_add_txn(
    State(s): State<Shared>,
    Path((user, account)): Path<(String, String)>,
    Json(t): Json<NewTxn>,
) -> Response {
    let now = s.now();
    with_user(&s, &user, |u| {
        let Some(a) = u.accounts.iter_mut().find(|a| a.id == account) else {
            return json!({"error": "no such account"});
        };
        let txn = Txn {
            id: t.id.unwrap_or_else(|| format!("T-NEW-{}", random(8))),
            posted: if t.pending { 0 } else { t.posted.unwrap_or(now) },
            amount: t.amount,
            description: t.description,
            transacted_at: t.transacted_at.or(Some(now)),
            pending: t.pending,
            payee: None,
            memo: None,
        };
        a.transactions.push(txn.clone());
        json!(txn)
    })
}

#[derive(Deserialize, Default)]
struct PostReq {
    posted: Option<i64>,
    amount: Option<String>,
}

async fn control_post_txn(
    State(s): State<Shared>,
    Path((user, account, id)): Path<(String, String, String)>,
    body: Option<Json<PostReq>>,
) -> Response {
    let now = s.now();
    let r = body.map(|Json(b)| b).unwrap_or_default();
    with_user(&s, &user, |u| {
        let t = u
            .accounts
            .iter_mut()
            .find(|a| a.id == account)
            .and_then(|a| a.transactions.iter_mut().find(|t| t.id == id));
        match t {
            Some(t) => {
                t.pending = false;
                t.posted = r.posted.unwrap_or(now);
                if let Some(a) = r.amount {
                    t.amount = a;
                }
                json!(t)
            }
            None => json!({"error": "no such transaction"}),
        }
    })
}

async fn control_drop_txn(
    State(s): State<Shared>,
    Path((user, account, id)): Path<(String, String, String)>,
) -> Response {
    with_user(&s, &user, |u| {
        if let Some(a) = u.accounts.iter_mut().find(|a| a.id == account) {
            a.transactions.retain(|t| t.id != id);
        }
        json!({"deleted": id})
    })
}

#[derive(Deserialize)]
struct BalanceReq {
    balance: String,
    #[serde(rename = "available-balance")]
    available: Option<String>,
    #[serde(rename = "balance-date")]
    balance_date: Option<i64>,
}

async fn control_balance(
    State(s): State<Shared>,
    Path((user, account)): Path<(String, String)>,
    Json(b): Json<BalanceReq>,
) -> Response {
    let now = s.now();
    with_user(&s, &user, |u| match u.accounts.iter_mut().find(|a| a.id == account) {
        Some(a) => {
            a.balance = b.balance;
            a.available = b.available;
            a.balance_date = b.balance_date.unwrap_or(now);
            json!(a)
        }
        None => json!({"error": "no such account"}),
    })
}

#[derive(Deserialize)]
struct RedirectReq {
    path: String,
    location: String,
}

async fn control_redirect(State(s): State<Shared>, Json(r): Json<RedirectReq>) -> Json<Value> {
    s.lock().redirects.insert(r.path.clone(), r.location.clone());
    Json(json!({"path": r.path, "location": r.location}))
}

async fn control_clear_redirect(State(s): State<Shared>) -> Json<Value> {
    s.lock().redirects.clear();
    Json(json!({"redirects": []}))
}
