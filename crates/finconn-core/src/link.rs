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
}

/// An account as the account picker shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountChoice {
    pub account: InstitutionAccount,
    /// Why it cannot be picked, if it cannot.
    pub disabled_reason: Option<String>,
}

fn link_error(code: &'static str, message: impl Into<String>, param: Option<&str>) -> DomainError {
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
            AccountChoice { disabled_reason: by_subcategory.or(by_payments), account }
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
    pub fn institutions_for(&self, session: &SessionRecord, livemode: bool) -> Vec<Institution> {
        self.provider(livemode)
            .map(|p| p.institutions())
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i.countries.iter().any(|c| session.filters.countries.contains(c)))
            .collect()
    }

    /// An institution the session may use, and up: or the Stripe.js error that stops the flow.
    pub fn usable_institution(
        &self,
        session: &SessionRecord,
        livemode: bool,
        id: &str,
    ) -> Result<Institution, DomainError> {
        let param = Some("institution");
        let inst = self.institutions_for(session, livemode).into_iter().find(|i| i.id == id).ok_or_else(|| {
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
    ) -> Result<Session, DomainError> {
        let now = self.now();
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
                version: 0,
            })
            .collect();
        let jobs: Vec<crate::model::NewJob> =
            accounts.iter_mut().flat_map(|a| Finconn::prefetch_jobs(a, &session.prefetch, born)).collect();
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
        if !self.store.complete_session(scope, &session, &accounts, &effects).await? {
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
        let inst = self.usable_institution(&session, scope.livemode, institution)?;
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
        self.finish_link(scope, session, &inst, chosen, origin).await
    }

    /// The test helper: expires the session's client secret now.
    pub async fn expire_session_for_test(&self, scope: &Scope, session_id: &str) -> Result<Session, DomainError> {
        for _ in 0..16 {
            let mut session = self.find_session(scope, session_id).await?;
            session.expires_at = session.expires_at.min(self.now());
            if self.store.update_session(scope, &session).await? {
                return self.render_session(scope, &session).await;
            }
        }
        Err(DomainError::Internal("session update kept conflicting".into()))
    }

    /// The wire session with its linked accounts.
    pub async fn render_session(&self, scope: &Scope, session: &SessionRecord) -> Result<Session, DomainError> {
        let accounts = if session.accounts.is_empty() {
            Vec::new()
        } else {
            self.store.session_accounts(scope, &session.id).await?
        };
        let wire = accounts
            .iter()
            .map(|a| serde_json::to_value(a.to_wire(scope.livemode)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok(session.to_wire(scope.livemode, wire))
    }
}
