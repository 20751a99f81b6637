//! The `finconn` command.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use finconn_core::{Finconn, Settings, SystemClock};
use finconn_server::config::{Config, Overrides};
use finconn_server::{startup, telemetry};

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
    },
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
    Ok(Config::load(&Overrides { config_file, listen, database_url: database })?)
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
        Command::Serve { listen, database } => {
            let config = load(cli.config, listen, database)?;
            telemetry::init(config.log_json);
            let listen = config.listen;
            let (app, db) = startup::build(config).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr()?;
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
            println!("finconn stopped");
            Ok(())
        }
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
        Command::Trigger { event, api_key, api_base } => {
            let api = finconn_server::cli::Api::new(&api_base, &api_key)?;
            finconn_server::cli::trigger(&api, &event).await
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
