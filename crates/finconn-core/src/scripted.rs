//! Scripted sandbox accounts: what a test makes the institution answer next. A test-mode linked account
//! carries a `Script` (stored with the account): the outcome of its next refreshes per feature, a balance
//! to report, and transactions to list besides the catalogue's. The test helpers under
//! `/v1/test_helpers/financial_connections/accounts/{account}/…` write it; `finish_job` reads it when a
//! refresh's fetch comes back, so a scripted answer goes through the same path, events and webhooks as a
//! real one.

use serde::{Deserialize, Serialize};

use crate::accounts::Feature;
use crate::error::DomainError;
use crate::ids;
use crate::model::{JobKind, LinkedAccountRecord, NewJob, RefreshStatus, Scope, TransactionRecord};
use crate::provider::{BalanceData, BalanceKind, FetchError, TransactionData, TransactionStatus};
use crate::Finconn;
use finconn_types::{Account, Transaction};

/// A scripted transaction's `provider_id` is this prefix and its `fctxn_…` id, so the transaction keeps
/// the id the helper answered with once a refresh stores it.
pub const SCRIPTED_PROVIDER_ID: &str = "finconn-scripted:";

/// What the next refreshes of a feature end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The institution answers (the default).
    Succeeded,
    /// The institution refuses: the refresh ends `failed`.
    Failed,
    /// The institution does not answer yet: the refresh stays `pending` until another outcome is set.
    Pending,
}

impl Outcome {
    pub const VALUES: &'static [&'static str] = &["succeeded", "failed", "pending"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Outcome::Succeeded),
            "failed" => Some(Outcome::Failed),
            "pending" => Some(Outcome::Pending),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions_outcome: Option<Outcome>,
    /// Minor units: the balance the institution reports from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<ScriptedBalance>,
    /// Listed by the institution besides the catalogue's own, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<ScriptedTransaction>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedBalance {
    pub current: i64,
    /// Cash balances only: what is available to spend (defaults to `current`).
    pub available: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedTransaction {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub status: TransactionStatus,
    pub transacted_at: i64,
    /// When it posted or was voided.
    pub status_changed_at: Option<i64>,
    pub created: i64,
}

impl Script {
    pub fn is_empty(&self) -> bool {
        *self == Script::default()
    }

    pub fn outcome(&self, f: Feature) -> Option<Outcome> {
        match f {
            Feature::Balance => self.balance_outcome,
            Feature::Ownership => self.ownership_outcome,
            Feature::Transactions => self.transactions_outcome,
        }
    }

    fn set_outcome(&mut self, f: Feature, o: Outcome) {
        let slot = match f {
            Feature::Balance => &mut self.balance_outcome,
            Feature::Ownership => &mut self.ownership_outcome,
            Feature::Transactions => &mut self.transactions_outcome,
        };
        // Succeeded is what an unscripted account does: nothing to keep.
        *slot = (o != Outcome::Succeeded).then_some(o);
    }

    /// A scripted failure, if the script says the refresh fails.
    pub fn failure(&self, f: Feature) -> Option<FetchError> {
        (self.outcome(f) == Some(Outcome::Failed))
            .then(|| FetchError::Refused("the institution refused (scripted by a test helper)".into()))
    }

    /// The fetched balance with the scripted one in its place.
    pub fn balance_over(&self, mut b: BalanceData) -> BalanceData {
        if let Some(s) = &self.balance {
            b.kind = match b.kind {
                BalanceKind::Cash { .. } => {
                    BalanceKind::Cash { current: s.current, available: Some(s.available.unwrap_or(s.current)) }
                }
                BalanceKind::Credit { used, .. } => BalanceKind::Credit { current: s.current, used },
            };
        }
        b
    }

    /// The fetched transactions and the scripted ones.
    pub fn transactions_over(&self, mut fetched: Vec<TransactionData>) -> Vec<TransactionData> {
        fetched.extend(self.transactions.iter().map(|t| TransactionData {
            provider_id: format!("{SCRIPTED_PROVIDER_ID}{}", t.id),
            amount: t.amount,
            currency: t.currency.clone(),
            description: t.description.clone(),
            transacted_at: t.transacted_at,
            status: t.status,
            status_changed_at: t.status_changed_at,
        }));
        fetched
    }
}

fn test_only(scope: &Scope) -> Result<(), DomainError> {
    if scope.livemode {
        return Err(DomainError::InvalidState("This endpoint can only be used with a test mode key.".into()));
    }
    Ok(())
}

/// The job that runs a refresh of `f` now, if one is pending (a refresh held by `pending`).
fn rerun(rec: &LinkedAccountRecord, f: Feature, now: i64) -> Option<NewJob> {
    if !matches!(rec.refresh_state(f), Some((RefreshStatus::Pending, _))) {
        return None;
    }
    let account = rec.id.clone();
    let kind = match f {
        Feature::Balance => JobKind::RefreshBalance { account },
        Feature::Ownership => JobKind::RefreshOwnership { account },
        Feature::Transactions => {
            JobKind::RefreshTransactions { account, refresh: rec.transaction_refresh.as_ref()?.id.clone() }
        }
    };
    Some(NewJob { kind, run_at: now, test_clock: rec.test_clock.clone() })
}

fn scripted_wire(rec: &LinkedAccountRecord, t: &ScriptedTransaction) -> Transaction {
    let (posted_at, void_at) = match t.status {
        TransactionStatus::Posted => (t.status_changed_at, None),
        TransactionStatus::Void => (None, t.status_changed_at),
        TransactionStatus::Pending => (None, None),
    };
    TransactionRecord {
        id: t.id.clone(),
        account: rec.id.clone(),
        provider_id: format!("{SCRIPTED_PROVIDER_ID}{}", t.id),
        amount: t.amount,
        currency: t.currency.clone(),
        description: t.description.clone(),
        status: t.status,
        posted_at,
        void_at,
        transacted_at: t.transacted_at,
        // Filled in by the refresh that lists it; until then, the latest refresh of the account.
        transaction_refresh: rec.transaction_refresh.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
        updated: t.created.max(t.status_changed_at.unwrap_or(0)),
    }
    .to_wire(false)
}

/// A new scripted transaction, as the `transactions` test helper takes it.
pub struct NewScriptedTransaction {
    pub amount: i64,
    pub currency: Option<String>,
    pub description: String,
    pub status: TransactionStatus,
    pub transacted_at: Option<i64>,
}

impl Finconn {
    /// Test helper: the next refreshes of `feature` end with `outcome`. Setting `succeeded` or `failed`
    /// while a refresh is held `pending` runs it now.
    pub async fn script_refresh_outcome(
        &self,
        scope: &Scope,
        id: &str,
        feature: Feature,
        outcome: Outcome,
    ) -> Result<Account, DomainError> {
        test_only(scope)?;
        self.change_account(scope, id, None, |rec, now| {
            rec.script.set_outcome(feature, outcome);
            let jobs =
                if outcome == Outcome::Pending { Vec::new() } else { rerun(rec, feature, now).into_iter().collect() };
            Ok((jobs, Vec::new()))
        })
        .await
    }

    /// Test helper: the institution reports this balance from the next balance refresh on.
    pub async fn script_balance(
        &self,
        scope: &Scope,
        id: &str,
        current: i64,
        available: Option<i64>,
    ) -> Result<Account, DomainError> {
        test_only(scope)?;
        self.change_account(scope, id, None, |rec, _| {
            rec.script.balance = Some(ScriptedBalance { current, available });
            Ok((Vec::new(), Vec::new()))
        })
        .await
    }

    /// Test helper: the institution lists a new transaction from the next transaction refresh on. Answers
    /// the `financial_connections.transaction` as that refresh will store it (same id).
    pub async fn script_transaction(
        &self,
        scope: &Scope,
        id: &str,
        new: NewScriptedTransaction,
    ) -> Result<Transaction, DomainError> {
        test_only(scope)?;
        if new.status == TransactionStatus::Void {
            return Err(DomainError::InvalidParam {
                param: "status".into(),
                message: "Invalid status: a new transaction is `pending` or `posted`.".into(),
            });
        }
        let txn_id = ids::new_id(crate::accounts::TRANSACTION);
        let mut answer = None;
        self.change_account(scope, id, None, |rec, now| {
            if rec.script.transactions.len() >= 10_000 {
                return Err(DomainError::InvalidState("An account holds at most 10,000 scripted transactions.".into()));
            }
            let currency = new
                .currency
                .clone()
                .or_else(|| rec.balance.as_ref().map(|b| b.currency.clone()))
                .unwrap_or_else(|| "usd".to_owned());
            let t = ScriptedTransaction {
                id: txn_id.clone(),
                amount: new.amount,
                currency,
                description: new.description.clone(),
                status: new.status,
                transacted_at: new.transacted_at.unwrap_or(now),
                status_changed_at: (new.status == TransactionStatus::Posted).then_some(now),
                created: now,
            };
            answer = Some(scripted_wire(rec, &t));
            rec.script.transactions.push(t);
            Ok((Vec::new(), Vec::new()))
        })
        .await?;
        answer.ok_or_else(|| DomainError::Internal("the scripted transaction was not written".into()))
    }

    /// Test helper: a pending scripted transaction posts (`to` posted) or is voided (`to` void); the change
    /// shows on the next transaction refresh. Only `pending` moves, as at a bank.
    pub async fn script_transaction_status(
        &self,
        scope: &Scope,
        id: &str,
        transaction: &str,
        to: TransactionStatus,
    ) -> Result<Transaction, DomainError> {
        test_only(scope)?;
        let mut answer = None;
        self.change_account(scope, id, None, |rec, now| {
            let Some(i) = rec.script.transactions.iter().position(|t| t.id == transaction) else {
                return Err(DomainError::not_found("financial_connections.transaction", transaction, None));
            };
            let t = &mut rec.script.transactions[i];
            if t.status != TransactionStatus::Pending {
                let status = if t.status == TransactionStatus::Posted { "posted" } else { "void" };
                return Err(DomainError::InvalidState(format!(
                    "Transaction {transaction} is {status}; only a pending transaction can change status."
                )));
            }
            t.status = to;
            t.status_changed_at = Some(now);
            let t = t.clone();
            answer = Some(scripted_wire(rec, &t));
            Ok((Vec::new(), Vec::new()))
        })
        .await?;
        answer.ok_or_else(|| DomainError::Internal("the scripted transaction was not written".into()))
    }
}

/// How a test helper took an institution down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DowntimeKind {
    /// Planned maintenance until `until`: the modal says when it is back; it ends by itself then.
    Scheduled,
    /// Down without notice, until the downtime is deleted.
    Unscheduled,
    /// Up, but every connection attempt fails.
    Error,
}

impl DowntimeKind {
    pub const VALUES: &'static [&'static str] = &["scheduled", "unscheduled", "error"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(DowntimeKind::Scheduled),
            "unscheduled" => Some(DowntimeKind::Unscheduled),
            "error" => Some(DowntimeKind::Error),
            _ => None,
        }
    }
}

/// A tenant's downtime of one institution (test mode): its modal and institutions API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downtime {
    pub institution: String,
    pub kind: DowntimeKind,
    /// `Scheduled`: when it ends (unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    pub created: i64,
}

impl Downtime {
    /// The institution as the tenant sees it at `now`.
    pub fn apply(&self, inst: &mut crate::provider::Institution, now: i64) {
        use crate::provider::InstitutionStatus;
        inst.status = match self.kind {
            DowntimeKind::Scheduled => match self.until {
                Some(until) if until > now => InstitutionStatus::DownScheduled { available_in_seconds: until - now },
                // Over: the institution is as its catalogue says.
                _ => return,
            },
            DowntimeKind::Unscheduled => InstitutionStatus::DownUnscheduled,
            DowntimeKind::Error => InstitutionStatus::Erroring,
        };
    }
}

impl Finconn {
    /// The institutions of `scope`'s mode (its provider's, and live connectors'), with the tenant's
    /// test-helper downtimes applied.
    pub async fn institutions(&self, scope: &Scope) -> Result<Vec<crate::provider::Institution>, DomainError> {
        self.institutions_at(scope, self.now()).await
    }

    /// [`Finconn::institutions`] as they are at `now` (a test clock's time: a scheduled downtime is over
    /// for a session whose clock has passed its `until`).
    pub async fn institutions_at(
        &self,
        scope: &Scope,
        now: i64,
    ) -> Result<Vec<crate::provider::Institution>, DomainError> {
        let mut all = self.provider(scope.livemode).map(|p| p.institutions()).unwrap_or_default();
        if scope.livemode {
            all.extend(self.providers.connectors.institutions());
            return Ok(all);
        }
        let downtimes = self.records.institution_downtimes(scope).await?;
        if !downtimes.is_empty() {
            for inst in &mut all {
                if let Some(d) = downtimes.iter().find(|d| d.institution == inst.id) {
                    d.apply(inst, now);
                }
            }
        }
        Ok(all)
    }

    /// Test helper: takes an institution down for this tenant (test mode). `until` is required for
    /// `Scheduled` and must lie ahead. Answers the institution as the tenant now sees it.
    pub async fn set_downtime(
        &self,
        scope: &Scope,
        institution: &str,
        kind: DowntimeKind,
        until: Option<i64>,
    ) -> Result<crate::provider::Institution, DomainError> {
        test_only(scope)?;
        let mut inst = self.catalogue_institution(scope, institution)?;
        let now = self.now();
        let until = match (kind, until) {
            (DowntimeKind::Scheduled, Some(u)) if u > now => Some(u),
            (DowntimeKind::Scheduled, Some(_)) => {
                return Err(DomainError::InvalidParam {
                    param: "until".into(),
                    message: "Invalid until: a scheduled downtime ends in the future.".into(),
                })
            }
            (DowntimeKind::Scheduled, None) => {
                return Err(DomainError::InvalidParam {
                    param: "until".into(),
                    message: "A scheduled downtime needs `until` (when the institution is back).".into(),
                })
            }
            (_, Some(_)) => {
                return Err(DomainError::InvalidParam {
                    param: "until".into(),
                    message: "`until` applies to scheduled downtimes only.".into(),
                })
            }
            (_, None) => None,
        };
        let d = Downtime { institution: inst.id.clone(), kind, until, created: now };
        self.records.write(crate::store::Write::SetDowntime { scope: scope.clone(), rec: d.clone() }).await?;
        d.apply(&mut inst, now);
        Ok(inst)
    }

    /// Test helper: ends a tenant's downtime of an institution (a no-op when there is none).
    pub async fn end_downtime(
        &self,
        scope: &Scope,
        institution: &str,
    ) -> Result<crate::provider::Institution, DomainError> {
        test_only(scope)?;
        let inst = self.catalogue_institution(scope, institution)?;
        self.records
            .write(crate::store::Write::EndDowntime { scope: scope.clone(), institution: inst.id.clone() })
            .await?;
        Ok(inst)
    }

    fn catalogue_institution(&self, scope: &Scope, id: &str) -> Result<crate::provider::Institution, DomainError> {
        self.provider(scope.livemode)
            .and_then(|p| p.institution(id))
            .ok_or_else(|| DomainError::not_found("financial_connections.institution", id, None))
    }
}
