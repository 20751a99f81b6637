//! Financial Connections sessions: creation and retrieval. (The link flow that completes them builds on
//! these records.)

use finconn_types::{
    AccountHolder, AccountHolderType, Expandable, Filters, Limits, List, ManualEntry, ManualEntryMode, Permission,
    Prefetch, Session,
};

use crate::model::{FiltersRecord, HolderRecord, Scope, SessionRecord};
use crate::{customers, ids, DomainError, Finconn};

pub const OBJECT: &str = "financial_connections.session";
pub const ACCOUNTS_URL: &str = "/v1/financial_connections/accounts";

/// The parameters of `POST /v1/financial_connections/sessions`, checked for shape, enums and lengths.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub holder: HolderRecord,
    pub permissions: Vec<Permission>,
    pub prefetch: Vec<Prefetch>,
    /// `None`: the default (US).
    pub countries: Option<Vec<String>>,
    pub filters: FiltersRecord,
    pub limits: Option<i64>,
    pub manual_entry: Option<ManualEntryMode>,
    pub return_url: Option<String>,
    /// `relink_options[authorization]` and `relink_options[account]`.
    pub relink: Option<crate::model::RelinkRecord>,
}

impl SessionRecord {
    /// The wire object; `accounts` are the linked account objects, already rendered.
    pub fn to_wire(&self, livemode: bool, accounts: Vec<serde_json::Value>) -> Session {
        let h = &self.holder;
        let mut extra = serde_json::Map::new();
        // Stripe's relink preview fields, on relink sessions only.
        if let Some(r) = &self.relink {
            extra.insert(
                "relink_options".into(),
                serde_json::json!({ "account": r.account, "authorization": r.authorization }),
            );
            extra.insert(
                "relink_result".into(),
                match &self.relink_result {
                    Some(x) => serde_json::json!({
                        "account": x.account, "authorization": x.authorization, "failure_reason": x.failure_reason,
                    }),
                    None => serde_json::Value::Null,
                },
            );
        }
        Session {
            extra,
            account_holder: Some(AccountHolder {
                extra: Default::default(),
                account: h.account.clone().map(Expandable::Id),
                customer: h.customer.clone().map(Expandable::Id),
                customer_account: h.customer_account.clone(),
                kind: h.kind.clone(),
            }),
            accounts: List::new(accounts, false, ACCOUNTS_URL),
            client_secret: Some(self.client_secret.clone()),
            filters: Some(Filters {
                extra: Default::default(),
                account_subcategories: self.filters.account_subcategories.clone(),
                countries: Some(self.filters.countries.clone()),
                require_payment_method_support: self.filters.require_payment_method_support.clone(),
            }),
            id: self.id.clone(),
            limits: self.limits.map(|accounts| Limits { extra: Default::default(), accounts }),
            livemode,
            manual_entry: self
                .manual_entry
                .clone()
                .map(|mode| ManualEntry { extra: Default::default(), mode: Some(mode) }),
            object: OBJECT.to_owned(),
            permissions: self.permissions.clone(),
            prefetch: Some(self.prefetch.clone()),
            return_url: self.return_url.clone(),
        }
    }
}

/// The permission a prefetched feature needs.
fn permission_for(p: &Prefetch) -> Option<Permission> {
    match p {
        Prefetch::Balances => Some(Permission::Balances),
        Prefetch::Ownership => Some(Permission::Ownership),
        Prefetch::Transactions => Some(Permission::Transactions),
        _ => None,
    }
}

impl Finconn {
    pub async fn create_session(&self, scope: &Scope, new: NewSession) -> Result<Session, DomainError> {
        let mut test_clock = None;
        match new.holder.kind {
            AccountHolderType::Customer => {
                if let Some(id) = &new.holder.customer {
                    let param = Some("account_holder[customer]");
                    let rec = self.find_customer(scope, id, param).await?;
                    if rec.deleted {
                        return Err(DomainError::not_found(customers::OBJECT, id, param));
                    }
                    test_clock = rec.test_clock;
                }
            }
            AccountHolderType::Account => {
                // finconn has no connected accounts: an account holder is the caller's own account.
                if let Some(id) = &new.holder.account {
                    if *id != scope.account {
                        return Err(DomainError::not_found("account", id, Some("account_holder[account]")));
                    }
                }
            }
            _ => {}
        }
        for (i, p) in new.prefetch.iter().enumerate() {
            if let Some(needed) = permission_for(p) {
                if !new.permissions.contains(&needed) {
                    return Err(DomainError::InvalidParam {
                        param: format!("prefetch[{i}]"),
                        message: format!(
                            "Invalid prefetch[{i}]: prefetching {p} requires the {needed} permission in `permissions`"
                        ),
                    });
                }
            }
        }
        let id = ids::new_id(ids::SESSION);
        let now = self.now();
        let ttl = i64::try_from(self.settings.client_secret_ttl.as_secs()).unwrap_or(i64::MAX);
        let mut filters = new.filters;
        filters.countries = new.countries.unwrap_or_else(|| vec!["US".to_owned()]);
        let mut rec = SessionRecord {
            client_secret: ids::session_client_secret(&id),
            id,
            scope: Some(scope.clone()),
            created: now,
            expires_at: now.saturating_add(ttl),
            holder: new.holder,
            permissions: new.permissions,
            prefetch: new.prefetch,
            filters,
            limits: new.limits,
            manual_entry: new.manual_entry,
            return_url: new.return_url,
            accounts: Vec::new(),
            status: crate::model::SessionStatus::Open,
            completed_at: None,
            link: crate::flow::LinkStep::Consent,
            oauth_authorized: None,
            test_clock,
            relink: new.relink,
            relink_result: None,
            version: 0,
        };
        if let Some(mut r) = rec.relink.take() {
            self.check_relink(scope, &rec, &mut r).await?;
            rec.relink = Some(r);
        }
        self.records.insert_session(scope, &rec).await?;
        Ok(rec.to_wire(scope.livemode, Vec::new()))
    }

    pub async fn find_session(&self, scope: &Scope, id: &str) -> Result<SessionRecord, DomainError> {
        let found = self.records.get_session(&scope.account, id).await?;
        crate::error::in_mode(found, |r| r.scope.as_ref(), scope, OBJECT, id, None)
    }

    pub async fn retrieve_session(&self, scope: &Scope, id: &str) -> Result<Session, DomainError> {
        let rec = self.find_session(scope, id).await?;
        self.render_session(scope, &rec).await
    }
}
