//! The `finconn` command.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use finconn_core::{Finconn, Settings, SystemClock};
use finconn_server::config::{Config, Overrides};
use finconn_server::{startup, telemetry};

/// mimalloc instead of glibc's malloc: a request allocates and frees many small strings and JSON values
/// across worker threads; perf showed glibc's malloc and free at about a tenth of a retrieve's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "finconn", version, about = "A self-hosted Stripe Financial Connections server")]
struct Cli {
    /// Config file (default: ./finconn.toml when it exists). Env: FINCONN_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8420]. Env: FINCONN_LISTEN.
        #[arg(long)]
        listen: Option<String>,
        /// sqlite://PATH (default sqlite://finconn.db) or postgres://… Env: FINCONN_DATABASE_URL.
        #[arg(long)]
        database: Option<String>,
        /// A sandbox data file (TOML or JSON) whose institutions test mode serves; repeatable. Reloaded on
        /// SIGHUP. Env: FINCONN_SANDBOX_DATA (paths separated by ':').
        #[arg(long = "sandbox-data", value_name = "FILE")]
        sandbox_data: Vec<PathBuf>,
    },
    /// Validate sandbox data files, print the built-in catalogue or the format's JSON Schema.
    SandboxData {
        #[command(subcommand)]
        command: SandboxDataCommand,
    },
    /// Check the live connectors' configuration against their providers (Enable Banking: `GET /application`,
    /// the registered callback, the bank list) and exit non-zero on a problem.
    Doctor,
    /// Run the database migrations and exit.
    Migrate {
        #[arg(long)]
        database: Option<String>,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a one-time link that signs in to an account's dashboard (in one mode), or with --revoke-all sign
    /// every dashboard session of the account out.
    DashboardLink {
        /// The account (acct_…); it must exist.
        #[arg(long)]
        account: String,
        /// Which data the link opens: test or live.
        #[arg(long, default_value = "test", value_parser = ["test", "live"])]
        mode: String,
        /// How long the link can be used, in minutes (1 to 1440).
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=1440))]
        ttl_minutes: i64,
        /// Instead of a link: end every dashboard session of the account (and void its unused links).
        #[arg(long, conflicts_with_all = ["mode", "ttl_minutes"])]
        revoke_all: bool,
        #[arg(long)]
        database: Option<String>,
    },
    /// The master key that seals live connectors' credentials at rest.
    MasterKey {
        #[command(subcommand)]
        command: MasterKeyCommand,
    },
    /// Forward a test account's events to a local URL, printing the signing secret (like `stripe listen`).
    Listen {
        /// Where finconn should POST the events (must be reachable from the finconn server).
        #[arg(long)]
        forward_to: String,
        /// Only these event types (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// A test secret key (sk_test_…). Env: FINCONN_API_KEY.
        #[arg(long, env = "FINCONN_API_KEY")]
        api_key: String,
        /// The finconn server. Env: FINCONN_API_BASE.
        #[arg(long, env = "FINCONN_API_BASE", default_value = "http://127.0.0.1:8420")]
        api_base: String,
    },
    /// Script a test-mode account or institution through the sandbox test helpers.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
        /// A test secret key (sk_test_…). Env: FINCONN_API_KEY.
        #[arg(long, env = "FINCONN_API_KEY", global = true)]
        api_key: Option<String>,
        /// The finconn server. Env: FINCONN_API_BASE.
        #[arg(long, env = "FINCONN_API_BASE", default_value = "http://127.0.0.1:8420", global = true)]
        api_base: String,
    },
    /// Cause an event in test mode by creating the objects behind it (like `stripe trigger`).
    Trigger {
        /// The event type, e.g. financial_connections.account.created.
        event: String,
        #[arg(long, env = "FINCONN_API_KEY")]
        api_key: String,
        #[arg(long, env = "FINCONN_API_BASE", default_value = "http://127.0.0.1:8420")]
        api_base: String,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Add a transaction the account's institution lists from its next transaction refresh on.
    PostTransaction {
        /// The linked account (fca_…).
        account: String,
        /// Minor units; negative for money leaving the account.
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        #[arg(long)]
        description: String,
        /// Add it pending (default: posted).
        #[arg(long)]
        pending: bool,
        /// Unix time (default: now).
        #[arg(long)]
        transacted_at: Option<i64>,
    },
    /// A pending transaction added with post-transaction posts (or, with --void, is voided).
    SettleTransaction {
        account: String,
        transaction: String,
        #[arg(long)]
        void: bool,
    },
    /// The account's next refreshes of a feature end so: succeeded, failed or pending (held).
    RefreshOutcome {
        account: String,
        /// balance, ownership or transactions.
        #[arg(long)]
        feature: String,
        /// succeeded, failed or pending.
        #[arg(long)]
        outcome: String,
    },
    /// The balance the account's institution reports from its next balance refresh on (minor units).
    SetBalance {
        account: String,
        #[arg(long, allow_hyphen_values = true)]
        current: i64,
        #[arg(long, allow_hyphen_values = true)]
        available: Option<i64>,
    },
    /// Take a sandbox institution down for this account's test mode (scheduled needs --until).
    Downtime {
        institution: String,
        /// scheduled, unscheduled or error.
        #[arg(long)]
        kind: String,
        /// Unix time the scheduled downtime ends.
        #[arg(long)]
        until: Option<i64>,
    },
    /// End a downtime started with `finconn sandbox downtime`.
    EndDowntime { institution: String },
    /// Deliver an event again to one webhook endpoint.
    Resend {
        event: String,
        #[arg(long)]
        webhook_endpoint: String,
    },
}

#[derive(Subcommand)]
enum MasterKeyCommand {
    /// Print a new random master key (64 hex digits) for FINCONN_MASTER_KEY.
    Generate,
    /// Re-seal every stored credential with the current master key. Run after a rotation, with the new key
    /// as FINCONN_MASTER_KEY and the old one in FINCONN_PREVIOUS_MASTER_KEYS; then drop the old key.
    Reseal {
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum SandboxDataCommand {
    /// Load the files as `finconn serve --sandbox-data` would (with the built-in catalogue, for id clashes)
    /// and print what they hold, or every problem as file:line:column: field: message (exit status 1).
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Check the files on their own, without the built-in catalogue.
        #[arg(long)]
        without_builtin: bool,
    },
    /// Print the built-in catalogue in the sandbox data format (a starting point for your own files).
    Builtin {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of sandbox data files (schema/sandbox-data.schema.json).
    Schema,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print the publishable key of a sandbox secret key (`sk_test_…`): derived one way from it.
    ShowPublishable { secret_key: String },
    /// Create an account with a new key pair and print it (test mode unless --live).
    Create {
        #[arg(long)]
        live: bool,
        /// The account's display name (shown to end users in the link flow).
        #[arg(long)]
        name: Option<String>,
        /// Add the key pair to this existing account (e.g. live keys beside its test keys).
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        database: Option<String>,
    },
}

fn load(config_file: Option<PathBuf>, listen: Option<String>, database: Option<String>) -> anyhow::Result<Config> {
    Ok(Config::load(&Overrides { config_file, listen, database_url: database, sandbox_data: Vec::new() })?)
}

fn sandbox_data(command: SandboxDataCommand) -> anyhow::Result<()> {
    use finconn_providers::Sandbox;
    match command {
        SandboxDataCommand::Check { files, without_builtin } => {
            let sum = Sandbox::from_files(!without_builtin, &files)?.summary();
            let builtin = if without_builtin { Default::default() } else { Sandbox::load()?.summary() };
            println!(
                "ok: {} institution(s) from {} file(s), {} account(s), {} listed transaction(s), {} series{}",
                sum.institutions - builtin.institutions,
                files.len(),
                sum.accounts - builtin.accounts,
                sum.listed_transactions - builtin.listed_transactions,
                sum.series - builtin.series,
                if without_builtin {
                    String::new()
                } else {
                    format!(" (besides the {} built-in institutions)", builtin.institutions)
                }
            );
            Ok(())
        }
        SandboxDataCommand::Builtin { json } => {
            print!("{}", Sandbox::load()?.to_document(json));
            Ok(())
        }
        SandboxDataCommand::Schema => {
            print!("{}", finconn_providers::scenario::doc::json_schema());
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finconn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen, database, sandbox_data } => {
            let mut config =
                Config::load(&Overrides { config_file: cli.config, listen, database_url: database, sandbox_data })?;
            let traces_url = config.otel_traces_url();
            let telemetry =
                telemetry::init(config.log_json, traces_url.as_deref().map(|u| (u, config.otel_service_name.as_str())));
            let listen = config.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr()?;
            // The address actually bound (port 0 picks one): the default public URL is built from it.
            config.listen = addr;
            let (app, db) = startup::build(config).await?;
            let shutdown = startup::shutdown_signal();
            println!("finconn listening on http://{addr}");
            println!("database: {}", db.describe());
            if app.config.sandbox_keys {
                println!("keys: test mode works with any key of the form sk_test_<letters/digits> (its publishable key: `finconn keys show-publishable sk_test_…`);");
            } else {
                println!("keys: sandbox keys are off;");
            }
            println!("      create registered keys with `finconn keys create [--live]`.");
            startup::serve(app, listener, shutdown).await?;
            db.close().await;
            // The spans of the last requests and jobs: sent before the process ends (bounded).
            telemetry.shutdown().await;
            println!("finconn stopped");
            Ok(())
        }
        Command::SandboxData { command } => sandbox_data(command),
        Command::MasterKey { command: MasterKeyCommand::Generate } => {
            println!("{}", finconn_core::vault::MasterKey::generate().to_hex().as_str());
            Ok(())
        }
        Command::MasterKey { command: MasterKeyCommand::Reseal { database } } => {
            let mut config = load(cli.config, None, database)?;
            startup::load_master_key(&mut config)?;
            let key = config.master_key.clone().ok_or_else(|| anyhow::anyhow!("no master key is configured"))?;
            let vault = finconn_core::vault::Vault::new(key, config.previous_master_keys.clone());
            let db = startup::open_database(&config).await?;
            let core =
                Finconn::new(Arc::new(db.clone()), Arc::new(SystemClock), Settings::default()).with_vault(Some(vault));
            let n = core.reseal_credentials().await?;
            println!(
                "re-sealed {n} credential(s) with master key {}",
                core.vault.as_ref().map(|v| v.current_key_id()).unwrap_or("")
            );
            db.close().await;
            Ok(())
        }
        Command::Doctor => {
            let config = load(cli.config, None, None)?;
            doctor(&config).await
        }
        Command::Migrate { database } => {
            let config = load(cli.config, None, database)?;
            let db = startup::open_database(&config).await?;
            println!("migrated {}", db.describe());
            db.close().await;
            Ok(())
        }
        Command::Listen { forward_to, events, api_key, api_base } => {
            let api = finconn_server::cli::Api::new(&api_base, &api_key)?;
            finconn_server::cli::listen(&api, &forward_to, &events).await
        }
        Command::Sandbox { command, api_key, api_base } => {
            let key = api_key.ok_or_else(|| anyhow::anyhow!("give --api-key (or FINCONN_API_KEY): a sk_test_ key"))?;
            let api = finconn_server::cli::Api::new(&api_base, &key)?;
            let helpers = "/v1/test_helpers/financial_connections";
            let (method, path, form): (reqwest::Method, String, Vec<(&str, String)>) = match command {
                SandboxCommand::PostTransaction { account, amount, description, pending, transacted_at } => {
                    let mut form = vec![
                        ("amount", amount.to_string()),
                        ("description", description),
                        ("status", if pending { "pending" } else { "posted" }.to_owned()),
                    ];
                    form.extend(transacted_at.map(|t| ("transacted_at", t.to_string())));
                    (reqwest::Method::POST, format!("{helpers}/accounts/{account}/transactions"), form)
                }
                SandboxCommand::SettleTransaction { account, transaction, void } => {
                    let to = if void { "void" } else { "post" };
                    (reqwest::Method::POST, format!("{helpers}/accounts/{account}/transactions/{transaction}/{to}"), vec![])
                }
                SandboxCommand::RefreshOutcome { account, feature, outcome } => (
                    reqwest::Method::POST,
                    format!("{helpers}/accounts/{account}/refresh_outcome"),
                    vec![("feature", feature), ("outcome", outcome)],
                ),
                SandboxCommand::SetBalance { account, current, available } => {
                    let mut form = vec![("current", current.to_string())];
                    form.extend(available.map(|a| ("available", a.to_string())));
                    (reqwest::Method::POST, format!("{helpers}/accounts/{account}/balance"), form)
                }
                SandboxCommand::Downtime { institution, kind, until } => {
                    let mut form = vec![("kind", kind)];
                    form.extend(until.map(|u| ("until", u.to_string())));
                    (reqwest::Method::POST, format!("{helpers}/institutions/{institution}/downtime"), form)
                }
                SandboxCommand::EndDowntime { institution } => {
                    (reqwest::Method::DELETE, format!("{helpers}/institutions/{institution}/downtime"), vec![])
                }
                SandboxCommand::Resend { event, webhook_endpoint } => (
                    reqwest::Method::POST,
                    format!("/v1/test_helpers/events/{event}/resend"),
                    vec![("webhook_endpoint", webhook_endpoint)],
                ),
            };
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = api.request(method, &path, &form).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        Command::Trigger { event, api_key, api_base } => {
            let api = finconn_server::cli::Api::new(&api_base, &api_key)?;
            finconn_server::cli::trigger(&api, &event).await
        }
        Command::DashboardLink { account, mode, ttl_minutes, revoke_all, database } => {
            let config = load(cli.config, None, database)?;
            let db = startup::open_database(&config).await?;
            let core = Finconn::new(Arc::new(db.clone()), Arc::new(SystemClock), Settings::default());
            let link = finconn_server::cli::DashboardLink { account, livemode: mode == "live", ttl_minutes, revoke_all };
            let done = finconn_server::cli::dashboard_link(&core, &config.public_base(), &link).await;
            db.close().await;
            done
        }
        Command::Keys { command: KeysCommand::ShowPublishable { secret_key } } => {
            match finconn_core::keys::ApiKey::parse(secret_key.trim()) {
                Some(k) if k.kind == finconn_core::keys::KeyKind::Secret && !k.livemode => {
                    println!("{}", finconn_core::keys::sandbox_publishable_key(k.expose()));
                    Ok(())
                }
                _ => Err(anyhow::anyhow!(
                    "expected a sandbox secret key (sk_test_…); registered keys print their publishable key when created"
                )),
            }
        }
        Command::Keys { command: KeysCommand::Create { live, name, account, database } } => {
            let config = load(cli.config, None, database)?;
            let db = startup::open_database(&config).await?;
            let core = Finconn::new(Arc::new(db.clone()), Arc::new(SystemClock), Settings::default());
            let keys = core.create_account_keys(live, name, account.as_deref()).await?;
            println!("account:         {}", keys.account);
            println!("secret key:      {}", keys.secret_key);
            println!("publishable key: {}", keys.publishable_key);
            println!("(the secret key is shown only now; finconn stores a hash of it)");
            db.close().await;
            Ok(())
        }
    }
}

/// `finconn doctor`: what an operator checks before the first live link.
async fn doctor(config: &finconn_server::config::Config) -> anyhow::Result<()> {
    let mut problems = 0;
    let Some(eb) = &config.enable_banking else {
        println!("Enable Banking: not configured (set enable_banking.application_id and private_key_file)");
        return Ok(());
    };
    let callback = format!("{}/link/oauth/callback", config.public_base());
    println!("Enable Banking: application {} at {}", eb.application_id, eb.api_base);
    let http = finconn_providers::outbound::Outbound::new(finconn_providers::outbound::Policy {
        allow_loopback: config.connector_allow_loopback,
        timeout: config.connector_timeout,
        ..Default::default()
    })?;
    let settings = finconn_providers::enablebanking::Settings {
        application_id: eb.application_id.clone(),
        private_key_pem: eb.private_key_pem.clone(),
        api_base: eb.api_base.clone(),
        redirect_url: callback.clone(),
        countries: eb.countries.clone(),
        max_consent_seconds: None,
    };
    let client = finconn_providers::enablebanking::EnableBanking::new(settings, http)?;
    match client.application().await {
        Ok(app) => {
            println!(
                "  application: {} ({}), active: {}",
                app.name.as_deref().unwrap_or("?"),
                app.environment.as_deref().unwrap_or("?"),
                app.active.map_or("?".to_owned(), |a| a.to_string())
            );
            println!("  countries: {}", app.countries.join(", "));
            if app.redirect_urls.iter().any(|u| u.trim_end_matches('/') == callback) {
                println!("  callback {callback}: registered");
            } else {
                problems += 1;
                println!("  callback {callback}: NOT registered; add it to the application's redirect URLs (or set public_url)");
            }
        }
        Err(e) => {
            problems += 1;
            println!("  GET /application failed: {e}");
        }
    }
    match finconn_core::connector::Connector::refresh_institutions(&client).await {
        Ok(n) => println!("  banks offered: {n}"),
        Err(e) => {
            problems += 1;
            println!("  listing banks failed: {e}");
        }
    }
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    println!("ok");
    Ok(())
}
