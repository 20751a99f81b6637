//! Wiring: database, domain, router, background tasks, graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use finconn_core::connector::Connectors;
use finconn_core::vault::{MasterKey, Vault};
use finconn_core::{Clock, Finconn, Settings, SystemClock};
use finconn_providers::outbound::{Outbound, Policy};
use finconn_store::Db;
use tokio::net::TcpListener;

use crate::config::Config;

/// What every handler gets: one pointer, cloned per request (one atomic increment, not one per field).
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl From<App> for AppState {
    fn from(app: App) -> Self {
        Self(Arc::new(app))
    }
}

/// The server's shared parts.
#[derive(Clone)]
pub struct App {
    pub core: Finconn,
    pub config: Arc<Config>,
    pub jobs: crate::jobs::JobsHandle,
    /// For webhook deliveries, per mode: the outbound address policy, no redirects followed, every request
    /// bounded by `webhook_timeout`.
    pub webhooks: Webhooks,
    /// Per-key request rates (`rate_limit_per_second`).
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// `/demo/session` creates objects for anyone who asks: 5 a second for the whole server.
    pub demo_limiter: Arc<crate::ratelimit::RateLimiter>,
    /// Live institutions' logos, fetched through the connectors' policy and served from finconn.
    pub logos: Arc<crate::link::Logos>,
    /// Idempotency keys whose first request is running in this process.
    pub in_flight: Arc<crate::unit::InFlight>,
    /// Test mode's institutions (built-in and sandbox data files), reloaded on SIGHUP.
    pub sandbox: Option<Arc<finconn_providers::Sandbox>>,
    /// The dashboard's cookie key and request log writer.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
}

/// The webhook address policies. Link-local and metadata addresses are refused in both modes; test mode
/// allows loopback (local development, `finconn listen`) and, with `webhook_allow_private`, private
/// networks; live mode allows public addresses only.
#[derive(Clone)]
pub struct Webhooks {
    pub test: Outbound,
    pub live: Outbound,
}

impl Webhooks {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let policy = |live: bool| Policy {
            allow_loopback: !live,
            allow_private: !live && config.webhook_allow_private,
            require_https: false,
            timeout: config.webhook_timeout,
            connect_timeout: config.webhook_timeout,
            // Stripe's webhook user agent, as receivers expect.
            user_agent: "Stripe/1.0 (+https://stripe.com/docs/webhooks)".to_owned(),
            ..Policy::default()
        };
        Ok(Self {
            test: Outbound::new(policy(false)).map_err(|e| anyhow::anyhow!("webhook client: {e}"))?,
            live: Outbound::new(policy(true)).map_err(|e| anyhow::anyhow!("webhook client: {e}"))?,
        })
    }

    pub fn for_mode(&self, livemode: bool) -> &Outbound {
        if livemode {
            &self.live
        } else {
            &self.test
        }
    }
}

impl AppState {
    /// The app with test mode's sandbox loaded from the config; a sandbox that does not load is logged and
    /// leaves test mode without institutions (`build`, what `finconn serve` runs, refuses to start instead).
    pub fn new(config: Config, db: Db, clock: Arc<dyn Clock>) -> Self {
        let sandbox = match finconn_providers::Sandbox::from_files(config.sandbox_builtin, &config.sandbox_data) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "the sandbox data does not load; test mode has no institutions");
                None
            }
        };
        Self::with_sandbox(config, db, clock, sandbox)
    }

    pub fn with_sandbox(
        config: Config,
        db: Db,
        clock: Arc<dyn Clock>,
        sandbox: Option<finconn_providers::Sandbox>,
    ) -> Self {
        let settings = Settings {
            sandbox_keys: config.sandbox_keys,
            client_secret_ttl: config.client_secret_ttl,
            refresh_cooldown: config.refresh_cooldown,
        };
        let sandbox = sandbox.map(Arc::new);
        let vault = config.master_key.clone().map(|k| Vault::new(k, config.previous_master_keys.clone()));
        let providers = finconn_core::link::Providers {
            test: sandbox.clone().map(|s| s as Arc<dyn finconn_core::provider::Provider>),
            live: None,
            test_data: sandbox.clone().map(|s| s as Arc<dyn finconn_core::provider::AccountData>),
            live_data: None,
            // Without a master key no credential could be stored: live mode then offers no connector.
            connectors: if vault.is_some() { connectors(&config) } else { Connectors::default() },
        };
        // The job runner wakes from the commit that queued work, whatever path the commit came from.
        let jobs = crate::jobs::JobsHandle::default();
        let waker = jobs.clone();
        db.set_after_commit(Arc::new(move || waker.notify_one()));
        let core = Finconn::new(Arc::new(db), clock, settings).with_providers(providers).with_vault(vault);
        let webhooks = Webhooks::new(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the webhook client could not be built with its settings; using defaults");
            Webhooks {
                test: Outbound::new(Policy { allow_loopback: true, require_https: false, ..Policy::default() })
                    .unwrap_or_else(|_| unreachable_client()),
                live: Outbound::new(Policy { require_https: false, ..Policy::default() })
                    .unwrap_or_else(|_| unreachable_client()),
            }
        });
        let logos = Arc::new(crate::link::Logos::new(&connector_policy(&config)));
        let limiter = Arc::new(crate::ratelimit::RateLimiter::new(config.rate_limit_per_second));
        let demo_limiter = Arc::new(crate::ratelimit::RateLimiter::new(5));
        let dashboard = Arc::new(crate::dashboard::Dashboard::new(&config, &core));
        Self(Arc::new(App {
            dashboard,
            core,
            config: Arc::new(config),
            jobs,
            webhooks,
            in_flight: Arc::default(),
            limiter,
            demo_limiter,
            logos,
            sandbox,
        }))
    }
}

/// The outbound policy of everything a connector fetches.
pub fn connector_policy(config: &Config) -> finconn_providers::outbound::Policy {
    finconn_providers::outbound::Policy {
        allow_loopback: config.connector_allow_loopback,
        timeout: config.connector_timeout,
        user_agent: format!("finconn/{}", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    }
}

/// The live connectors the configuration asks for, each behind the one outbound HTTP policy.
pub fn connectors(config: &Config) -> Connectors {
    use finconn_providers::simplefin::{Server, SimpleFin};
    let mut out: Vec<Arc<dyn finconn_core::connector::Connector>> = Vec::new();
    let policy = connector_policy(config);
    if let Some(eb) = &config.enable_banking {
        let settings = finconn_providers::enablebanking::Settings {
            application_id: eb.application_id.clone(),
            private_key_pem: eb.private_key_pem.clone(),
            api_base: eb.api_base.clone(),
            redirect_url: format!("{}/link/oauth/callback", config.public_base()),
            countries: eb.countries.clone(),
            max_consent_seconds: eb.max_consent_days.map(|d| d * 86_400),
        };
        let built =
            finconn_providers::outbound::Outbound::new(policy.clone()).map_err(|e| e.to_string()).and_then(|http| {
                finconn_providers::enablebanking::EnableBanking::new(settings, http).map_err(|e| e.to_string())
            });
        match built {
            Ok(c) => out.push(Arc::new(c)),
            Err(e) => tracing::error!(error = %e, "the Enable Banking connector could not be built"),
        }
    }
    let mut servers = Vec::new();
    if config.simplefin_bridge {
        servers.push(Server::bridge());
    }
    for (name, url) in &config.simplefin_servers {
        match Server::configured(name, url) {
            Ok(s) => servers.push(s),
            Err(e) => tracing::error!(server = %name, error = %e, "a configured SimpleFIN server is not usable"),
        }
    }
    if !servers.is_empty() {
        match finconn_providers::outbound::Outbound::new(policy) {
            Ok(http) => out.push(Arc::new(SimpleFin::new(servers, http))),
            Err(e) => tracing::error!(error = %e, "the outbound HTTP client could not be built; SimpleFIN is off"),
        }
    }
    Connectors(out.into())
}

/// Loads every connector's institution list now and again daily (Enable Banking's banks per country);
/// a failed load is retried after five minutes and says why in the log.
pub async fn refresh_institutions(app: AppState) {
    loop {
        let mut failed = false;
        for c in app.core.providers.connectors.0.iter() {
            match c.refresh_institutions().await {
                Ok(n) => tracing::info!(connector = c.name(), institutions = n, "loaded the connector's institutions"),
                Err(e) => {
                    failed = true;
                    tracing::warn!(connector = c.name(), error = %e, "loading the connector's institutions failed");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(if failed { 300 } else { 86_400 })).await;
    }
}

/// Fills in `config.master_key`: given inline, else read from its file — generated (mode 0600) on first
/// start, beside the SQLite database by default. A PostgreSQL deployment shares one key among its
/// processes, so it must name one: without it, and with live connectors on, start-up fails and says so.
pub fn load_master_key(config: &mut Config) -> anyhow::Result<()> {
    if config.master_key.is_some() {
        return Ok(());
    }
    let wants_connectors =
        config.simplefin_bridge || !config.simplefin_servers.is_empty() || config.enable_banking.is_some();
    let path = match &config.master_key_file {
        Some(p) => p.clone(),
        None if finconn_store::is_postgres_url(&config.database_url) => {
            if wants_connectors {
                anyhow::bail!(
                    "live connectors seal their credentials with a master key, and a PostgreSQL deployment must \
                     provide one: set FINCONN_MASTER_KEY (64 hex digits, e.g. from `finconn master-key generate`) \
                     or master_key_file in finconn.toml, the same for every process; or turn live connectors off \
                     with FINCONN_SIMPLEFIN_BRIDGE=false"
                );
            }
            return Ok(());
        }
        None => match finconn_store::sqlite_file(&config.database_url) {
            Some(db) => std::path::PathBuf::from(format!("{}.key", db.display())),
            None => {
                // An in-memory database keeps nothing: neither does its key.
                config.master_key = Some(MasterKey::generate());
                return Ok(());
            }
        },
    };
    config.master_key = Some(read_or_create_key(&path)?);
    Ok(())
}

fn read_or_create_key(path: &std::path::Path) -> anyhow::Result<MasterKey> {
    use std::io::Write;
    let read = |path: &std::path::Path| -> anyhow::Result<MasterKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the master key file {}: {e}", path.display()))?;
        MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display()))
    };
    if path.exists() {
        return read(path);
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(format!("{}\n", key.to_hex().as_str()).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| anyhow::anyhow!("cannot write the master key file {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), key = key.id(), "generated a master key for live connectors' credentials; back it up with the database");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(anyhow::anyhow!("cannot create the master key file {}: {e}", path.display())),
    }
}

/// Opens and migrates the database named by the config.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect_with(&config.database_url, config.database_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

pub async fn build(mut config: Config) -> anyhow::Result<(AppState, Db)> {
    // A sandbox data file with a problem stops start-up before anything is created, every problem listed as
    // file:line:column: field: message.
    let sandbox = finconn_providers::Sandbox::from_files(config.sandbox_builtin, &config.sandbox_data)?;
    load_master_key(&mut config)?;
    if config.connector_allow_loopback {
        tracing::warn!("connector_allow_loopback is on: live connectors may reach this machine's loopback addresses over plain http (for tests and local SimpleFIN servers only)");
    }
    if !config.sandbox_data.is_empty() {
        let s = sandbox.summary();
        tracing::info!(
            institutions = s.institutions,
            accounts = s.accounts,
            files = config.sandbox_data.len(),
            "sandbox data loaded"
        );
    }
    let db = open_database(&config).await?;
    Ok((AppState::with_sandbox(config, db.clone(), Arc::new(SystemClock), Some(sandbox)), db))
}

/// Re-reads the sandbox data files on every SIGHUP. Linked accounts stay: they name their institution and
/// account, and find them in the new data; a file with a problem is logged and the old data kept. The signal
/// handler is installed before this is spawned (SIGHUP's default action ends the process).
#[cfg(unix)]
async fn reload_sandbox_on_hangup(app: AppState, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        let Some(sandbox) = app.sandbox.as_ref() else {
            tracing::warn!("SIGHUP: test mode has no sandbox to reload");
            continue;
        };
        match sandbox.reload() {
            Ok(s) => {
                tracing::info!(institutions = s.institutions, accounts = s.accounts, "SIGHUP: sandbox data reloaded")
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the sandbox data does not load; keeping the data loaded before")
            }
        }
    }
}

/// Housekeeping every 10 minutes: idempotency keys are kept 24 hours, as Stripe keeps them; finished jobs
/// 7 days; events 30 days; test clocks delete themselves at their `deletes_after`.
async fn prune_idempotency_keys(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let before = app.core.now() - 24 * 3600;
        match app.core.prune_idempotency_keys(before).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "pruned idempotency keys older than 24 hours"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
        }
        match app.core.prune_jobs(app.core.now() - 7 * 86_400).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "pruned jobs finished more than 7 days ago"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning jobs failed"),
        }
        let before = app.core.now() - finconn_core::events::RETENTION;
        match app.core.prune_events(before).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "pruned events older than 30 days"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning events failed"),
        }
        match app.core.purge_abandoned_connections().await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "forgot connections of link flows that never finished"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "forgetting abandoned connections failed"),
        }
        crate::dashboard::prune(&app).await;
        match app.core.delete_expired_test_clocks().await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "deleted test clocks past their deletes_after"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deleting expired test clocks failed"),
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (up to the grace period).
pub async fn serve(
    app: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pruner = tokio::spawn(prune_idempotency_keys(app.clone()));
    let log_pruner = tokio::spawn(crate::dashboard::prune_request_log_every_minute(app.clone()));
    let catalogues = tokio::spawn(refresh_institutions(app.clone()));
    #[cfg(unix)]
    let hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(h) => Some(tokio::spawn(reload_sandbox_on_hangup(app.clone(), h))),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: the sandbox data will not reload");
            None
        }
    };
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let runner = app.config.run_jobs.then(|| tokio::spawn(crate::jobs::run(app.clone(), jobs_stopped)));
    let grace = app.config.shutdown_grace;
    let limits = ConnLimits::from(app.config.as_ref());
    let router = crate::router::router(app);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(accept_loop(listener, router, limits, async move {
        shutdown.await;
        let _ = tx.send(());
    }));
    let result = tokio::select! {
        r = server => r.map_err(anyhow::Error::from),
        _ = async { let _ = rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!("shutdown grace period over; dropping the remaining connections");
            Ok(())
        }
    };
    pruner.abort();
    log_pruner.abort();
    catalogues.abort();
    #[cfg(unix)]
    if let Some(h) = hangups {
        h.abort();
    }
    // Jobs in flight finish; a job cut short would simply be retried after its lease by any process.
    let _ = stop_jobs.send(true);
    if let Some(r) = runner {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), r).await;
    }
    result
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled, so a signal that arrives right after start-up is not lost (nor fatal).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// Building a client with default settings does not fail in practice; if it ever did, nothing can be
/// delivered, and saying so loudly beats a panic.
fn unreachable_client() -> Outbound {
    tracing::error!("no HTTP client can be built: webhooks cannot be delivered");
    std::process::exit(70)
}

/// The socket-level limits: how long a client may take to send its request head (this also bounds an idle
/// keep-alive connection waiting for its next request) and how many connections are served at once; a
/// slow client is cut off, never allowed to hold a slot. (The body's own deadline is in `extract::auth`.)
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl From<&Config> for ConnLimits {
    fn from(c: &Config) -> Self {
        Self { header_read_timeout: c.header_read_timeout, max_connections: c.max_connections }
    }
}

/// Accepts connections (at most `max_connections` at once: beyond that, new ones wait in the kernel's
/// backlog) and serves each with HTTP/1.1 under the header deadline, until `shutdown`; then stops
/// accepting and lets the connections in flight finish.
async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The peer address, for what only loopback clients may see (`/metrics` without a token).
        let routed =
            tower::ServiceExt::map_request(router.clone(), move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
        let service = hyper_util::service::TowerToHyperService::new(routed);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // Room for the request line and headers past the router's own limits (16 KiB URL, 32 KiB of
            // headers), so that those answer 414 and 431 in Stripe's envelope rather than hyper, empty.
            .max_buf_size(256 * 1024)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the client's (reset, timed out, malformed): nothing to report.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
