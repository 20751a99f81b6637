//! Sandbox data files through the real binary: `finconn sandbox-data check`, `serve --sandbox-data` (a
//! malformed file stops start-up with file:line:field), and SIGHUP reloads that keep linked accounts.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_finconn");

fn bank(balance: i64, extra_institution: bool) -> String {
    let mut s = format!(
        r#"version = 1
[[institutions]]
id = "fcinst_FileBank"
name = "File Bank"
countries = ["US"]
login = "none"
[[institutions.accounts]]
name = "Everyday"
category = "cash"
subcategory = "checking"
last4 = "1111"
balance = {{ current = {balance}, available = {balance} }}
owners = [{{ name = "Ada Lovelace", email = "ada@example.com" }}]
transactions = [
  {{ amount = -1500, description = "Tea", transacted_at = "2026-01-02T10:00:00Z" }},
  {{ amount = 90000, description = "Salary", transacted_at = "2026-01-01" }},
]
"#
    );
    if extra_institution {
        s.push_str(
            r#"[[institutions]]
id = "fcinst_SecondBank"
name = "Second Bank"
countries = ["US"]
login = "oauth"
[[institutions.accounts]]
name = "Savings"
category = "cash"
subcategory = "savings"
last4 = "2222"
"#,
        );
    }
    s
}

#[tokio::test]
async fn check_validates_without_serving_and_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("bank.toml");
    std::fs::write(&good, bank(100, true)).unwrap();
    let out = Command::new(BIN).args(["sandbox-data", "check"]).arg(&good).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("ok: 2 institution(s) from 1 file(s), 2 account(s), 2 listed transaction(s)"), "{said}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, bank(100, true).replace("last4 = \"2222\"", "last4 = \"22\"")).unwrap();
    let out = Command::new(BIN).args(["sandbox-data", "check"]).arg(&bad).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:27:1: institutions[1].accounts[0].last4: last4 must be four digits", bad.display());
    assert!(err.contains(&expected), "{err}");

    // The built-in catalogue, printed in the format, checks on its own; so does the shipped example.
    let builtin = Command::new(BIN).args(["sandbox-data", "builtin", "--json"]).output().await.unwrap();
    let path = dir.path().join("builtin.json");
    std::fs::write(&path, &builtin.stdout).unwrap();
    let out = Command::new(BIN).args(["sandbox-data", "check", "--without-builtin"]).arg(&path).output().await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 10 institution(s)"), "{out:?}");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sandbox-data.toml");
    let out = Command::new(BIN).args(["sandbox-data", "check", example]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn serve_refuses_a_malformed_file_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"version\": 1,\n \"institutions\": [{\"id\": \"fcinst_X\", \"name\": 5}]}").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--sandbox-data"])
        .arg(&bad)
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // serde_json places a type error at the value.
    let expected =
        format!("{}:2:46: institutions[0].name: invalid type: integer `5`, expected a string", bad.display());
    assert!(err.contains(&expected), "{err}");
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(created, [std::ffi::OsString::from("bad.json")], "nothing was created");
}

/// `finconn serve` in `dir` with `args` after the listen address; its base URL once it listens.
async fn start(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env_remove("FINCONN_DATABASE_URL")
        .env("FINCONN_REFRESH_COOLDOWN_SECONDS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (addr, mut lines) = crate::helpers::listening(&mut child).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}

struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.key).form(form).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Refreshes the balance and waits for the refresh to end.
    async fn balance(&self, account: &str) -> Value {
        self.post(&format!("/v1/financial_connections/accounts/{account}/refresh"), &[("features[]", "balance")]).await;
        for _ in 0..100 {
            let (_, a) = self.get(&format!("/v1/financial_connections/accounts/{account}")).await;
            if a["balance_refresh"]["status"] != "pending" {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the balance refresh never ended");
    }
}

fn hangup(child: &Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
}

#[tokio::test]
async fn sighup_reloads_the_files_and_linked_accounts_stay() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bank.toml");
    std::fs::write(&file, bank(100, false)).unwrap();
    let (child, base) = start(dir.path(), &["--sandbox-data".as_ref(), file.as_os_str()]).await;
    let api =
        Api { base, key: format!("sk_test_{}", finconn_core::ids::random_base62(20)), http: reqwest::Client::new() };

    let (status, inst) = api.get("/v1/financial_connections/institutions/fcinst_FileBank").await;
    assert_eq!((status, inst["name"].as_str()), (200, Some("File Bank")));
    assert_eq!(api.get("/v1/financial_connections/institutions/fcinst_SecondBank").await.0, 404);
    let cus = api.post("/v1/customers", &[]).await;
    let s = api
        .post(
            "/v1/financial_connections/sessions",
            &[
                ("account_holder[type]", "customer"),
                ("account_holder[customer]", cus["id"].as_str().unwrap()),
                ("permissions[]", "balances"),
            ],
        )
        .await;
    let done = api
        .post(
            &format!("/v1/test_helpers/financial_connections/sessions/{}/complete", s["id"].as_str().unwrap()),
            &[("institution", "fcinst_FileBank")],
        )
        .await;
    let account = done["accounts"]["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(done["accounts"]["data"][0]["display_name"], "Everyday");
    assert_eq!(api.balance(&account).await["balance"]["current"]["usd"], 100);

    // The file changes; SIGHUP: a new institution appears, the linked account reads the new balance.
    std::fs::write(&file, bank(250, true)).unwrap();
    hangup(&child);
    let mut seen = false;
    for _ in 0..100 {
        if api.get("/v1/financial_connections/institutions/fcinst_SecondBank").await.0 == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the reloaded file's new institution is served");
    let a = api.balance(&account).await;
    assert_eq!((a["status"].as_str(), &a["balance"]["current"]["usd"]), (Some("active"), &Value::from(250)));

    // A broken file on the next SIGHUP: logged, and the data loaded before is kept.
    std::fs::write(&file, "version = 1\n[[institutions]]\nid = 5\n").unwrap();
    hangup(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.get("/v1/financial_connections/institutions/fcinst_SecondBank").await.0, 200);
    assert_eq!(api.balance(&account).await["balance"]["current"]["usd"], 250);
    drop(child);
}

/// `sandbox_data` and `sandbox_builtin` from finconn.toml, and FINCONN_SANDBOX_DATA from the environment.
#[tokio::test]
async fn the_config_file_and_the_environment_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bank.toml"), bank(100, true)).unwrap();
    std::fs::write(dir.path().join("finconn.toml"), "sandbox_data = [\"bank.toml\"]\nsandbox_builtin = false\n")
        .unwrap();
    let (child, base) = start(dir.path(), &[]).await;
    let api =
        Api { base, key: format!("sk_test_{}", finconn_core::ids::random_base62(20)), http: reqwest::Client::new() };
    let (_, listed) = api.get("/v1/financial_connections/institutions?limit=100").await;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["fcinst_FileBank", "fcinst_SecondBank"], "only the file's institutions");
    drop(child);

    // The environment names files too (and a missing one stops start-up, naming it).
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("FINCONN_DATABASE_URL")
        .env("FINCONN_SANDBOX_DATA", "bank.toml:missing.json")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.json: cannot read it"), "{err}");
    // sandbox_builtin = false without files is refused.
    let out = Command::new(BIN)
        .args(["migrate"])
        .current_dir(dir.path())
        .env("FINCONN_CONFIG", "/dev/null")
        .env("FINCONN_SANDBOX_BUILTIN", "false")
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("sandbox_builtin"), "{out:?}");
}
