//! One typed `Config`: defaults, then an optional `finconn.toml`, then `FINCONN_*` environment variables,
//! then command-line flags. Validated once at start-up; errors name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";
pub const DEFAULT_DATABASE: &str = "sqlite://finconn.db";
pub const DEFAULT_OTEL_SERVICE_NAME: &str = "finconn";

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// May carry a password: never printed whole (see `finconn_store::Db::describe`).
    pub database_url: String,
    pub sandbox_keys: bool,
    /// Sandbox data files (TOML or JSON) whose institutions test mode serves beside (or instead of) the
    /// built-in ones; re-read on SIGHUP.
    pub sandbox_data: Vec<PathBuf>,
    /// Serve the built-in sandbox institutions (Stripe's test institutions) too.
    pub sandbox_builtin: bool,
    pub client_secret_ttl: Duration,
    pub max_body_bytes: usize,
    pub log_json: bool,
    pub shutdown_grace: Duration,
    /// Who the consent pane says is asking, for accounts without a display name of their own.
    pub display_name: String,
    /// Serve the demo merchant page at `/demo` (test mode only).
    pub demo: bool,
    /// After a refresh, how long until the same feature may be refreshed again.
    pub refresh_cooldown: Duration,
    /// How long a provider may take to answer one fetch before the refresh ends `failed`.
    pub provider_timeout: Duration,
    /// How often an idle job runner looks for due jobs (work queued by this process wakes it at once).
    pub job_poll_interval: Duration,
    /// Run the job runner in this process (several processes on one PostgreSQL may all run it).
    pub run_jobs: bool,
    /// How long one webhook delivery attempt may take.
    pub webhook_timeout: Duration,
    /// Seals live connectors' credentials at rest. `None` after `load` means: the key file (SQLite) is
    /// read or generated at start-up (`startup::load_master_key`).
    pub master_key: Option<finconn_core::vault::MasterKey>,
    /// Where the master key lives when it is not given inline (default: beside the SQLite database).
    pub master_key_file: Option<PathBuf>,
    /// Keys of earlier rotations: values sealed with them still open (`finconn reseal` moves them over).
    pub previous_master_keys: Vec<finconn_core::vault::MasterKey>,
    /// Let connectors reach loopback addresses over plain http (tests, a SimpleFIN server on this machine).
    pub connector_allow_loopback: bool,
    /// How long one upstream request of a connector may take.
    pub connector_timeout: Duration,
    /// Offer the public SimpleFIN Bridge in live mode.
    pub simplefin_bridge: bool,
    /// Other SimpleFIN servers to offer in live mode: `(name, root URL)`.
    pub simplefin_servers: Vec<(String, String)>,
    /// Test mode may send webhooks to private networks (10/8, 172.16/12, 192.168/16, fc00::/7).
    pub webhook_allow_private: bool,
    /// `GET /metrics` requires `Authorization: Bearer <token>`; `None`: it answers loopback clients only.
    pub metrics_token: Option<String>,
    /// Requests per second per key, for reads and for writes each (bursts of one second's worth); 0: off.
    pub rate_limit_per_second: u32,
    /// PostgreSQL: connections per process (SQLite: readers; its one writer comes in addition).
    pub database_max_connections: u32,
    /// How long a client may take to send a request head; also how long an idle keep-alive connection
    /// waits for its next request.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body (408 after it).
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Where browsers reach this server (`https://finconn.example.com`): the base of the callback URL
    /// registered with OAuth providers. `None`: `http://{listen}`.
    pub public_url: Option<url::Url>,
    /// The Enable Banking connector (PSD2), when configured.
    pub enable_banking: Option<EnableBankingConfig>,
    /// The merchant's logo shown in the modal's header: `(content type, bytes)` of a PNG, JPEG, GIF or WebP
    /// file of at most 256 KiB, read at start-up.
    pub logo: Option<(&'static str, std::sync::Arc<Vec<u8>>)>,
    /// The dashboard's request log: how long rows are kept, and how many per account and mode (0: no log).
    pub request_log: finconn_core::console::RequestLogRetention,
    /// Where spans go over OTLP/HTTP (the collector's base URL, `/v1/traces` is added), in a build with the
    /// `otel` feature; `None`: nothing is exported. An address the operator chose, like the database URL:
    /// not under the outbound policy of provider calls and webhooks.
    pub otel_endpoint: Option<url::Url>,
    /// `service.name` of the exported spans (`OTEL_SERVICE_NAME`, default `finconn`).
    pub otel_service_name: String,
}

/// `[enable_banking]`: an application registered at Enable Banking and its private key.
#[derive(Clone)]
pub struct EnableBankingConfig {
    pub application_id: String,
    /// Read from `private_key_file` at start-up; never logged.
    pub private_key_pem: zeroize::Zeroizing<Vec<u8>>,
    pub api_base: url::Url,
    /// Countries whose banks are offered (empty: the application's own).
    pub countries: Vec<String>,
    /// An upper bound on consent length, in days.
    pub max_consent_days: Option<i64>,
}

impl Config {
    /// The base URL browsers use for this server, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &"<redacted>")
            .field("sandbox_keys", &self.sandbox_keys)
            .field("sandbox_data", &self.sandbox_data)
            .field("sandbox_builtin", &self.sandbox_builtin)
            .field("client_secret_ttl", &self.client_secret_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("log_json", &self.log_json)
            .field("master_key", &self.master_key.as_ref().map(|k| k.id().to_owned()))
            .field("connector_allow_loopback", &self.connector_allow_loopback)
            .field("public_url", &self.public_url)
            .field("enable_banking", &self.enable_banking.as_ref().map(|e| e.application_id.clone()))
            .field("otel_endpoint", &self.otel_endpoint.as_ref().map(url::Url::as_str))
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8420))),
            database_url: DEFAULT_DATABASE.to_owned(),
            sandbox_keys: true,
            sandbox_data: Vec::new(),
            sandbox_builtin: true,
            client_secret_ttl: Duration::from_secs(3600),
            max_body_bytes: 1 << 20,
            log_json: false,
            shutdown_grace: Duration::from_secs(30),
            display_name: "finconn sandbox".to_owned(),
            demo: true,
            refresh_cooldown: Duration::from_secs(60),
            provider_timeout: Duration::from_secs(10),
            job_poll_interval: Duration::from_millis(250),
            run_jobs: true,
            webhook_timeout: Duration::from_secs(10),
            master_key: None,
            master_key_file: None,
            previous_master_keys: Vec::new(),
            connector_allow_loopback: false,
            connector_timeout: Duration::from_secs(120),
            simplefin_bridge: true,
            simplefin_servers: Vec::new(),
            webhook_allow_private: false,
            metrics_token: None,
            rate_limit_per_second: 1000,
            database_max_connections: 16,
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            public_url: None,
            enable_banking: None,
            logo: None,
            request_log: finconn_core::console::RequestLogRetention { max_age_seconds: 7 * 86_400, max_rows: 10_000 },
            otel_endpoint: None,
            otel_service_name: DEFAULT_OTEL_SERVICE_NAME.to_owned(),
        }
    }
}

/// `finconn.toml`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    sandbox_keys: Option<bool>,
    sandbox_data: Option<Vec<PathBuf>>,
    sandbox_builtin: Option<bool>,
    client_secret_ttl_seconds: Option<u64>,
    max_body_bytes: Option<usize>,
    log_format: Option<String>,
    shutdown_grace_seconds: Option<u64>,
    display_name: Option<String>,
    demo: Option<bool>,
    refresh_cooldown_seconds: Option<u64>,
    provider_timeout_seconds: Option<u64>,
    run_jobs: Option<bool>,
    master_key: Option<String>,
    master_key_file: Option<PathBuf>,
    previous_master_keys: Option<Vec<String>>,
    connector_allow_loopback: Option<bool>,
    connector_timeout_seconds: Option<u64>,
    simplefin_bridge: Option<bool>,
    simplefin_servers: Option<Vec<SimplefinServer>>,
    webhook_allow_private: Option<bool>,
    metrics_token: Option<String>,
    rate_limit_per_second: Option<u32>,
    database_max_connections: Option<u32>,
    header_read_timeout_seconds: Option<u64>,
    body_read_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    public_url: Option<String>,
    enable_banking: Option<EnableBankingFile>,
    logo_file: Option<PathBuf>,
    request_log_retention_days: Option<i64>,
    request_log_max_rows: Option<i64>,
    otel_endpoint: Option<String>,
}

/// `[enable_banking]` in `finconn.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableBankingFile {
    application_id: Option<String>,
    private_key_file: Option<PathBuf>,
    api_base: Option<String>,
    countries: Option<Vec<String>>,
    max_consent_days: Option<i64>,
}

/// `[[simplefin_servers]]` in `finconn.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimplefinServer {
    name: String,
    url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

/// Overrides from the command line (they win over everything else).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// `--sandbox-data FILE` (repeatable): replaces the config file's and the environment's list.
    pub sandbox_data: Vec<PathBuf>,
}

impl Config {
    /// Loads from `./finconn.toml` (or the given file), the environment and the overrides.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let file = match overrides.config_file.clone().or_else(|| env("FINCONN_CONFIG").map(PathBuf::from)) {
            Some(path) => read_file(&path)?,
            None if Path::new("finconn.toml").exists() => read_file(Path::new("finconn.toml"))?,
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let listen = overrides.listen.clone().or_else(|| env("FINCONN_LISTEN")).or(file.listen);
        if let Some(l) = listen {
            c.listen = l
                .parse()
                .map_err(|_| invalid("listen (FINCONN_LISTEN, --listen)", format!("'{l}' is not ADDR:PORT")))?;
        }
        if let Some(d) = overrides.database_url.clone().or_else(|| env("FINCONN_DATABASE_URL")).or(file.database_url) {
            c.database_url = d;
        }
        if c.database_url.trim().is_empty() {
            return Err(invalid("database_url (FINCONN_DATABASE_URL, --database)", "must not be empty"));
        }
        if let Some(v) = env("FINCONN_SANDBOX_KEYS") {
            c.sandbox_keys = parse_bool(&v)
                .ok_or_else(|| invalid("sandbox_keys (FINCONN_SANDBOX_KEYS)", "expected true or false"))?;
        } else if let Some(b) = file.sandbox_keys {
            c.sandbox_keys = b;
        }
        c.sandbox_data = if !overrides.sandbox_data.is_empty() {
            overrides.sandbox_data.clone()
        } else if let Some(v) = env("FINCONN_SANDBOX_DATA") {
            std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()
        } else {
            file.sandbox_data.unwrap_or_default()
        };
        if let Some(v) = env("FINCONN_SANDBOX_BUILTIN") {
            c.sandbox_builtin = parse_bool(&v)
                .ok_or_else(|| invalid("sandbox_builtin (FINCONN_SANDBOX_BUILTIN)", "expected true or false"))?;
        } else if let Some(b) = file.sandbox_builtin {
            c.sandbox_builtin = b;
        }
        if !c.sandbox_builtin && c.sandbox_data.is_empty() {
            return Err(invalid(
                "sandbox_builtin (FINCONN_SANDBOX_BUILTIN)",
                "false needs sandbox_data files (--sandbox-data): test mode would have no institutions",
            ));
        }
        let ttl = match env("FINCONN_CLIENT_SECRET_TTL_SECONDS") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                invalid("client_secret_ttl_seconds (FINCONN_CLIENT_SECRET_TTL_SECONDS)", "expected seconds")
            })?),
            None => file.client_secret_ttl_seconds,
        };
        if let Some(t) = ttl {
            if !(60..=7 * 24 * 3600).contains(&t) {
                return Err(invalid("client_secret_ttl_seconds", "must be between 60 and 604800"));
            }
            c.client_secret_ttl = Duration::from_secs(t);
        }
        let max_body = match env("FINCONN_MAX_BODY_BYTES") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| invalid("max_body_bytes (FINCONN_MAX_BODY_BYTES)", "expected a byte count"))?,
            ),
            None => file.max_body_bytes,
        };
        if let Some(m) = max_body {
            if !(1024..=64 << 20).contains(&m) {
                return Err(invalid("max_body_bytes", "must be between 1024 and 67108864"));
            }
            c.max_body_bytes = m;
        }
        if let Some(f) = env("FINCONN_LOG_FORMAT").or(file.log_format) {
            c.log_json = match f.as_str() {
                "json" => true,
                "text" => false,
                _ => return Err(invalid("log_format (FINCONN_LOG_FORMAT)", "expected text or json")),
            };
        }
        if let Some(n) = env("FINCONN_DISPLAY_NAME").or(file.display_name) {
            if n.trim().is_empty() || n.chars().count() > 100 {
                return Err(invalid("display_name (FINCONN_DISPLAY_NAME)", "must be 1 to 100 characters"));
            }
            c.display_name = n;
        }
        if let Some(v) = env("FINCONN_DEMO") {
            c.demo = parse_bool(&v).ok_or_else(|| invalid("demo (FINCONN_DEMO)", "expected true or false"))?;
        } else if let Some(b) = file.demo {
            c.demo = b;
        }
        let cooldown = match env("FINCONN_REFRESH_COOLDOWN_SECONDS") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                invalid("refresh_cooldown_seconds (FINCONN_REFRESH_COOLDOWN_SECONDS)", "expected seconds")
            })?),
            None => file.refresh_cooldown_seconds,
        };
        if let Some(c0) = cooldown {
            c.refresh_cooldown = Duration::from_secs(c0);
        }
        let timeout = match env("FINCONN_PROVIDER_TIMEOUT_SECONDS") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                invalid("provider_timeout_seconds (FINCONN_PROVIDER_TIMEOUT_SECONDS)", "expected seconds")
            })?),
            None => file.provider_timeout_seconds,
        };
        if let Some(t) = timeout {
            if !(1..=300).contains(&t) {
                return Err(invalid("provider_timeout_seconds", "must be between 1 and 300"));
            }
            c.provider_timeout = Duration::from_secs(t);
        }
        if let Some(v) = env("FINCONN_RUN_JOBS") {
            c.run_jobs =
                parse_bool(&v).ok_or_else(|| invalid("run_jobs (FINCONN_RUN_JOBS)", "expected true or false"))?;
        } else if let Some(b) = file.run_jobs {
            c.run_jobs = b;
        }
        if let Some(g) = file.shutdown_grace_seconds {
            c.shutdown_grace = Duration::from_secs(g);
        }
        let key_error = |key: &'static str| move |e: finconn_core::vault::VaultError| invalid(key, e.to_string());
        if let Some(k) = env("FINCONN_MASTER_KEY").or(file.master_key) {
            c.master_key =
                Some(finconn_core::vault::MasterKey::parse(&k).map_err(key_error("master_key (FINCONN_MASTER_KEY)"))?);
        }
        c.master_key_file = env("FINCONN_MASTER_KEY_FILE").map(PathBuf::from).or(file.master_key_file);
        let previous = match env("FINCONN_PREVIOUS_MASTER_KEYS") {
            Some(v) => v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            None => file.previous_master_keys.unwrap_or_default(),
        };
        c.previous_master_keys = previous
            .iter()
            .map(|k| finconn_core::vault::MasterKey::parse(k))
            .collect::<Result<_, _>>()
            .map_err(key_error("previous_master_keys (FINCONN_PREVIOUS_MASTER_KEYS)"))?;
        if let Some(v) = env("FINCONN_CONNECTOR_ALLOW_LOOPBACK") {
            c.connector_allow_loopback = parse_bool(&v).ok_or_else(|| {
                invalid("connector_allow_loopback (FINCONN_CONNECTOR_ALLOW_LOOPBACK)", "expected true or false")
            })?;
        } else if let Some(b) = file.connector_allow_loopback {
            c.connector_allow_loopback = b;
        }
        let timeout = match env("FINCONN_CONNECTOR_TIMEOUT_SECONDS") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                invalid("connector_timeout_seconds (FINCONN_CONNECTOR_TIMEOUT_SECONDS)", "expected seconds")
            })?),
            None => file.connector_timeout_seconds,
        };
        if let Some(t) = timeout {
            if !(1..=600).contains(&t) {
                return Err(invalid("connector_timeout_seconds", "must be between 1 and 600"));
            }
            c.connector_timeout = Duration::from_secs(t);
        }
        if let Some(v) = env("FINCONN_SIMPLEFIN_BRIDGE") {
            c.simplefin_bridge = parse_bool(&v)
                .ok_or_else(|| invalid("simplefin_bridge (FINCONN_SIMPLEFIN_BRIDGE)", "expected true or false"))?;
        } else if let Some(b) = file.simplefin_bridge {
            c.simplefin_bridge = b;
        }
        let servers: Vec<(String, String)> = match env("FINCONN_SIMPLEFIN_SERVERS") {
            // `Name=https://host/simplefin;Other=https://…`
            Some(v) => v
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.split_once('=').map(|(n, u)| (n.trim().to_owned(), u.trim().to_owned())).ok_or_else(|| {
                        invalid("simplefin_servers (FINCONN_SIMPLEFIN_SERVERS)", "expected Name=URL;Name=URL")
                    })
                })
                .collect::<Result<_, _>>()?,
            None => file.simplefin_servers.unwrap_or_default().into_iter().map(|s| (s.name, s.url)).collect(),
        };
        for (name, url) in &servers {
            if name.is_empty() || name.chars().count() > 100 {
                return Err(invalid("simplefin_servers", "a server name must be 1 to 100 characters"));
            }
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.username().is_empty() => {}
                _ => {
                    return Err(invalid(
                        "simplefin_servers",
                        format!("'{name}': the URL must be an http(s) address without credentials"),
                    ))
                }
            }
        }
        c.simplefin_servers = servers;
        if let Some(v) = env("FINCONN_WEBHOOK_ALLOW_PRIVATE") {
            c.webhook_allow_private = parse_bool(&v).ok_or_else(|| {
                invalid("webhook_allow_private (FINCONN_WEBHOOK_ALLOW_PRIVATE)", "expected true or false")
            })?;
        } else if let Some(b) = file.webhook_allow_private {
            c.webhook_allow_private = b;
        }
        c.metrics_token = env("FINCONN_METRICS_TOKEN").or(file.metrics_token).filter(|t| !t.is_empty());
        if c.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid("metrics_token (FINCONN_METRICS_TOKEN)", "use at least 16 characters"));
        }
        match env("FINCONN_RATE_LIMIT_PER_SECOND") {
            Some(v) => {
                c.rate_limit_per_second = v.parse().map_err(|_| {
                    invalid("rate_limit_per_second (FINCONN_RATE_LIMIT_PER_SECOND)", "expected a whole number (0: off)")
                })?
            }
            None => c.rate_limit_per_second = file.rate_limit_per_second.unwrap_or(c.rate_limit_per_second),
        }
        let pool = match env("FINCONN_DATABASE_MAX_CONNECTIONS") {
            Some(v) => v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).map(Some).ok_or_else(|| {
                invalid(
                    "database_max_connections (FINCONN_DATABASE_MAX_CONNECTIONS)",
                    "expected a whole number, 1 to 1000",
                )
            })?,
            None => file.database_max_connections,
        };
        match pool {
            Some(n) if (1..=1000).contains(&n) => c.database_max_connections = n,
            Some(_) => return Err(invalid("database_max_connections", "expected a whole number, 1 to 1000")),
            None => {}
        }
        let seconds = |key: &'static str, var: &str, file: Option<u64>| -> Result<Option<u64>, ConfigError> {
            match env(var) {
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if (1..=3600).contains(&n) => Ok(Some(n)),
                    _ => Err(invalid(key, "expected seconds between 1 and 3600")),
                },
                None => match file {
                    Some(n) if !(1..=3600).contains(&n) => Err(invalid(key, "expected seconds between 1 and 3600")),
                    other => Ok(other),
                },
            }
        };
        if let Some(s) = seconds(
            "header_read_timeout_seconds (FINCONN_HEADER_READ_TIMEOUT_SECONDS)",
            "FINCONN_HEADER_READ_TIMEOUT_SECONDS",
            file.header_read_timeout_seconds,
        )? {
            c.header_read_timeout = Duration::from_secs(s);
        }
        if let Some(s) = seconds(
            "body_read_timeout_seconds (FINCONN_BODY_READ_TIMEOUT_SECONDS)",
            "FINCONN_BODY_READ_TIMEOUT_SECONDS",
            file.body_read_timeout_seconds,
        )? {
            c.body_read_timeout = Duration::from_secs(s);
        }
        let max = match env("FINCONN_MAX_CONNECTIONS") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| invalid("max_connections (FINCONN_MAX_CONNECTIONS)", "expected a count"))?,
            ),
            None => file.max_connections,
        };
        if let Some(m) = max {
            if !(1..=1_000_000).contains(&m) {
                return Err(invalid("max_connections", "must be between 1 and 1000000"));
            }
            c.max_connections = m;
        }
        if let Some(u) = env("FINCONN_PUBLIC_URL").or(file.public_url) {
            match url::Url::parse(u.trim()) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.query().is_none() =>
                {
                    c.public_url = Some(url)
                }
                _ => return Err(invalid("public_url (FINCONN_PUBLIC_URL)", "expected an http(s) URL without a query")),
            }
        }
        c.enable_banking = enable_banking(file.enable_banking.unwrap_or_default(), &env)?;
        if let Some(path) = env("FINCONN_LOGO_FILE").map(PathBuf::from).or(file.logo_file) {
            const KEY: &str = "logo_file (FINCONN_LOGO_FILE)";
            let bytes =
                std::fs::read(&path).map_err(|e| invalid(KEY, format!("cannot read {}: {e}", path.display())))?;
            if bytes.len() > 256 * 1024 {
                return Err(invalid(KEY, "the logo must be at most 256 KiB"));
            }
            let kind = crate::link::image_kind(&bytes)
                .ok_or_else(|| invalid(KEY, "expected a PNG, JPEG, GIF or WebP image"))?;
            c.logo = Some((kind, std::sync::Arc::new(bytes)));
        }
        c.request_log = crate::dashboard::retention(
            (env("FINCONN_REQUEST_LOG_RETENTION_DAYS"), file.request_log_retention_days),
            (env("FINCONN_REQUEST_LOG_MAX_ROWS"), file.request_log_max_rows),
            c.request_log,
        )
        .map_err(|(key, message)| invalid(key, message))?;
        // The standard OpenTelemetry variable too, so a platform that sets it for every service (an operator's
        // sidecar injection) needs nothing finconn-specific; FINCONN_OTEL_ENDPOINT wins over it.
        if let Some(e) =
            env("FINCONN_OTEL_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT")).or(file.otel_endpoint)
        {
            c.otel_endpoint = Some(otel_endpoint(&e)?);
        }
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            c.otel_service_name = name;
        }
        Ok(c)
    }
}

/// The collector's OTLP/HTTP base URL (`http://collector:4318`). Credentials in the URL are refused: a
/// collector that wants them takes a header (`OTEL_EXPORTER_OTLP_HEADERS`), which stays out of finconn's
/// configuration and logs.
fn otel_endpoint(value: &str) -> Result<url::Url, ConfigError> {
    const KEY: &str = "otel_endpoint (FINCONN_OTEL_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT)";
    match url::Url::parse(value.trim()) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none() =>
        {
            Ok(u)
        }
        _ => Err(invalid(KEY, "expected the collector's http(s) URL (http://collector:4318), without credentials")),
    }
}

impl Config {
    /// Where spans are POSTed: the endpoint with `/v1/traces` added (as the OpenTelemetry specification
    /// says of `OTEL_EXPORTER_OTLP_ENDPOINT`), unless it already ends so.
    pub fn otel_traces_url(&self) -> Option<String> {
        let base = self.otel_endpoint.as_ref()?;
        let s = base.as_str().trim_end_matches('/');
        Some(if s.ends_with("/v1/traces") { s.to_owned() } else { format!("{s}/v1/traces") })
    }
}

/// `[enable_banking]` and `FINCONN_ENABLE_BANKING_*`: all or nothing. The key is read and tried here, so
/// a wrong path or a key that is not RSA stops start-up with the setting named.
fn enable_banking(
    file: EnableBankingFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<EnableBankingConfig>, ConfigError> {
    const ID: &str = "enable_banking.application_id (FINCONN_ENABLE_BANKING_APPLICATION_ID)";
    const KEY: &str = "enable_banking.private_key_file (FINCONN_ENABLE_BANKING_PRIVATE_KEY_FILE)";
    const BASE: &str = "enable_banking.api_base (FINCONN_ENABLE_BANKING_API_BASE)";
    let id = env("FINCONN_ENABLE_BANKING_APPLICATION_ID").or(file.application_id);
    let key_file = env("FINCONN_ENABLE_BANKING_PRIVATE_KEY_FILE").map(PathBuf::from).or(file.private_key_file);
    let (id, key_file) = match (id, key_file) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(invalid(KEY, "is missing: the application's private key (PEM) is needed too")),
        (None, Some(_)) => return Err(invalid(ID, "is missing: the application id Enable Banking gave is needed too")),
        (Some(i), Some(k)) => (i.trim().to_owned(), k),
    };
    if id.is_empty() || id.len() > 100 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid(ID, "expected the application id (a UUID)"));
    }
    let pem = std::fs::read(&key_file).map_err(|e| invalid(KEY, format!("cannot read {}: {e}", key_file.display())))?;
    let pem = zeroize::Zeroizing::new(pem);
    finconn_providers::enablebanking::jwt::Signer::new(&id, &pem).map_err(|e| invalid(KEY, e.to_string()))?;
    let base = env("FINCONN_ENABLE_BANKING_API_BASE")
        .or(file.api_base)
        .unwrap_or_else(|| finconn_providers::enablebanking::DEFAULT_API_BASE.to_owned());
    let api_base = match url::Url::parse(base.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.username().is_empty() => u,
        _ => return Err(invalid(BASE, "expected an http(s) URL without credentials")),
    };
    let countries: Vec<String> = match env("FINCONN_ENABLE_BANKING_COUNTRIES") {
        Some(v) => v.split(',').map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty()).collect(),
        None => file.countries.unwrap_or_default().into_iter().map(|c| c.trim().to_uppercase()).collect(),
    };
    if countries.iter().any(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(invalid(
            "enable_banking.countries (FINCONN_ENABLE_BANKING_COUNTRIES)",
            "expected ISO 3166 codes (FI,SE)",
        ));
    }
    let max_consent_days = match env("FINCONN_ENABLE_BANKING_MAX_CONSENT_DAYS") {
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            invalid("enable_banking.max_consent_days (FINCONN_ENABLE_BANKING_MAX_CONSENT_DAYS)", "expected days")
        })?),
        None => file.max_consent_days,
    };
    if max_consent_days.is_some_and(|d| !(1..=730).contains(&d)) {
        return Err(invalid("enable_banking.max_consent_days", "must be between 1 and 730"));
    }
    Ok(Some(EnableBankingConfig { application_id: id, private_key_pem: pem, api_base, countries, max_consent_days }))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_otel_endpoint_is_a_base_url_to_which_v1_traces_is_added_once() {
        let url =
            |e: &str| Config { otel_endpoint: Some(otel_endpoint(e).unwrap()), ..Config::default() }.otel_traces_url();
        assert_eq!(url("http://127.0.0.1:4318").as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(url("http://collector:4318/").as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(url("https://otel.example/base").as_deref(), Some("https://otel.example/base/v1/traces"));
        assert_eq!(url("http://collector:4318/v1/traces").as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(Config::default().otel_traces_url(), None);
    }

    #[test]
    fn an_otel_endpoint_with_credentials_or_another_scheme_is_refused_naming_the_key() {
        for bad in ["http://user:pass@collector:4318", "grpc://collector:4317", "collector:4318", "http://c/?x=1"] {
            let e = otel_endpoint(bad).unwrap_err().to_string();
            assert!(e.contains("otel_endpoint"), "{bad}: {e}");
        }
    }
}
