//! `GET /readyz`: ready when the database answers and holds exactly this build's migrations; 503 naming
//! the problem otherwise. The probe writes nothing.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sqlx::Connection;

use crate::helpers::{postgres_url, Backend, TestApp};

async fn readyz(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/json");
    (status, r.json().await.unwrap())
}

/// Records a migration this build does not carry, as a newer finconn's `migrate` would have.
const NEWER: i64 = 99_990_101_000_000;
const INSERT_NEWER: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                            VALUES ($1, 'from a newer finconn', TRUE, $2, 0)";

async fn ready_when_the_database_answers_and_migrations_are_current(app: TestApp) {
    let (status, body) = readyz(&app.base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert!(body["migrations"]["latest"].as_i64().unwrap() >= 9, "{body}");
    assert_eq!(body["migrations"]["pending"], serde_json::json!([]));
    assert_eq!(body["migrations"]["unknown"], serde_json::json!([]));
    // Nothing about where the database is or who connects to it.
    let text = body.to_string();
    assert!(!text.contains("postgres") && !text.contains("sqlite") && !text.contains(".db"), "{text}");
}

crate::on_both_backends!(ready_when_the_database_answers_and_migrations_are_current);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_when_sqlite_holds_a_migration_newer_than_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(readyz(&app.base).await.0, 200);
    let mut c = sqlx::SqliteConnection::connect(&app.state.config.database_url).await.unwrap();
    sqlx::query(INSERT_NEWER).bind(NEWER).bind(vec![0u8; 48]).execute(&mut c).await.unwrap();
    let (status, body) = readyz(&app.base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reasons"], serde_json::json!(["migrations_unknown"]));
    assert_eq!(body["migrations"]["unknown"], serde_json::json!([NEWER]));
    assert!(body["message"].as_str().unwrap().contains("newer"), "{body}");
}

/// A SQLite database whose newest migration row is gone (as if this build were newer than the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_when_sqlite_lacks_a_migration_of_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut c = sqlx::SqliteConnection::connect(&app.state.config.database_url).await.unwrap();
    let (latest,): (i64,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut c).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(latest).execute(&mut c).await.unwrap();
    let (status, body) = readyz(&app.base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reasons"], serde_json::json!(["migrations_pending"]));
    assert_eq!(body["migrations"]["pending"], serde_json::json!([latest]));
}

/// `postgres://user@host:port/db?x` → (`postgres://user@`, `host:port`, `/db?x`).
fn split_postgres_url(url: &str) -> (String, String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let host_start = rest.rfind('@').map_or(0, |at| at + 1);
    let path_start = rest[host_start..].find('/').map_or(rest.len(), |p| host_start + p);
    let mut host = rest[host_start..path_start].to_owned();
    if !host.contains(':') {
        host.push_str(":5432");
    }
    (format!("{}{}", &url[..scheme_end], &rest[..host_start]), host, rest[path_start..].to_owned())
}

/// A PostgreSQL database of its own (the shared test database must never hold an unknown migration: every
/// other test's `migrate` would refuse it), dropped at the end.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create() -> Self {
        let admin_url = postgres_url().await;
        let name = format!("finconn_ready_{}", finconn_core::ids::random_base62(10).to_lowercase());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let (prefix, host, path) = split_postgres_url(&admin_url);
        let query = path.find('?').map_or("", |q| &path[q..]);
        let url = format!("{prefix}{host}/{name}{query}");
        Self { admin_url, name, url }
    }

    async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_when_postgres_holds_a_migration_newer_than_the_binary() {
    let scratch = ScratchDatabase::create().await;
    let url = scratch.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.database_url = url).await;
    assert_eq!(readyz(&app.base).await.0, 200);
    let mut c = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    sqlx::query(INSERT_NEWER).bind(NEWER).bind(vec![0u8; 48]).execute(&mut c).await.unwrap();
    let (status, body) = readyz(&app.base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reasons"], serde_json::json!(["migrations_unknown"]));
    assert_eq!(body["migrations"]["unknown"], serde_json::json!([NEWER]));
    c.close().await.unwrap();
    app.db.close().await;
    scratch.drop().await;
}

/// A TCP relay on 127.0.0.1 to PostgreSQL that can be cut: then its port is closed and every connection
/// through it is gone, as when the database server stops.
struct Relay {
    addr: std::net::SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let registry = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(relay);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { addr, tasks }
    }

    /// Closes the listening port and every relayed connection.
    async fn cut(&self) {
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap());
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_when_the_postgres_server_is_unreachable() {
    let url = postgres_url().await;
    let (prefix, host, path) = split_postgres_url(&url);
    assert!(host.starts_with("127.") || host.starts_with("localhost"), "tests reach loopback only: {host}");
    let relay = Relay::start(host).await;
    let through_relay = format!("{prefix}{}{path}", relay.addr);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.database_url = through_relay).await;
    let (status, body) = readyz(&app.base).await;
    assert_eq!(status, 200, "{body}");

    relay.cut().await;
    let started = std::time::Instant::now();
    for _ in 0..2 {
        // The first probe finds its pooled connection dead; the next finds the port closed.
        let (status, body) = readyz(&app.base).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["reasons"], serde_json::json!(["database_unreachable"]));
        assert_eq!(body["database"], "unreachable");
        let text = body.to_string();
        assert!(!text.contains(&relay.addr.port().to_string()) && !text.contains("postgres"), "{text}");
    }
    assert!(
        started.elapsed() < finconn_server::health::READY_TIMEOUT * 2 + std::time::Duration::from_secs(2),
        "each probe answers within its deadline"
    );
}
