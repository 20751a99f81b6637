//! What the merchant dashboard reads beyond Stripe's API: sessions listed and filtered, the balance history
//! an account's refresh events recorded, and the request log (the last API requests of an account, as
//! Stripe Workbench shows them). Reads only, except the request log, which the server appends to, and the
//! dashboard's sign-ins: one-time sign-in links (`finconn dashboard-link`) and revocable sessions.

use rand::RngCore;

use crate::model::{Scope, SessionRecord, SessionStatus};
use crate::store::{Cursor, EventFilter, Page, PageRequest};
use crate::{DomainError, Finconn};

/// One API request as the request log keeps it. Never a body: method, path, outcome and the ids a
/// developer searches by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLogRecord {
    /// The store's own order (newest first) and cursor; 0 for a row not stored yet.
    pub seq: i64,
    pub scope: Scope,
    pub request_id: String,
    /// Unix milliseconds when the request arrived.
    pub created_ms: i64,
    pub method: String,
    /// The path only: no query string (parameters are the request's, like its body).
    pub path: String,
    pub status: u16,
    pub duration_ms: i64,
    pub idempotency_key: Option<String>,
    pub error_type: Option<String>,
    pub error_code: Option<String>,
    pub error_param: Option<String>,
}

/// Which rows of the request log a page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLogFilter {
    /// Exactly this `Request-Id`.
    pub request_id: Option<String>,
    /// Only answers with a status of 400 or more.
    pub errors_only: bool,
}

/// How long the request log keeps rows: per account and mode, at most `max_rows`, none older than
/// `max_age_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLogRetention {
    pub max_age_seconds: i64,
    pub max_rows: i64,
}

/// A session's state as the dashboard filters on it: `expired` is an open session whose client secret can
/// no longer be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Open,
    Expired,
    Completed,
    Cancelled,
}

impl SessionState {
    pub const ALL: [SessionState; 4] =
        [SessionState::Open, SessionState::Expired, SessionState::Completed, SessionState::Cancelled];

    pub fn of(rec: &SessionRecord, now: i64) -> Self {
        match rec.status {
            SessionStatus::Completed => SessionState::Completed,
            SessionStatus::Cancelled => SessionState::Cancelled,
            SessionStatus::Open if rec.expires_at <= now => SessionState::Expired,
            SessionStatus::Open => SessionState::Open,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Open => "open",
            SessionState::Expired => "expired",
            SessionState::Completed => "completed",
            SessionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The dashboard's session list filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub state: Option<SessionState>,
    pub customer: Option<String>,
}

/// The dashboard's transaction filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionSearch {
    /// `pending`, `posted` or `void`.
    pub status: Option<String>,
    /// Words the description contains, lowercase (compared case-insensitively).
    pub search: Option<String>,
}

/// One point of an account's balance history: when it was refreshed, and the current balance then (minor
/// units per currency).
#[derive(Clone, Debug, PartialEq)]
pub struct BalancePoint {
    pub at: i64,
    pub current: Vec<(String, i64)>,
}

/// A one-time dashboard sign-in link as stored: the SHA-256 of its token, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardLinkRecord {
    pub hash: String,
    pub account: String,
    pub livemode: bool,
    pub created: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A dashboard sign-in as stored: the SHA-256 of the session id the cookie carries, the account, the modes
/// whose key (or link) was given, and when it ends. Signing out deletes the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSessionRecord {
    pub hash: String,
    pub account: String,
    pub can_test: bool,
    pub can_live: bool,
    pub created: i64,
    pub expires_at: i64,
}

/// A new sign-in link: the token (shown once, then only its hash exists) and what it opens.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDashboardLink {
    pub token: String,
    pub account: String,
    pub livemode: bool,
    pub expires_at: i64,
}

impl std::fmt::Debug for NewDashboardLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDashboardLink")
            .field("token", &"<redacted>")
            .field("account", &self.account)
            .field("livemode", &self.livemode)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A dashboard session just opened: its id (the cookie's secret; only its hash is stored) and its row.
#[derive(Clone)]
pub struct NewDashboardSession {
    pub id: String,
    pub record: DashboardSessionRecord,
}

/// How long a sign-in link lasts unless asked otherwise, and at most.
pub const LINK_DEFAULT_SECONDS: i64 = 15 * 60;
pub const LINK_MAX_SECONDS: i64 = 24 * 3600;

/// 32 bytes from the CSPRNG (`ids`' thread-local ChaCha12, seeded from the OS), base64url: 43 characters.
fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a token or session id is stored and looked up: by digest, so no secret is ever compared byte by
/// byte (as API keys, `keys::hash_key`).
fn digest(secret: &str) -> String {
    crate::keys::hash_key(secret)
}

/// How many balance refresh events the history reads.
const HISTORY_EVENTS: u32 = 100;
const HISTORY_PAGES: usize = 10;

impl Finconn {
    /// Sessions newest first, filtered by state and customer in the store's query: a page holds `limit`
    /// matching sessions whenever that many exist, and its cursor is its last session.
    pub async fn list_sessions(
        &self,
        scope: &Scope,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<SessionRecord>, DomainError> {
        self.store
            .list_sessions_where(scope, filter, self.now(), page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, "financial_connections.session", page))
    }

    /// Linked accounts newest first, of one status (`active`, `inactive`, `disconnected`) when given.
    pub async fn list_accounts_with_status(
        &self,
        scope: &Scope,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<finconn_types::Account>, DomainError> {
        let p = self
            .store
            .list_accounts_where(scope, status, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, "financial_connections.account", page))?;
        Ok(Page { items: p.items.iter().map(|a| a.to_wire(scope.livemode)).collect(), has_more: p.has_more })
    }

    /// An account's transactions, newest first, filtered by status and by words of the description.
    pub async fn search_transactions(
        &self,
        scope: &Scope,
        account: &str,
        filter: &TransactionSearch,
        page: &PageRequest,
    ) -> Result<Page<finconn_types::Transaction>, DomainError> {
        self.find_account(scope, account, None).await?;
        let p = self
            .store
            .list_transactions_where(scope, account, filter, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, "financial_connections.transaction", page))?;
        Ok(Page { items: p.items.iter().map(|t| t.to_wire(scope.livemode)).collect(), has_more: p.has_more })
    }

    /// The account's balance after each successful balance refresh still in the event history (30 days),
    /// oldest first. The account record keeps only the latest balance; the refresh events keep the rest.
    pub async fn balance_history(&self, scope: &Scope, account: &str) -> Result<Vec<BalancePoint>, DomainError> {
        self.find_account(scope, account, None).await?;
        let filter = EventFilter {
            kinds: vec!["financial_connections.account.refreshed_balance".to_owned()],
            created: (i64::MIN, i64::MAX),
            delivery_success: None,
        };
        let mut points = Vec::new();
        let mut cursor = None;
        for _ in 0..HISTORY_PAGES {
            let page = self.list_events(scope, filter.clone(), &PageRequest { limit: HISTORY_EVENTS, cursor }).await?;
            for e in &page.items {
                let obj = &e.data.object;
                if obj.get("id").and_then(|v| v.as_str()) != Some(account) {
                    continue;
                }
                let balance = &obj["balance"];
                let at = balance["as_of"].as_i64().unwrap_or(e.created);
                let current: Vec<(String, i64)> = balance["current"]
                    .as_object()
                    .map(|m| m.iter().filter_map(|(c, v)| v.as_i64().map(|n| (c.clone(), n))).collect())
                    .unwrap_or_default();
                if !current.is_empty() {
                    points.push(BalancePoint { at, current });
                }
            }
            match (page.has_more, page.items.last()) {
                (true, Some(last)) => cursor = Some(Cursor::After(last.id.clone())),
                _ => break,
            }
        }
        points.sort_by_key(|p| p.at);
        points.dedup_by(|a, b| a.at == b.at && a.current == b.current);
        Ok(points)
    }

    /// Appends answered requests to the request log (the server's background writer calls this in
    /// batches).
    pub async fn record_requests(&self, rows: &[RequestLogRecord]) -> Result<(), DomainError> {
        if rows.is_empty() {
            return Ok(());
        }
        Ok(self.store.insert_request_log(rows).await?)
    }

    /// The request log newest first; `before` is the `seq` of the last row of the previous page.
    pub async fn request_log(
        &self,
        scope: &Scope,
        filter: &RequestLogFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<RequestLogRecord>, DomainError> {
        Ok(self.store.list_request_log(scope, filter, before, limit.clamp(1, 100)).await?)
    }

    /// Makes a one-time link that signs in to `account`'s dashboard in one mode, valid `ttl_seconds` (1 s to
    /// 24 h). The account must exist.
    pub async fn create_dashboard_link(
        &self,
        account: &str,
        livemode: bool,
        ttl_seconds: i64,
    ) -> Result<NewDashboardLink, DomainError> {
        if !(1..=LINK_MAX_SECONDS).contains(&ttl_seconds) {
            return Err(DomainError::InvalidParam {
                param: "ttl".to_owned(),
                message: format!("a sign-in link lasts between 1 second and 24 hours, not {ttl_seconds} seconds"),
            });
        }
        if self.store.get_account(account).await?.is_none() {
            return Err(DomainError::not_found("account", account, Some("account")));
        }
        let token = random_token();
        let now = self.now();
        let record = DashboardLinkRecord {
            hash: digest(&token),
            account: account.to_owned(),
            livemode,
            created: now,
            expires_at: now + ttl_seconds,
            used_at: None,
        };
        self.store.insert_dashboard_link(&record).await?;
        Ok(NewDashboardLink { token, account: record.account, livemode, expires_at: record.expires_at })
    }

    /// The link a token names, if it can still be used (unused, unexpired). Reads only: showing the link's
    /// page does not use it.
    pub async fn peek_dashboard_link(&self, token: &str) -> Result<Option<DashboardLinkRecord>, DomainError> {
        let link = self.store.dashboard_link(&digest(token)).await?;
        Ok(link.filter(|l| l.used_at.is_none() && l.expires_at > self.now()))
    }

    /// Uses a link, once: the session it opens (its mode only, `session_seconds` long), or `None` when the
    /// link is used, expired or unknown.
    pub async fn redeem_dashboard_link(
        &self,
        token: &str,
        session_seconds: i64,
    ) -> Result<Option<NewDashboardSession>, DomainError> {
        let now = self.now();
        let id = random_token();
        // Account and modes come from the link row, in the store's transaction; these are placeholders.
        let template = DashboardSessionRecord {
            hash: digest(&id),
            account: String::new(),
            can_test: false,
            can_live: false,
            created: now,
            expires_at: now + session_seconds,
        };
        let record = self.store.redeem_dashboard_link(&digest(token), now, &template).await?;
        Ok(record.map(|record| NewDashboardSession { id, record }))
    }

    /// Opens a dashboard session (after a sign-in with a secret key).
    pub async fn open_dashboard_session(
        &self,
        account: &str,
        can_test: bool,
        can_live: bool,
        session_seconds: i64,
    ) -> Result<NewDashboardSession, DomainError> {
        let now = self.now();
        let id = random_token();
        let record = DashboardSessionRecord {
            hash: digest(&id),
            account: account.to_owned(),
            can_test,
            can_live,
            created: now,
            expires_at: now + session_seconds,
        };
        self.store.insert_dashboard_session(&record).await?;
        Ok(NewDashboardSession { id, record })
    }

    /// The open session a cookie's session id names (one read by primary key), unless ended or expired.
    pub async fn dashboard_session(&self, id: &str) -> Result<Option<DashboardSessionRecord>, DomainError> {
        Ok(self.store.dashboard_session(&digest(id), self.now()).await?)
    }

    /// Signs one session out.
    pub async fn end_dashboard_session(&self, id: &str) -> Result<bool, DomainError> {
        Ok(self.store.delete_dashboard_session(&digest(id)).await?)
    }

    /// Signs every dashboard session of an account out and voids its unused links; returns (sessions,
    /// links).
    pub async fn end_dashboard_sessions(&self, account: &str) -> Result<(u64, u64), DomainError> {
        if self.store.get_account(account).await?.is_none() {
            return Err(DomainError::not_found("account", account, Some("account")));
        }
        Ok(self.store.delete_dashboard_sessions(account).await?)
    }

    /// Removes expired dashboard sessions and links (housekeeping).
    pub async fn prune_dashboard_auth(&self) -> Result<u64, DomainError> {
        Ok(self.store.prune_dashboard_auth(self.now()).await?)
    }

    /// Removes the rows of one account and mode beyond `retention`'s row limit (as rows arrive); returns how
    /// many.
    pub async fn trim_request_log(&self, scope: &Scope, retention: RequestLogRetention) -> Result<u64, DomainError> {
        Ok(self.store.trim_request_log(scope, retention.max_rows).await?)
    }

    /// Removes request log rows past `retention` (housekeeping).
    pub async fn prune_request_log(&self, retention: RequestLogRetention) -> Result<u64, DomainError> {
        let before_ms = (self.now() - retention.max_age_seconds).saturating_mul(1000);
        Ok(self.store.prune_request_log(before_ms, retention.max_rows).await?)
    }
}
