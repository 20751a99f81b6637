//! Links a sandbox bank account without a browser and reads its data:
//! customer → session → test-helper completion (Test Institution, "Success") → balance and transaction
//! refresh → poll → print the balance and the first transactions (auto-pagination).
//!
//! ```sh
//! FINCONN_REFRESH_COOLDOWN_SECONDS=0 finconn serve --listen 127.0.0.1:8420 &
//! cargo run -p finconn-client --example link_and_read -- http://127.0.0.1:8420 [sk_test_…]
//! ```

use std::time::Duration;

use finconn_client::params::{
    AccountHolder, CreateCustomer, CreateSession, Feature, ListAccounts, ListTransactions, Page,
};
use finconn_client::{Client, Error, Permission};
use futures::{StreamExt, TryStreamExt};

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| Error::InvalidRequest(format!("{s}: {e}")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "http://127.0.0.1:8420".into());
    let key = args.next().unwrap_or_else(|| format!("sk_test_example{:x}", rand::random::<u32>()));
    let client = Client::builder(key).base_url(base).build()?;

    let customer = client
        .customers()
        .create(&CreateCustomer {
            email: Some("jenny@example.com".into()),
            name: Some("Jenny Rosen".into()),
            ..Default::default()
        })
        .await?;
    println!("customer  {}", customer.id);

    let session = client
        .sessions()
        .create(&CreateSession::new(
            AccountHolder::Customer(parse(&customer.id)?),
            vec![Permission::Balances, Permission::Transactions],
        ))
        .await?;
    println!("session   {}", session.id);
    let session_id = parse(&session.id)?;

    client.test_helpers().complete_session(&session_id, &parse("fcinst_TestInstitution")?, Some(&["Success"])).await?;
    let accounts = client.accounts().list(&ListAccounts { session: Some(session_id), ..Default::default() }).await?;
    let account = accounts.data.first().ok_or("the session linked no account")?;
    println!(
        "account   {} ({} •••• {})",
        account.id,
        account.institution_name,
        account.last4.as_deref().unwrap_or("?")
    );
    let account_id = parse(&account.id)?;

    client.accounts().refresh(&account_id, &[Feature::Balance, Feature::Transactions]).await?;
    let status = |r: Option<&str>| r.unwrap_or("pending").to_owned();
    let account = loop {
        let a = client.accounts().retrieve(&account_id, &[]).await?;
        let balance = status(a.balance_refresh.as_ref().map(|r| r.status.as_str()));
        let transactions = status(a.transaction_refresh.as_ref().map(|r| r.status.as_str()));
        if balance != "pending" && transactions != "pending" {
            println!("refreshes balance {balance}, transactions {transactions}");
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    if let Some(balance) = &account.balance {
        for (currency, amount) in &balance.current {
            let sign = if *amount < 0 { "-" } else { "" };
            let (units, cents) = (amount.abs() / 100, amount.abs() % 100);
            println!("balance   {sign}{units}.{cents:02} {} ({})", currency.to_uppercase(), balance.kind);
        }
    }

    // Pages of 10, fetched as the stream is read; stop after 15 transactions.
    let first: Vec<_> = client
        .transactions()
        .list_all(&ListTransactions::new(account_id).page(Page::limit(10)))
        .take(15)
        .try_collect()
        .await?;
    for t in &first {
        println!(
            "{:>10}  {:>10.2} {}  {:<8}  {}",
            t.transacted_at,
            t.amount as f64 / 100.0,
            t.currency.to_uppercase(),
            t.status,
            t.description
        );
    }
    Ok(())
}
