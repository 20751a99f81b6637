//! A build without the `otel` feature, given an OpenTelemetry endpoint: one warning at start, and it serves
//! as usual (the endpoint is never contacted: nothing listens there).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_finconn");

#[tokio::test]
async fn a_build_without_the_otel_feature_warns_once_when_an_endpoint_is_set_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env_remove("FINCONN_LISTEN")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("FINCONN_OTEL_ENDPOINT", "http://127.0.0.1:9")
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
    for _ in 0..2 {
        let r = http.get(format!("{base}/v1/customers")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().await.unwrap().success());
    let logs = tokio::time::timeout(Duration::from_secs(10), stderr).await.unwrap().unwrap();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("no OpenTelemetry support")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    let line: serde_json::Value = serde_json::from_str(warnings[0]).unwrap();
    assert_eq!(line["level"], "WARN", "{line}");
}
