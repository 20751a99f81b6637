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
    let (addr, lines) = crate::helpers::listening(&mut child).await;
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

/// `finconn listen` registers the URL, prints the secret, and finconn delivers what `finconn trigger`
/// causes, signed with that secret; Ctrl-C removes the endpoint.
#[tokio::test]
async fn listen_and_trigger_work_like_the_stripe_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, _lines) = start(dir.path()).await;
    let base = format!("http://{addr}");
    let key = format!("sk_test_{}", finconn_core::ids::random_base62(20));

    let got: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let sink = got.clone();
    let rx = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", rx.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sig = headers["stripe-signature"].to_str().unwrap_or_default().to_owned();
                sink.lock().unwrap().push((sig, body));
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(rx, app).await });

    let mut listen = Command::new(BIN)
        .args(["listen", "--forward-to", &hook, "--api-key", &key, "--api-base", &base])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(listen.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await.unwrap().unwrap().unwrap();
    let secret =
        ready.strip_prefix("Ready! Your webhook signing secret is ").unwrap().split(' ').next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let trig = Command::new(BIN)
        .args(["trigger", "financial_connections.account.created", "--api-key", &key, "--api-base", &base])
        .output()
        .await
        .unwrap();
    assert!(trig.status.success(), "{}", String::from_utf8_lossy(&trig.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (sig, body) = got.lock().unwrap()[0].clone();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(v1, finconn_core::events::sign(&secret, t, body.as_bytes()));
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.starts_with("<-- [200]")) {
        let line = tokio::time::timeout(Duration::from_secs(20), out.next_line()).await.unwrap().unwrap().unwrap();
        printed.push(line);
    }
    assert!(printed.iter().any(|l| l.starts_with("--> financial_connections.account.created [evt_")), "{printed:?}");

    let bad = Command::new(BIN)
        .args(["trigger", "charge.succeeded", "--api-key", &key, "--api-base", &base])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());

    let pid = listen.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let mut rest = Vec::new();
    while let Ok(Some(l)) = out.next_line().await {
        rest.push(l);
    }
    assert!(rest.iter().any(|l| l.starts_with("Removed webhook endpoint")), "{rest:?}");
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/webhook_endpoints"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], serde_json::json!([]));
    sigterm(&server);
}

/// Every event `finconn trigger` offers is caused by it: the event shows up in the key's events.
#[tokio::test]
async fn every_trigger_causes_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, _lines) = start(dir.path()).await;
    let base = format!("http://{addr}");
    for (event, _) in finconn_server::cli::TRIGGERS {
        let key = format!("sk_test_{}", finconn_core::ids::random_base62(20));
        let trig =
            Command::new(BIN).args(["trigger", event, "--api-key", &key, "--api-base", &base]).output().await.unwrap();
        assert!(trig.status.success(), "{event}: {}", String::from_utf8_lossy(&trig.stderr));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let list: serde_json::Value = reqwest::Client::new()
                .get(format!("{base}/v1/events"))
                .query(&[("type", *event)])
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !list["data"].as_array().unwrap().is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{event} never happened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Live connectors' master key: on SQLite, generated on first start beside the database (mode 0600) and
/// reused on the next; it is never printed.
#[tokio::test]
async fn sqlite_generates_its_master_key_beside_the_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || async {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env_remove("FINCONN_DATABASE_URL")
            .env_remove("FINCONN_MASTER_KEY")
            .env_remove("FINCONN_MASTER_KEY_FILE")
            .env("FINCONN_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        sigterm(&child);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let log = run().await;
    let key_file = dir.path().join("finconn.db.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64, "64 hex digits");
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!log.contains(key.trim()), "the key is never logged");
    run().await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "the next start reuses it");
}

/// On PostgreSQL every process must share one key, so none is invented: start-up stops and says what to set.
#[tokio::test]
async fn postgres_without_a_master_key_refuses_to_start_and_says_what_to_set() {
    let url = crate::helpers::postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &url])
        .current_dir(dir.path())
        .env_remove("FINCONN_MASTER_KEY")
        .env_remove("FINCONN_MASTER_KEY_FILE")
        .env_remove("FINCONN_SIMPLEFIN_BRIDGE")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FINCONN_MASTER_KEY") && err.contains("PostgreSQL"), "{err}");
    // Turning live connectors off is the other way out.
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &url])
        .current_dir(dir.path())
        .env_remove("FINCONN_MASTER_KEY")
        .env("FINCONN_SIMPLEFIN_BRIDGE", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(first.starts_with("finconn listening on"), "{first}");
    sigterm(&child);
    assert!(child.wait_with_output().await.unwrap().status.success());
}

#[tokio::test]
async fn master_key_generate_prints_a_fresh_key() {
    let a = Command::new(BIN).args(["master-key", "generate"]).output().await.unwrap();
    let b = Command::new(BIN).args(["master-key", "generate"]).output().await.unwrap();
    let (a, b) = (String::from_utf8(a.stdout).unwrap(), String::from_utf8(b.stdout).unwrap());
    assert_eq!(a.trim().len(), 64);
    assert_ne!(a, b);
}

#[tokio::test]
async fn keys_show_publishable_prints_the_derived_publishable_key() {
    let out = Command::new(BIN).args(["keys", "show-publishable", "sk_test_abc"]).output().await.unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        finconn_core::keys::sandbox_publishable_key("sk_test_abc")
    );
    let bad = Command::new(BIN).args(["keys", "show-publishable", "pk_test_abc"]).output().await.unwrap();
    assert!(!bad.status.success());
}

/// `finconn sandbox post-transaction` adds a transaction that the account's next refresh lists;
/// `settle-transaction` posts it; a refused call exits non-zero with Stripe's message.
#[tokio::test]
async fn sandbox_commands_script_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, _lines) = start(dir.path()).await;
    let base = format!("http://{addr}");
    let key = format!("sk_test_{}", finconn_core::ids::random_base62(20));
    let http = reqwest::Client::new();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let r = http.post(format!("{base}{path}")).bearer_auth(&key).form(&form).send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let cus = post("/v1/customers".into(), vec![]).await;
    let s = post(
        "/v1/financial_connections/sessions".into(),
        vec![
            ("account_holder[type]", "customer".into()),
            ("account_holder[customer]", cus["id"].as_str().unwrap().into()),
            ("permissions[]", "transactions".into()),
        ],
    )
    .await;
    let done = post(
        format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
        vec![("institution", "fcinst_TestInstitution".into()), ("accounts[]", "Success".into())],
    )
    .await;
    let acct = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();

    let run = |args: Vec<String>| {
        let (key, base) = (key.clone(), base.clone());
        async move {
            Command::new(BIN)
                .arg("sandbox")
                .args(&args)
                .args(["--api-key", &key, "--api-base", &base])
                .output()
                .await
                .unwrap()
        }
    };
    let out = run(vec![
        "post-transaction".into(),
        acct.clone(),
        "--amount".into(),
        "-2500".into(),
        "--description".into(),
        "BOOKS".into(),
        "--pending".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let txn: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((txn["amount"].as_i64(), txn["status"].as_str()), (Some(-2500), Some("pending")));
    let txn_id = txn["id"].as_str().unwrap().to_owned();

    let out = run(vec!["settle-transaction".into(), acct.clone(), txn_id.clone()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    post(format!("/v1/financial_connections/accounts/{acct}/refresh"), vec![("features[]", "transactions".into())])
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .get(format!("{base}/v1/financial_connections/transactions/{txn_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            let t: serde_json::Value = r.json().await.unwrap();
            assert_eq!((t["status"].as_str(), t["description"].as_str()), (Some("posted"), Some("BOOKS")));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the refresh never listed the transaction");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let refused = run(vec!["settle-transaction".into(), acct.clone(), txn_id.clone(), "--void".into()]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only a pending transaction can change status"));
    let out =
        run(vec!["downtime".into(), "fcinst_TestInstitution".into(), "--kind".into(), "unscheduled".into()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inst: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inst["status"], "down");
    let out = run(vec!["end-downtime".into(), "fcinst_TestInstitution".into()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    sigterm(&server);
}
