//! The Enable Banking connector: PSD2 account information for banks in the EU/EEA and the UK. The user
//! picks a bank, authorizes finconn at the bank's own page (strong customer authentication, in the
//! modal's popup), and the bank sends them back to finconn's callback with a code, which becomes an
//! Enable Banking session: the credential, sealed at rest like every connector's.
//!
//! Protocol (Enable Banking's API reference): every call carries an RS256 JWT of the application
//! (`jwt.rs`); `GET /aspsps` lists banks per country; `POST /auth` starts an authorization and returns the
//! bank's URL; `POST /sessions` turns the code into a session; `GET /sessions/{id}`,
//! `GET /accounts/{uid}/details|balances|transactions` read data. Everything goes through the outbound
//! policy (`crate::outbound`).

pub mod jwt;
pub mod wire;

use std::collections::HashMap;
use std::sync::RwLock;

use finconn_core::connector::{
    AccountSync, Connector, ConnectorError, Costed, DiscoveredAccount, LinkInput, Quota, Secret, SyncData, SyncRequest,
};
use finconn_core::provider::{BalanceData, BalanceKind, Institution, InstitutionStatus, LoginKind, OwnerData};
use finconn_types::Permission;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::outbound::{Outbound, OutboundError};
use crate::simplefin::wire::sanitize;

pub const NAME: &str = "enable_banking";
pub const DEFAULT_API_BASE: &str = "https://api.enablebanking.com";
/// PSD2 lets a provider read an account without the user present at most four times a day.
pub const ACCESSES_PER_DAY: usize = 4;
/// Transactions are read in windows of this many days at most.
pub const WINDOW_DAYS: i64 = 90;
/// A bank that does not say how long its consents may last gets this (PSD2's usual 90 days).
pub const DEFAULT_CONSENT_SECONDS: i64 = 90 * 86_400;
/// A transaction listing that keeps paging past this is not trusted.
const MAX_PAGES: usize = 1000;
const PREFIX: &str = "fcinst_EB";

/// What the operator configures.
#[derive(Clone)]
pub struct Settings {
    pub application_id: String,
    /// PEM (PKCS#1 or PKCS#8). Only kept long enough to build the signer.
    pub private_key_pem: zeroize::Zeroizing<Vec<u8>>,
    pub api_base: url::Url,
    /// finconn's callback as registered with Enable Banking (`{public_url}/link/oauth/callback`).
    pub redirect_url: String,
    /// Countries whose banks are offered; empty: the application's own countries (`GET /application`).
    pub countries: Vec<String>,
    /// An upper bound on how long consents are asked for, in seconds (the bank's own maximum also applies).
    pub max_consent_seconds: Option<i64>,
}

#[derive(Clone, Debug)]
struct Bank {
    institution: Institution,
    name: String,
    country: String,
    max_consent: i64,
}

pub struct EnableBanking {
    signer: jwt::Signer,
    api: url::Url,
    redirect_url: String,
    countries: Vec<String>,
    max_consent: Option<i64>,
    http: Outbound,
    banks: RwLock<Vec<Bank>>,
}

/// The credential sealed on the connection: the Enable Banking session and when its consent ends.
#[derive(Serialize, Deserialize)]
struct Credential {
    session_id: String,
    valid_until: i64,
}

/// An error answer of the API, classified by what it means for finconn.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: Option<String>,
    message: String,
}

const SESSION_GONE: &[&str] =
    &["EXPIRED_SESSION", "REVOKED_SESSION", "CLOSED_SESSION", "SESSION_DOES_NOT_EXIST", "WRONG_SESSION_STATUS"];

impl ApiError {
    fn session_gone(&self) -> bool {
        self.status == 403 || self.code.as_deref().is_some_and(|c| SESSION_GONE.contains(&c))
    }

    /// What it means during a sync (or a discovery) of an existing session.
    fn for_session(self) -> ConnectorError {
        let m = self.message.clone();
        if self.session_gone() {
            return ConnectorError::AuthRevoked(format!(
                "The bank's consent is no longer valid ({m}). Link the accounts again to renew it."
            ));
        }
        self.general()
    }

    fn general(self) -> ConnectorError {
        let m = self.message;
        match (self.status, self.code.as_deref()) {
            (429, _) | (_, Some("ASPSP_RATE_LIMIT_EXCEEDED")) => {
                ConnectorError::RateLimited(format!("The bank limits how often accounts may be read ({m})."))
            }
            (401, _) => ConnectorError::Temporary(format!(
                "Enable Banking refused finconn's application credentials ({m}); the operator should check the application id and key."
            )),
            _ => ConnectorError::Temporary(format!("Enable Banking answered HTTP {} ({m}).", self.status)),
        }
    }
}

fn outbound_error(e: OutboundError) -> ConnectorError {
    match e {
        OutboundError::Refused(m) | OutboundError::Redirect(m) => ConnectorError::Refused(m),
        OutboundError::Timeout => ConnectorError::Temporary("Enable Banking did not answer in time.".into()),
        OutboundError::Network(m) => ConnectorError::Temporary(format!("Enable Banking could not be reached: {m}")),
        OutboundError::TooLarge(n) => ConnectorError::BadData(format!("Enable Banking's answer was over {n} bytes.")),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The stable institution id of a bank: `fcinst_EB` and a hash of its country and name.
pub fn institution_id(country: &str, name: &str) -> String {
    let hash = format!("{}/{}", country.to_uppercase(), name)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{PREFIX}{hash:016x}")
}

enum Failure {
    Api(ApiError),
    Other(ConnectorError),
}

impl EnableBanking {
    pub fn new(settings: Settings, http: Outbound) -> Result<Self, jwt::KeyError> {
        let signer = jwt::Signer::new(&settings.application_id, &settings.private_key_pem)?;
        Ok(Self {
            signer,
            api: settings.api_base,
            redirect_url: settings.redirect_url,
            countries: settings.countries.iter().map(|c| c.to_uppercase()).collect(),
            max_consent: settings.max_consent_seconds,
            http,
            banks: RwLock::new(Vec::new()),
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.api.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url.set_query(None);
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// One API call; JSON in and out.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<T, Failure> {
        let token = self.signer.token(now()).map_err(|e| {
            Failure::Other(ConnectorError::Temporary(format!("finconn could not sign its request: {e}")))
        })?;
        let auth = format!("Bearer {token}");
        let url = self.url(path, query);
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let res = self
            .http
            .send(method, &url, &[("authorization", &auth), ("accept", "application/json")], body)
            .await
            .map_err(|e| Failure::Other(outbound_error(e)))?;
        if res.status == 200 || res.status == 201 {
            return serde_json::from_slice(&res.body).map_err(|e| {
                Failure::Other(ConnectorError::BadData(format!(
                    "Enable Banking's answer to {path} is not what its API reference describes: {}",
                    sanitize(&e.to_string())
                )))
            });
        }
        let err: wire::ErrorBody = serde_json::from_slice(&res.body).unwrap_or_default();
        let detail = err.detail.as_ref().and_then(|d| d.as_str().map(str::to_owned));
        let said = [err.message.clone(), detail].into_iter().flatten().collect::<Vec<_>>().join(": ");
        let message = if said.is_empty() { format!("HTTP {}", res.status) } else { sanitize(&said) };
        Err(Failure::Api(ApiError { status: res.status, code: err.error, message }))
    }

    fn bank(&self, institution: &str) -> Option<Bank> {
        self.banks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|b| b.institution.id == institution)
            .cloned()
    }

    /// `GET /application`: the registration this key belongs to (for `finconn doctor` and start-up).
    pub async fn application(&self) -> Result<wire::Application, ConnectorError> {
        self.call(Method::GET, "/application", &[], None).await.map_err(|f| match f {
            Failure::Api(e) => e.general(),
            Failure::Other(e) => e,
        })
    }

    fn parse_credential(secret: &Secret) -> Result<Credential, ConnectorError> {
        serde_json::from_str(secret.expose())
            .map_err(|_| ConnectorError::AuthRevoked("The stored Enable Banking session is not valid.".into()))
    }

    async fn account(&self, uid: &str, valid_until: i64) -> Result<DiscoveredAccount, Failure> {
        let details: wire::AccountDetails =
            self.call(Method::GET, &format!("/accounts/{}/details", enc(uid)), &[], None).await?;
        let balance = self.balance(uid).await?;
        let product = details.product.clone().unwrap_or_default();
        let (category, subcategory) = wire::category_of(details.cash_account_type.as_deref(), &product);
        let last4 = wire::last4_of(details.account_id.as_ref());
        let label = details
            .details
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| details.product.clone().filter(|s| !s.trim().is_empty()))
            .or_else(|| details.name.clone().filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| match subcategory {
                "savings" => "Savings account".into(),
                "credit_card" => "Card account".into(),
                _ => "Account".into(),
            });
        // The picker shows `last4` beside the name (names repeated within a login are told apart there).
        let name = sanitize(&label);
        let currency = wire::exponent_of(&details.currency).map(|(c, _)| c).unwrap_or_else(|| "other".into());
        Ok(DiscoveredAccount {
            provider_id: uid.to_owned(),
            group: None,
            // The picker groups them under the institution's name.
            group_name: None,
            name,
            currency,
            balance,
            category: category.to_owned(),
            subcategory: subcategory.to_owned(),
            last4,
            access_expires_at: Some(valid_until),
        })
    }

    async fn balance(&self, uid: &str) -> Result<Option<BalanceData>, Failure> {
        let list: wire::Balances =
            self.call(Method::GET, &format!("/accounts/{}/balances", enc(uid)), &[], None).await?;
        let picked = wire::pick_balances(&list.balances).map_err(|m| {
            Failure::Other(ConnectorError::AccountFailed {
                group: None,
                account: uid.to_owned(),
                message: format!("The bank sent {m}."),
                missing_data: false,
            })
        })?;
        Ok(picked.map(|p| BalanceData {
            as_of: p.as_of.unwrap_or_else(now),
            currency: p.currency,
            kind: BalanceKind::Cash { current: p.current, available: p.available },
        }))
    }

    async fn transactions(
        &self,
        uid: &str,
        window: (i64, i64),
    ) -> Result<Vec<finconn_core::provider::TransactionData>, Failure> {
        let from = wire::format_date(window.0);
        let to = wire::format_date(window.1 - 1);
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        let mut keys = std::collections::HashSet::new();
        let mut key: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("date_from", from.as_str()), ("date_to", to.as_str())];
            if let Some(k) = &key {
                query.push(("continuation_key", k.as_str()));
            }
            let page: wire::TransactionPage =
                self.call(Method::GET, &format!("/accounts/{}/transactions", enc(uid)), &query, None).await?;
            for t in &page.transactions {
                let mapped = wire::transaction_of(t, &mut seen).map_err(|m| {
                    Failure::Other(ConnectorError::AccountFailed {
                        group: None,
                        account: uid.to_owned(),
                        message: format!("The bank sent {m}."),
                        missing_data: true,
                    })
                })?;
                // A transaction dated outside the window (banks filter by booking or value date) is kept
                // only if the window would include it.
                if let Some(d) = mapped {
                    out.push(d);
                }
            }
            match page.continuation_key.filter(|k| !k.is_empty()) {
                None => return Ok(out),
                Some(k) if !keys.insert(k.clone()) => {
                    return Err(Failure::Other(ConnectorError::BadData(
                        "Enable Banking repeated a continuation key: the transaction listing does not end.".into(),
                    )))
                }
                Some(k) => key = Some(k),
            }
        }
        Err(Failure::Other(ConnectorError::BadData(format!("The transaction listing went on past {MAX_PAGES} pages."))))
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn session_failure(f: Failure) -> ConnectorError {
    match f {
        Failure::Api(e) => e.for_session(),
        Failure::Other(e) => e,
    }
}

#[async_trait::async_trait]
impl Connector for EnableBanking {
    fn name(&self) -> &'static str {
        NAME
    }

    fn institutions(&self) -> Vec<Institution> {
        self.banks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|b| b.institution.clone())
            .collect()
    }

    fn token_page(&self, _institution: &str) -> Option<String> {
        None
    }

    fn quota(&self) -> Quota {
        Quota { per_day: ACCESSES_PER_DAY }
    }

    fn max_window_days(&self) -> i64 {
        WINDOW_DAYS
    }

    async fn refresh_institutions(&self) -> Result<usize, ConnectorError> {
        let countries = if self.countries.is_empty() {
            self.application().await?.countries.iter().map(|c| c.to_uppercase()).collect()
        } else {
            self.countries.clone()
        };
        let mut banks = Vec::new();
        for country in &countries {
            let list: wire::Aspsps = self
                .call(Method::GET, "/aspsps", &[("country", country.as_str()), ("service", "AIS")], None)
                .await
                .map_err(|f| match f {
                    Failure::Api(e) => e.general(),
                    Failure::Other(e) => e,
                })?;
            for a in list.aspsps {
                let name = sanitize(&a.name);
                if name.is_empty() || a.country.len() != 2 {
                    continue;
                }
                let country = a.country.to_uppercase();
                let id = institution_id(&country, &a.name);
                if banks.iter().any(|b: &Bank| b.institution.id == id) {
                    continue;
                }
                banks.push(Bank {
                    institution: Institution {
                        id,
                        name: name.clone(),
                        url: String::new(),
                        countries: vec![country.clone()],
                        featured: false,
                        login: LoginKind::OAuth,
                        status: InstitutionStatus::Active,
                        // PSD2 account information: balances, transactions, the holder's name.
                        features: vec![Permission::Balances, Permission::Ownership, Permission::Transactions],
                        logo: a.logo.filter(|l| l.starts_with("https://") || l.starts_with("http://")),
                    },
                    name: a.name.clone(),
                    country,
                    max_consent: a.maximum_consent_validity.filter(|s| *s > 0).unwrap_or(DEFAULT_CONSENT_SECONDS),
                });
            }
        }
        banks.sort_by(|a, b| (&a.country, &a.institution.name).cmp(&(&b.country, &b.institution.name)));
        let n = banks.len();
        *self.banks.write().unwrap_or_else(std::sync::PoisonError::into_inner) = banks;
        Ok(n)
    }

    async fn authorization_url(&self, institution: &str, state: &str) -> Costed<String> {
        let result = async {
            let bank = self
                .bank(institution)
                .ok_or_else(|| ConnectorError::Invalid("Enable Banking no longer lists this bank.".into()))?;
            let seconds = self.max_consent.map_or(bank.max_consent, |m| m.min(bank.max_consent)).max(3600);
            let body = serde_json::json!({
                "access": { "valid_until": wire::format_datetime(now() + seconds), "balances": true, "transactions": true },
                "aspsp": { "name": bank.name, "country": bank.country },
                "state": state,
                "redirect_url": self.redirect_url,
                "psu_type": "personal",
            });
            let res: wire::AuthResponse = self.call(Method::POST, "/auth", &[], Some(body)).await.map_err(|f| match f {
                Failure::Api(e) if e.status == 400 || e.status == 422 => ConnectorError::Rejected(format!(
                    "Enable Banking refused to start the authorization ({}).",
                    e.message
                )),
                Failure::Api(e) => e.general(),
                Failure::Other(e) => e,
            })?;
            // The user's browser goes there: only a web address, never `javascript:` or the like.
            match url::Url::parse(&res.url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(u.to_string()),
                _ => Err(ConnectorError::BadData("Enable Banking's authorization URL is not a web address.".into())),
            }
        }
        .await;
        Costed { requests: 0, result }
    }

    async fn connect(&self, _institution: &str, input: LinkInput) -> Costed<Secret> {
        let LinkInput::AuthorizationCode(code) = input else {
            return Costed {
                requests: 0,
                result: Err(ConnectorError::Invalid("This bank links through its own page.".into())),
            };
        };
        let result = async {
            let created: wire::SessionCreated = self
                .call(Method::POST, "/sessions", &[], Some(serde_json::json!({ "code": code.expose() })))
                .await
                .map_err(|f| match f {
                    Failure::Api(e)
                        if matches!(e.status, 400 | 401 | 403 | 404 | 422)
                            && e.code.as_deref() != Some("UNAUTHORIZED_ACCESS") =>
                    {
                        ConnectorError::Rejected(format!("The bank's authorization could not be used ({}).", e.message))
                    }
                    Failure::Api(e) => e.general(),
                    Failure::Other(e) => e,
                })?;
            let valid_until = wire::parse_datetime(&created.access.valid_until).ok_or_else(|| {
                ConnectorError::BadData("Enable Banking sent a consent end that is not a date.".into())
            })?;
            let credential = Credential { session_id: created.session_id, valid_until };
            serde_json::to_string(&credential)
                .map(Secret::new)
                .map_err(|_| ConnectorError::BadData("the session could not be stored".into()))
        }
        .await;
        Costed { requests: 0, result }
    }

    async fn discover(&self, credential: &Secret) -> Costed<Vec<DiscoveredAccount>> {
        let result = async {
            let cred = Self::parse_credential(credential)?;
            let session: wire::SessionData = self
                .call(Method::GET, &format!("/sessions/{}", enc(&cred.session_id)), &[], None)
                .await
                .map_err(session_failure)?;
            let valid_until = wire::parse_datetime(&session.access.valid_until).unwrap_or(cred.valid_until);
            let mut out = Vec::new();
            for uid in &session.accounts {
                out.push(self.account(uid, valid_until).await.map_err(session_failure)?);
            }
            Ok(out)
        }
        .await;
        Costed { requests: 0, result }
    }

    async fn sync(&self, credential: &Secret, request: &SyncRequest) -> Costed<SyncData> {
        let result = async {
            let cred = Self::parse_credential(credential)?;
            if cred.valid_until <= now() {
                return Err(ConnectorError::AuthRevoked(format!(
                    "The consent given at the bank ended on {}. Link the accounts again to renew it.",
                    wire::format_date(cred.valid_until)
                )));
            }
            let mut data = SyncData::default();
            for (_, uid) in &request.accounts {
                let one = async {
                    let balance = self.balance(uid).await?;
                    let owners = if request.owners {
                        let details: wire::AccountDetails =
                            self.call(Method::GET, &format!("/accounts/{}/details", enc(uid)), &[], None).await?;
                        Some(
                            details
                                .name
                                .map(|n| sanitize(&n))
                                .filter(|n| !n.trim().is_empty())
                                .map(|name| OwnerData { name, email: None, phone: None, raw_address: None })
                                .into_iter()
                                .collect(),
                        )
                    } else {
                        None
                    };
                    let transactions = match request.transactions {
                        Some(w) => self.transactions(uid, w).await?,
                        None => Vec::new(),
                    };
                    Ok::<_, Failure>(AccountSync {
                        group: None,
                        provider_id: uid.clone(),
                        balance,
                        transactions,
                        owners,
                    })
                }
                .await;
                match one {
                    Ok(a) => data.accounts.push(a),
                    Err(Failure::Other(e @ ConnectorError::AccountFailed { .. })) => data.problems.push(e),
                    Err(Failure::Api(e))
                        if e.code.as_deref().is_some_and(|c| {
                            matches!(
                                c,
                                "ASPSP_ACCOUNT_NOT_ACCESSIBLE" | "ACCOUNT_DOES_NOT_EXIST" | "INVALID_ACCOUNT_ID"
                            )
                        }) =>
                    {
                        data.problems.push(ConnectorError::AccountFailed {
                            group: None,
                            account: uid.clone(),
                            message: format!("The bank could not give this account's data ({}).", e.message),
                            missing_data: false,
                        })
                    }
                    Err(f) => return Err(session_failure(f)),
                }
            }
            Ok(data)
        }
        .await;
        // One unattended access of the connection's accounts, whatever it cost in HTTP requests.
        Costed { requests: 1, result }
    }
}
