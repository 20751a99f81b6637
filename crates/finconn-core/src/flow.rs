//! The hosted link flow as a state machine over the session: consent → institution → log in (credentials,
//! challenges, or the institution's OAuth page) → accounts → done. Every step checks that the session is
//! open, unexpired and at the step the request belongs to, and writes with compare-and-swap, so steps cannot
//! be skipped or replayed and a session completes once.

use finconn_types::Permission;
use serde::{Deserialize, Serialize};

use crate::link::{account_choices, AccountChoice};
use crate::model::{Scope, SessionRecord, SessionStatus};
use crate::provider::{Challenge, Institution, InstitutionStatus, LoginKind, LoginOutcome};
use crate::{ids, DomainError, Finconn};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LinkStep {
    #[default]
    Consent,
    Institutions,
    Login {
        institution: String,
    },
    Challenge {
        institution: String,
        challenge: Challenge,
    },
    /// Waiting for the institution's authorization page; `state` names the page (`/link/oauth/{state}`).
    OAuth {
        institution: String,
        state: String,
        /// Why the last authorization at a real bank did not work (shown with a retry).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Accounts {
        institution: String,
        /// Live mode: the connection whose accounts are offered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
    },
    /// A setup token to paste (live connectors). `connection`: one is stored but listing its accounts
    /// failed, so the user may retry without a new token.
    Token {
        institution: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
    },
    Manual,
    Done,
}

/// An event for the page's `onEvent` (Stripe's mobile event names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowEvent {
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manual_entry: bool,
}

impl FlowEvent {
    fn named(name: &'static str) -> Self {
        Self { name, institution_name: None, error_code: None, manual_entry: false }
    }

    fn institution(name: &'static str, inst: &str) -> Self {
        Self { institution_name: Some(inst.to_owned()), ..Self::named(name) }
    }

    pub fn error(code: &str) -> Self {
        Self { error_code: Some(code.to_owned()), ..Self::named("error") }
    }
}

/// What the end user sees next.
#[derive(Clone, Debug, PartialEq)]
pub enum Pane {
    Consent {
        requester: String,
        permissions: Vec<Permission>,
    },
    Institutions {
        featured: Vec<Institution>,
        query: Option<String>,
        results: Vec<Institution>,
        manual_entry: bool,
        livemode: bool,
        /// How many institutions the session may pick from (found by searching when none is featured).
        available: usize,
    },
    Login {
        institution: Institution,
        message: Option<String>,
        /// What the user typed as username, kept when the pane comes back with a message (never the
        /// password).
        username: Option<String>,
    },
    Challenge {
        institution: Institution,
        challenge: Challenge,
        message: Option<String>,
    },
    OAuth {
        institution: Institution,
        state: String,
        /// What went wrong at the bank last time, if anything.
        message: Option<String>,
    },
    /// Paste a setup token created at the provider (`token_page`, opened in a new tab).
    Token {
        institution: Institution,
        token_page: Option<String>,
        message: Option<String>,
        /// A credential is stored: the user may retry listing accounts without a new token.
        can_retry: bool,
    },
    Accounts {
        institution: Institution,
        choices: Vec<AccountChoice>,
        limit: Option<i64>,
        message: Option<String>,
        /// What the user had ticked, kept when the pane comes back with a message.
        selected: Vec<String>,
    },
    Manual {
        message: Option<String>,
        /// What the user typed (routing number, account number, account type), shown again with the
        /// message so nothing they chose is silently reset.
        entered: Option<(String, String, String)>,
    },
    Success {
        institution_name: String,
        accounts: Vec<String>,
    },
    /// `retry`: the user may go back and pick another institution.
    Error {
        code: String,
        title: String,
        message: String,
        expected_at: Option<i64>,
        retry: bool,
    },
}

/// The answer to every flow request.
#[derive(Clone, Debug)]
pub struct FlowView {
    pub session: SessionRecord,
    pub pane: Pane,
    pub events: Vec<FlowEvent>,
}

/// A request of the flow.
#[derive(Clone, Debug)]
pub enum Action {
    /// Show where the flow stands (start, resume after OAuth, poll).
    Show,
    Consent,
    Search {
        query: String,
    },
    SelectInstitution {
        institution: String,
    },
    Login {
        username: String,
        password: String,
    },
    Answer {
        answer: String,
    },
    Back,
    SelectAccounts {
        names: Vec<String>,
        /// Live accounts: the subcategory the user chose for the choice at each index.
        subcategories: Vec<(usize, String)>,
    },
    SubmitToken {
        token: String,
    },
    RetryConnection,
    StartManual,
    Manual {
        routing_number: String,
        account_number: String,
        account_type: String,
    },
    Cancel,
}

fn step_error() -> DomainError {
    DomainError::Link {
        code: "invalid_step",
        message: "This step of the flow is not available now.".into(),
        param: None,
    }
}

/// The ABA routing number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
pub fn aba_checksum_ok(routing: &str) -> bool {
    let d: Vec<u32> = routing.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 9 || routing.len() != 9 {
        return false;
    }
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    sum.is_multiple_of(10)
}

fn down_pane(inst: &Institution, now: i64) -> Option<Pane> {
    match inst.status {
        InstitutionStatus::Active => None,
        InstitutionStatus::DownScheduled { available_in_seconds } => Some(Pane::Error {
            code: "institution_unavailable_planned".into(),
            title: format!("{} is under maintenance", inst.name),
            message: format!("{} is down for scheduled maintenance. Try again later, or pick another bank.", inst.name),
            expected_at: Some(now + available_in_seconds),
            retry: true,
        }),
        InstitutionStatus::Erroring => Some(Pane::Error {
            code: "unexpected_error".into(),
            title: format!("Could not connect to {}", inst.name),
            message: format!(
                "Something went wrong while connecting to {}. Try again later, or pick another bank.",
                inst.name
            ),
            expected_at: None,
            retry: true,
        }),
        InstitutionStatus::DownUnscheduled => Some(Pane::Error {
            code: "institution_unavailable_unplanned".into(),
            title: format!("{} is unavailable", inst.name),
            message: format!("{} is unexpectedly unavailable. Try again later, or pick another bank.", inst.name),
            expected_at: None,
            retry: true,
        }),
    }
}

impl Finconn {
    /// Finds the session for the flow by its id, in any account (the OAuth page has only the state).
    async fn institution_of(
        &self,
        session: &SessionRecord,
        livemode: bool,
        id: &str,
    ) -> Result<Institution, DomainError> {
        self.institutions_for(session, livemode)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| DomainError::not_found("financial_connections.institution", id, Some("institution")))
    }

    async fn institutions_pane(
        &self,
        session: &SessionRecord,
        livemode: bool,
        query: Option<String>,
    ) -> Result<Pane, DomainError> {
        let all = self.institutions_for(session, livemode).await?;
        let results = match &query {
            Some(q) => {
                let q = q.to_lowercase();
                all.iter().filter(|i| i.name.to_lowercase().contains(&q)).cloned().collect()
            }
            None => Vec::new(),
        };
        Ok(Pane::Institutions {
            available: all.len(),
            featured: all.into_iter().filter(|i| i.featured).collect(),
            query,
            results,
            manual_entry: session.manual_entry == Some(finconn_types::ManualEntryMode::Automatic),
            livemode,
        })
    }

    fn token_pane(&self, inst: Institution, message: Option<String>, can_retry: bool) -> Pane {
        let token_page = self.connector_for(&inst.id).and_then(|c| c.token_page(&inst.id));
        Pane::Token { institution: inst, token_page, message, can_retry }
    }

    /// The accounts an institution offers this session: the sandbox's, or those a live connection found.
    async fn offered_accounts(
        &self,
        scope_livemode: bool,
        session: &SessionRecord,
        inst: &Institution,
        connection: Option<&str>,
    ) -> Result<Vec<AccountChoice>, DomainError> {
        let Some(id) = connection else {
            let mut accounts = self.provider(scope_livemode).map(|p| p.accounts(&inst.id)).unwrap_or_default();
            if session.relink.is_some() {
                // A relink repairs the authorization's accounts (or its one account), nothing else.
                let scope =
                    session.scope.clone().ok_or_else(|| DomainError::Internal("session without scope".into()))?;
                let targets = self.relink_targets(&scope, session).await?;
                accounts.retain(|a| targets.iter().any(|t| t.name == a.name));
            }
            return Ok(account_choices(session, accounts));
        };
        let scope = session.scope.clone().ok_or_else(|| DomainError::Internal("session without scope".into()))?;
        let conn = self.find_connection(&scope, id).await?;
        let mut choices = crate::link::connection_choices(session, &conn);
        if session.relink.is_some() {
            let targets = self.relink_targets(&scope, session).await?;
            choices.retain(|c| {
                c.live.as_ref().is_some_and(|l| crate::relink::matching(&targets, l, &c.account).is_some())
            });
        }
        Ok(choices)
    }

    async fn accounts_pane(
        &self,
        session: &SessionRecord,
        livemode: bool,
        inst: Institution,
        connection: Option<&str>,
        message: Option<String>,
        selected: Vec<String>,
    ) -> Result<Pane, DomainError> {
        let choices = self.offered_accounts(livemode, session, &inst, connection).await?;
        if choices.iter().all(|c| c.disabled_reason.is_some()) {
            return Ok(Pane::Error {
                code: "no_eligible_accounts".into(),
                title: "No eligible accounts".into(),
                message: format!("None of your accounts at {} can be linked here. Try another bank.", inst.name),
                expected_at: None,
                retry: true,
            });
        }
        Ok(Pane::Accounts { institution: inst, choices, limit: session.limits, message, selected })
    }

    /// The pane for where the session stands.
    async fn pane_for(&self, session: &SessionRecord, livemode: bool, requester: &str) -> Result<Pane, DomainError> {
        Ok(match &session.link {
            LinkStep::Consent => {
                Pane::Consent { requester: requester.to_owned(), permissions: session.permissions.clone() }
            }
            LinkStep::Institutions => self.institutions_pane(session, livemode, None).await?,
            LinkStep::Login { institution } => Pane::Login {
                institution: self.institution_of(session, livemode, institution).await?,
                message: None,
                username: None,
            },
            LinkStep::Challenge { institution, challenge } => Pane::Challenge {
                institution: self.institution_of(session, livemode, institution).await?,
                challenge: challenge.clone(),
                message: None,
            },
            LinkStep::OAuth { institution, state, error } => Pane::OAuth {
                institution: self.institution_of(session, livemode, institution).await?,
                state: state.clone(),
                message: error.clone(),
            },
            LinkStep::Accounts { institution, connection } => {
                let inst = self.institution_of(session, livemode, institution).await?;
                self.accounts_pane(session, livemode, inst, connection.as_deref(), None, Vec::new()).await?
            }
            LinkStep::Token { institution, connection } => {
                let inst = self.institution_of(session, livemode, institution).await?;
                self.token_pane(inst, None, connection.is_some())
            }
            LinkStep::Manual => Pane::Manual { message: None, entered: None },
            LinkStep::Done => Pane::Success { institution_name: String::new(), accounts: Vec::new() },
        })
    }

    /// Runs one request of the hosted flow for the session whose client secret the caller proved.
    pub async fn flow(
        &self,
        scope: &Scope,
        session_id: &str,
        requester: &str,
        action: Action,
        origin: Option<&crate::model::Origin>,
    ) -> Result<FlowView, DomainError> {
        for _ in 0..8 {
            let session = self.find_session(scope, session_id).await?;
            session.check_usable(self.now())?;
            match self.flow_step(scope, session, requester, action.clone(), origin).await {
                Err(DomainError::Link { code: "conflict", .. }) => continue,
                // A relink session goes from consent straight to its institution's login.
                Ok(view)
                    if matches!(action, Action::Consent) && matches!(view.session.link, LinkStep::Institutions) =>
                {
                    let Some(institution) = view.session.relink.as_ref().map(|r| r.institution.clone()) else {
                        return Ok(view);
                    };
                    let fresh = self.find_session(scope, session_id).await?;
                    let mut next = self
                        .flow_step(scope, fresh, requester, Action::SelectInstitution { institution }, origin)
                        .await?;
                    let mut events = view.events;
                    events.append(&mut next.events);
                    next.events = events;
                    return Ok(next);
                }
                other => return other,
            }
        }
        Err(DomainError::Internal("the session kept changing under the flow".into()))
    }

    async fn save(&self, scope: &Scope, session: &SessionRecord) -> Result<(), DomainError> {
        if self.records.update_session(scope, session).await? {
            Ok(())
        } else {
            Err(DomainError::Link { code: "conflict", message: "retry".into(), param: None })
        }
    }

    async fn flow_step(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        requester: &str,
        action: Action,
        origin: Option<&crate::model::Origin>,
    ) -> Result<FlowView, DomainError> {
        let livemode = scope.livemode;
        let now = self.now();
        let view = |session: SessionRecord, pane: Pane, events: Vec<FlowEvent>| Ok(FlowView { session, pane, events });
        match (action, session.link.clone()) {
            (Action::Show, _) => {
                let mut events = Vec::new();
                if let Some(name) = session.oauth_authorized.take() {
                    self.save(scope, &session).await?;
                    events.push(FlowEvent::institution("institution_authorized", &name));
                }
                let pane = self.pane_for(&session, livemode, requester).await?;
                if let Pane::Error { code, .. } = &pane {
                    events.push(FlowEvent::error(code));
                }
                view(session, pane, events)
            }
            (Action::Cancel, _) => {
                session.status = SessionStatus::Cancelled;
                session.link = LinkStep::Done;
                self.save(scope, &session).await?;
                view(
                    session,
                    Pane::Success { institution_name: String::new(), accounts: Vec::new() },
                    vec![FlowEvent::named("cancel")],
                )
            }
            (Action::Consent, LinkStep::Consent) => {
                session.link = LinkStep::Institutions;
                self.save(scope, &session).await?;
                let pane = self.institutions_pane(&session, livemode, None).await?;
                view(session, pane, vec![FlowEvent::named("consent_acquired")])
            }
            (Action::Search { query }, LinkStep::Institutions) => {
                let q = query.trim().to_owned();
                let pane = self.institutions_pane(&session, livemode, (!q.is_empty()).then_some(q)).await?;
                view(session, pane, vec![FlowEvent::named("search_initiated")])
            }
            (Action::SelectInstitution { institution }, LinkStep::Institutions) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let mut events = vec![FlowEvent::institution("institution_selected", &inst.name)];
                if let Some(pane) = down_pane(&inst, now) {
                    if let Pane::Error { code, .. } = &pane {
                        events.push(FlowEvent::error(code));
                    }
                    return view(session, pane, events);
                }
                if inst.login == LoginKind::None {
                    // Straight to the account picker, as Stripe's test institutions: no credentials.
                    let mut view = self.after_login(scope, session, inst, Some(LoginOutcome::Authorized)).await?;
                    events.append(&mut view.events);
                    view.events = events;
                    return Ok(view);
                }
                session.link = match inst.login {
                    LoginKind::None | LoginKind::Credentials => LinkStep::Login { institution: inst.id.clone() },
                    LoginKind::OAuth => {
                        LinkStep::OAuth { institution: inst.id.clone(), state: ids::random_base62(32), error: None }
                    }
                    LoginKind::SetupToken => LinkStep::Token { institution: inst.id.clone(), connection: None },
                };
                self.save(scope, &session).await?;
                let pane = self.pane_for(&session, livemode, requester).await?;
                view(session, pane, events)
            }
            (Action::Login { username, password }, LinkStep::Login { institution }) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let outcome = self.provider(livemode).map(|p| p.login(&inst.id, &username, &password));
                let mut view = self.after_login(scope, session, inst, outcome).await?;
                if let Pane::Login { username: kept, .. } = &mut view.pane {
                    *kept = Some(username);
                }
                Ok(view)
            }
            (Action::Answer { answer }, LinkStep::Challenge { institution, challenge }) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let outcome = self.provider(livemode).map(|p| p.answer(&inst.id, &challenge, &answer));
                self.after_login(scope, session, inst, outcome).await
            }
            (
                Action::Back,
                LinkStep::Login { .. }
                | LinkStep::Challenge { .. }
                | LinkStep::OAuth { .. }
                | LinkStep::Accounts { .. }
                | LinkStep::Token { .. }
                | LinkStep::Manual
                | LinkStep::Institutions,
            ) => {
                session.link = LinkStep::Institutions;
                self.save(scope, &session).await?;
                let pane = self.institutions_pane(&session, livemode, None).await?;
                view(session, pane, Vec::new())
            }
            (Action::SubmitToken { token }, LinkStep::Token { institution, .. }) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let token = token.trim().to_owned();
                if token.is_empty() {
                    let pane = self.token_pane(inst, Some("Paste a SimpleFIN setup token.".into()), false);
                    return view(session, pane, Vec::new());
                }
                let input = crate::connector::LinkInput::SetupToken(crate::connector::Secret::new(token));
                let connected = self.connect(scope, &session.id, &inst, input).await?;
                self.after_connect(scope, session, inst, connected).await
            }
            (Action::RetryConnection, LinkStep::Token { institution, connection: Some(id) }) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let connected = self.rediscover(scope, &id).await?;
                self.after_connect(scope, session, inst, connected).await
            }
            (Action::SelectAccounts { names, subcategories }, LinkStep::Accounts { institution, connection }) => {
                let inst = self.institution_of(&session, livemode, &institution).await?;
                let choices = self.offered_accounts(livemode, &session, &inst, connection.as_deref()).await?;
                let mut chosen: Vec<crate::provider::InstitutionAccount> = Vec::new();
                for name in &names {
                    match choices.iter().find(|c| &c.account.name == name) {
                        Some(c) if c.disabled_reason.is_none() => {
                            if !chosen.iter().any(|a| &a.name == name) {
                                chosen.push(c.account.clone());
                            }
                        }
                        _ => {
                            return Err(DomainError::InvalidParam {
                                param: "accounts".into(),
                                message: format!("'{name}' cannot be linked."),
                            })
                        }
                    }
                }
                // The user's correction of a live account's type (SimpleFIN does not say).
                for (index, sub) in &subcategories {
                    let Some(choice) = choices.get(*index) else { continue };
                    if let Some(a) = chosen.iter_mut().find(|a| a.name == choice.account.name) {
                        let known = finconn_types::AccountSubcategory::parse_known(sub)
                            .map(crate::provider::AccountSubcategoryOrOther::Known)
                            .or_else(|| (sub == "other").then_some(crate::provider::AccountSubcategoryOrOther::Other));
                        if let (Some(k), true) = (known, choice.live.is_some()) {
                            a.category = crate::link::category_for(&k, &a.category).to_owned();
                            a.subcategory = k;
                        }
                    }
                }
                let limit = usize::try_from(session.limits.unwrap_or(100)).unwrap_or(100);
                // A live account's type is the user's choice, so the subcategory filter applies to it here.
                let outside_filter = session.filters.account_subcategories.as_ref().and_then(|allowed| {
                    let ok = |a: &crate::provider::InstitutionAccount| match &a.subcategory {
                        crate::provider::AccountSubcategoryOrOther::Known(k) => allowed.contains(k),
                        crate::provider::AccountSubcategoryOrOther::Other => false,
                    };
                    chosen.iter().find(|a| !ok(a)).map(|a| {
                        let names: Vec<&str> = allowed.iter().map(finconn_types::AccountSubcategory::as_str).collect();
                        format!(
                            "'{}' cannot be linked: only {} accounts can be linked here.",
                            a.name,
                            names.join(", ").replace('_', " ")
                        )
                    })
                });
                let problem = if chosen.is_empty() {
                    Some("Select at least one account.".to_owned())
                } else if let Some(m) = outside_filter {
                    Some(m)
                } else if chosen.len() > limit {
                    Some(format!("You can link at most {limit} account{} here.", if limit == 1 { "" } else { "s" }))
                } else if session.filters.require_payment_method_support
                    == Some(finconn_types::RequirePaymentMethodSupport::AtLeastOne)
                    && chosen.iter().all(|a| a.supported_payment_method_types.is_empty())
                {
                    Some("Select at least one account that can be used for payments.".to_owned())
                } else {
                    None
                };
                if let Some(message) = problem {
                    let pane = self
                        .accounts_pane(&session, livemode, inst, connection.as_deref(), Some(message), names.clone())
                        .await?;
                    return view(session, pane, Vec::new());
                }
                session.link = LinkStep::Done;
                let names: Vec<String> = chosen.iter().map(|a| a.name.clone()).collect();
                if session.relink.is_some() {
                    let picked: Vec<crate::link::AccountChoice> =
                        choices.iter().filter(|c| names.contains(&c.account.name)).cloned().collect();
                    self.finish_relink_with(scope, session.clone(), &names, connection.as_deref(), &picked, origin)
                        .await?;
                    let session = self.find_session(scope, &session.id).await?;
                    return view(
                        session,
                        Pane::Success { institution_name: inst.name.clone(), accounts: names },
                        vec![
                            FlowEvent::institution("accounts_selected", &inst.name),
                            FlowEvent::institution("success", &inst.name),
                        ],
                    );
                }
                let live = match connection.as_deref() {
                    Some(id) => {
                        let conn = self.find_connection(scope, id).await?;
                        let links = chosen
                            .iter()
                            .map(|a| {
                                choices.iter().find(|c| c.account.name == a.name).and_then(|c| c.live.as_ref()).map(
                                    |l| crate::model::AccountConnection {
                                        id: conn.id.clone(),
                                        provider_account: l.provider_id.clone(),
                                        group: l.group.clone(),
                                        transactions_synced_through: None,
                                        access_expires_at: l.access_expires_at,
                                        authorization: None,
                                    },
                                )
                            })
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| DomainError::Internal("a chosen account is not the connection's".into()))?;
                        Some((conn, links))
                    }
                    None => None,
                };
                self.finish_link(scope, session.clone(), &inst, chosen, origin, live).await?;
                let session = self.find_session(scope, &session.id).await?;
                view(
                    session,
                    Pane::Success { institution_name: inst.name.clone(), accounts: names },
                    vec![
                        FlowEvent::institution("accounts_selected", &inst.name),
                        FlowEvent::institution("success", &inst.name),
                    ],
                )
            }
            (Action::StartManual, LinkStep::Institutions)
                if session.manual_entry == Some(finconn_types::ManualEntryMode::Automatic) =>
            {
                session.link = LinkStep::Manual;
                self.save(scope, &session).await?;
                view(
                    session,
                    Pane::Manual { message: None, entered: None },
                    vec![FlowEvent::named("manual_entry_initiated")],
                )
            }
            (Action::Manual { routing_number, account_number, account_type }, LinkStep::Manual) => {
                let problem = if !aba_checksum_ok(&routing_number) {
                    Some("Enter a valid 9-digit routing number.")
                } else if !(4..=17).contains(&account_number.len())
                    || !account_number.bytes().all(|b| b.is_ascii_digit())
                {
                    Some("Enter an account number of 4 to 17 digits.")
                } else if !matches!(account_type.as_str(), "checking" | "savings") {
                    Some("Choose checking or savings.")
                } else {
                    None
                };
                if let Some(m) = problem {
                    let entered = Some((routing_number.clone(), account_number.clone(), account_type.clone()));
                    return view(session, Pane::Manual { message: Some(m.to_owned()), entered }, Vec::new());
                }
                let last4 = account_number[account_number.len() - 4..].to_owned();
                let name = format!("{} ••••{last4}", if account_type == "savings" { "Savings" } else { "Checking" });
                let manual = crate::provider::InstitutionAccount {
                    name: name.clone(),
                    category: "cash".into(),
                    subcategory: crate::provider::AccountSubcategoryOrOther::Known(if account_type == "savings" {
                        finconn_types::AccountSubcategory::Savings
                    } else {
                        finconn_types::AccountSubcategory::Checking
                    }),
                    last4,
                    supported_payment_method_types: vec!["us_bank_account".into()],
                    purpose: "entered manually".into(),
                };
                let inst = Institution {
                    id: format!("routing_{routing_number}"),
                    name: format!("Bank (routing {routing_number})"),
                    url: String::new(),
                    countries: vec!["US".into()],
                    featured: false,
                    login: LoginKind::Credentials,
                    status: InstitutionStatus::Active,
                    features: vec![Permission::PaymentMethod],
                    logo: None,
                };
                session.link = LinkStep::Done;
                self.finish_link(scope, session.clone(), &inst, vec![manual], origin, None).await?;
                let session = self.find_session(scope, &session.id).await?;
                let mut success = FlowEvent::named("success");
                success.manual_entry = true;
                view(session, Pane::Success { institution_name: inst.name, accounts: vec![name] }, vec![success])
            }
            _ => Err(step_error()),
        }
    }

    /// Where a connector login leads: the account picker, or the token pane again with what went wrong.
    async fn after_connect(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        inst: Institution,
        connected: crate::connections::Connected,
    ) -> Result<FlowView, DomainError> {
        use crate::connections::Connected;
        match connected {
            Connected::Failed(e) => {
                let message = crate::connections::user_message(&e);
                Ok(FlowView { session, pane: self.token_pane(inst, Some(message), false), events: Vec::new() })
            }
            Connected::Stored(conn, e) => {
                session.link = LinkStep::Token { institution: inst.id.clone(), connection: Some(conn.id) };
                self.save(scope, &session).await?;
                let message = format!(
                    "Connected, but your accounts could not be listed: {} You can try again without a new token.",
                    crate::connections::user_message(&e)
                );
                Ok(FlowView { session, pane: self.token_pane(inst, Some(message), true), events: Vec::new() })
            }
            Connected::Ready(conn) => {
                session.link = LinkStep::Accounts { institution: inst.id.clone(), connection: Some(conn.id.clone()) };
                self.save(scope, &session).await?;
                let mut events = vec![FlowEvent::institution("institution_authorized", &inst.name)];
                let pane = self.accounts_pane(&session, scope.livemode, inst, Some(&conn.id), None, Vec::new()).await?;
                if let Pane::Error { code, .. } = &pane {
                    events.push(FlowEvent::error(code));
                }
                Ok(FlowView { session, pane, events })
            }
        }
    }

    async fn after_login(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        inst: Institution,
        outcome: Option<LoginOutcome>,
    ) -> Result<FlowView, DomainError> {
        let livemode = scope.livemode;
        let outcome = outcome.unwrap_or(LoginOutcome::Failed {
            code: "unexpected_error".into(),
            message: "No provider serves this institution.".into(),
        });
        match outcome {
            LoginOutcome::Authorized => {
                session.link = LinkStep::Accounts { institution: inst.id.clone(), connection: None };
                self.save(scope, &session).await?;
                let mut events = vec![FlowEvent::institution("institution_authorized", &inst.name)];
                let pane = self.accounts_pane(&session, livemode, inst, None, None, Vec::new()).await?;
                if let Pane::Error { code, .. } = &pane {
                    events.push(FlowEvent::error(code));
                }
                Ok(FlowView { session, pane, events })
            }
            LoginOutcome::Challenge(challenge) => {
                session.link = LinkStep::Challenge { institution: inst.id.clone(), challenge: challenge.clone() };
                self.save(scope, &session).await?;
                Ok(FlowView {
                    session,
                    pane: Pane::Challenge { institution: inst, challenge, message: None },
                    events: Vec::new(),
                })
            }
            LoginOutcome::Incorrect { message } => {
                let pane = match &session.link {
                    LinkStep::Challenge { challenge, .. } => {
                        Pane::Challenge { institution: inst, challenge: challenge.clone(), message: Some(message) }
                    }
                    _ => Pane::Login { institution: inst, message: Some(message), username: None },
                };
                Ok(FlowView { session, pane, events: Vec::new() })
            }
            LoginOutcome::Failed { code, message } => {
                session.link = LinkStep::Institutions;
                self.save(scope, &session).await?;
                let events = vec![FlowEvent::error(&code)];
                let pane = Pane::Error {
                    code,
                    title: format!("Could not connect to {}", inst.name),
                    message,
                    expected_at: None,
                    retry: true,
                };
                Ok(FlowView { session, pane, events })
            }
        }
    }

    /// The institution's (simulated) authorization page: the user authorizes or cancels. `state` is the
    /// random name of the page, drawn when the institution was selected.
    pub async fn oauth_decide(
        &self,
        session_id: &str,
        state: &str,
        approve: bool,
    ) -> Result<(SessionRecord, Institution), DomainError> {
        let missing = || DomainError::not_found("authorization", state, None);
        for _ in 0..8 {
            let mut session = self.records.find_session_by_id(session_id).await?.ok_or_else(missing)?;
            let scope = session.scope.clone().ok_or_else(missing)?;
            session.check_usable(self.now())?;
            let LinkStep::OAuth { institution, state: expected, .. } = session.link.clone() else {
                return Err(missing());
            };
            if !crate::keys::constant_time_eq(expected.as_bytes(), state.as_bytes()) {
                return Err(missing());
            }
            let inst = self.institution_of(&session, scope.livemode, &institution).await?;
            if self.connector_for(&inst.id).is_some() {
                // A real bank's page decides, not finconn's simulated one.
                return Err(missing());
            }
            session.link =
                if approve { LinkStep::Accounts { institution, connection: None } } else { LinkStep::Institutions };
            session.oauth_authorized = approve.then(|| inst.name.clone());
            match self.save(&scope, &session).await {
                Ok(()) => return Ok((session, inst)),
                Err(DomainError::Link { code: "conflict", .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Internal("the session kept changing".into()))
    }

    /// The institution of a session's OAuth step, for rendering its authorization page.
    pub async fn oauth_page(&self, session_id: &str, state: &str) -> Result<(SessionRecord, Institution), DomainError> {
        let missing = || DomainError::not_found("authorization", state, None);
        let session = self.records.find_session_by_id(session_id).await?.ok_or_else(missing)?;
        let scope = session.scope.clone().ok_or_else(missing)?;
        session.check_usable(self.now())?;
        let LinkStep::OAuth { institution, state: expected, .. } = &session.link else { return Err(missing()) };
        if !crate::keys::constant_time_eq(expected.as_bytes(), state.as_bytes()) {
            return Err(missing());
        }
        let inst = self.institution_of(&session, scope.livemode, institution).await?;
        Ok((session, inst))
    }
}

/// What a real bank's authorization page sent back to finconn's callback.
#[derive(Clone, Debug)]
pub enum BankAnswer {
    Code(crate::connector::Secret),
    /// `error` and `error_description` from the redirect (the user declined, or the bank failed).
    Error {
        error: String,
        description: Option<String>,
    },
}

/// Where the authorization popup goes next.
pub enum Redirect {
    /// The sandbox's simulated page (rendered by finconn).
    Simulated(Box<(SessionRecord, Institution)>),
    /// The bank's own page.
    Bank(String),
}

/// The text of the error a bank's redirect reported, for the user.
fn bank_error_message(bank: &str, error: &str, description: Option<&str>) -> String {
    let said = description
        .map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect::<String>())
        .filter(|d| !d.trim().is_empty());
    let head = match error {
        "access_denied" | "cancelled" | "canceled" => format!("You did not authorize access at {bank}."),
        _ => format!("{bank} could not complete the authorization."),
    };
    match said {
        Some(d) => format!("{head} The bank said: {}. You can try again.", d.trim().trim_end_matches('.')),
        None => format!("{head} You can try again."),
    }
}

impl Finconn {
    /// Where the authorization popup of a session's OAuth step goes: a connector institution's real page
    /// (asked of the provider now, with `{session}.{state}` as the state it sends back), or the sandbox's
    /// simulated one.
    pub async fn oauth_redirect(&self, session_id: &str, state: &str) -> Result<Redirect, DomainError> {
        let (session, inst) = self.oauth_page(session_id, state).await?;
        let Some(connector) = self.connector_for(&inst.id) else {
            return Ok(Redirect::Simulated(Box::new((session, inst))));
        };
        let costed = connector.authorization_url(&inst.id, &format!("{session_id}.{state}")).await;
        match costed.result {
            Ok(url) => Ok(Redirect::Bank(url)),
            Err(e) => {
                let message = crate::connections::user_message(&e);
                self.oauth_fail(session_id, state, message.clone()).await?;
                Err(DomainError::Link { code: "institution_unavailable_unplanned", message, param: None })
            }
        }
    }

    /// Puts a session's OAuth step back to "try again" with `message` and a fresh state (the old one is
    /// spent).
    async fn oauth_fail(&self, session_id: &str, state: &str, message: String) -> Result<(), DomainError> {
        let missing = || DomainError::not_found("authorization", state, None);
        for _ in 0..8 {
            let mut session = self.records.find_session_by_id(session_id).await?.ok_or_else(missing)?;
            let scope = session.scope.clone().ok_or_else(missing)?;
            let LinkStep::OAuth { institution, state: expected, .. } = session.link.clone() else {
                return Err(missing());
            };
            if !crate::keys::constant_time_eq(expected.as_bytes(), state.as_bytes()) {
                return Err(missing());
            }
            session.link = LinkStep::OAuth { institution, state: ids::random_base62(32), error: Some(message.clone()) };
            match self.save(&scope, &session).await {
                Ok(()) => return Ok(()),
                Err(DomainError::Link { code: "conflict", .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Internal("the session kept changing".into()))
    }

    /// finconn's callback from a real bank's authorization page. `full_state` is what
    /// [`Finconn::oauth_redirect`] gave the provider: the session and the step's single-use state. A code
    /// becomes a connection (its credential sealed) and the flow moves on to the account picker; an error,
    /// or a code the provider refuses, puts the step back to "try again" with the reason.
    /// Returns the session and institution for the page the popup shows, and whether it worked.
    pub async fn oauth_callback(
        &self,
        full_state: &str,
        answer: BankAnswer,
    ) -> Result<(SessionRecord, Institution, bool), DomainError> {
        let missing = || DomainError::not_found("authorization", "", None);
        let (session_id, state) = full_state.split_once('.').ok_or_else(missing)?;
        if !session_id.starts_with(ids::SESSION) {
            return Err(missing());
        }
        let (session, inst) = self.oauth_page(session_id, state).await.map_err(|_| missing())?;
        let scope = session.scope.clone().ok_or_else(missing)?;
        if self.connector_for(&inst.id).is_none() {
            return Err(missing());
        }
        let code = match answer {
            BankAnswer::Code(code) => code,
            BankAnswer::Error { error, description } => {
                let message = bank_error_message(&inst.name, &error, description.as_deref());
                self.oauth_fail(session_id, state, message).await?;
                let session = self.find_session(&scope, session_id).await?;
                return Ok((session, inst, false));
            }
        };
        // Spend the state before the code is used, so a second callback with it finds nothing.
        let mut claimed = session.clone();
        claimed.link = LinkStep::OAuth { institution: inst.id.clone(), state: ids::random_base62(32), error: None };
        self.save(&scope, &claimed).await.map_err(|_| missing())?;
        let connected =
            self.connect(&scope, session_id, &inst, crate::connector::LinkInput::AuthorizationCode(code)).await?;
        let mut session = self.find_session(&scope, session_id).await?;
        let (ok, link) = match connected {
            crate::connections::Connected::Ready(conn) => {
                (true, LinkStep::Accounts { institution: inst.id.clone(), connection: Some(conn.id) })
            }
            crate::connections::Connected::Stored(_, e) | crate::connections::Connected::Failed(e) => {
                let message = format!(
                    "{} authorized access, but your accounts could not be read: {} You can try again.",
                    inst.name,
                    crate::connections::user_message(&e)
                );
                (
                    false,
                    LinkStep::OAuth {
                        institution: inst.id.clone(),
                        state: ids::random_base62(32),
                        error: Some(message),
                    },
                )
            }
        };
        if !matches!(&session.link, LinkStep::OAuth { .. }) {
            return Err(step_error());
        }
        session.link = link;
        session.oauth_authorized = ok.then(|| inst.name.clone());
        self.save(&scope, &session).await?;
        Ok((session, inst, ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aba_checksum() {
        assert!(aba_checksum_ok("110000000"));
        assert!(aba_checksum_ok("021000021"));
        assert!(!aba_checksum_ok("021000022"));
        assert!(!aba_checksum_ok("12345678"));
        assert!(!aba_checksum_ok("02100002a"));
    }
}
