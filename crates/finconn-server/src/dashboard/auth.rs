//! Signing in (with a secret key, or a one-time link from `finconn dashboard-link`), the session cookie,
//! CSRF tokens, the test/live toggle and signing out.
//!
//! A sign-in opens a row in `dashboard_sessions` (the domain's `open_dashboard_session`): a random session
//! id, of which the database keeps only the SHA-256, the account, the modes unlocked and the end (12
//! hours). The cookie holds no key: `session_id.mode`, signed with HMAC-SHA256 under a key derived from the
//! master key (so every process sharing the database accepts it and it survives restarts), or a random
//! per-process key when there is no master key (sessions then end with the process). Every dashboard
//! request reads the row (one lookup by primary key): signing out deletes it, and so does
//! `finconn dashboard-link --revoke-all` for every session of an account, so a copied cookie stops working
//! at once. The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/dashboard`, and `Secure` when the public
//! URL is https. A form's CSRF token is an HMAC of the session id; every POST must carry it and, when the
//! browser says where it comes from (`Origin`, `Sec-Fetch-Site`), come from finconn's own origin. Sign-in
//! (the key form, and a link's **Sign in** button) is protected the same way with a short-lived
//! pre-session cookie.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use finconn_core::console::{DashboardSessionRecord, NewDashboardSession};
use finconn_core::keys::{ApiKey, KeyKind};
use finconn_core::{DomainError, Scope};
use hmac::{Hmac, Mac};
use minijinja::context;
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{render, see_other};
use crate::startup::AppState;

const SESSION_COOKIE: &str = "finconn_dashboard";
const LOGIN_COOKIE: &str = "finconn_dashboard_login";
const FLASH_COOKIE: &str = "finconn_dashboard_flash";
/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// How long the sign-in form may be open.
const LOGIN_SECONDS: i64 = 3600;

/// The key that signs the dashboard's cookies.
pub struct CookieKey([u8; 32]);

impl CookieKey {
    pub fn new(master: Option<&finconn_core::vault::MasterKey>) -> Self {
        let mut key = [0u8; 32];
        // A key of its own, derived one way from the master key: a cookie tells nothing about it.
        let derived = master.and_then(|m| {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(m.to_hex().as_bytes()).ok()?;
            mac.update(b"finconn dashboard cookies v1");
            Some(mac.finalize().into_bytes())
        });
        match derived {
            Some(d) => key.copy_from_slice(&d),
            None => rand::thread_rng().fill_bytes(&mut key),
        }
        Self(key)
    }

    fn mac(&self, purpose: &str, data: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else { return String::new() };
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    fn seal(&self, purpose: &str, data: &str) -> String {
        format!("{data}.{}", self.mac(purpose, data))
    }

    /// The data of a value `seal` made for `purpose`, if its signature holds.
    fn open<'a>(&self, purpose: &str, value: &'a str) -> Option<&'a str> {
        let (data, sig) = value.rsplit_once('.')?;
        let expected = self.mac(purpose, data);
        bool::from(expected.as_bytes().ct_eq(sig.as_bytes())).then_some(data)
    }
}

/// A signed-in person: one account, the modes whose secret key (or link) they gave, and the mode they look
/// at.
#[derive(Clone)]
pub struct Viewer {
    pub account: String,
    pub livemode: bool,
    pub can_test: bool,
    pub can_live: bool,
    expires: i64,
    /// The session id the cookie carries (a secret: its hash names the stored row).
    session: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// A message left by the previous POST (shown once).
    pub flash: Option<(String, String)>,
}

impl Viewer {
    pub fn scope(&self) -> Scope {
        Scope { account: self.account.clone(), livemode: self.livemode }
    }

    /// What the cookie carries (before signing): the session id and the mode shown.
    fn encode(&self) -> String {
        encode_cookie(&self.session, self.livemode)
    }

    /// The session id and the mode a cookie's data names.
    fn decode(data: &str) -> Option<(&str, bool)> {
        let (session, mode) = data.split_once('.')?;
        let livemode = match mode {
            "l" => true,
            "t" => false,
            _ => return None,
        };
        (session.len() >= 32 && !session.contains('.')).then_some((session, livemode))
    }

    /// The template context every page's layout reads.
    pub fn context(&self) -> minijinja::Value {
        context! {
            account => self.account,
            livemode => self.livemode,
            can_test => self.can_test,
            can_live => self.can_live,
            csrf => self.csrf,
            flash_kind => self.flash.as_ref().map(|f| f.0.clone()),
            flash => self.flash.as_ref().map(|f| f.1.clone()),
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(res: &mut Response, app: &AppState, name: &str, value: &str, max_age: i64) {
    let secure = if app.dashboard.secure { "; Secure" } else { "" };
    let v = format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn random_nonce() -> String {
    let mut b = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut b);
    B64.encode(b)
}

/// Leaves a message for the next page (after a redirect), signed so no one else can put words there.
pub fn flash(app: &AppState, mut res: Response, kind: &str, message: &str) -> Response {
    let text: String = message.chars().take(400).collect();
    let data = B64.encode(format!("{kind}\n{text}"));
    let value = app.dashboard.keys.seal("flash", &data);
    set_cookie(&mut res, app, FLASH_COOKIE, &value, 60);
    res
}

/// Forgets the flash message once a page showed it.
pub fn clear_flash(app: &AppState, res: &mut Response) {
    set_cookie(res, app, FLASH_COOKIE, "", 0);
}

fn read_flash(app: &AppState, headers: &HeaderMap) -> Option<(String, String)> {
    let raw = cookie(headers, FLASH_COOKIE)?;
    let data = app.dashboard.keys.open("flash", &raw)?;
    let text = String::from_utf8(B64.decode(data).ok()?).ok()?;
    let (kind, message) = text.split_once('\n')?;
    let kind = if kind == "error" { "error" } else { "notice" };
    Some((kind.to_owned(), message.to_owned()))
}

/// Why a request has no viewer: never signed in (or signed out, or expired), a POST that is not from our
/// own forms, or the database did not answer.
pub enum Refused {
    SignIn(String),
    Forbidden(&'static str),
    Unavailable,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn(next) => see_other(&format!("/dashboard/login?next={}", urlencode(&next))),
            Refused::Forbidden(why) => forbidden(why),
            Refused::Unavailable => unavailable(),
        }
    }
}

fn unavailable() -> Response {
    render(
        StatusCode::SERVICE_UNAVAILABLE,
        "message.html",
        context! {
            title => "Try again in a moment",
            message => "The dashboard could not reach its database just now. Nothing was changed.",
            back => "/dashboard/sessions",
        },
    )
}

pub fn forbidden(why: &str) -> Response {
    render(
        StatusCode::FORBIDDEN,
        "message.html",
        context! { title => "Request refused", message => why, back => "/dashboard/sessions" },
    )
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("account", &self.account)
            .field("livemode", &self.livemode)
            .field("can_test", &self.can_test)
            .field("can_live", &self.can_live)
            .finish_non_exhaustive()
    }
}

fn encode_cookie(session: &str, livemode: bool) -> String {
    format!("{session}.{}", if livemode { "l" } else { "t" })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refused> {
        let next = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let viewer = match read_session(app, &parts.headers).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "dashboard: the session could not be read");
                return Err(Refused::Unavailable);
            }
        };
        match viewer {
            Some(v) => Ok(v),
            None if parts.method == Method::GET => Err(Refused::SignIn(next)),
            None => Err(Refused::Forbidden(
                "This form was not sent from a signed-in finconn dashboard page (your session may have ended). \
                 Nothing was changed.",
            )),
        }
    }
}

/// The viewer a request's cookie names: its signature holds and its session is still stored (not signed
/// out, revoked or expired).
async fn read_session(app: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, DomainError> {
    let Some(raw) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let Some((session, livemode)) = app.dashboard.keys.open("session", &raw).and_then(Viewer::decode) else {
        return Ok(None);
    };
    let Some(row) = app.core.dashboard_session(session).await? else { return Ok(None) };
    // A mode the session was not given is never shown, whatever the cookie says.
    let livemode = match (livemode, row.can_test, row.can_live) {
        (true, _, true) => true,
        (false, true, _) => false,
        (_, false, true) => true,
        _ => false,
    };
    Ok(Some(viewer_of(app, session.to_owned(), &row, livemode, read_flash(app, headers))))
}

fn viewer_of(
    app: &AppState,
    session: String,
    row: &DashboardSessionRecord,
    livemode: bool,
    flash: Option<(String, String)>,
) -> Viewer {
    Viewer {
        account: row.account.clone(),
        livemode,
        can_test: row.can_test,
        can_live: row.can_live,
        expires: row.expires_at,
        csrf: app.dashboard.keys.mac("csrf", &session),
        session,
        flash,
    }
}

/// The cookie of a session just opened, on `res`, showing `livemode`.
fn set_session_cookie(app: &AppState, res: &mut Response, opened: &NewDashboardSession, livemode: bool) {
    let value = app.dashboard.keys.seal("session", &encode_cookie(&opened.id, livemode));
    let left = (opened.record.expires_at - app.core.now()).max(0);
    set_cookie(res, app, SESSION_COOKIE, &value, left);
}

/// The pairs of a dashboard form, after the checks every POST passes: it comes from our origin (when the
/// browser says), and carries this session's CSRF token.
pub fn checked_form(viewer: &Viewer, headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, Refused> {
    same_origin(headers)?;
    let pairs = crate::extract::form::parse(body).map(|f| f.pairs).unwrap_or_default();
    let token = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if !bool::from(token.as_bytes().ct_eq(viewer.csrf.as_bytes())) {
        return Err(Refused::Forbidden(
            "The form's security token is missing or out of date (it may come from another site, or from \
             before you signed in again). Nothing was changed; reload the page and try again.",
        ));
    }
    Ok(pairs)
}

/// A form sent by another site's page is refused before anything else is read.
fn same_origin(headers: &HeaderMap) -> Result<(), Refused> {
    let cross = |why| Err(Refused::Forbidden(why));
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site")
    {
        return cross("This form was sent from another site. Nothing was changed.");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let ours = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        if ours != Some(host) {
            return cross("This form was sent from another site. Nothing was changed.");
        }
    }
    Ok(())
}

pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    mode: Option<String>,
    signed_out: Option<String>,
}

/// Only a path of the dashboard, never another host (`//evil`), is a place to return to.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/dashboard") && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/dashboard/sessions".to_owned(),
    }
}

/// `GET /dashboard/login`
pub async fn login_page(State(app): State<AppState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let signed_in = read_session(&app, &headers).await.ok().flatten();
    let live = q.mode.as_deref() == Some("live");
    let notice = if q.signed_out.is_some() {
        Some("You are signed out.")
    } else if live && signed_in.is_some() {
        Some("Live mode shows real data: enter a live secret key (sk_live_…) of this same account to view it.")
    } else {
        None
    };
    login_form(&app, StatusCode::OK, safe_next(q.next.as_deref()), None, notice, live)
}

/// A sign-in form's pre-session: the cookie to set and the CSRF token the form carries.
fn pre_session(app: &AppState) -> (String, String) {
    let nonce = random_nonce();
    let expires = app.core.now() + LOGIN_SECONDS;
    let value = app.dashboard.keys.seal("login", &format!("{expires}.{nonce}"));
    (value, app.dashboard.keys.mac("login-csrf", &nonce))
}

/// Whether a sign-in form's `csrf` matches the pre-session cookie this browser got with the form.
fn pre_session_ok(app: &AppState, headers: &HeaderMap, token: &str) -> bool {
    cookie(headers, LOGIN_COOKIE)
        .and_then(|raw| app.dashboard.keys.open("login", &raw).map(str::to_owned))
        .and_then(|data| {
            let (expires, nonce) = data.split_once('.')?;
            (expires.parse::<i64>().ok()? > app.core.now()).then(|| app.dashboard.keys.mac("login-csrf", nonce))
        })
        .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(token.as_bytes())))
}

fn login_form(
    app: &AppState,
    status: StatusCode,
    next: String,
    error: Option<&str>,
    notice: Option<&str>,
    live: bool,
) -> Response {
    let (value, csrf) = pre_session(app);
    let mut res = render(status, "login.html", context! { next, error, notice, csrf, live });
    set_cookie(&mut res, app, LOGIN_COOKIE, &value, LOGIN_SECONDS);
    res
}

/// `POST /dashboard/login`: `secret_key`, `csrf`, `next`.
pub async fn login(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let pairs = crate::extract::form::parse(&body).map(|f| f.pairs).unwrap_or_default();
    let next = safe_next(field(&pairs, "next"));
    if !pre_session_ok(&app, &headers, field(&pairs, "csrf").unwrap_or("")) {
        return forbidden(
            "The sign-in form's security token is missing or out of date (the form may come from another site, \
             or was open for more than an hour). Reload the sign-in page and try again.",
        );
    }
    let raw = field(&pairs, "secret_key").unwrap_or("").trim();
    let fail = |status, message: &str| login_form(&app, status, next.clone(), Some(message), None, false);
    if raw.is_empty() {
        return fail(StatusCode::BAD_REQUEST, "Enter the secret key of your account (sk_test_… or sk_live_…).");
    }
    let Some(key) = ApiKey::parse(raw) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "This is not a finconn API key: secret keys start with sk_test_ or sk_live_.",
        );
    };
    if key.kind == KeyKind::Publishable {
        return fail(
            StatusCode::BAD_REQUEST,
            "This is a publishable key (pk_…), which anyone can see. Sign in with the account's secret key (sk_…).",
        );
    }
    let caller = match app.core.authenticate(&key).await {
        Ok(Some(c)) if c.kind == KeyKind::Secret => c,
        Ok(_) => return fail(StatusCode::UNAUTHORIZED, "No account has this secret key."),
        Err(e) => {
            tracing::error!(error = %e, "dashboard sign-in: the key could not be checked");
            return fail(StatusCode::SERVICE_UNAVAILABLE, "The key could not be checked just now. Try again.");
        }
    };
    let livemode = caller.scope.livemode;
    // Signed in to this account already (with the other mode's key): both modes are open now, in a new
    // session that replaces the previous one.
    let previous = read_session(&app, &headers).await.ok().flatten();
    let widen = previous.as_ref().filter(|v| v.account == caller.scope.account);
    let (can_test, can_live) = match widen {
        Some(p) => (p.can_test || !livemode, p.can_live || livemode),
        None => (!livemode, livemode),
    };
    let opened = match app.core.open_dashboard_session(&caller.scope.account, can_test, can_live, SESSION_SECONDS).await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "dashboard sign-in: the session could not be stored");
            return fail(StatusCode::SERVICE_UNAVAILABLE, "The sign-in could not be saved just now. Try again.");
        }
    };
    end_previous(&app, previous).await;
    tracing::info!(account = %opened.record.account, livemode, "dashboard sign-in");
    let mut res = see_other(&next);
    set_session_cookie(&app, &mut res, &opened, livemode);
    set_cookie(&mut res, &app, LOGIN_COOKIE, "", 0);
    res
}

/// A browser that signs in again leaves no session behind.
async fn end_previous(app: &AppState, previous: Option<Viewer>) {
    if let Some(p) = previous {
        if let Err(e) = app.core.end_dashboard_session(&p.session).await {
            tracing::warn!(error = %e, "dashboard sign-in: the previous session could not be ended");
        }
    }
}

/// `POST /dashboard/logout`: ends the session itself, not only this browser's cookie.
pub async fn logout(State(app): State<AppState>, viewer: Viewer, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = checked_form(&viewer, &headers, &body) {
        return refused.into_response();
    }
    if let Err(e) = app.core.end_dashboard_session(&viewer.session).await {
        tracing::error!(error = %e, "dashboard sign-out: the session could not be ended");
        return unavailable();
    }
    tracing::info!(account = %viewer.account, "dashboard sign-out");
    let mut res = see_other("/dashboard/login?signed_out=1");
    set_cookie(&mut res, &app, SESSION_COOKIE, "", 0);
    res
}

/// Where a sign-in link's page is: `/dashboard/link/{token}`. Its path is cut from logs (`telemetry`).
#[derive(Deserialize)]
pub struct LinkPath {
    token: String,
}

/// A token is 43 base64url characters; anything else names no link (and is never looked up).
fn plausible_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The page of a link that cannot be used: the same for a used, an expired and an unknown link.
fn link_gone() -> Response {
    render(StatusCode::GONE, "link.html", context! { gone => true })
}

/// `GET /dashboard/link/{token}`: what the link opens and a **Sign in** button. Showing the page uses
/// nothing, so a link preview or a prefetch cannot spend the link; the button's POST does.
pub async fn link_page(State(app): State<AppState>, axum::extract::Path(p): axum::extract::Path<LinkPath>) -> Response {
    if !plausible_token(&p.token) {
        return link_gone();
    }
    let link = match app.core.peek_dashboard_link(&p.token).await {
        Ok(Some(l)) => l,
        Ok(None) => return link_gone(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard link: the link could not be read");
            return unavailable();
        }
    };
    let (value, csrf) = pre_session(&app);
    let ctx = context! {
        gone => false,
        account => link.account,
        livemode => link.livemode,
        expires => super::human_time(link.expires_at),
        token => p.token,
        csrf,
    };
    // The URL holds the token: the dashboard's `Referrer-Policy: same-origin` keeps it from any other
    // origin (the page links nowhere else). Not `no-referrer`: the form's POST would then carry
    // `Origin: null`, which the same-origin check refuses.
    let mut res = render(StatusCode::OK, "link.html", ctx);
    set_cookie(&mut res, &app, LOGIN_COOKIE, &value, LOGIN_SECONDS);
    res
}

/// `POST /dashboard/link/{token}` (`csrf`): uses the link, once, and signs in to its account in its mode.
pub async fn use_link(
    State(app): State<AppState>,
    axum::extract::Path(p): axum::extract::Path<LinkPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let pairs = crate::extract::form::parse(&body).map(|f| f.pairs).unwrap_or_default();
    if !pre_session_ok(&app, &headers, field(&pairs, "csrf").unwrap_or("")) {
        return forbidden(
            "The sign-in page's security token is missing or out of date (the form may come from another site, or \
             was open for more than an hour). Open the link again; it has not been used.",
        );
    }
    if !plausible_token(&p.token) {
        return link_gone();
    }
    let opened = match app.core.redeem_dashboard_link(&p.token, SESSION_SECONDS).await {
        Ok(Some(o)) => o,
        Ok(None) => return link_gone(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard link: the link could not be used");
            return unavailable();
        }
    };
    end_previous(&app, read_session(&app, &headers).await.ok().flatten()).await;
    let livemode = opened.record.can_live;
    tracing::info!(account = %opened.record.account, livemode, "dashboard sign-in with a link");
    let mut res = see_other("/dashboard");
    set_session_cookie(&app, &mut res, &opened, livemode);
    set_cookie(&mut res, &app, LOGIN_COOKIE, "", 0);
    res
}

/// `POST /dashboard/mode` (`mode=live|test`): the toggle. A mode whose key was not given goes to the sign-in
/// page, which asks for it.
pub async fn switch_mode(State(app): State<AppState>, viewer: Viewer, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = match checked_form(&viewer, &headers, &body) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let live = field(&pairs, "mode") == Some("live");
    if (live && !viewer.can_live) || (!live && !viewer.can_test) {
        let mode = if live { "live" } else { "test" };
        return see_other(&format!("/dashboard/login?mode={mode}"));
    }
    let updated = Viewer { livemode: live, ..viewer };
    let mut res = see_other("/dashboard/sessions");
    // The session row stays; only the mode the cookie shows changes.
    let value = app.dashboard.keys.seal("session", &updated.encode());
    let left = (updated.expires - app.core.now()).max(0);
    set_cookie(&mut res, &app, SESSION_COOKIE, &value, left);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_only_with_its_key_and_purpose() {
        let k = CookieKey::new(None);
        let sealed = k.seal("session", "acct_1.t.t.100.abcdefghijklmnopqrstuvwx");
        assert_eq!(k.open("session", &sealed), Some("acct_1.t.t.100.abcdefghijklmnopqrstuvwx"));
        assert_eq!(k.open("flash", &sealed), None);
        assert_eq!(CookieKey::new(None).open("session", &sealed), None);
        let tampered = sealed.replacen("acct_1", "acct_2", 1);
        assert_eq!(k.open("session", &tampered), None);
    }

    #[test]
    fn a_cookie_names_a_session_and_a_mode_and_nothing_else() {
        let id = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
        assert_eq!(Viewer::decode(&format!("{id}.l")), Some((id, true)));
        assert_eq!(Viewer::decode(&format!("{id}.t")), Some((id, false)));
        assert_eq!(Viewer::decode(&format!("{id}.x")), None);
        assert_eq!(Viewer::decode("short.t"), None);
        assert_eq!(Viewer::decode(&format!("acct_1.{id}.t")), None);
    }

    #[test]
    fn only_tokens_of_the_right_shape_are_looked_up() {
        assert!(plausible_token("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM-_01"));
        assert!(!plausible_token("abc"));
        assert!(!plausible_token("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM-_0/"));
    }

    #[test]
    fn only_dashboard_paths_are_returned_to() {
        assert_eq!(safe_next(Some("//evil.example/dashboard")), "/dashboard/sessions");
        assert_eq!(safe_next(Some("https://evil.example")), "/dashboard/sessions");
        assert_eq!(safe_next(Some("/dashboard/accounts?status=active")), "/dashboard/accounts?status=active");
    }
}
