//! Relink, as Stripe's preview API (`relink_options` on a session, `relink_result` after it): the accounts of
//! one Financial Connections Authorization — the login they were linked through — are repaired by linking
//! through the same institution again; inactive ones become active (`financial_connections.account.
//! reactivated`). The authorization of an account is derived from what linked it (`LinkedAccountRecord::
//! authorization`), so it needs no table of its own.

use finconn_types::Session;

use crate::model::{LinkedAccountRecord, RelinkRecord, RelinkResult, Scope, SessionRecord, SessionStatus};
use crate::{DomainError, Finconn};

pub const AUTHORIZATION: &str = "fcauthz_";

impl Finconn {
    /// The accounts of an authorization in `scope` (none when it does not exist here).
    pub(crate) async fn authorization_accounts(
        &self,
        scope: &Scope,
        authorization: &str,
    ) -> Result<Vec<LinkedAccountRecord>, DomainError> {
        let Some(suffix) = authorization
            .strip_prefix(AUTHORIZATION)
            .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if let Ok(session) = self.find_session(scope, &format!("{}{suffix}", crate::ids::SESSION)).await {
            for id in &session.accounts {
                if let Ok(a) = self.find_account(scope, id, None).await {
                    out.push(a);
                }
            }
        }
        if out.is_empty() {
            out = self.store.connection_accounts(scope, &format!("{}{suffix}", crate::connections::CONNECTION)).await?;
        }
        out.retain(|a| a.authorization() == authorization);
        Ok(out)
    }

    /// Checks `relink_options` when a session is created and fills in the institution.
    pub(crate) async fn check_relink(
        &self,
        scope: &Scope,
        session: &SessionRecord,
        relink: &mut RelinkRecord,
    ) -> Result<(), DomainError> {
        let accounts = self.authorization_accounts(scope, &relink.authorization).await?;
        let Some(first) = accounts.first() else {
            return Err(DomainError::NotFound {
                object: "financial_connections.authorization",
                id: relink.authorization.clone(),
                param: Some("relink_options[authorization]".into()),
                other_mode: None,
            });
        };
        if first.connection.is_some() {
            return Err(DomainError::InvalidParam {
                param: "relink_options[authorization]".into(),
                message: "Relinking accounts of a live data provider is not supported yet: link them again in a new \
                          session."
                    .into(),
            });
        }
        if first.holder != session.holder {
            return Err(DomainError::InvalidParam {
                param: "relink_options[authorization]".into(),
                message: "The authorization belongs to another account holder than `account_holder`.".into(),
            });
        }
        if let Some(account) = &relink.account {
            if !accounts.iter().any(|a| &a.id == account) {
                return Err(DomainError::InvalidParam {
                    param: "relink_options[account]".into(),
                    message: format!(
                        "The account '{account}' does not belong to the authorization '{}'.",
                        relink.authorization
                    ),
                });
            }
        }
        relink.institution = first.institution_id.clone();
        Ok(())
    }

    /// The accounts a relink session may repair: the authorization's (or the one account) not disconnected.
    pub(crate) async fn relink_targets(
        &self,
        scope: &Scope,
        session: &SessionRecord,
    ) -> Result<Vec<LinkedAccountRecord>, DomainError> {
        let Some(relink) = &session.relink else { return Ok(Vec::new()) };
        let mut accounts = self.authorization_accounts(scope, &relink.authorization).await?;
        accounts.retain(|a| a.status != "disconnected" && relink.account.as_ref().is_none_or(|id| &a.id == id));
        Ok(accounts)
    }

    /// Completes a relink session with the chosen accounts (by name): the inactive ones become active.
    /// Nothing repairable chosen: the session ends with `relink_result.failure_reason = no_account`.
    pub(crate) async fn finish_relink(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        names: &[String],
        origin: Option<&crate::model::Origin>,
    ) -> Result<Session, DomainError> {
        let relink = session.relink.clone().ok_or_else(|| DomainError::Internal("not a relink session".into()))?;
        let targets = self.relink_targets(scope, &session).await?;
        let chosen: Vec<&LinkedAccountRecord> = targets.iter().filter(|a| names.contains(&a.name)).collect();
        let ok = !chosen.is_empty() && relink.account.as_ref().is_none_or(|id| chosen.iter().any(|a| &a.id == id));
        session.relink_result = Some(if ok {
            RelinkResult {
                account: relink.account.clone(),
                authorization: Some(relink.authorization.clone()),
                failure_reason: None,
            }
        } else {
            RelinkResult { account: None, authorization: None, failure_reason: Some("no_account".into()) }
        });
        session.status = SessionStatus::Completed;
        session.completed_at = Some(self.now());
        session.link = crate::flow::LinkStep::Done;
        session.accounts = if ok { chosen.iter().map(|a| a.id.clone()).collect() } else { Vec::new() };
        let effects = crate::store::Effects::default();
        if !self.store.complete_session(scope, &session, &[], &effects, None).await? {
            return Err(crate::link::link_error(
                "session_expired",
                "This Financial Connections Session has already been used.",
                None,
            ));
        }
        let mut wire = Vec::new();
        for id in &session.accounts {
            let a = self.set_access_for_test(scope, id, true, origin).await?;
            wire.push(serde_json::to_value(a).map_err(|e| DomainError::Internal(e.to_string()))?);
        }
        Ok(session.to_wire(scope.livemode, wire))
    }
}
