//! `TestApp`: a finconn server on a random port, on SQLite or PostgreSQL, with typed request helpers.

use std::sync::Arc;

use finconn_core::{ManualClock, SystemClock};
use finconn_server::config::Config;
use finconn_server::startup::{self, AppState};
use finconn_store::Db;
use reqwest::header::HeaderMap;
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL the tests use: `FINCONN_TEST_DATABASE_URL`, default the local server's `finconn_test`
/// database (created when missing). There is no silent skip: without PostgreSQL these tests fail.
pub async fn postgres_url() -> String {
    if let Ok(url) = std::env::var("FINCONN_TEST_DATABASE_URL") {
        return url;
    }
    static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CREATED
        .get_or_init(|| async {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
                .await
                .expect("PostgreSQL must run at 127.0.0.1:5432 (user postgres, trust auth) for these tests");
            // Another test binary may create it at the same moment: "already exists" is fine.
            let _ = sqlx::query("CREATE DATABASE finconn_test").execute(&mut admin).await;
        })
        .await;
    "postgres://postgres@127.0.0.1:5432/finconn_test".to_owned()
}

/// A database for one test alone, for a test whose work reaches every tenant's rows (a prune, a running job
/// runner): on PostgreSQL the URL of `name`, emptied first (a fixed name per test, so no run leaves one
/// behind), since the other tests share `postgres_url()`'s database and would see that work, or do it to
/// this test; on SQLite `None`, as every `TestApp` has a file of its own.
pub async fn own_database(backend: Backend, name: &str) -> Option<String> {
    use sqlx::Connection;
    if matches!(backend, Backend::Sqlite) {
        return None;
    }
    let shared = postgres_url().await;
    let mut admin = sqlx::PgConnection::connect(&shared).await.expect("connect to the shared database");
    for statement in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        sqlx::query(&statement).execute(&mut admin).await.expect("a database of its own");
    }
    let (base, _) = shared.rsplit_once('/').expect("a database URL ends with its name");
    Some(format!("{base}/{name}"))
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.<field>` of an error body.
    pub fn error(&self, field: &str) -> &Value {
        &self.body["error"][field]
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.body);
        self.body
    }
}

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub state: AppState,
    /// The server's database, for tests that write states the API cannot produce (old data).
    pub db: Db,
    /// The server's clock: tests set and advance it; it never moves by itself.
    pub clock: Arc<ManualClock>,
    client: reqwest::Client,
    _dir: Arc<tempfile::TempDir>,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

pub fn random_key() -> String {
    format!("sk_test_{}", finconn_core::ids::random_base62(24))
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// `spawn` with settings changed by `configure`.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("finconn.db").display()),
            Backend::Postgres => postgres_url().await,
        };
        // Jobs run when a test says so (`run_jobs`), on a clock that moves when a test says so.
        let mut config = Config { database_url, run_jobs: false, ..Config::default() };
        configure(&mut config);
        let db = Db::connect(&config.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let clock = Arc::new(ManualClock::new(finconn_core::Clock::now(&SystemClock)));
        let state = AppState::new(config, db.clone(), clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(startup::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            key: random_key(),
            state,
            db,
            clock,
            client: reqwest::Client::new(),
            _dir: Arc::new(dir),
            _shutdown: Arc::new(tx),
        }
    }

    /// The same server, another key (another tenant when the key is a fresh sandbox key).
    pub fn with_key(&self, key: &str) -> TestApp {
        TestApp {
            base: self.base.clone(),
            key: key.to_owned(),
            state: self.state.clone(),
            db: self.db.clone(),
            clock: self.clock.clone(),
            client: self.client.clone(),
            _dir: self._dir.clone(),
            _shutdown: self._shutdown.clone(),
        }
    }

    /// Runs every due job (refreshes, subscription ticks) to the end, as the job runner would.
    /// Runs every due job of this key's account (other tests share the PostgreSQL database), events'
    /// fan-out and webhook deliveries included, and returns how many refresh and subscription jobs ran.
    pub async fn run_jobs(&self) -> usize {
        use finconn_core::model::JobKind;
        self.run_all_jobs()
            .await
            .iter()
            .filter(|k| !matches!(k, JobKind::FanoutEvent { .. } | JobKind::DeliverWebhook { .. }))
            .count()
    }

    /// Runs every due job of this key's account and returns their kinds.
    pub async fn run_all_jobs(&self) -> Vec<finconn_core::model::JobKind> {
        let key = finconn_core::keys::ApiKey::parse(&self.key).expect("key");
        let caller = self.state.core.authenticate(&key).await.expect("auth").expect("known key");
        finconn_server::jobs::drain(&self.state, Some(&caller.scope.account)).await
    }

    pub fn publishable_key(&self) -> String {
        finconn_core::keys::sandbox_publishable_key(&self.key)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, headers, body }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key)
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(self.request(reqwest::Method::POST, path).form(form)).await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path_and_query: &str) -> Resp {
        self.send(self.request(reqwest::Method::GET, path_and_query)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn create_customer(&self, form: &[(&str, &str)]) -> Value {
        self.post("/v1/customers", form).await.ok()
    }

    pub async fn create_session(&self, form: &[(&str, &str)]) -> Resp {
        self.post("/v1/financial_connections/sessions", form).await
    }

    /// A session for a fresh customer with the given permissions.
    pub async fn customer_session(&self, extra: &[(&str, &str)]) -> Value {
        let cus = self.create_customer(&[]).await;
        let id = cus["id"].as_str().expect("id").to_owned();
        let mut form = vec![
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", id.as_str()),
            ("permissions[]", "balances"),
        ];
        form.extend_from_slice(extra);
        self.create_session(&form).await.ok()
    }
}

/// Runs each listed test against SQLite and against PostgreSQL: `mod sqlite { fn t() }`,
/// `mod postgres { fn t() }`.
#[macro_export]
macro_rules! on_both_backends {
    (@backend $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// A finconn with live mode on: a master key, the SimpleFIN connector offering the SimpleFIN server at
/// `simplefin_root` (a local fake, so loopback is allowed), and a registered live key pair.
pub struct LiveApp {
    pub app: TestApp,
    pub pk: String,
    pub db_file: Option<std::path::PathBuf>,
}

impl LiveApp {
    pub async fn spawn(backend: Backend, simplefin_root: &str, allow_loopback: bool) -> LiveApp {
        let root = simplefin_root.to_owned();
        Self::spawn_with(backend, move |c, _| {
            c.connector_allow_loopback = allow_loopback;
            c.simplefin_bridge = true;
            c.simplefin_servers = vec![("Fake SimpleFIN".into(), root)];
        })
        .await
    }

    /// A live finconn whose configuration `configure` completes; it gets the server's base URL (bound
    /// before the server is built, so it can be the public URL).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config, &str)) -> LiveApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_file = dir.path().join("finconn.db");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", db_file.display()),
            Backend::Postgres => postgres_url().await,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = Config {
            database_url,
            run_jobs: false,
            master_key: Some(finconn_core::vault::MasterKey::generate()),
            connector_timeout: std::time::Duration::from_secs(10),
            simplefin_bridge: false,
            ..Config::default()
        };
        configure(&mut config, &base);
        let db = Db::connect(&config.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let clock = Arc::new(ManualClock::new(finconn_core::Clock::now(&SystemClock)));
        let state = AppState::new(config, db.clone(), clock.clone());
        let keys = state.core.create_account_keys(true, Some("Live Shop".into()), None).await.expect("live keys");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(startup::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        let app = TestApp {
            base,
            key: keys.secret_key,
            state,
            db,
            clock,
            client: reqwest::Client::new(),
            _dir: Arc::new(dir),
            _shutdown: Arc::new(tx),
        };
        LiveApp { app, pk: keys.publishable_key, db_file: matches!(backend, Backend::Sqlite).then_some(db_file) }
    }
}

/// Calls `POST /link/api/{action}` as the iframe does: publishable key + client secret in headers.
pub async fn flow(app: &TestApp, pk: &str, secret: &str, action: &str, form: &[(&str, &str)]) -> Resp {
    let req = reqwest::Client::new()
        .post(format!("{}/link/api/{action}", app.base))
        .bearer_auth(pk)
        .header("Finconn-Client-Secret", secret)
        .form(form);
    app.send(req).await
}

/// A server with `config` (its database: a fresh SQLite file, jobs off) on real time; its address, and the
/// directory to keep alive.
pub async fn serve_with(config: Config) -> (std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config { database_url: format!("sqlite://{}", dir.path().join("f.db").display()), run_jobs: false, ..config };
    let db = Db::connect(&config.database_url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let state = AppState::new(config, db, Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(startup::serve(state, listener, std::future::pending()));
    (addr, dir)
}

/// `POST /v1/financial_connections/accounts/{id}/refresh` with `features`.
pub async fn refresh(app: &TestApp, id: &str, features: &[&str]) -> Resp {
    let form: Vec<(&str, &str)> = features.iter().map(|f| ("features[]", *f)).collect();
    app.post(&format!("/v1/financial_connections/accounts/{id}/refresh"), &form).await
}

/// Every transaction of an account, following the list's pages.
pub async fn all_transactions(app: &TestApp, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = format!("/v1/financial_connections/transactions?account={id}&limit=100");
        if let Some(a) = &after {
            q.push_str(&format!("&starting_after={a}"));
        }
        let page = app.get(&q).await.ok();
        let data = page["data"].as_array().unwrap().clone();
        after = data.last().map(|t| t["id"].as_str().unwrap().to_owned());
        out.extend(data);
        if page["has_more"] != true {
            return out;
        }
    }
}

/// The stdout lines of a spawned `finconn serve` and the address it listens on, read from its first line
/// ("finconn listening on http://…"), waiting at most 30 s for it.
pub async fn listening(
    child: &mut tokio::process::Child,
) -> (String, tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>) {
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().expect("finconn's stdout is piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("finconn says where it listens within 30 s")
        .expect("finconn's stdout can be read")
        .expect("finconn printed a first line");
    let addr = first.strip_prefix("finconn listening on http://").expect("first line says where it listens").to_owned();
    (addr, lines)
}
