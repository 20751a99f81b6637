//! The link flow's rules: which institutions a session may use, which of their accounts it may link, and
//! completing a session once. The hosted panes and the test helper both go through here, so a test that
//! links without a browser obeys exactly the rules the end user meets.

use std::sync::Arc;

use finconn_types::{AccountSubcategory, Permission, RequirePaymentMethodSupport, Session};

use crate::model::{LinkedAccountRecord, Scope, SessionRecord, SessionStatus};
use crate::provider::{AccountSubcategoryOrOther, Institution, InstitutionAccount, InstitutionStatus, Provider};
use crate::{ids, DomainError, Finconn};

pub const ACCOUNT: &str = "fca_";

/// The providers per mode: test mode has the sandbox; live mode has whatever connectors are configured.
#[derive(Clone, Default)]
pub struct Providers {
    pub test: Option<Arc<dyn Provider>>,
    pub live: Option<Arc<dyn Provider>>,
    pub test_data: Option<Arc<dyn crate::provider::AccountData>>,
    pub live_data: Option<Arc<dyn crate::provider::AccountData>>,
    /// Live mode's real data providers.
    pub connectors: crate::connector::Connectors,
}

/// An account as the account picker shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountChoice {
    pub account: InstitutionAccount,
    /// Why it cannot be picked, if it cannot.
    pub disabled_reason: Option<String>,
    /// Live accounts: what the picker shows beside them and where they come from.
    pub live: Option<LiveChoice>,
}

/// A live account in the picker: its group (one login at the provider), its balance, its type (a guess the
/// user may correct), and its id at the provider.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveChoice {
    pub group_name: String,
    pub balance_text: Option<String>,
    pub provider_id: String,
    pub group: Option<String>,
    /// When the consent behind it ends.
    pub access_expires_at: Option<i64>,
}

/// The category a subcategory implies when the user corrects an account's type; `other` keeps the
/// category it had.
pub fn category_for(sub: &AccountSubcategoryOrOther, fallback: &str) -> &'static str {
    match sub {
        AccountSubcategoryOrOther::Known(AccountSubcategory::Checking | AccountSubcategory::Savings) => "cash",
        AccountSubcategoryOrOther::Known(
            AccountSubcategory::CreditCard | AccountSubcategory::LineOfCredit | AccountSubcategory::Mortgage,
        ) => "credit",
        _ => match fallback {
            "cash" => "cash",
            "credit" => "credit",
            "investment" => "investment",
            _ => "other",
        },
    }
}

/// The accounts a live connection found, as choices: grouped by login (the order the picker shows them),
/// names made unique (the picker names accounts by them), eligibility by the session's filters.
pub fn connection_choices(session: &SessionRecord, conn: &crate::model::ConnectionRecord) -> Vec<AccountChoice> {
    let groups = crate::connections::discovered_by_group(conn);
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for a in &conn.discovered {
        *seen.entry(a.name.clone()).or_default() += 1;
    }
    let mut out = Vec::new();
    for (group_name, accounts) in groups {
        for a in accounts {
            let name = if seen.get(&a.name).copied().unwrap_or(0) > 1 {
                format!("{} ({group_name} {})", a.name, a.provider_id)
            } else {
                a.name.clone()
            };
            let sub = AccountSubcategory::parse_known(&a.subcategory)
                .map(AccountSubcategoryOrOther::Known)
                .unwrap_or(AccountSubcategoryOrOther::Other);
            let account = InstitutionAccount {
                name,
                category: a.category.clone(),
                subcategory: sub,
                last4: a.last4.clone().unwrap_or_default(),
                supported_payment_method_types: Vec::new(),
                purpose: String::new(),
            };
            let mut choice = account_choices(session, vec![account]).remove(0);
            choice.live = Some(LiveChoice {
                group_name: group_name.clone(),
                balance_text: a.balance.as_ref().map(|b| {
                    let current = match b.kind {
                        crate::provider::BalanceKind::Cash { current, .. } => current,
                        crate::provider::BalanceKind::Credit { current, .. } => current,
                    };
                    format_amount(current, &a.currency)
                }),
                provider_id: a.provider_id.clone(),
                group: a.group.clone(),
                access_expires_at: a.access_expires_at,
            });
            // The user may change a live account's type, so a subcategory filter cannot rule it out here:
            // the choice they make is checked when they submit.
            if session.filters.account_subcategories.is_some() && choice.disabled_reason.is_some() {
                choice.disabled_reason = None;
            }
            out.push(choice);
        }
    }
    out
}

/// An amount in minor units for display: `1,520.33 USD` (two decimals; JPY and other zero-decimal
/// currencies are given in whole units by their connectors, so `exponent` comes from the currency).
pub fn format_amount(minor: i64, currency: &str) -> String {
    let exponent: u32 = match currency {
        "bif" | "clp" | "djf" | "gnf" | "isk" | "jpy" | "kmf" | "krw" | "pyg" | "rwf" | "ugx" | "vnd" | "vuv"
        | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "iqd" | "jod" | "kwd" | "lyd" | "omr" | "tnd" => 3,
        _ => 2,
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let div = 10u64.pow(exponent);
    let whole = (abs / div).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let code = if currency == "other" { String::new() } else { format!(" {}", currency.to_uppercase()) };
    if exponent == 0 {
        format!("{sign}{grouped}{code}")
    } else {
        format!("{sign}{grouped}.{:0width$}{code}", abs % div, width = exponent as usize)
    }
}

pub(crate) fn link_error(code: &'static str, message: impl Into<String>, param: Option<&str>) -> DomainError {
    DomainError::Link { code, message: message.into(), param: param.map(str::to_owned) }
}

fn needs_payment_support(session: &SessionRecord) -> bool {
    session.permissions.contains(&Permission::PaymentMethod)
        || session.filters.require_payment_method_support == Some(RequirePaymentMethodSupport::All)
}

/// Each of an institution's accounts, enabled or with the reason it is not.
pub fn account_choices(session: &SessionRecord, accounts: Vec<InstitutionAccount>) -> Vec<AccountChoice> {
    accounts
        .into_iter()
        .map(|account| {
            let by_subcategory = session.filters.account_subcategories.as_ref().and_then(|allowed| {
                let ok = match &account.subcategory {
                    AccountSubcategoryOrOther::Known(s) => allowed.contains(s),
                    AccountSubcategoryOrOther::Other => false,
                };
                (!ok).then(|| {
                    let names: Vec<&str> = allowed.iter().map(AccountSubcategory::as_str).collect();
                    format!("Only {} accounts can be linked here.", names.join(", ").replace('_', " "))
                })
            });
            let by_payments = (needs_payment_support(session) && account.supported_payment_method_types.is_empty())
                .then(|| "This account cannot be used for payments.".to_owned());
            AccountChoice { disabled_reason: by_subcategory.or(by_payments), account, live: None }
        })
        .collect()
}

impl SessionRecord {
    /// The link flow may go on: open and not expired.
    pub fn check_usable(&self, now: i64) -> Result<(), DomainError> {
        match self.status {
            SessionStatus::Completed | SessionStatus::Cancelled => {
                Err(link_error("session_expired", "This Financial Connections Session has already been used.", None))
            }
            SessionStatus::Open if now >= self.expires_at => {
                Err(link_error("session_expired", "This Financial Connections Session has expired.", None))
            }
            SessionStatus::Open => Ok(()),
        }
    }
}

impl Finconn {
    pub fn provider(&self, livemode: bool) -> Option<&Arc<dyn Provider>> {
        if livemode {
            self.providers.live.as_ref()
        } else {
            self.providers.test.as_ref()
        }
    }

    /// The institutions a session may link from: its mode's provider, serving one of its countries.
    /// Institutions that cannot share every permission the session asks for (SimpleFIN has no ownership
    /// or account numbers) are left out.
    /// The tenant's test-helper downtimes apply (`Finconn::institutions`), at the session's time: its
    /// account holder's test clock's, if it has one.
    pub async fn institutions_for(
        &self,
        session: &SessionRecord,
        livemode: bool,
    ) -> Result<Vec<Institution>, DomainError> {
        let mut all = match &session.scope {
            Some(scope) => {
                let now = self.time_on(session.test_clock.as_deref()).await?;
                self.institutions_at(scope, now).await?
            }
            None => {
                let mut all = self.provider(livemode).map(|p| p.institutions()).unwrap_or_default();
                if livemode {
                    all.extend(self.providers.connectors.institutions());
                }
                all
            }
        };
        // A relink session goes back to the institution of its authorization, and only there.
        if let Some(r) = &session.relink {
            all.retain(|i| i.id == r.institution);
            return Ok(all);
        }
        Ok(all
            .into_iter()
            .filter(|i| i.countries.iter().any(|c| session.filters.countries.contains(c)))
            .filter(|i| session.permissions.iter().all(|p| i.features.contains(p)))
            .collect())
    }

    /// An institution the session may use, and up: or the Stripe.js error that stops the flow.
    pub async fn usable_institution(
        &self,
        session: &SessionRecord,
        livemode: bool,
        id: &str,
    ) -> Result<Institution, DomainError> {
        let param = Some("institution");
        let inst =
            self.institutions_for(session, livemode).await?.into_iter().find(|i| i.id == id).ok_or_else(|| {
                DomainError::NotFound {
                    object: "financial_connections.institution",
                    id: id.to_owned(),
                    param: param.map(str::to_owned),
                    other_mode: None,
                }
            })?;
        match inst.status {
            InstitutionStatus::Active => Ok(inst),
            InstitutionStatus::DownScheduled { .. } => Err(link_error(
                "institution_unavailable_planned",
                format!("{} is down for scheduled maintenance.", inst.name),
                param,
            )),
            InstitutionStatus::DownUnscheduled => Err(link_error(
                "institution_unavailable_unplanned",
                format!("{} is unexpectedly unavailable.", inst.name),
                param,
            )),
            InstitutionStatus::Erroring => {
                Err(link_error("unexpected_error", format!("{} could not be reached.", inst.name), param))
            }
        }
    }

    /// Completes the session with `chosen` (already checked against `account_choices`), exactly once.
    pub async fn finish_link(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        institution: &Institution,
        chosen: Vec<InstitutionAccount>,
        origin: Option<&crate::model::Origin>,
        live: Option<(crate::model::ConnectionRecord, Vec<crate::model::AccountConnection>)>,
    ) -> Result<Session, DomainError> {
        let now = self.now();
        let mut links = live.as_ref().map(|(_, l)| l.clone()).unwrap_or_default().into_iter();
        // Accounts of a customer on a test clock are created at, and live on, the clock's time.
        let born = self.time_on(session.test_clock.as_deref()).await?;
        let mut accounts: Vec<LinkedAccountRecord> = chosen
            .into_iter()
            .map(|a| LinkedAccountRecord {
                id: ids::new_id(ACCOUNT),
                scope: Some(scope.clone()),
                created: born,
                session: session.id.clone(),
                holder: session.holder.clone(),
                institution_id: institution.id.clone(),
                institution_name: institution.name.clone(),
                name: a.name,
                category: a.category,
                subcategory: a.subcategory.as_str().to_owned(),
                last4: Some(a.last4),
                supported_payment_method_types: a.supported_payment_method_types,
                permissions: session.permissions.clone(),
                status: "active".to_owned(),
                subscriptions: Vec::new(),
                manual: false,
                balance: None,
                balance_refresh: None,
                ownership: None,
                ownership_refresh: None,
                transaction_refresh: None,
                subscription: None,
                test_clock: session.test_clock.clone(),
                connection: links.next(),
                script: Default::default(),
                version: 0,
            })
            .collect();
        let mut jobs: Vec<crate::model::NewJob> =
            accounts.iter_mut().flat_map(|a| Finconn::prefetch_jobs(a, &session.prefetch, born)).collect();
        crate::accounts::dedup_jobs(&mut jobs);
        let connection = live.map(|(mut conn, _)| {
            conn.status = crate::model::ConnectionStatus::Active;
            conn.discovered.clear();
            conn
        });
        session.status = SessionStatus::Completed;
        session.completed_at = Some(now);
        session.accounts = accounts.iter().map(|a| a.id.clone()).collect();
        let events = accounts
            .iter()
            .filter_map(|a| {
                crate::events::new_event(
                    "financial_connections.account.created",
                    &a.to_wire(scope.livemode),
                    now,
                    origin,
                )
            })
            .collect();
        let effects = crate::store::Effects { jobs, events };
        if !self.records.complete_session(scope, &session, &accounts, &effects, connection.as_ref()).await? {
            return Err(link_error(
                "session_expired",
                "This Financial Connections Session has already been used.",
                None,
            ));
        }
        let wire = accounts
            .iter()
            .map(|a| serde_json::to_value(a.to_wire(scope.livemode)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok(session.to_wire(scope.livemode, wire))
    }

    /// The test helper: links `names` (default: every account the session allows, up to its limit) at
    /// `institution`, applying the rules of the panes.
    pub async fn complete_session_for_test(
        &self,
        scope: &Scope,
        session_id: &str,
        institution: &str,
        names: Option<Vec<(String, String)>>,
        origin: Option<&crate::model::Origin>,
    ) -> Result<Session, DomainError> {
        let session = self.find_session(scope, session_id).await?;
        session.check_usable(self.now())?;
        let inst = self.usable_institution(&session, scope.livemode, institution).await?;
        if session.relink.is_some() {
            // A relink session: the authorization's accounts by name (default: all it may repair).
            let names: Vec<String> = match names {
                Some(n) => n.into_iter().map(|(_, name)| name).collect(),
                None => self.relink_targets(scope, &session).await?.into_iter().map(|a| a.name).collect(),
            };
            return self.finish_relink(scope, session, &names, origin).await;
        }
        let provider = self.provider(scope.livemode).ok_or_else(|| DomainError::Internal("no provider".into()))?;
        let choices = account_choices(&session, provider.accounts(&inst.id));
        let eligible: Vec<&AccountChoice> = choices.iter().filter(|c| c.disabled_reason.is_none()).collect();
        if eligible.is_empty() {
            return Err(link_error(
                "no_eligible_accounts",
                format!("{} has no account this session can link.", inst.name),
                Some("institution"),
            ));
        }
        let limit = usize::try_from(session.limits.unwrap_or(100)).unwrap_or(100);
        let chosen: Vec<InstitutionAccount> = match names {
            None => eligible.iter().take(limit).map(|c| c.account.clone()).collect(),
            Some(names) => {
                let mut out: Vec<InstitutionAccount> = Vec::new();
                for (param, name) in names {
                    let choice = choices.iter().find(|c| c.account.name == name).ok_or_else(|| {
                        link_error(
                            "accounts_unavailable",
                            format!("{} has no account named '{name}'.", inst.name),
                            Some(&param),
                        )
                    })?;
                    if let Some(reason) = &choice.disabled_reason {
                        return Err(link_error(
                            "accounts_unavailable",
                            format!("'{name}' cannot be linked: {reason}"),
                            Some(&param),
                        ));
                    }
                    if !out.iter().any(|a| a.name == name) {
                        out.push(choice.account.clone());
                    }
                }
                if out.len() > limit {
                    return Err(DomainError::InvalidParam {
                        param: "accounts".into(),
                        message: format!("This session can link at most {limit} accounts (limits[accounts])."),
                    });
                }
                out
            }
        };
        if chosen.is_empty() {
            return Err(DomainError::InvalidParam {
                param: "accounts".into(),
                message: "Select at least one account.".into(),
            });
        }
        if session.filters.require_payment_method_support == Some(RequirePaymentMethodSupport::AtLeastOne)
            && chosen.iter().all(|a| a.supported_payment_method_types.is_empty())
        {
            return Err(link_error(
                "no_debitable_account",
                "At least one selected account must support payments.",
                Some("accounts"),
            ));
        }
        self.finish_link(scope, session, &inst, chosen, origin, None).await
    }

    /// The test helper: expires the session's client secret now.
    pub async fn expire_session_for_test(&self, scope: &Scope, session_id: &str) -> Result<Session, DomainError> {
        for _ in 0..16 {
            let mut session = self.find_session(scope, session_id).await?;
            session.expires_at = session.expires_at.min(self.now());
            if self.records.update_session(scope, &session).await? {
                return self.render_session(scope, &session).await;
            }
        }
        Err(DomainError::Internal("session update kept conflicting".into()))
    }

    /// The wire session with its linked accounts.
    pub async fn render_session(&self, scope: &Scope, session: &SessionRecord) -> Result<Session, DomainError> {
        let accounts = if session.accounts.is_empty() {
            Vec::new()
        } else if session.relink.is_some() {
            // A relink session's accounts were linked by an earlier session: by id, in its order.
            let mut out = Vec::new();
            for id in &session.accounts {
                out.push(self.find_account(scope, id, None).await?);
            }
            out
        } else {
            self.records.session_accounts(scope, &session.id).await?
        };
        let wire = accounts
            .iter()
            .map(|a| serde_json::to_value(a.to_wire(scope.livemode)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok(session.to_wire(scope.livemode, wire))
    }
}
