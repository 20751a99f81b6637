//! The SimpleFIN connector (protocol 1.0 and the v2 draft): a user creates a one-time setup token at
//! their SimpleFIN server (the SimpleFIN Bridge, or any server that speaks the protocol), finconn claims
//! it for an Access URL, and reads `/accounts` with it. Everything goes through the outbound policy
//! (`crate::outbound`), so user-supplied URLs cannot reach this machine or a private network.
//!
//! This module speaks the protocol and maps it onto finconn's connector types; what every connector
//! shares (budget, gating, error effects, incremental sync) is `finconn_core::connections`.

pub mod access;
pub mod category;
pub mod money;
pub mod token;
pub mod wire;

use std::collections::HashMap;

use finconn_core::connector::{
    AccountSync, Connector, ConnectorError, Costed, DiscoveredAccount, LinkInput, Quota, Secret, SyncData, SyncRequest,
};
use finconn_core::provider::{
    BalanceData, BalanceKind, Institution, InstitutionStatus, LoginKind, TransactionData, TransactionStatus,
};
use finconn_types::Permission;

use crate::outbound::{Outbound, OutboundError};
use access::AccessUrl;

/// The SimpleFIN Bridge expects at most 24 `/accounts` requests a day per Access URL.
pub const REQUESTS_PER_DAY: usize = 24;
/// One request spans at most this many days (the Bridge documents 90; clients report 60 in practice).
pub const WINDOW_DAYS: i64 = 60;
const DAY: i64 = 86_400;

/// What the user is told when a claim is refused (the protocol's checklist asks apps to say the token may
/// be compromised).
pub const TOKEN_REFUSED: &str = "This setup token was already used or is not valid. If you did not use it \
yourself, someone else may have: disable it at your SimpleFIN server (for the Bridge: bridge.simplefin.org) \
and create a new token.";

/// A SimpleFIN server offered as an institution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub institution_id: String,
    pub name: String,
    /// The protocol root, e.g. `https://bridge.simplefin.org/simplefin`.
    pub root: url::Url,
}

impl Server {
    pub const BRIDGE_ID: &'static str = "fcinst_SimpleFINBridge";

    pub fn bridge() -> Self {
        Self {
            institution_id: Self::BRIDGE_ID.to_owned(),
            name: "SimpleFIN Bridge".to_owned(),
            root: url::Url::parse("https://bridge.simplefin.org/simplefin").unwrap_or_else(|_| unreachable_url()),
        }
    }

    /// An operator's server, by name and root URL. Its id is stable for the URL: `fcinst_SimpleFIN<hash>`.
    pub fn configured(name: &str, url: &str) -> Result<Self, String> {
        let root = url::Url::parse(url.trim()).map_err(|_| "not a URL".to_owned())?;
        if !matches!(root.scheme(), "http" | "https") || root.host().is_none() {
            return Err("not an http(s) URL".into());
        }
        // FNV-1a: a stable short id from the URL (not a secret; ids only need to be stable).
        let hash = root
            .as_str()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Ok(Self { institution_id: format!("fcinst_SimpleFIN{hash:016x}"), name: name.trim().to_owned(), root })
    }

    fn token_page(&self) -> String {
        format!("{}/create", self.root.as_str().trim_end_matches('/'))
    }
}

fn unreachable_url() -> url::Url {
    // Parsing the literal above cannot fail; keep a value anyway rather than panic.
    url::Url::parse("https://invalid.invalid/").unwrap_or_else(|_| unreachable_url())
}

pub struct SimpleFin {
    servers: Vec<Server>,
    http: Outbound,
}

impl SimpleFin {
    pub fn new(servers: Vec<Server>, http: Outbound) -> Self {
        Self { servers, http }
    }
}

fn outbound_error(e: OutboundError) -> ConnectorError {
    match e {
        OutboundError::Refused(m) | OutboundError::Redirect(m) => ConnectorError::Refused(m),
        OutboundError::Timeout => ConnectorError::Temporary("The SimpleFIN server did not answer in time.".into()),
        OutboundError::Network(m) => {
            ConnectorError::Temporary(format!("The SimpleFIN server could not be reached: {m}"))
        }
        OutboundError::TooLarge(n) => {
            ConnectorError::BadData(format!("The SimpleFIN server's answer was over {n} bytes."))
        }
    }
}

/// The effect of an HTTP status from `/accounts` other than 200.
fn status_error(status: u16, body: &[u8]) -> ConnectorError {
    let said = wire::sanitize(&String::from_utf8_lossy(&body[..body.len().min(2000)]));
    let detail = if said.is_empty() { String::new() } else { format!(" ({said})") };
    match status {
        403 => ConnectorError::AuthRevoked(format!(
            "The SimpleFIN server refused the access: it was revoked or its credentials are wrong{detail}. Link the accounts again with a new setup token."
        )),
        402 => ConnectorError::PaymentRequired(format!("The SimpleFIN subscription needs payment{detail}.")),
        429 => ConnectorError::RateLimited(format!("The SimpleFIN server asks for fewer requests{detail}.")),
        s if (300..400).contains(&s) => ConnectorError::Refused(format!("The SimpleFIN server redirected (HTTP {s}); finconn did not follow.")),
        s => ConnectorError::Temporary(format!("The SimpleFIN server answered HTTP {s}{detail}.")),
    }
}

/// `{base}/accounts?version=2&…` with the given extra parameters.
fn accounts_url(access: &AccessUrl, params: &[(&str, String)], accounts: &[&str]) -> url::Url {
    let mut url = access.accounts_url();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("version", "2");
        for (k, v) in params {
            q.append_pair(k, v);
        }
        for a in accounts {
            q.append_pair("account", a);
        }
    }
    url
}

struct Fetched {
    set: wire::AccountSet,
}

impl SimpleFin {
    async fn get_accounts(&self, access: &AccessUrl, url: &url::Url) -> Result<Fetched, ConnectorError> {
        let res = self.http.get(url, Some(&access.authorization())).await.map_err(outbound_error)?;
        if res.status != 200 {
            return Err(status_error(res.status, &res.body));
        }
        let set = wire::parse_account_set(&res.body).map_err(|e| {
            ConnectorError::BadData(format!("The SimpleFIN server's answer is not an account set: {e}"))
        })?;
        // A credential-level error ends everything (HTTP 403's twin inside the body).
        if let Some(e) = set.errlist.iter().find(|e| wire::error_kind(&e.code) == wire::ErrorKind::GenAuth) {
            return Err(ConnectorError::AuthRevoked(wire::sanitize(&e.msg)));
        }
        Ok(Fetched { set })
    }
}

fn access_of(secret: &Secret) -> Result<AccessUrl, ConnectorError> {
    AccessUrl::parse(secret.expose())
        .map_err(|_| ConnectorError::AuthRevoked("The stored SimpleFIN access is not valid.".into()))
}

/// The connection names a v2 answer gives, by `conn_id`.
fn connection_names(set: &wire::AccountSet) -> HashMap<String, String> {
    set.connections
        .iter()
        .filter_map(|c| c.name.clone().or_else(|| c.org_name.clone()).map(|n| (c.conn_id.clone(), wire::sanitize(&n))))
        .collect()
}

fn balance_of(a: &wire::Account) -> Result<(String, Option<BalanceData>), ConnectorError> {
    let bad = |what: &str| ConnectorError::AccountFailed {
        group: a.conn_id.clone(),
        account: a.id.clone(),
        message: format!("The SimpleFIN server sent {what} for this account."),
        missing_data: false,
    };
    let (code, exponent) = match money::currency(&a.currency) {
        money::Currency::Iso { code, exponent } => (code, exponent),
        // A currency the server defines itself (a URL): kept as `other`, amounts in hundredths.
        money::Currency::Other => ("other".to_owned(), 2),
    };
    let current =
        money::to_minor_units(&a.balance, exponent).map_err(|_| bad("a balance that is not a decimal amount"))?;
    let available = a
        .available_balance
        .as_deref()
        .map(|v| money::to_minor_units(v, exponent))
        .transpose()
        .map_err(|_| bad("an available balance that is not a decimal amount"))?;
    let balance =
        BalanceData { as_of: a.balance_date, currency: code.clone(), kind: BalanceKind::Cash { current, available } };
    Ok((code, Some(balance)))
}

fn transactions_of(a: &wire::Account, currency: &str) -> Result<Vec<TransactionData>, ConnectorError> {
    let exponent = match money::currency(&a.currency) {
        money::Currency::Iso { exponent, .. } => exponent,
        money::Currency::Other => 2,
    };
    a.transactions
        .iter()
        .map(|t| {
            let amount = money::to_minor_units(&t.amount, exponent).map_err(|_| ConnectorError::AccountFailed {
                group: a.conn_id.clone(),
                account: a.id.clone(),
                message: "The SimpleFIN server sent a transaction amount that is not a decimal amount.".into(),
                missing_data: true,
            })?;
            let pending = t.is_pending();
            let transacted_at = t.transacted_at.filter(|v| *v > 0).unwrap_or(t.posted);
            Ok(TransactionData {
                provider_id: t.id.clone(),
                amount,
                currency: currency.to_owned(),
                description: t.display_description(),
                transacted_at,
                status: if pending { TransactionStatus::Pending } else { TransactionStatus::Posted },
                status_changed_at: (!pending && t.posted > 0).then_some(t.posted),
            })
        })
        .collect()
}

/// `errlist` (or v1 `errors`) as problems scoped to a connection or an account.
fn problems_of(set: &wire::AccountSet) -> Vec<ConnectorError> {
    let mut out = Vec::new();
    for e in &set.errlist {
        let msg = wire::sanitize(&e.msg);
        match (wire::error_kind(&e.code), &e.conn_id, &e.account_id) {
            (wire::ErrorKind::ConAuth, Some(conn), _) => {
                out.push(ConnectorError::ConnectionNeedsAttention { group: conn.clone(), message: msg })
            }
            (wire::ErrorKind::ActMissingData, _, Some(account)) => out.push(ConnectorError::AccountFailed {
                group: e.conn_id.clone(),
                account: account.clone(),
                message: msg,
                missing_data: true,
            }),
            (wire::ErrorKind::Act, _, Some(account)) => out.push(ConnectorError::AccountFailed {
                group: e.conn_id.clone(),
                account: account.clone(),
                message: msg,
                missing_data: false,
            }),
            // A connection-level problem other than authentication: its accounts fail this time.
            (wire::ErrorKind::Con, Some(conn), _) => {
                for a in set.accounts.iter().filter(|a| a.conn_id.as_deref() == Some(conn.as_str())) {
                    out.push(ConnectorError::AccountFailed {
                        group: Some(conn.clone()),
                        account: a.id.clone(),
                        message: msg.clone(),
                        missing_data: false,
                    });
                }
            }
            _ => out.push(ConnectorError::Temporary(msg)),
        }
    }
    if set.errlist.is_empty() {
        for m in &set.errors {
            match wire::v1_hint(m) {
                wire::V1Hint::RateLimited => out.push(ConnectorError::RateLimited(wire::sanitize(m))),
                _ => out.push(ConnectorError::Temporary(wire::sanitize(m))),
            }
        }
    }
    out
}

/// Transaction windows of at most `WINDOW_DAYS`, oldest first, covering `[start, end)`.
pub fn windows(start: i64, end: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = (s + WINDOW_DAYS * DAY).min(end);
        out.push((s, e));
        s = e;
    }
    out
}

#[async_trait::async_trait]
impl Connector for SimpleFin {
    fn name(&self) -> &'static str {
        "simplefin"
    }

    fn institutions(&self) -> Vec<Institution> {
        self.servers
            .iter()
            .map(|s| Institution {
                id: s.institution_id.clone(),
                name: s.name.clone(),
                url: s.root.origin().ascii_serialization(),
                countries: vec!["US".into(), "CA".into()],
                featured: true,
                login: LoginKind::SetupToken,
                status: InstitutionStatus::Active,
                // SimpleFIN shares balances and transactions: no owners, no account numbers.
                features: vec![Permission::Balances, Permission::Transactions],
                logo: None,
            })
            .collect()
    }

    fn token_page(&self, institution: &str) -> Option<String> {
        self.servers.iter().find(|s| s.institution_id == institution).map(Server::token_page)
    }

    fn quota(&self) -> Quota {
        Quota { per_day: REQUESTS_PER_DAY }
    }

    fn max_window_days(&self) -> i64 {
        WINDOW_DAYS
    }

    async fn connect(&self, _institution: &str, input: LinkInput) -> Costed<Secret> {
        let LinkInput::SetupToken(token) = input else {
            return Costed {
                requests: 0,
                result: Err(ConnectorError::Invalid("SimpleFIN links with a setup token.".into())),
            };
        };
        let claim = match token::decode_setup_token(token.expose()) {
            Ok(u) => u,
            Err(e) => return Costed { requests: 0, result: Err(ConnectorError::Invalid(e.to_string())) },
        };
        let res = match self.http.post_empty(&claim).await {
            Ok(r) => r,
            Err(e) => return Costed { requests: 0, result: Err(outbound_error(e)) },
        };
        let result = match res.status {
            200 => {
                let text = String::from_utf8_lossy(&res.body);
                match AccessUrl::parse(&text) {
                    // The Access URL must pass the same policy before anything is sent to it.
                    Ok(access) => match self.http.check_url(&access.accounts_url()) {
                        Ok(()) => Ok(Secret::new(access.to_secret_string())),
                        Err(e) => Err(outbound_error(e)),
                    },
                    Err(_) => Err(ConnectorError::BadData(
                        "The SimpleFIN server's answer to the claim is not an Access URL.".into(),
                    )),
                }
            }
            403 | 404 => Err(ConnectorError::Rejected(TOKEN_REFUSED.into())),
            s => Err(match status_error(s, &res.body) {
                ConnectorError::AuthRevoked(_) => ConnectorError::Rejected(TOKEN_REFUSED.into()),
                other => other,
            }),
        };
        Costed { requests: 0, result }
    }

    async fn discover(&self, credential: &Secret) -> Costed<Vec<DiscoveredAccount>> {
        let access = match access_of(credential) {
            Ok(a) => a,
            Err(e) => return Costed { requests: 0, result: Err(e) },
        };
        let url = accounts_url(&access, &[("balances-only", "1".into())], &[]);
        let fetched = self.get_accounts(&access, &url).await;
        let result = fetched.and_then(|f| {
            let names = connection_names(&f.set);
            if f.set.accounts.is_empty() {
                let said = f.set.messages().join(" ");
                return Err(ConnectorError::Temporary(if said.is_empty() {
                    "The SimpleFIN server lists no accounts for this token.".into()
                } else {
                    said
                }));
            }
            Ok(f.set
                .accounts
                .iter()
                .map(|a| {
                    let (currency, balance) = balance_of(a).unwrap_or(("other".into(), None));
                    let (category, subcategory) = category::guess(&a.name);
                    let group_name = a
                        .conn_id
                        .as_ref()
                        .and_then(|c| names.get(c).cloned())
                        .or_else(|| a.conn_name.as_deref().map(wire::sanitize))
                        .or_else(|| {
                            a.org
                                .as_ref()
                                .and_then(|o| o.name.clone().or_else(|| o.domain.clone()))
                                .map(|n| wire::sanitize(&n))
                        });
                    DiscoveredAccount {
                        provider_id: a.id.clone(),
                        group: a.conn_id.clone(),
                        group_name,
                        name: wire::sanitize(&a.name),
                        currency,
                        balance,
                        category: category.to_owned(),
                        subcategory: subcategory.to_owned(),
                        last4: None,
                        access_expires_at: None,
                    }
                })
                .collect())
        });
        Costed { requests: 1, result }
    }

    async fn sync(&self, credential: &Secret, request: &SyncRequest) -> Costed<SyncData> {
        let access = match access_of(credential) {
            Ok(a) => a,
            Err(e) => return Costed { requests: 0, result: Err(e) },
        };
        let ids: Vec<&str> = {
            let mut v: Vec<&str> = request.accounts.iter().map(|(_, id)| id.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let urls: Vec<url::Url> = match request.transactions {
            None => vec![accounts_url(&access, &[("balances-only", "1".into())], &ids)],
            Some((start, end)) => windows(start, end)
                .into_iter()
                .map(|(s, e)| {
                    accounts_url(
                        &access,
                        &[("start-date", s.to_string()), ("end-date", e.to_string()), ("pending", "1".into())],
                        &ids,
                    )
                })
                .collect(),
        };
        let mut requests = 0;
        let mut merged: Vec<AccountSync> = Vec::new();
        let mut problems: Vec<ConnectorError> = Vec::new();
        // Newest window last: its balances are the freshest.
        for url in &urls {
            requests += 1;
            let set = match self.get_accounts(&access, url).await {
                Ok(f) => f.set,
                Err(e) => return Costed { requests, result: Err(e) },
            };
            for p in problems_of(&set) {
                if !problems.contains(&p) {
                    problems.push(p);
                }
            }
            for a in &set.accounts {
                let (currency, balance) = match balance_of(a) {
                    Ok(b) => b,
                    Err(p) => {
                        if !problems.contains(&p) {
                            problems.push(p);
                        }
                        continue;
                    }
                };
                let txns = if request.transactions.is_some() {
                    match transactions_of(a, &currency) {
                        Ok(t) => t,
                        Err(p) => {
                            if !problems.contains(&p) {
                                problems.push(p);
                            }
                            Vec::new()
                        }
                    }
                } else {
                    Vec::new()
                };
                match merged.iter_mut().find(|m| m.provider_id == a.id && m.group == a.conn_id) {
                    Some(m) => {
                        m.balance = balance.or(m.balance.take());
                        for t in txns {
                            match m.transactions.iter_mut().find(|x| x.provider_id == t.provider_id) {
                                // Windows overlap at their edges: a posted listing beats a pending one.
                                Some(x) if x.status == TransactionStatus::Pending => *x = t,
                                Some(_) => {}
                                None => m.transactions.push(t),
                            }
                        }
                    }
                    None => merged.push(AccountSync {
                        group: a.conn_id.clone(),
                        provider_id: a.id.clone(),
                        balance,
                        transactions: txns,
                        owners: None,
                    }),
                }
            }
        }
        // Only the accounts asked for (a v2 server may list an account id under several connections).
        merged.retain(|m| {
            request
                .accounts
                .iter()
                .any(|(g, id)| *id == m.provider_id && (g.is_none() || m.group.is_none() || *g == m.group))
        });
        Costed { requests, result: Ok(SyncData { accounts: merged, problems }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_in_sixty_day_steps() {
        let w = windows(0, 180 * DAY + 1);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0], (0, 60 * DAY));
        assert_eq!(w[3], (180 * DAY, 180 * DAY + 1));
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
        assert!(windows(5, 5).is_empty());
    }

    #[test]
    fn configured_servers_get_stable_ids() {
        let a = Server::configured("Home", "https://sfin.example/simplefin").unwrap();
        let b = Server::configured("Renamed", "https://sfin.example/simplefin").unwrap();
        assert_eq!(a.institution_id, b.institution_id);
        assert!(a.institution_id.starts_with("fcinst_SimpleFIN"));
        assert_eq!(a.token_page(), "https://sfin.example/simplefin/create");
        assert!(Server::configured("x", "ftp://a/").is_err());
        assert_eq!(Server::bridge().token_page(), "https://bridge.simplefin.org/simplefin/create");
    }
}
