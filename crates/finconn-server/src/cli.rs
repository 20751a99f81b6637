//! `finconn listen` and `finconn trigger`: local webhook development, as the Stripe CLI offers it; and
//! `finconn sandbox …`, the account-scripting test helpers from the shell. All talk to a running finconn
//! over its public API with a test secret key. `finconn dashboard-link` (at the end) works on the database
//! instead, like `finconn keys`.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// The event types `trigger` can cause, with what it does for each.
pub const TRIGGERS: &[(&str, &str)] = &[
    ("financial_connections.account.created", "links a Test Institution account through the test helper"),
    ("financial_connections.account.refreshed_balance", "links an account, then refreshes its balance"),
    ("financial_connections.account.refreshed_ownership", "links an account, then refreshes its ownership"),
    ("financial_connections.account.refreshed_transactions", "links an account, then refreshes its transactions"),
    ("financial_connections.account.disconnected", "links an account, then disconnects it"),
    ("financial_connections.account.deactivated", "links an account, then deactivates it (test helper)"),
    ("financial_connections.account.reactivated", "links an account, deactivates it, then reactivates it"),
    ("test_helpers.test_clock.created", "creates a test clock"),
    ("test_helpers.test_clock.advancing", "creates a test clock and advances it a day"),
    ("test_helpers.test_clock.ready", "creates a test clock and advances it a day"),
    ("test_helpers.test_clock.deleted", "creates a test clock and deletes it"),
];

pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        if !key.starts_with("sk_test_") {
            bail!("use a test mode secret key (sk_test_…): listen and trigger are for development");
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), key: key.to_owned(), http })
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.key);
        if method == reqwest::Method::GET {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        let res = req.send().await.with_context(|| format!("cannot reach finconn at {}", self.base))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("unknown error");
            bail!("{method} {path}: {status}: {message}");
        }
        Ok(body)
    }

    /// One API request; a non-2xx answer is an error carrying Stripe's message.
    pub async fn request(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(method, path, form).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, form).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, query).await
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    v[field].as_str().ok_or_else(|| anyhow!("finconn answered without {field}"))
}

/// `finconn trigger EVENT`: creates, in test mode, the objects whose change causes `event`.
pub async fn trigger(api: &Api, event: &str) -> anyhow::Result<()> {
    if !TRIGGERS.iter().any(|(t, _)| *t == event) {
        let list: Vec<&str> = TRIGGERS.iter().map(|(t, _)| *t).collect();
        bail!("finconn cannot trigger {event}; it can trigger:\n  {}", list.join("\n  "));
    }
    if let Some(what) = event.strip_prefix("test_helpers.test_clock.") {
        let clock = api
            .post("/v1/test_helpers/test_clocks", &[("frozen_time", "1700000000"), ("name", "finconn trigger")])
            .await?;
        let id = str_of(&clock, "id")?.to_owned();
        println!("Created test clock {id}.");
        match what {
            "advancing" | "ready" => {
                api.post(&format!("/v1/test_helpers/test_clocks/{id}/advance"), &[("frozen_time", "1700086400")])
                    .await?;
                println!("Advancing {id} by a day.");
            }
            "deleted" => {
                api.call(reqwest::Method::DELETE, &format!("/v1/test_helpers/test_clocks/{id}"), &[]).await?;
                println!("Deleted {id}.");
            }
            _ => {}
        }
        println!("Trigger succeeded: {event} will be sent to this account's webhook endpoints.");
        return Ok(());
    }
    let customer = api.post("/v1/customers", &[("description", "finconn trigger")]).await?;
    let session = api
        .post(
            "/v1/financial_connections/sessions",
            &[
                ("account_holder[type]", "customer"),
                ("account_holder[customer]", str_of(&customer, "id")?),
                ("permissions[]", "balances"),
                ("permissions[]", "ownership"),
                ("permissions[]", "transactions"),
            ],
        )
        .await?;
    let session_id = str_of(&session, "id")?;
    let done = api
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{session_id}/complete"),
            &[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success")],
        )
        .await?;
    let account =
        done["accounts"]["data"][0]["id"].as_str().ok_or_else(|| anyhow!("no account was linked"))?.to_owned();
    println!("Linked {account} (session {session_id}).");
    let path = format!("/v1/financial_connections/accounts/{account}");
    match event {
        "financial_connections.account.refreshed_balance" => {
            api.post(&format!("{path}/refresh"), &[("features[]", "balance")]).await?;
            println!("Requested a balance refresh of {account}.");
        }
        "financial_connections.account.refreshed_ownership" => {
            api.post(&format!("{path}/refresh"), &[("features[]", "ownership")]).await?;
            println!("Requested an ownership refresh of {account}.");
        }
        "financial_connections.account.refreshed_transactions" => {
            api.post(&format!("{path}/refresh"), &[("features[]", "transactions")]).await?;
            println!("Requested a transaction refresh of {account}.");
        }
        "financial_connections.account.disconnected" => {
            api.post(&format!("{path}/disconnect"), &[]).await?;
            println!("Disconnected {account}.");
        }
        "financial_connections.account.deactivated" | "financial_connections.account.reactivated" => {
            let helper = format!("/v1/test_helpers/financial_connections/accounts/{account}");
            api.post(&format!("{helper}/deactivate"), &[]).await?;
            println!("Deactivated {account}.");
            if event.ends_with("reactivated") {
                api.post(&format!("{helper}/reactivate"), &[]).await?;
                println!("Reactivated {account}.");
            }
        }
        _ => {}
    }
    println!("Trigger succeeded: {event} will be sent to this account's webhook endpoints.");
    Ok(())
}

/// `finconn listen --forward-to URL`: registers `URL` as a webhook endpoint for the key's account, prints
/// its signing secret, then prints every event and every delivery attempt until Ctrl-C, when it removes
/// the endpoint again. finconn itself delivers to `URL`, so `URL` must be reachable from the server.
pub async fn listen(api: &Api, forward_to: &str, events: &[String]) -> anyhow::Result<()> {
    let mut form: Vec<(&str, &str)> = vec![("url", forward_to), ("description", "finconn listen")];
    if events.is_empty() {
        form.push(("enabled_events[]", "*"));
    } else {
        form.extend(events.iter().map(|e| ("enabled_events[]", e.as_str())));
    }
    // Where the event stream stands now, before saying Ready: whatever happens after is printed.
    let start = api.get("/v1/events", &[("limit", "1")]).await?;
    let mut last_event = start["data"][0]["id"].as_str().map(str::to_owned);
    let endpoint = api.post("/v1/webhook_endpoints", &form).await?;
    let id = str_of(&endpoint, "id")?.to_owned();
    println!("Ready! Your webhook signing secret is {} (^C to quit)", str_of(&endpoint, "secret")?);
    println!("Forwarding events to {forward_to} through webhook endpoint {id}.");
    let shutdown = crate::startup::shutdown_signal();
    tokio::pin!(shutdown);
    let mut seen_attempts = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let mut query = vec![("limit", "100")];
        if let Some(last) = &last_event {
            query.push(("ending_before", last.as_str()));
        }
        if let Ok(page) = api.get("/v1/events", &query).await {
            let items = page["data"].as_array().cloned().unwrap_or_default();
            for e in items.iter().rev() {
                println!("--> {} [{}]", e["type"].as_str().unwrap_or("?"), e["id"].as_str().unwrap_or("?"));
            }
            if let Some(newest) = items.first().and_then(|e| e["id"].as_str()) {
                last_event = Some(newest.to_owned());
            }
        }
        if let Ok(attempts) = api.get(&format!("/v1/webhook_endpoints/{id}/attempts"), &[("limit", "100")]).await {
            let items = attempts["data"].as_array().cloned().unwrap_or_default();
            if items.len() > seen_attempts {
                for a in items[..items.len() - seen_attempts].iter().rev() {
                    let code = a["status_code"].as_i64().map(|c| c.to_string());
                    let what = code.or_else(|| a["error"].as_str().map(str::to_owned)).unwrap_or_default();
                    println!("<-- [{what}] POST {forward_to} [{}]", a["event"].as_str().unwrap_or("?"));
                }
                seen_attempts = items.len();
            }
        }
    }
    api.call(reqwest::Method::DELETE, &format!("/v1/webhook_endpoints/{id}"), &[]).await?;
    println!("Removed webhook endpoint {id}.");
    Ok(())
}

/// `finconn dashboard-link`: what to do.
pub struct DashboardLink {
    pub account: String,
    pub livemode: bool,
    pub ttl_minutes: i64,
    /// Sign every session of the account out instead of making a link.
    pub revoke_all: bool,
}

/// Prints a one-time sign-in link to `account`'s dashboard under `base` (stdout: the URL alone, so
/// `$(finconn dashboard-link …)` is the link; stderr: what it opens and until when), or revokes.
pub async fn dashboard_link(core: &finconn_core::Finconn, base: &str, link: &DashboardLink) -> anyhow::Result<()> {
    let unknown = |e: finconn_core::DomainError| match e {
        finconn_core::DomainError::NotFound { .. } => anyhow!("no account {} in this database", link.account),
        other => anyhow!(other),
    };
    if link.revoke_all {
        let (sessions, links) = core.end_dashboard_sessions(&link.account).await.map_err(unknown)?;
        println!(
            "signed out {sessions} dashboard session(s) of {} and voided {links} unused sign-in link(s)",
            link.account
        );
        return Ok(());
    }
    let made =
        core.create_dashboard_link(&link.account, link.livemode, link.ttl_minutes * 60).await.map_err(unknown)?;
    let mode = if made.livemode { "live" } else { "test" };
    println!("{}/dashboard/link/{}", base.trim_end_matches('/'), made.token);
    eprintln!(
        "One-time sign-in link to the dashboard of {} in {mode} mode, usable once until {} ({} minute(s)).",
        made.account,
        crate::dashboard::human_time(made.expires_at),
        link.ttl_minutes
    );
    Ok(())
}
