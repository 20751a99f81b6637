//! Linked accounts and their data: the Accounts, Owners and Transactions APIs, and the refresh engine's
//! rules (gating, permissions, subscriptions). The engine's IO — calling the provider with a timeout,
//! claiming jobs — is the server's; what a refresh changes is decided here.

use std::collections::BTreeMap;

use finconn_types::{
    Account, AccountHolder, AccountOwner, AccountOwnership, Balance, CashBalance, CreditBalance, Expandable, List,
    Permission, Refresh, StatusTransitions, Transaction, TransactionRefresh,
};

use crate::model::{
    BalanceRecord, Job, JobKind, LinkedAccountRecord, NewJob, Origin, OwnerRecord, RefreshRecord, RefreshStatus, Scope,
    TransactionRecord, TransactionRefreshRecord,
};
use crate::provider::{
    AccountRef, BalanceData, BalanceKind, FetchError, OwnerData, TransactionData, TransactionStatus,
};
use crate::store::{AccountFilter, Effects, Page, PageRequest, TransactionFilter};
use crate::{ids, DomainError, Finconn};

pub const OBJECT: &str = "financial_connections.account";
pub const OWNERSHIP: &str = "fcaowns_";
pub const OWNER: &str = "fcaown_";
pub const TRANSACTION: &str = "fctxn_";
pub const TRANSACTION_REFRESH: &str = "fctxnref_";
/// A day, for subscriptions.
pub const DAY: i64 = 86_400;

/// A refreshable feature (`features[]` of refresh; note the singular `balance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Balance,
    Ownership,
    Transactions,
}

impl Feature {
    pub const VALUES: &'static [&'static str] = &["balance", "ownership", "transactions"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "balance" => Some(Feature::Balance),
            "ownership" => Some(Feature::Ownership),
            "transactions" => Some(Feature::Transactions),
            _ => None,
        }
    }

    fn permission(self) -> Permission {
        match self {
            Feature::Balance => Permission::Balances,
            Feature::Ownership => Permission::Ownership,
            Feature::Transactions => Permission::Transactions,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Feature::Balance => "balance",
            Feature::Ownership => "ownership",
            Feature::Transactions => "transactions",
        }
    }
}

fn refresh_wire(r: &RefreshRecord) -> Refresh {
    Refresh {
        extra: Default::default(),
        last_attempted_at: r.last_attempted_at,
        next_refresh_available_at: r.next_refresh_available_at,
        status: r.status.as_str().to_owned(),
    }
}

impl LinkedAccountRecord {
    /// `status_details`: for a live account whose consent ends on a known date, when it will go inactive
    /// (`active`, as the spec); for a live account that went inactive, that it needs relinking (`inactive`,
    /// as Stripe's relink documentation). Absent otherwise.
    fn status_details(&self) -> Option<serde_json::Value> {
        match self.status.as_str() {
            // Any inactive account can be repaired with a relink session (`relink_options`), except one
            // entered by hand, which never had a login to repair.
            "inactive" => {
                let action = if self.manual { "none" } else { "relink_required" };
                return Some(serde_json::json!({ "inactive": { "action": action } }));
            }
            "active" => {}
            _ => return None,
        }
        let conn = self.connection.as_ref()?;
        match self.status.as_str() {
            "active" => conn.access_expires_at.map(|at| {
                serde_json::json!({ "active": {
                    "action": "relink_required",
                    "cause": "access_expired",
                    "expected_deactivation_date": at,
                }})
            }),
            _ => None,
        }
    }

    /// The Financial Connections Authorization the account belongs to (the login it was linked through):
    /// `fcauthz_` + the suffix of its live connection, else of the session that linked it.
    pub fn authorization(&self) -> String {
        if let Some(a) = self.connection.as_ref().and_then(|c| c.authorization.clone()) {
            return a;
        }
        let source = self.connection.as_ref().map_or(self.session.as_str(), |c| c.id.as_str());
        format!("fcauthz_{}", source.split_once('_').map_or(source, |(_, s)| s))
    }

    pub fn to_wire(&self, livemode: bool) -> Account {
        let h = &self.holder;
        let mut extra = serde_json::Map::new();
        extra.insert("authorization".into(), serde_json::Value::String(self.authorization()));
        Account {
            extra,
            account_holder: Some(AccountHolder {
                extra: Default::default(),
                account: h.account.clone().map(Expandable::Id),
                customer: h.customer.clone().map(Expandable::Id),
                customer_account: h.customer_account.clone(),
                kind: h.kind.clone(),
            }),
            account_numbers: None,
            balance: self.balance.as_ref().map(|b| {
                let amount = |v: i64| BTreeMap::from([(b.currency.clone(), v)]);
                Balance {
                    extra: Default::default(),
                    as_of: b.as_of,
                    cash: (b.kind == "cash")
                        .then(|| CashBalance { extra: Default::default(), available: b.other.map(amount) }),
                    credit: (b.kind == "credit")
                        .then(|| CreditBalance { extra: Default::default(), used: b.other.map(amount) }),
                    current: amount(b.current),
                    kind: b.kind.clone(),
                }
            }),
            balance_refresh: self.balance_refresh.as_ref().map(refresh_wire),
            category: self.category.clone(),
            created: self.created,
            display_name: Some(self.name.clone()),
            id: self.id.clone(),
            institution_name: self.institution_name.clone(),
            last4: self.last4.clone(),
            livemode,
            object: OBJECT.to_owned(),
            ownership: self.ownership.clone().map(Expandable::Id),
            ownership_refresh: self.ownership_refresh.as_ref().map(refresh_wire),
            permissions: Some(self.permissions.clone()),
            status: self.status.clone(),
            status_details: self.status_details(),
            subcategory: self.subcategory.clone(),
            subscriptions: Some(self.subscriptions.clone()),
            supported_payment_method_types: self.supported_payment_method_types.clone(),
            transaction_refresh: self.transaction_refresh.as_ref().map(|t| TransactionRefresh {
                extra: Default::default(),
                id: t.id.clone(),
                last_attempted_at: t.last_attempted_at,
                next_refresh_available_at: t.next_refresh_available_at,
                status: t.status.as_str().to_owned(),
            }),
        }
    }

    pub(crate) fn refresh_state(&self, f: Feature) -> Option<(RefreshStatus, Option<i64>)> {
        match f {
            Feature::Balance => self.balance_refresh.as_ref().map(|r| (r.status, r.next_refresh_available_at)),
            Feature::Ownership => self.ownership_refresh.as_ref().map(|r| (r.status, r.next_refresh_available_at)),
            Feature::Transactions => self.transaction_refresh.as_ref().map(|r| (r.status, r.next_refresh_available_at)),
        }
    }

    /// Marks `f` pending and returns the job that will fetch it: a live account's data comes from its
    /// connection, whose one sync serves every pending refresh of its accounts.
    fn start_refresh(&mut self, f: Feature, now: i64) -> NewJob {
        let pending = RefreshRecord {
            status: RefreshStatus::Pending,
            last_attempted_at: now,
            next_refresh_available_at: None,
            error: None,
        };
        let kind = match f {
            Feature::Balance => {
                self.balance_refresh = Some(pending);
                JobKind::RefreshBalance { account: self.id.clone() }
            }
            Feature::Ownership => {
                self.ownership_refresh = Some(pending);
                JobKind::RefreshOwnership { account: self.id.clone() }
            }
            Feature::Transactions => {
                let refresh = ids::new_id(TRANSACTION_REFRESH);
                self.transaction_refresh = Some(TransactionRefreshRecord {
                    id: refresh.clone(),
                    status: RefreshStatus::Pending,
                    last_attempted_at: now,
                    next_refresh_available_at: None,
                    error: None,
                });
                JobKind::RefreshTransactions { account: self.id.clone(), refresh }
            }
        };
        let kind = match &self.connection {
            Some(c) => JobKind::SyncConnection { connection: c.id.clone() },
            None => kind,
        };
        NewJob { kind, run_at: now, test_clock: self.test_clock.clone() }
    }
}

/// Removes repeated jobs (several features of one live account, or several accounts of one connection,
/// need one sync of the connection).
pub(crate) fn dedup_jobs(jobs: &mut Vec<NewJob>) {
    let mut seen: Vec<NewJob> = Vec::new();
    jobs.retain(|j| {
        if seen.contains(j) {
            false
        } else {
            seen.push(j.clone());
            true
        }
    });
}

/// Folds a fetched transaction list into what is stored: new ones get an id, changed ones (a pending one
/// that posted or was voided, an amount that settled) keep theirs and move. With `void_missing`, a pending
/// transaction of the window that the provider no longer lists was dropped by the bank: it becomes `void`.
pub(crate) fn merge_transactions(
    known: &std::collections::HashMap<String, TransactionRecord>,
    fetched: &[TransactionData],
    account: &str,
    refresh_id: &str,
    now: i64,
    void_missing: Option<(i64, i64)>,
) -> Vec<TransactionRecord> {
    let mut out = Vec::new();
    for t in fetched {
        let (posted_at, void_at) = match t.status {
            TransactionStatus::Posted => (t.status_changed_at, None),
            TransactionStatus::Void => (None, t.status_changed_at),
            TransactionStatus::Pending => (None, None),
        };
        match known.get(&t.provider_id) {
            Some(old) if old.status == t.status && old.amount == t.amount && old.description == t.description => {}
            // A posted or voided transaction is final: a later listing of it as pending changes nothing.
            Some(old) if old.status != TransactionStatus::Pending && t.status == TransactionStatus::Pending => {}
            Some(old) => out.push(TransactionRecord {
                status: t.status,
                amount: t.amount,
                description: t.description.clone(),
                posted_at,
                void_at,
                transaction_refresh: refresh_id.to_owned(),
                updated: now,
                ..old.clone()
            }),
            None => out.push(TransactionRecord {
                // A scripted transaction keeps the id its test helper answered with.
                id: t
                    .provider_id
                    .strip_prefix(crate::scripted::SCRIPTED_PROVIDER_ID)
                    .map_or_else(|| ids::new_id(TRANSACTION), str::to_owned),
                account: account.to_owned(),
                provider_id: t.provider_id.clone(),
                amount: t.amount,
                currency: t.currency.clone(),
                description: t.description.clone(),
                status: t.status,
                posted_at,
                void_at,
                transacted_at: t.transacted_at,
                transaction_refresh: refresh_id.to_owned(),
                updated: now,
            }),
        }
    }
    if let Some((start, end)) = void_missing {
        let listed: std::collections::HashSet<&str> = fetched.iter().map(|t| t.provider_id.as_str()).collect();
        let mut gone: Vec<&TransactionRecord> = known
            .values()
            .filter(|t| t.status == TransactionStatus::Pending)
            .filter(|t| (start..end).contains(&t.transacted_at) && !listed.contains(t.provider_id.as_str()))
            .collect();
        gone.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(gone.into_iter().map(|t| TransactionRecord {
            status: TransactionStatus::Void,
            void_at: Some(now),
            transaction_refresh: refresh_id.to_owned(),
            updated: now,
            ..t.clone()
        }));
    }
    out
}

impl OwnerRecord {
    pub fn to_wire(&self) -> AccountOwner {
        AccountOwner {
            extra: Default::default(),
            email: self.email.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            object: AccountOwner::OBJECT.to_owned(),
            ownership: self.ownership.clone(),
            phone: self.phone.clone(),
            raw_address: self.raw_address.clone(),
            refreshed_at: Some(self.refreshed_at),
        }
    }
}

impl TransactionRecord {
    pub fn to_wire(&self, livemode: bool) -> Transaction {
        let status = match self.status {
            TransactionStatus::Pending => "pending",
            TransactionStatus::Posted => "posted",
            TransactionStatus::Void => "void",
        };
        Transaction {
            extra: Default::default(),
            account: self.account.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            description: self.description.clone(),
            id: self.id.clone(),
            livemode,
            object: Transaction::OBJECT.to_owned(),
            status: status.to_owned(),
            status_transitions: StatusTransitions {
                extra: Default::default(),
                posted_at: self.posted_at,
                void_at: self.void_at,
            },
            transacted_at: self.transacted_at,
            transaction_refresh: self.transaction_refresh.clone(),
            updated: self.updated,
        }
    }
}

fn account_error(message: String, param: Option<&str>) -> DomainError {
    DomainError::InvalidParam { param: param.unwrap_or("").to_owned(), message }
}

fn inactive(rec: &LinkedAccountRecord) -> DomainError {
    DomainError::Link {
        code: "financial_connections_account_inactive",
        message: format!(
            "The account {} is {}: its data can no longer be refreshed. Link it again in a new session.",
            rec.id, rec.status
        ),
        param: None,
    }
}

/// What a finished fetch changed, for the store to write in one transaction.
#[derive(Clone, Debug, Default)]
pub struct RefreshOutcome {
    pub account: Option<LinkedAccountRecord>,
    /// A new ownership (`fcaowns_…`, created) whose owners are `owners`.
    pub ownership: Option<(String, i64)>,
    pub owners: Vec<OwnerRecord>,
    pub transactions: Vec<TransactionRecord>,
    pub jobs: Vec<NewJob>,
    pub events: Vec<crate::model::NewEvent>,
    /// Which of the account's refresh fields this outcome owns. Another job may have finished meanwhile
    /// (a balance and an ownership refresh of one account run at once): the store then writes only these
    /// fields onto the latest version.
    pub touched: Touched,
}

impl RefreshOutcome {
    /// A new ownership (`fcaowns_…`) of `owners`, refreshed `now`, becomes the account's.
    pub(crate) fn set_owners(
        &mut self,
        rec: &mut LinkedAccountRecord,
        owners: &[crate::provider::OwnerData],
        now: i64,
    ) {
        let ownership = ids::new_id(OWNERSHIP);
        self.owners = owners
            .iter()
            .map(|o| OwnerRecord {
                id: ids::new_id(OWNER),
                ownership: ownership.clone(),
                name: o.name.clone(),
                email: o.email.clone(),
                phone: o.phone.clone(),
                raw_address: o.raw_address.clone(),
                refreshed_at: now,
            })
            .collect();
        self.ownership = Some((ownership.clone(), now));
        rec.ownership = Some(ownership);
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub balance: bool,
    pub ownership: bool,
    pub transactions: bool,
}

impl Touched {
    /// Copies the fields this outcome owns from `ours` onto `latest`.
    pub fn merge(self, latest: &mut LinkedAccountRecord, ours: &LinkedAccountRecord) {
        if self.balance {
            latest.balance = ours.balance.clone();
            latest.balance_refresh = ours.balance_refresh.clone();
        }
        if self.ownership {
            latest.ownership = ours.ownership.clone();
            latest.ownership_refresh = ours.ownership_refresh.clone();
        }
        if self.transactions {
            latest.transaction_refresh = ours.transaction_refresh.clone();
        }
        if ours.status == "inactive" && latest.status == "active" {
            latest.status = ours.status.clone();
        }
    }
}

/// What a job needs fetched: the provider call is the caller's to make (with its timeout).
pub enum Fetch {
    Balance,
    Owners,
    Transactions,
    /// Nothing to fetch (the job is obsolete: account disconnected, unsubscribed, …).
    Nothing,
}

pub enum Fetched {
    Balance(Result<BalanceData, FetchError>),
    Owners(Result<Vec<OwnerData>, FetchError>),
    Transactions(Result<Vec<TransactionData>, FetchError>),
    Nothing,
}

impl Finconn {
    pub async fn find_account(
        &self,
        scope: &Scope,
        id: &str,
        param: Option<&str>,
    ) -> Result<LinkedAccountRecord, DomainError> {
        let found = self.records.get_linked_account(&scope.account, id).await?;
        crate::error::in_mode(found, |r| r.scope.as_ref(), scope, OBJECT, id, param)
    }

    /// `account_numbers` (included when expanded): the account number details of an account shared for
    /// payments (`payment_method` permission, `us_bank_account` supported) — a tokenized number at an OAuth
    /// institution, as Stripe's tokenized account numbers, else the account number; transactable while
    /// the account is active. `None` (null) without the permission; empty when payments are not possible.
    pub async fn account_numbers(&self, scope: &Scope, id: &str) -> Result<Option<serde_json::Value>, DomainError> {
        let rec = self.find_account(scope, id, None).await?;
        if !rec.permissions.contains(&finconn_types::Permission::PaymentMethod) {
            return Ok(None);
        }
        if !rec.supported_payment_method_types.iter().any(|t| t == "us_bank_account") {
            return Ok(Some(serde_json::json!([])));
        }
        let oauth = self
            .institutions_by_id(scope.livemode, &rec.institution_id)
            .is_some_and(|i| i.login == crate::provider::LoginKind::OAuth);
        Ok(Some(serde_json::json!([{
            "expected_expiry_date": null,
            "identifier_type": if oauth { "tokenized_account_number" } else { "account_number" },
            "status": if rec.status == "active" { "transactable" } else { "deactivated" },
            "supported_networks": ["ach"],
        }])))
    }

    fn institutions_by_id(&self, livemode: bool, id: &str) -> Option<crate::provider::Institution> {
        self.provider(livemode)
            .and_then(|p| p.institution(id))
            .or_else(|| livemode.then(|| self.providers.connectors.institution(id)).flatten())
    }

    pub async fn retrieve_account(&self, scope: &Scope, id: &str) -> Result<Account, DomainError> {
        Ok(self.find_account(scope, id, None).await?.to_wire(scope.livemode))
    }

    pub async fn list_accounts(
        &self,
        scope: &Scope,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>, DomainError> {
        let p = self
            .store
            .list_linked_accounts(scope, filter, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, OBJECT, page))?;
        Ok(Page { items: p.items.iter().map(|a| a.to_wire(scope.livemode)).collect(), has_more: p.has_more })
    }

    /// Applies `change` to the account with compare-and-swap, adding the jobs it asks for and the events
    /// it names (about the account as changed) in the same transaction.
    pub(crate) async fn change_account<F>(
        &self,
        scope: &Scope,
        id: &str,
        origin: Option<&Origin>,
        mut change: F,
    ) -> Result<Account, DomainError>
    where
        F: FnMut(&mut LinkedAccountRecord, i64) -> Result<(Vec<NewJob>, Vec<&'static str>), DomainError>,
    {
        for _ in 0..16 {
            let mut rec = self.find_account(scope, id, None).await?;
            // The account's own time (its test clock's, if it has one); events are stamped with real time.
            let now = self.time_on(rec.test_clock.as_deref()).await?;
            let (jobs, kinds) = change(&mut rec, now)?;
            let wire = rec.to_wire(scope.livemode);
            let real = self.now();
            let events = kinds.iter().filter_map(|k| crate::events::new_event(k, &wire, real, origin)).collect();
            if self.records.update_linked_account(scope, &rec, &Effects { jobs, events }).await? {
                return Ok(wire);
            }
        }
        Err(DomainError::Internal("the account kept changing".into()))
    }

    pub async fn disconnect_account(
        &self,
        scope: &Scope,
        id: &str,
        origin: Option<&Origin>,
    ) -> Result<Account, DomainError> {
        let wire = self.disconnect_one(scope, id, origin).await?;
        let connection = self.find_account(scope, id, None).await?.connection.map(|c| c.id);
        if let Some(connection) = connection {
            // The last account of a live connection gone: its credential goes too.
            self.forget_connection_if_unused(scope, &connection).await?;
        }
        Ok(wire)
    }

    async fn disconnect_one(&self, scope: &Scope, id: &str, origin: Option<&Origin>) -> Result<Account, DomainError> {
        self.change_account(scope, id, origin, |rec, _| {
            let was = std::mem::replace(&mut rec.status, "disconnected".to_owned());
            rec.subscriptions.clear();
            rec.subscription = None;
            let events =
                if was == "disconnected" { Vec::new() } else { vec!["financial_connections.account.disconnected"] };
            Ok((Vec::new(), events))
        })
        .await
    }

    /// `refresh` with `features` (already parsed). Each is refused without its permission, on an inactive
    /// or disconnected account, and while its refresh is pending or its `next_refresh_available_at` lies
    /// in the future.
    pub async fn refresh_account(
        &self,
        scope: &Scope,
        id: &str,
        features: &[(String, Feature)],
    ) -> Result<Account, DomainError> {
        self.change_account(scope, id, None, |rec, now| {
            if rec.status != "active" {
                return Err(inactive(rec));
            }
            let mut jobs = Vec::new();
            for (param, f) in features {
                if !rec.permissions.contains(&f.permission()) {
                    return Err(account_error(
                        format!(
                            "The account {} was not linked with the `{}` permission, so its {} cannot be refreshed.",
                            rec.id,
                            f.permission(),
                            f.name()
                        ),
                        Some(param),
                    ));
                }
                match rec.refresh_state(*f) {
                    Some((RefreshStatus::Pending, _)) | Some((_, None)) => {
                        return Err(account_error(
                            format!("A {} refresh is already in progress for this account.", f.name()),
                            Some(param),
                        ))
                    }
                    Some((_, Some(next))) if next > now => {
                        return Err(account_error(
                            format!("The next {} refresh for this account is available at {next}.", f.name()),
                            Some(param),
                        ))
                    }
                    _ => {}
                }
                jobs.push(rec.start_refresh(*f, now));
            }
            dedup_jobs(&mut jobs);
            Ok((jobs, Vec::new()))
        })
        .await
    }

    pub async fn subscribe_account(&self, scope: &Scope, id: &str) -> Result<Account, DomainError> {
        self.change_account(scope, id, None, |rec, now| {
            if rec.status != "active" {
                return Err(inactive(rec));
            }
            if !rec.permissions.contains(&Permission::Transactions) {
                return Err(account_error(
                    format!("The account {} was not linked with the `transactions` permission.", rec.id),
                    Some("features[0]"),
                ));
            }
            if rec.subscriptions.iter().any(|s| s == "transactions") {
                return Ok((Vec::new(), Vec::new()));
            }
            rec.subscriptions.push("transactions".to_owned());
            let token = ids::random_base62(16);
            rec.subscription = Some(token.clone());
            let mut jobs = vec![NewJob {
                kind: JobKind::SubscriptionTick { account: rec.id.clone(), subscription: Some(token) },
                run_at: now + DAY,
                test_clock: rec.test_clock.clone(),
            }];
            if !matches!(rec.refresh_state(Feature::Transactions), Some((RefreshStatus::Pending, _))) {
                jobs.push(rec.start_refresh(Feature::Transactions, now));
            }
            Ok((jobs, Vec::new()))
        })
        .await
    }

    /// Test helper (finconn extension): the institution stops (`active: false`) or resumes giving access to
    /// an account, as a provider reporting it inaccessible, or the end user relinking it, would. An inactive
    /// account refuses refreshes; its subscription's daily tick waits and resumes on reactivation. A no-op
    /// when the account is already there; a disconnected account stays disconnected.
    pub async fn set_access_for_test(
        &self,
        scope: &Scope,
        id: &str,
        active: bool,
        origin: Option<&Origin>,
    ) -> Result<Account, DomainError> {
        let (from, to, event) = if active {
            ("inactive", "active", "financial_connections.account.reactivated")
        } else {
            ("active", "inactive", "financial_connections.account.deactivated")
        };
        self.change_account(scope, id, origin, |rec, _| match rec.status.as_str() {
            s if s == to => Ok((Vec::new(), Vec::new())),
            s if s == from => {
                rec.status = to.to_owned();
                Ok((Vec::new(), vec![event]))
            }
            _ => Err(inactive(rec)),
        })
        .await
    }

    pub async fn unsubscribe_account(&self, scope: &Scope, id: &str) -> Result<Account, DomainError> {
        self.change_account(scope, id, None, |rec, _| {
            rec.subscriptions.retain(|s| s != "transactions");
            rec.subscription = None;
            Ok((Vec::new(), Vec::new()))
        })
        .await
    }

    /// The refreshes `prefetch` asks for, started when the session completes.
    pub fn prefetch_jobs(rec: &mut LinkedAccountRecord, prefetch: &[finconn_types::Prefetch], now: i64) -> Vec<NewJob> {
        prefetch
            .iter()
            .filter_map(|p| match p {
                finconn_types::Prefetch::Balances => Some(Feature::Balance),
                finconn_types::Prefetch::Ownership => Some(Feature::Ownership),
                finconn_types::Prefetch::Transactions => Some(Feature::Transactions),
                _ => None,
            })
            .map(|f| rec.start_refresh(f, now))
            .collect()
    }

    pub async fn list_owners(
        &self,
        scope: &Scope,
        account: &str,
        ownership: &str,
        page: &PageRequest,
    ) -> Result<Page<AccountOwner>, DomainError> {
        let rec = self.find_account(scope, account, None).await?;
        if rec.ownership.as_deref() != Some(ownership) && !self.records.ownership_belongs_to(&rec.id, ownership).await?
        {
            return Err(DomainError::not_found(
                "financial_connections.account_ownership",
                ownership,
                Some("ownership"),
            ));
        }
        let p = self
            .store
            .list_owners(scope, ownership, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, "financial_connections.account_owner", page))?;
        Ok(Page { items: p.items.iter().map(OwnerRecord::to_wire).collect(), has_more: p.has_more })
    }

    /// The expanded `ownership` of an account: the ownership with its first owners.
    pub async fn ownership_object(
        &self,
        scope: &Scope,
        account: &str,
        ownership: &str,
    ) -> Result<Option<AccountOwnership>, DomainError> {
        let Some(created) = self.records.ownership_created(ownership).await? else { return Ok(None) };
        let page = PageRequest { limit: 10, cursor: None };
        let p = self.records.list_owners(scope, ownership, &page).await?;
        Ok(Some(AccountOwnership {
            extra: Default::default(),
            created,
            id: ownership.to_owned(),
            object: AccountOwnership::OBJECT.to_owned(),
            owners: List::new(
                p.items.iter().map(OwnerRecord::to_wire).collect(),
                p.has_more,
                format!("/v1/financial_connections/accounts/{account}/owners?ownership={ownership}"),
            ),
        }))
    }

    pub async fn list_transactions(
        &self,
        scope: &Scope,
        account: &str,
        filter: TransactionFilter,
        page: &PageRequest,
    ) -> Result<Page<Transaction>, DomainError> {
        self.find_account(scope, account, Some("account")).await?;
        let p = self.records.list_transactions(scope, account, &filter, page).await.map_err(|e| match e {
            crate::StoreError::CursorNotFound if filter.after_refresh.is_some() && page.cursor.is_none() => {
                DomainError::not_found(
                    "financial_connections.transaction_refresh",
                    filter.after_refresh.as_deref().unwrap_or(""),
                    Some("transaction_refresh[after]"),
                )
            }
            e => crate::customers::cursor_error(e, Transaction::OBJECT, page),
        })?;
        Ok(Page { items: p.items.iter().map(|t| t.to_wire(scope.livemode)).collect(), has_more: p.has_more })
    }

    pub async fn retrieve_transaction(&self, scope: &Scope, id: &str) -> Result<Transaction, DomainError> {
        match self.records.get_transaction(scope, id).await? {
            Some(t) => Ok(t.to_wire(scope.livemode)),
            None => Err(DomainError::not_found(Transaction::OBJECT, id, None)),
        }
    }

    /// What `job` needs from the provider, and the account it concerns (`None`: the job is obsolete).
    pub async fn plan_job(&self, job: &Job) -> Result<(Fetch, Option<LinkedAccountRecord>), DomainError> {
        let id = match &job.kind {
            JobKind::RefreshBalance { account }
            | JobKind::RefreshOwnership { account }
            | JobKind::RefreshTransactions { account, .. }
            | JobKind::SubscriptionTick { account, .. } => account,
            JobKind::FanoutEvent { .. }
            | JobKind::DeliverWebhook { .. }
            | JobKind::AdvanceTestClock { .. }
            | JobKind::SyncConnection { .. } => return Ok((Fetch::Nothing, None)),
        };
        let Ok(rec) = self.find_account(&job.scope, id, None).await else { return Ok((Fetch::Nothing, None)) };
        let fetch = match &job.kind {
            JobKind::RefreshBalance { .. }
                if rec.balance_refresh.as_ref().is_some_and(|r| r.status == RefreshStatus::Pending) =>
            {
                Fetch::Balance
            }
            JobKind::RefreshOwnership { .. }
                if rec.ownership_refresh.as_ref().is_some_and(|r| r.status == RefreshStatus::Pending) =>
            {
                Fetch::Owners
            }
            JobKind::RefreshTransactions { refresh, .. }
                if rec
                    .transaction_refresh
                    .as_ref()
                    .is_some_and(|r| r.status == RefreshStatus::Pending && &r.id == refresh) =>
            {
                Fetch::Transactions
            }
            _ => Fetch::Nothing,
        };
        Ok((fetch, Some(rec)))
    }

    /// Applies what the provider answered (or its timeout) and writes it, with any follow-up jobs,
    /// in one transaction that also marks `job` done.
    pub async fn finish_job(&self, job: &Job, fetched: Fetched) -> Result<(), DomainError> {
        // The job's clock: a test clock's jobs run at the clock's time; events carry real time.
        let now = self.time_on(job.test_clock.as_deref()).await?;
        let real = self.now();
        let cooldown = i64::try_from(self.settings.refresh_cooldown.as_secs()).unwrap_or(60);
        let (_, rec) = self.plan_job(job).await?;
        let mut out = RefreshOutcome::default();
        if let JobKind::SubscriptionTick { account, subscription } = &job.kind {
            if let Some(mut rec) = rec {
                // A tick of this subscription (ticks queued before tokens existed carry none) keeps the
                // chain going while the account is subscribed and not disconnected; it refreshes only an
                // active account, so an inactive one that is reactivated picks up where it was.
                let current = subscription.is_none() || *subscription == rec.subscription;
                let subscribed = rec.subscriptions.iter().any(|s| s == "transactions");
                if current && subscribed && rec.status != "disconnected" {
                    let mut jobs = vec![NewJob {
                        kind: JobKind::SubscriptionTick {
                            account: account.clone(),
                            subscription: subscription.clone(),
                        },
                        run_at: job.run_at + DAY,
                        test_clock: rec.test_clock.clone(),
                    }];
                    if rec.status == "active"
                        && !matches!(rec.refresh_state(Feature::Transactions), Some((RefreshStatus::Pending, _)))
                    {
                        // The account changes only when a refresh starts (it turns pending, with a new id).
                        jobs.push(rec.start_refresh(Feature::Transactions, now));
                        out.account = Some(rec);
                        out.touched.transactions = true;
                    }
                    out.jobs = jobs;
                }
            }
            return Ok(self.store.finish_job(&job.scope, job.id, &out).await?);
        }
        let Some(mut rec) = rec else { return Ok(self.store.finish_job(&job.scope, job.id, &out).await?) };
        // A test helper's script answers in the institution's place (test mode only: live accounts have none).
        let fetched = match fetched {
            Fetched::Balance(_) | Fetched::Owners(_) | Fetched::Transactions(_)
                if job.scope.livemode || rec.script.is_empty() =>
            {
                fetched
            }
            Fetched::Nothing => Fetched::Nothing,
            Fetched::Balance(r) => match rec.script.outcome(Feature::Balance) {
                // Held: the refresh stays pending; setting another outcome runs it again.
                Some(crate::scripted::Outcome::Pending) => Fetched::Nothing,
                _ => Fetched::Balance(match rec.script.failure(Feature::Balance) {
                    Some(e) => Err(e),
                    None => r.map(|b| rec.script.balance_over(b)),
                }),
            },
            Fetched::Owners(r) => match rec.script.outcome(Feature::Ownership) {
                Some(crate::scripted::Outcome::Pending) => Fetched::Nothing,
                _ => Fetched::Owners(rec.script.failure(Feature::Ownership).map_or(r, Err)),
            },
            Fetched::Transactions(r) => match rec.script.outcome(Feature::Transactions) {
                Some(crate::scripted::Outcome::Pending) => Fetched::Nothing,
                _ => Fetched::Transactions(match rec.script.failure(Feature::Transactions) {
                    Some(e) => Err(e),
                    None => r.map(|t| rec.script.transactions_over(t)),
                }),
            },
        };
        let done = |ok: bool| RefreshRecord {
            status: if ok { RefreshStatus::Succeeded } else { RefreshStatus::Failed },
            last_attempted_at: now,
            next_refresh_available_at: Some(now + cooldown),
            error: None,
        };
        let was_active = rec.status == "active";
        let mut refreshed: Option<&'static str> = None;
        match fetched {
            Fetched::Nothing => {}
            Fetched::Balance(r) => {
                if let Ok(b) = &r {
                    let (kind, current, other) = match b.kind {
                        BalanceKind::Cash { current, available } => ("cash", current, available),
                        BalanceKind::Credit { current, used } => ("credit", current, used),
                    };
                    rec.balance = Some(BalanceRecord {
                        as_of: b.as_of,
                        currency: b.currency.clone(),
                        kind: kind.to_owned(),
                        current,
                        other,
                    });
                }
                if let Err(FetchError::Inaccessible(_)) = &r {
                    rec.status = "inactive".to_owned();
                }
                rec.balance_refresh = Some(done(r.is_ok()));
                out.account = Some(rec);
                out.touched.balance = true;
                refreshed = Some("financial_connections.account.refreshed_balance");
            }
            Fetched::Owners(r) => {
                if let Ok(owners) = &r {
                    out.set_owners(&mut rec, owners, now);
                }
                rec.ownership_refresh = Some(done(r.is_ok()));
                out.account = Some(rec);
                out.touched.ownership = true;
                refreshed = Some("financial_connections.account.refreshed_ownership");
            }
            Fetched::Transactions(r) => {
                let refresh_id = rec.transaction_refresh.as_ref().map(|t| t.id.clone()).unwrap_or_default();
                if let Ok(txns) = &r {
                    let known = self.records.transactions_by_provider_id(&job.scope, &rec.id).await?;
                    out.transactions = merge_transactions(&known, txns, &rec.id, &refresh_id, now, None);
                }
                let ok = r.is_ok();
                rec.transaction_refresh = Some(TransactionRefreshRecord {
                    id: refresh_id,
                    status: if ok { RefreshStatus::Succeeded } else { RefreshStatus::Failed },
                    last_attempted_at: now,
                    next_refresh_available_at: Some(now + cooldown),
                    error: None,
                });
                out.account = Some(rec);
                out.touched.transactions = true;
                refreshed = Some("financial_connections.account.refreshed_transactions");
            }
        }
        if let (Some(kind), Some(acct)) = (refreshed, &out.account) {
            let wire = acct.to_wire(job.scope.livemode);
            out.events.extend(crate::events::new_event(kind, &wire, real, None));
            if was_active && acct.status == "inactive" {
                out.events.extend(crate::events::new_event(
                    "financial_connections.account.deactivated",
                    &wire,
                    real,
                    None,
                ));
            }
        }
        Ok(self.store.finish_job(&job.scope, job.id, &out).await?)
    }

    /// The provider reference of an account.
    pub fn account_ref(rec: &LinkedAccountRecord) -> AccountRef<'_> {
        AccountRef { institution_id: &rec.institution_id, account_name: &rec.name, seed: &rec.id }
    }
}
