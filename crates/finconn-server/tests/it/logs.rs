//! JSON logs of the real binary: every line of a request carries its `request_id` (the `Request-Id` the
//! client got) and, once the key is known, its `account`; no line carries a key.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_finconn");

#[tokio::test]
async fn json_log_lines_carry_the_request_id_and_the_account_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env_remove("FINCONN_LISTEN")
        .env("FINCONN_LOG_FORMAT", "json")
        .env("FINCONN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (addr, _stdout) = crate::helpers::listening(&mut child).await;
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut all = String::new();
        stderr.read_to_string(&mut all).await.unwrap();
        all
    });
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let key = format!("sk_test_{}", finconn_core::ids::random_base62(24));
    let other = format!("sk_test_{}", finconn_core::ids::random_base62(24));

    let created =
        http.post(format!("{base}/v1/customers")).basic_auth(&key, Some("")).form(&[("email", "a@example.com")]);
    let created = created.send().await.unwrap();
    assert_eq!(created.status(), 200);
    let created_id = created.headers()["request-id"].to_str().unwrap().to_owned();
    // An error response: the customer does not exist.
    let missing = http.get(format!("{base}/v1/customers/cus_nothere")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let missing_id = missing.headers()["request-id"].to_str().unwrap().to_owned();
    let another = http.get(format!("{base}/v1/customers")).bearer_auth(&other).send().await.unwrap();
    let another_id = another.headers()["request-id"].to_str().unwrap().to_owned();
    // A key that names no account: its lines have a request id and no account.
    let refused = http.get(format!("{base}/v1/customers")).bearer_auth("sk_live_unknownkey123").send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().await.unwrap().success());
    let logs = tokio::time::timeout(Duration::from_secs(10), stderr).await.unwrap().unwrap();

    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for secret in [key.as_str(), other.as_str(), "sk_live_unknownkey123"] {
        assert!(!logs.contains(secret), "a key reached the logs");
    }
    assert!(!logs.contains("Bearer ") && !logs.contains("Basic "), "no Authorization header value in the logs");
    let of = |id: &str| lines.iter().filter(|l| l["request_id"] == id).cloned().collect::<Vec<_>>();
    let account_of = |id: &str| {
        let mine = of(id);
        assert!(!mine.is_empty(), "no line carries {id}:\n{logs}");
        for l in &mine {
            assert_eq!(l["span"], "request", "{l}");
            assert!(l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string(), "{l}");
        }
        let accounts: Vec<&Value> = mine.iter().map(|l| &l["account"]).collect();
        let account = accounts[0].as_str().unwrap_or_else(|| panic!("no account on {}", mine[0])).to_owned();
        assert!(account.starts_with("acct_"), "{account}");
        assert!(accounts.iter().all(|a| *a == &Value::String(account.clone())), "{mine:?}");
        (account, mine)
    };
    let (account, created_lines) = account_of(&created_id);
    assert!(created_lines.iter().any(|l| l["message"] == "finished" && l["status"] == 200), "{created_lines:?}");
    let (same, missing_lines) = account_of(&missing_id);
    assert_eq!(same, account, "one key, one account");
    assert!(missing_lines.iter().any(|l| l["status"] == 404 && l["path"] == "/v1/customers/cus_nothere"));
    assert_ne!(account_of(&another_id).0, account, "another key, another account");

    let refused_lines: Vec<&Value> =
        lines.iter().filter(|l| l["status"] == 401 && l["path"] == "/v1/customers").collect();
    assert_eq!(refused_lines.len(), 1, "{logs}");
    assert!(refused_lines[0]["request_id"].as_str().unwrap().starts_with("req_"));
    assert!(refused_lines[0].get("account").is_none(), "{}", refused_lines[0]);
    // Every line logged inside a request names it.
    for l in lines.iter().filter(|l| l["span"] == "request") {
        assert!(l["request_id"].as_str().is_some_and(|r| r.starts_with("req_")), "{l}");
    }
}
