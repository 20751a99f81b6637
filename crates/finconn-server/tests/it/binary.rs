//! The `finconn` binary itself: start-up output, `migrate`, `keys create`, graceful shutdown.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_finconn");

async fn start(dir: &std::path::Path) -> (Child, String, tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("FINCONN_DATABASE_URL")
        .env_remove("FINCONN_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = first.strip_prefix("finconn listening on http://").expect("first line says where it listens").to_owned();
    (child, addr, lines)
}

fn sigterm(child: &Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

#[tokio::test]
async fn serve_defaults_to_finconn_db_in_the_working_directory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _addr, mut lines) = start(dir.path()).await;
    let db_line = lines.next_line().await.unwrap().unwrap();
    let expected = dir.path().canonicalize().unwrap().join("finconn.db");
    assert_eq!(db_line, format!("database: SQLite {}", expected.display()));
    let keys_line = lines.next_line().await.unwrap().unwrap();
    assert!(keys_line.contains("sk_test_"), "{keys_line}");
    assert!(expected.exists());
    sigterm(&child);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
}

/// SIGTERM while a request is half sent: the request still completes, then the process exits cleanly.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, mut lines) = start(dir.path()).await;
    let body = "email=inflight%40example.com";
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer sk_test_shutdown1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("inflight@example.com"));
    // New connections are refused once shutdown began; the process then exits on its own.
    let mut rest = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push(l);
    }
    assert!(rest.iter().any(|l| l == "finconn stopped"), "{rest:?}");
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
}

#[tokio::test]
async fn keys_create_prints_a_registered_pair_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    for _ in 0..2 {
        let out = Command::new(BIN).args(["migrate", "--database", &db]).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(BIN).args(["keys", "create", "--live", "--database", &db]).output().await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let (acct, sk, pk) = (field("account:"), field("secret key:"), field("publishable key:"));
    assert!(acct.starts_with("acct_") && sk.starts_with("sk_live_") && pk.starts_with("pk_live_"), "{text}");
    let raw = std::fs::read(dir.path().join("k.db")).unwrap();
    let needle = sk.as_bytes();
    assert!(!raw.windows(needle.len()).any(|w| w == needle), "the key itself is never stored");
    let bad =
        Command::new(BIN).args(["keys", "create", "--account", "acct_nope", "--database", &db]).output().await.unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn invalid_configuration_names_the_key() {
    let out = Command::new(BIN).args(["serve", "--listen", "not-an-address"]).output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid listen"), "{err}");
    let out = Command::new(BIN).args(["migrate"]).env("FINCONN_SANDBOX_KEYS", "maybe").output().await.unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("sandbox_keys"));
}
