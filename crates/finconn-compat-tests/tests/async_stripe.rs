//! async-stripe (the community Rust SDK, 1.0 release candidate) creates and retrieves sessions and lists
//! accounts against a spawned finconn, changing only its base URL.

use std::process::Stdio;
use std::time::Duration;

use stripe_misc::financial_connections_account::ListFinancialConnectionsAccount;
use stripe_misc::financial_connections_session::{
    CreateFinancialConnectionsSession, CreateFinancialConnectionsSessionAccountHolder,
    CreateFinancialConnectionsSessionAccountHolderType, CreateFinancialConnectionsSessionFilters,
    RetrieveFinancialConnectionsSession,
};
use stripe_misc::{FinancialConnectionsSessionPermissions, FinancialConnectionsSessionPrefetch};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The workspace's finconn binary (`cargo test --workspace` builds it for finconn-server's tests).
fn finconn_bin() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/finconn");
    assert!(bin.exists(), "{} is missing: build it first (cargo build -p finconn-server)", bin.display());
    bin
}

#[tokio::test]
async fn async_stripe_creates_and_retrieves_sessions_and_lists_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(finconn_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let base = first.replace("finconn listening on ", "");
    let key = "sk_test_asyncstripecompat1";

    // A customer, created with a plain request (async-stripe's customers live in another crate).
    let http = reqwest::Client::new();
    let customer: serde_json::Value =
        http.post(format!("{base}/v1/customers")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    let customer = customer["id"].as_str().unwrap().to_owned();

    let client = stripe::ClientBuilder::new(key).url(base.clone()).build().unwrap();
    let mut holder = CreateFinancialConnectionsSessionAccountHolder::new(
        CreateFinancialConnectionsSessionAccountHolderType::Customer,
    );
    holder.customer = Some(customer.clone());
    let mut filters = CreateFinancialConnectionsSessionFilters::new();
    // async-stripe 1.0 follows the newest API versions: `filters[country]`, which finconn accepts too.
    filters.country = Some("US".to_owned());
    let created = CreateFinancialConnectionsSession::new(
        holder,
        vec![FinancialConnectionsSessionPermissions::Balances, FinancialConnectionsSessionPermissions::Ownership],
    )
    .filters(filters)
    .prefetch(vec![FinancialConnectionsSessionPrefetch::Balances])
    .send(&client)
    .await
    .expect("async-stripe creates a session");
    assert!(created.id.as_str().starts_with("fcsess_"));
    assert!(created.client_secret.as_deref().is_some_and(|s| s.contains("_secret_")));
    assert!(created.accounts.data.is_empty());

    let retrieved = RetrieveFinancialConnectionsSession::new(created.id.clone())
        .expand(vec!["account_holder.customer".to_owned()])
        .send(&client)
        .await
        .expect("async-stripe retrieves the session");
    assert_eq!(retrieved.id, created.id);

    let done = http
        .post(format!("{base}/v1/test_helpers/financial_connections/sessions/{}/complete", created.id.as_str()))
        .bearer_auth(key)
        .form(&[("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    let again = RetrieveFinancialConnectionsSession::new(created.id.clone()).send(&client).await.unwrap();
    let names: Vec<_> = again.accounts.data.iter().map(|a| a.display_name.clone().unwrap_or_default()).collect();
    assert_eq!(names, ["Success", "Savings"]);

    let listed = ListFinancialConnectionsAccount::new().send(&client).await.expect("async-stripe lists accounts");
    assert_eq!(listed.data.len(), 2);
    assert!(listed.data.iter().all(|a| a.id.as_str().starts_with("fca_") && a.institution_name == "Test Institution"));

    // Errors come back in Stripe's shape too.
    let missing = RetrieveFinancialConnectionsSession::new("fcsess_nope".to_owned()).send(&client).await;
    let err = format!("{:?}", missing.unwrap_err());
    assert!(err.contains("resource_missing"), "{err}");
    server.kill().await.unwrap();
}
