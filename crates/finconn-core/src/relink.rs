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
        // A relinked live account keeps its authorization while its connection changes: look for the
        // authorization's connection first, then the connection it names, then the session it names.
        if let Some(conn) = self.authorization_connection(scope, authorization).await? {
            out = self.records.connection_accounts(scope, &conn).await?;
        }
        if out.is_empty() {
            if let Ok(session) = self.find_session(scope, &format!("{}{suffix}", crate::ids::SESSION)).await {
                for id in &session.accounts {
                    if let Ok(a) = self.find_account(scope, id, None).await {
                        out.push(a);
                    }
                }
            }
        }
        if out.is_empty() {
            out =
                self.records.connection_accounts(scope, &format!("{}{suffix}", crate::connections::CONNECTION)).await?;
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

    /// The connection a live authorization lives on now: the one it is named after, as long as it exists.
    async fn authorization_connection(
        &self,
        scope: &Scope,
        authorization: &str,
    ) -> Result<Option<String>, DomainError> {
        let Some(suffix) = authorization.strip_prefix(AUTHORIZATION) else { return Ok(None) };
        let id = format!("{}{suffix}", crate::connections::CONNECTION);
        Ok(self.records.get_connection(scope, &id).await?.map(|c| c.id))
    }

    /// Completes a relink session with the chosen accounts (by name): the inactive ones become active.
    /// Nothing repairable chosen: the session ends with `relink_result.failure_reason = no_account`.
    pub(crate) async fn finish_relink(
        &self,
        scope: &Scope,
        session: SessionRecord,
        names: &[String],
        origin: Option<&crate::model::Origin>,
    ) -> Result<Session, DomainError> {
        self.finish_relink_with(scope, session, names, None, &[], origin).await
    }

    /// `finish_relink`, for a live authorization too: `connection` is the new login's (a new credential
    /// for the same accounts), `picked` the picker's choices. The new credential moves onto the
    /// authorization's own connection (re-sealed for it), so the authorization and the accounts keep their
    /// ids; each account takes its id at the provider from the new login (Enable Banking's change per
    /// session); the temporary connection is forgotten.
    pub(crate) async fn finish_relink_with(
        &self,
        scope: &Scope,
        mut session: SessionRecord,
        names: &[String],
        connection: Option<&str>,
        picked: &[crate::link::AccountChoice],
        origin: Option<&crate::model::Origin>,
    ) -> Result<Session, DomainError> {
        let relink = session.relink.clone().ok_or_else(|| DomainError::Internal("not a relink session".into()))?;
        let targets = self.relink_targets(scope, &session).await?;
        // Live: which target each picked account repairs, and with which id at the provider.
        let mut moves: Vec<(String, crate::link::LiveChoice)> = Vec::new();
        for c in picked {
            if let Some(l) = &c.live {
                if let Some(t) = matching(&targets, l, &c.account) {
                    moves.push((t.id.clone(), l.clone()));
                }
            }
        }
        let chosen: Vec<&LinkedAccountRecord> = if connection.is_some() {
            targets.iter().filter(|a| moves.iter().any(|(id, _)| id == &a.id)).collect()
        } else {
            targets.iter().filter(|a| names.contains(&a.name)).collect()
        };
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
        if !self.records.complete_session(scope, &session, &[], &effects, None).await? {
            return Err(crate::link::link_error(
                "session_expired",
                "This Financial Connections Session has already been used.",
                None,
            ));
        }
        if let (true, Some(new_id)) = (ok, connection) {
            self.move_credential(
                scope,
                new_id,
                &chosen[0].connection.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            )
            .await?;
        }
        let mut wire = Vec::new();
        for id in &session.accounts {
            let link = moves.iter().find(|(t, _)| t == id).map(|(_, l)| l.clone());
            let a = self
                .change_account(scope, id, origin, |rec, _| {
                    if let (Some(l), Some(c)) = (&link, rec.connection.as_mut()) {
                        if c.authorization.is_none() {
                            c.authorization = Some(rec_authorization(&c.id));
                        }
                        c.provider_account = l.provider_id.clone();
                        c.group = l.group.clone();
                        c.access_expires_at = l.access_expires_at;
                    }
                    match rec.status.as_str() {
                        "inactive" => {
                            rec.status = "active".into();
                            Ok((Vec::new(), vec!["financial_connections.account.reactivated"]))
                        }
                        _ => Ok((Vec::new(), Vec::new())),
                    }
                })
                .await?;
            wire.push(serde_json::to_value(a).map_err(|e| DomainError::Internal(e.to_string()))?);
        }
        Ok(session.to_wire(scope.livemode, wire))
    }

    /// The new login's credential becomes the authorization's connection's (re-sealed for its id); the new
    /// connection is left without one.
    async fn move_credential(&self, scope: &Scope, from: &str, to: &str) -> Result<(), DomainError> {
        let new = self.find_connection(scope, from).await?;
        let secret = self.open_credential(&new)?;
        for _ in 0..8 {
            let mut old = self.find_connection(scope, to).await?;
            old.credential = Some(self.seal_for(&old.id, &secret)?);
            old.status = crate::model::ConnectionStatus::Active;
            old.last_error = None;
            if self.records.update_connection(scope, &old).await? {
                break;
            }
        }
        for _ in 0..8 {
            let mut new = self.find_connection(scope, from).await?;
            new.credential = None;
            new.status = crate::model::ConnectionStatus::Disconnected;
            new.discovered.clear();
            if self.records.update_connection(scope, &new).await? {
                return Ok(());
            }
        }
        Err(DomainError::Internal("the connection kept changing".into()))
    }
}

/// The authorization a connection id stands for.
fn rec_authorization(connection: &str) -> String {
    format!("{AUTHORIZATION}{}", connection.split_once('_').map_or(connection, |(_, s)| s))
}

/// The target a live account found by a new login repairs: the same id at the provider, else the same name
/// and last four digits.
pub(crate) fn matching<'a>(
    targets: &'a [LinkedAccountRecord],
    live: &crate::link::LiveChoice,
    account: &crate::provider::InstitutionAccount,
) -> Option<&'a LinkedAccountRecord> {
    targets
        .iter()
        .find(|t| {
            t.connection.as_ref().is_some_and(|c| c.provider_account == live.provider_id && c.group == live.group)
        })
        .or_else(|| {
            targets.iter().find(|t| {
                t.name == account.name && t.last4.as_deref().unwrap_or("") == account.last4 && !account.last4.is_empty()
            })
        })
}
