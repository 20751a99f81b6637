//! The rules every live connector shares: making a connection in the link flow (its credential sealed
//! before it is stored), the provider's request budget, one sync per connection at a time, and what a
//! sync's answer — or its error — does to accounts, refreshes and events. Connectors only speak their
//! protocol (`connector.rs`); nothing here knows SimpleFIN.

use std::collections::HashMap;
use std::sync::Arc;

use crate::accounts::{merge_transactions, RefreshOutcome, DAY};
use crate::connector::{Connector, ConnectorError, LinkInput, Secret, SyncRequest};
use crate::model::{
    BalanceRecord, ConnectionRecord, ConnectionStatus, Job, JobKind, LinkedAccountRecord, NewJob, RefreshRecord,
    RefreshStatus, Scope, TransactionRefreshRecord,
};
use crate::provider::BalanceKind;
use crate::{ids, DomainError, Finconn};

pub const CONNECTION: &str = "fcconn_";
/// The first transaction refresh of an account reads this far back (as the sandbox and Stripe).
pub const BACKFILL_DAYS: i64 = 180;
/// Later refreshes re-read this many days before the last one's end: pending transactions post or
/// disappear within them.
pub const OVERLAP_DAYS: i64 = 7;
/// How long one sync holds its connection (longer than any connector's request timeouts together).
pub const SYNC_LEASE: i64 = 600;
/// How soon a sync that found its connection busy looks again.
pub const SYNC_RETRY: i64 = 5;
/// A connection made in a link flow that never finished is forgotten (its credential with it) after this.
pub const PENDING_TTL: i64 = 6 * 3600;

fn unavailable(message: &str) -> DomainError {
    DomainError::Link { code: "unexpected_error", message: message.to_owned(), param: None }
}

/// What the end user is told when a connector call in the link flow fails.
pub fn user_message(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Rejected(m) | ConnectorError::Invalid(m) | ConnectorError::Refused(m) => m.clone(),
        ConnectorError::AuthRevoked(m) => format!("The provider refused the connection: {m}"),
        ConnectorError::PaymentRequired(m) => {
            format!("Your subscription at the provider needs attention before accounts can be read. {m}")
        }
        ConnectorError::RateLimited(m) => format!("The provider asks for fewer requests; try again later. {m}"),
        other => format!("The provider could not be reached or answered with an error: {other}"),
    }
}

impl ConnectionRecord {
    /// Forgets requests older than a day and says when the budget allows the next one (`now` if it does).
    pub fn next_request_at(&mut self, now: i64, per_day: usize) -> i64 {
        self.requests.retain(|t| *t > now - DAY);
        self.requests.sort_unstable();
        if self.requests.len() < per_day.max(1) {
            now
        } else {
            // The oldest request that must age out for one more to fit.
            let i = self.requests.len() - per_day.max(1);
            self.requests[i] + DAY
        }
    }

    fn spend(&mut self, now: i64, requests: u32) {
        self.requests.extend(std::iter::repeat_n(now, requests as usize));
    }

    /// Writes what a sync owns (budget, lease, status, credential, message) onto the latest version of the
    /// connection, which something else (the end of a link flow, a disconnect) may have changed meanwhile.
    pub fn merge_sync(latest: &mut ConnectionRecord, ours: &ConnectionRecord) {
        latest.requests = ours.requests.clone();
        latest.syncing_until = ours.syncing_until;
        latest.last_error = ours.last_error.clone();
        if ours.status == ConnectionStatus::Revoked {
            latest.status = ConnectionStatus::Revoked;
            latest.credential = None;
        }
    }
}

/// The result of submitting what a connector's login asks for.
pub enum Connected {
    /// A connection exists and its accounts are listed.
    Ready(ConnectionRecord),
    /// The credential is stored but listing its accounts failed: the user may retry without a new token.
    Stored(ConnectionRecord, ConnectorError),
    /// Nothing was stored: the input was refused.
    Failed(ConnectorError),
}

impl Finconn {
    pub fn connector_for(&self, institution: &str) -> Option<Arc<dyn Connector>> {
        self.providers.connectors.for_institution(institution)
    }

    fn vault(&self) -> Result<&crate::vault::Vault, DomainError> {
        self.vault.as_deref().ok_or_else(|| unavailable("Live connections need a master key on this server."))
    }

    /// Seals a credential for connection `id` (its id is the associated data).
    pub(crate) fn seal_for(&self, id: &str, secret: &Secret) -> Result<String, DomainError> {
        self.vault()?.seal(secret.expose().as_bytes(), id.as_bytes()).map_err(|e| DomainError::Internal(e.to_string()))
    }

    pub(crate) fn open_credential(&self, conn: &ConnectionRecord) -> Result<Secret, DomainError> {
        let sealed = conn.credential.as_deref().ok_or_else(|| unavailable("This connection has no credential."))?;
        let raw = self
            .vault()?
            .open(sealed, conn.id.as_bytes())
            .map_err(|e| DomainError::Internal(format!("connection {}: {e}", conn.id)))?;
        let text = String::from_utf8(raw.to_vec()).map_err(|_| DomainError::Internal("credential not UTF-8".into()))?;
        Ok(Secret::new(text))
    }

    pub async fn find_connection(&self, scope: &Scope, id: &str) -> Result<ConnectionRecord, DomainError> {
        self.records.get_connection(scope, id).await?.ok_or_else(|| DomainError::not_found("connection", id, None))
    }

    /// The link flow's login for a connector institution: turn the input into a sealed credential, store
    /// it (before anything else can fail: a SimpleFIN token works once), then list its accounts.
    pub(crate) async fn connect(
        &self,
        scope: &Scope,
        session: &str,
        institution: &crate::provider::Institution,
        input: LinkInput,
    ) -> Result<Connected, DomainError> {
        let connector =
            self.connector_for(&institution.id).ok_or_else(|| unavailable("No connector serves this institution."))?;
        let vault = self.vault()?;
        let now = self.now();
        let costed = connector.connect(&institution.id, input).await;
        let secret = match costed.result {
            Ok(s) => s,
            Err(e) => return Ok(Connected::Failed(e)),
        };
        let id = ids::new_id(CONNECTION);
        let sealed =
            vault.seal(secret.expose().as_bytes(), id.as_bytes()).map_err(|e| DomainError::Internal(e.to_string()))?;
        let mut conn = ConnectionRecord {
            id,
            scope: Some(scope.clone()),
            created: now,
            connector: connector.name().to_owned(),
            institution_id: institution.id.clone(),
            institution_name: institution.name.clone(),
            session: session.to_owned(),
            status: ConnectionStatus::Pending,
            credential: Some(sealed),
            discovered: Vec::new(),
            requests: Vec::new(),
            syncing_until: 0,
            last_error: None,
            version: 0,
        };
        conn.spend(now, costed.requests);
        self.records.insert_connection(scope, &conn).await?;
        self.discover_into(scope, conn, &connector, &secret).await
    }

    /// Lists a stored connection's accounts again (after a failure, without a new token).
    pub(crate) async fn rediscover(&self, scope: &Scope, id: &str) -> Result<Connected, DomainError> {
        let conn = self.find_connection(scope, id).await?;
        let connector = self
            .providers
            .connectors
            .by_name(&conn.connector)
            .ok_or_else(|| unavailable("No connector serves this connection."))?;
        let secret = self.open_credential(&conn)?;
        self.discover_into(scope, conn, &connector, &secret).await
    }

    async fn discover_into(
        &self,
        scope: &Scope,
        mut conn: ConnectionRecord,
        connector: &Arc<dyn Connector>,
        secret: &Secret,
    ) -> Result<Connected, DomainError> {
        let costed = connector.discover(secret).await;
        for _ in 0..8 {
            let now = self.now();
            conn.spend(now, costed.requests);
            match &costed.result {
                Ok(accounts) => {
                    conn.discovered = accounts.clone();
                    conn.last_error = None;
                }
                Err(e) => conn.last_error = Some(e.to_string()),
            }
            if self.records.update_connection(scope, &conn).await? {
                return Ok(match costed.result {
                    Ok(_) => Connected::Ready(conn),
                    Err(e) => Connected::Stored(conn, e),
                });
            }
            conn = self.find_connection(scope, &conn.id).await?;
        }
        Err(DomainError::Internal("the connection kept changing".into()))
    }

    /// Runs a `SyncConnection` job: one upstream request (or one per transaction window) for every pending
    /// refresh of the connection's accounts, within the provider's budget, then everything it changed —
    /// accounts, transactions, events, the connection — in one transaction with the job's completion.
    pub async fn sync_connection(&self, job: &Job, connection: &str) -> Result<(), DomainError> {
        let scope = &job.scope;
        let now = self.now();
        let empty = RefreshOutcome::default();
        let later = |at: i64| NewJob::now_or_later(JobKind::SyncConnection { connection: connection.to_owned() }, at);
        let Some(mut conn) = self.records.get_connection(scope, connection).await? else {
            return Ok(self.store.finish_job(scope, job.id, &empty).await?);
        };
        let accounts = self.records.connection_accounts(scope, connection).await?;
        let pending: Vec<LinkedAccountRecord> = accounts
            .iter()
            .filter(|a| a.status == "active")
            .filter(|a| {
                [&a.balance_refresh, &a.ownership_refresh].iter().any(|r| is_pending(r.as_ref().map(|r| r.status)))
                    || is_pending(a.transaction_refresh.as_ref().map(|r| r.status))
            })
            .cloned()
            .collect();
        if pending.is_empty() || conn.status != ConnectionStatus::Active {
            return Ok(self.store.finish_sync(scope, job.id, None, &[], &[]).await?);
        }
        let Some(connector) = self.providers.connectors.by_name(&conn.connector) else {
            let outcomes = fail_all(&pending, now, "No connector serves this connection on this server.");
            return Ok(self.store.finish_sync(scope, job.id, None, &outcomes, &[]).await?);
        };
        if conn.syncing_until > now {
            // Another sync holds it: look again shortly (it may serve our refreshes first; if it read the
            // accounts before ours turned pending, ours run once it has released the connection).
            let next = later(conn.syncing_until.min(now + SYNC_RETRY));
            return Ok(self.store.finish_sync(scope, job.id, None, &[], &[next]).await?);
        }
        let quota = connector.quota();
        let allowed_at = conn.next_request_at(now, quota.per_day);
        if allowed_at > now {
            // Over the provider's budget: the refreshes wait, pending, until a request fits.
            return Ok(self.store.finish_sync(scope, job.id, None, &[], &[later(allowed_at)]).await?);
        }
        conn.syncing_until = now + SYNC_LEASE;
        if !self.records.update_connection(scope, &conn).await? {
            return Ok(self.store.finish_sync(scope, job.id, None, &[], &[later(now)]).await?);
        }
        conn.version += 1;

        let window = pending
            .iter()
            .filter(|a| is_pending(a.transaction_refresh.as_ref().map(|r| r.status)))
            .map(|a| {
                a.connection
                    .as_ref()
                    .and_then(|c| c.transactions_synced_through)
                    .map_or(i64::MIN, |t| t - OVERLAP_DAYS * DAY)
            })
            .min()
            // `now` included: the window ends just after it. A first refresh backfills 180 days exactly.
            .map(|start| (start.max(now + 1 - BACKFILL_DAYS * DAY), now + 1));
        let request = SyncRequest {
            accounts: pending
                .iter()
                .filter_map(|a| a.connection.as_ref().map(|c| (c.group.clone(), c.provider_account.clone())))
                .collect(),
            transactions: window,
            owners: pending.iter().any(|a| is_pending(a.ownership_refresh.as_ref().map(|r| r.status))),
        };
        let costed = match self.open_credential(&conn) {
            Ok(secret) => connector.sync(&secret, &request).await,
            Err(e) => crate::connector::Costed { requests: 0, result: Err(ConnectorError::AuthRevoked(e.to_string())) },
        };
        conn.spend(now, costed.requests);
        conn.syncing_until = 0;
        let next_at = conn.next_request_at(now, quota.per_day).max(now + self.cooldown());
        let mut outcomes = Vec::new();
        match costed.result {
            Err(e) => {
                conn.last_error = Some(e.to_string());
                if matches!(e, ConnectorError::AuthRevoked(_)) {
                    conn.status = ConnectionStatus::Revoked;
                    conn.credential = None;
                    for a in accounts.iter().filter(|a| a.status == "active") {
                        outcomes.push(self.settle(a, None, Some(&e), true, next_at, now, window, job).await?);
                    }
                } else {
                    for a in &pending {
                        outcomes.push(self.settle(a, None, Some(&e), false, next_at, now, window, job).await?);
                    }
                }
            }
            Ok(data) => {
                conn.last_error = data.problems.first().map(ToString::to_string);
                let needs_attention = |a: &LinkedAccountRecord| {
                    data.problems.iter().find(|p| match (p, a.connection.as_ref()) {
                        (ConnectorError::ConnectionNeedsAttention { group, .. }, Some(c)) => {
                            c.group.as_deref() == Some(group.as_str())
                        }
                        _ => false,
                    })
                };
                for a in accounts.iter().filter(|a| a.status == "active") {
                    let Some(c) = a.connection.as_ref() else { continue };
                    if let Some(problem) = needs_attention(a) {
                        outcomes.push(self.settle(a, None, Some(problem), true, next_at, now, window, job).await?);
                        continue;
                    }
                    if !pending.iter().any(|p| p.id == a.id) {
                        continue;
                    }
                    let found = data.accounts.iter().find(|s| {
                        s.provider_id == c.provider_account
                            && (s.group.is_none() || c.group.is_none() || s.group == c.group)
                    });
                    let problem = data.problems.iter().find(|p| match p {
                        ConnectorError::AccountFailed { account, group, .. } => {
                            *account == c.provider_account && (group.is_none() || *group == c.group)
                        }
                        _ => false,
                    });
                    let missing = ConnectorError::AccountFailed {
                        group: c.group.clone(),
                        account: c.provider_account.clone(),
                        message: "The provider did not list this account.".into(),
                        missing_data: false,
                    };
                    let problem = problem.or(found.is_none().then_some(&missing));
                    outcomes.push(self.settle(a, found, problem, false, next_at, now, window, job).await?);
                }
            }
        }
        Ok(self.store.finish_sync(scope, job.id, Some(&conn), &outcomes, &[]).await?)
    }

    fn cooldown(&self) -> i64 {
        i64::try_from(self.settings.refresh_cooldown.as_secs()).unwrap_or(60)
    }

    /// One account's part of a sync: its pending refreshes end (succeeded with the data, or failed with the
    /// problem), and `deactivate` makes it inactive (relink needed), with the events Stripe sends.
    #[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename them")]
    async fn settle(
        &self,
        account: &LinkedAccountRecord,
        data: Option<&crate::connector::AccountSync>,
        problem: Option<&ConnectorError>,
        deactivate: bool,
        next_at: i64,
        now: i64,
        window: Option<(i64, i64)>,
        job: &Job,
    ) -> Result<RefreshOutcome, DomainError> {
        let mut rec = account.clone();
        let mut out = RefreshOutcome::default();
        let message = problem.map(ToString::to_string);
        let missing_data = matches!(problem, Some(ConnectorError::AccountFailed { missing_data: true, .. }));
        // Balances survive an incomplete transaction listing; nothing else survives a problem.
        let data_ok = problem.is_none() || (missing_data && !deactivate);
        let finished = |ok: bool| RefreshRecord {
            status: if ok { RefreshStatus::Succeeded } else { RefreshStatus::Failed },
            last_attempted_at: now,
            next_refresh_available_at: Some(next_at),
            error: if ok { None } else { message.clone() },
        };
        let mut kinds: Vec<&'static str> = Vec::new();
        if is_pending(rec.balance_refresh.as_ref().map(|r| r.status)) {
            let balance = data.filter(|_| data_ok).and_then(|d| d.balance.clone());
            if let Some(b) = &balance {
                let (kind, current, other) = match b.kind {
                    // A provider that does not type its accounts (SimpleFIN) reports every balance as cash;
                    // the account's category (the user's choice) says a card's is credit: negative is owed.
                    BalanceKind::Cash { current, .. } if rec.category == "credit" => {
                        ("credit", current, Some(current.min(0).saturating_neg()))
                    }
                    BalanceKind::Cash { current, available } => ("cash", current, available),
                    BalanceKind::Credit { current, used } => ("credit", current, used),
                };
                rec.balance = Some(BalanceRecord {
                    as_of: b.as_of,
                    currency: b.currency.clone(),
                    kind: kind.into(),
                    current,
                    other,
                });
            }
            rec.balance_refresh = Some(finished(balance.is_some()));
            out.touched.balance = true;
            kinds.push("financial_connections.account.refreshed_balance");
        }
        if is_pending(rec.ownership_refresh.as_ref().map(|r| r.status)) {
            match data.filter(|_| data_ok).and_then(|d| d.owners.as_ref()) {
                Some(owners) => {
                    out.set_owners(&mut rec, owners, now);
                    rec.ownership_refresh = Some(finished(true));
                }
                None => {
                    let mut r = finished(false);
                    r.error = Some(
                        message.clone().unwrap_or_else(|| "This provider does not share account ownership.".into()),
                    );
                    rec.ownership_refresh = Some(r);
                }
            }
            out.touched.ownership = true;
            kinds.push("financial_connections.account.refreshed_ownership");
        }
        if let Some(tr) = rec.transaction_refresh.clone().filter(|t| t.status == RefreshStatus::Pending) {
            let ok = problem.is_none() && data.is_some() && window.is_some();
            if let (true, Some(d), Some((start, end))) = (ok, data, window) {
                let known = self.records.transactions_by_provider_id(&job.scope, &rec.id).await?;
                out.transactions =
                    merge_transactions(&known, &d.transactions, &rec.id, &tr.id, now, Some((start, end)));
                if let Some(c) = rec.connection.as_mut() {
                    c.transactions_synced_through = Some(end - 1);
                }
            }
            rec.transaction_refresh = Some(TransactionRefreshRecord {
                id: tr.id,
                status: if ok { RefreshStatus::Succeeded } else { RefreshStatus::Failed },
                last_attempted_at: now,
                next_refresh_available_at: Some(next_at),
                error: if ok { None } else { message.clone() },
            });
            out.touched.transactions = true;
            kinds.push("financial_connections.account.refreshed_transactions");
        }
        let was_active = rec.status == "active";
        if deactivate {
            rec.status = "inactive".to_owned();
        }
        let wire = rec.to_wire(job.scope.livemode);
        let real = self.now();
        for k in kinds {
            out.events.extend(crate::events::new_event(k, &wire, real, None));
        }
        if deactivate && was_active {
            out.events.extend(crate::events::new_event("financial_connections.account.deactivated", &wire, real, None));
        }
        out.account = Some(rec);
        Ok(out)
    }

    /// Deletes a connection's credential once none of its accounts is left connected.
    pub(crate) async fn forget_connection_if_unused(&self, scope: &Scope, id: &str) -> Result<(), DomainError> {
        for _ in 0..8 {
            let accounts = self.records.connection_accounts(scope, id).await?;
            if accounts.iter().any(|a| a.status != "disconnected") {
                return Ok(());
            }
            let Some(mut conn) = self.records.get_connection(scope, id).await? else { return Ok(()) };
            if conn.credential.is_none() {
                return Ok(());
            }
            conn.status = ConnectionStatus::Disconnected;
            conn.credential = None;
            if self.records.update_connection(scope, &conn).await? {
                return Ok(());
            }
        }
        Err(DomainError::Internal("the connection kept changing".into()))
    }

    /// Forgets connections whose link flow never finished (their credentials with them).
    pub async fn purge_abandoned_connections(&self) -> Result<u64, DomainError> {
        Ok(self.store.delete_pending_connections(self.now() - PENDING_TTL).await?)
    }

    /// Re-seals every stored credential under the current master key (after a rotation). Returns how many
    /// were re-sealed.
    pub async fn reseal_credentials(&self) -> Result<usize, DomainError> {
        let vault = self.vault()?;
        let mut n = 0;
        for (scope, id) in self.store.connections_with_credentials().await? {
            for _ in 0..8 {
                let mut conn = self.find_connection(&scope, &id).await?;
                let Some(sealed) = conn.credential.clone() else { break };
                if vault.is_current(&sealed) {
                    break;
                }
                let plain =
                    vault.open(&sealed, conn.id.as_bytes()).map_err(|e| DomainError::Internal(format!("{id}: {e}")))?;
                conn.credential =
                    Some(vault.seal(&plain, conn.id.as_bytes()).map_err(|e| DomainError::Internal(e.to_string()))?);
                if self.records.update_connection(&scope, &conn).await? {
                    n += 1;
                    break;
                }
            }
        }
        Ok(n)
    }
}

fn is_pending(s: Option<RefreshStatus>) -> bool {
    s == Some(RefreshStatus::Pending)
}

fn fail_all(accounts: &[LinkedAccountRecord], now: i64, message: &str) -> Vec<RefreshOutcome> {
    accounts
        .iter()
        .map(|a| {
            let mut rec = a.clone();
            let failed = RefreshRecord {
                status: RefreshStatus::Failed,
                last_attempted_at: now,
                next_refresh_available_at: Some(now),
                error: Some(message.to_owned()),
            };
            let mut out = RefreshOutcome::default();
            if is_pending(rec.balance_refresh.as_ref().map(|r| r.status)) {
                rec.balance_refresh = Some(failed.clone());
                out.touched.balance = true;
            }
            if is_pending(rec.ownership_refresh.as_ref().map(|r| r.status)) {
                rec.ownership_refresh = Some(failed.clone());
                out.touched.ownership = true;
            }
            if let Some(t) = rec.transaction_refresh.as_mut().filter(|t| t.status == RefreshStatus::Pending) {
                t.status = RefreshStatus::Failed;
                t.last_attempted_at = now;
                t.next_refresh_available_at = Some(now);
                t.error = Some(message.to_owned());
                out.touched.transactions = true;
            }
            out.account = Some(rec);
            out
        })
        .collect()
}

/// Groups of discovered accounts as the account picker shows them: `(group name, accounts)`.
pub fn discovered_by_group(conn: &ConnectionRecord) -> Vec<(String, Vec<&crate::connector::DiscoveredAccount>)> {
    let mut groups: Vec<(String, Vec<&crate::connector::DiscoveredAccount>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for a in &conn.discovered {
        let name = a.group_name.clone().or_else(|| a.group.clone()).unwrap_or_else(|| conn.institution_name.clone());
        let i = *index.entry(name.clone()).or_insert_with(|| {
            groups.push((name, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(a);
    }
    groups
}
