//! The whole flow against a real `finconn` binary (built by `cargo build -p finconn-server`, which
//! `cargo test --workspace` does first): session → test-helper completion → refresh and poll →
//! transactions with auto-pagination → a webhook delivery verified with `webhook::verify`; and an account
//! of a test clock's customer refreshing on the clock's time.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use finconn_client::params::{
    AccountExpand, AccountHolder, CreateCustomer, CreateSession, CreateTestClock, CreateWebhookEndpoint, Feature,
    ListAccounts, ListCustomers, ListEvents, ListTransactions, Page, SessionExpand, SubscriptionFeature, Update,
    UpdateCustomer,
};
use finconn_client::types::Expandable;
use finconn_client::{webhook, Client, CustomerOrDeleted, ErrorKind, Permission, TestClockId, TestClockStatus};
use futures::TryStreamExt;

use crate::fake::{read_request, write_response, Canned, Recorded};

pub struct Finconn {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Finconn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/finconn");
    assert!(bin.exists(), "{} is missing: build it first: cargo build -p finconn-server", bin.display());
    bin
}

pub fn start_finconn() -> Finconn {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database"])
        .arg(format!("sqlite://{}", dir.path().join("f.db").display()))
        .env("FINCONN_REFRESH_COOLDOWN_SECONDS", "0")
        .env("FINCONN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "finconn did not start listening on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Finconn { child, url, _dir: dir }
}

fn random_key() -> String {
    let n: u64 = rand::random();
    format!("sk_test_client{n:x}")
}

/// A webhook receiver: answers 200 to every POST and hands over what it got.
fn receiver() -> (String, mpsc::Receiver<Recorded>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            if let Some(r) = read_request(&mut stream) {
                write_response(&mut stream, &Canned::new(200, "{}"));
                if tx.send(r).is_err() {
                    return;
                }
            }
        }
    });
    (url, rx)
}

fn is_pending(r: Option<&str>) -> bool {
    r.is_none_or(|s| s == "pending")
}

#[tokio::test(flavor = "multi_thread")]
async fn link_refresh_read_and_verify_webhooks() {
    let server = start_finconn();
    let client = Client::builder(random_key()).base_url(&server.url).build().unwrap();

    // A webhook endpoint first, so the account's events are delivered to it.
    let (hook_url, deliveries) = receiver();
    let endpoint = client
        .webhook_endpoints()
        .create(&CreateWebhookEndpoint::new(&hook_url, vec!["*".into()]).description("client tests"))
        .await
        .unwrap();
    let secret = endpoint.secret.clone().expect("the creation answer carries the secret");
    assert!(secret.starts_with("whsec_"));

    let customer = client
        .customers()
        .create(&CreateCustomer { email: Some("jenny@example.com".into()), ..Default::default() })
        .await
        .unwrap();
    let customer_id = customer.id.parse().unwrap();
    let session = client
        .sessions()
        .create(&CreateSession::new(
            AccountHolder::Customer(customer_id),
            vec![Permission::Balances, Permission::Transactions, Permission::Ownership],
        ))
        .await
        .unwrap();
    let session_id = session.id.parse().unwrap();
    assert!(session.accounts.data.is_empty());

    let completed = client
        .test_helpers()
        .complete_session(&session_id, &"fcinst_TestInstitution".parse().unwrap(), Some(&["Success"]))
        .await
        .unwrap();
    assert_eq!(completed.accounts.data.len(), 1);

    // Retrieve with expansion: the holder's customer comes back as an object.
    let again = client.sessions().retrieve(&session_id, &[SessionExpand::AccountHolderCustomer]).await.unwrap();
    let holder = again.account_holder.unwrap();
    assert!(matches!(holder.customer, Some(Expandable::Object(c)) if c.id == customer.id));

    let accounts = client
        .accounts()
        .list(&ListAccounts { session: Some(session_id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(accounts.data.len(), 1);
    let account = &accounts.data[0];
    assert_eq!(account.last4.as_deref(), Some("6789"));
    let account_id: finconn_client::AccountId = account.id.parse().unwrap();

    let refreshed = client
        .accounts()
        .refresh(&account_id, &[Feature::Balance, Feature::Transactions, Feature::Ownership])
        .await
        .unwrap();
    assert_eq!(refreshed.balance_refresh.as_ref().map(|r| r.status.as_str()), Some("pending"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let account = loop {
        let a = client.accounts().retrieve(&account_id, &[AccountExpand::Ownership]).await.unwrap();
        if !is_pending(a.balance_refresh.as_ref().map(|r| r.status.as_str()))
            && !is_pending(a.transaction_refresh.as_ref().map(|r| r.status.as_str()))
            && !is_pending(a.ownership_refresh.as_ref().map(|r| r.status.as_str()))
        {
            break a;
        }
        assert!(Instant::now() < deadline, "refreshes still pending: {a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(account.balance_refresh.as_ref().unwrap().status, "succeeded");
    assert_eq!(account.transaction_refresh.as_ref().unwrap().status, "succeeded");
    assert!(account.balance.as_ref().unwrap().current.contains_key("usd"));
    let ownership = account.ownership.as_ref().unwrap().as_object().expect("expanded ownership");
    assert_eq!(ownership["object"], "financial_connections.account_ownership");

    // Auto-pagination: small pages, every transaction once, newest first, same as one big page.
    let small = ListTransactions::new(account_id.clone()).page(Page::limit(7));
    let all: Vec<_> = client.transactions().list_all(&small).try_collect().await.unwrap();
    assert!(all.len() > 7, "only {} transactions", all.len());
    assert!(all.windows(2).all(|w| w[0].transacted_at >= w[1].transacted_at));
    let mut ids: Vec<_> = all.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "a transaction was listed twice");
    let big =
        client.transactions().list(&ListTransactions::new(account_id.clone()).page(Page::limit(100))).await.unwrap();
    assert_eq!(
        big.data.iter().take(20).map(|t| &t.id).collect::<Vec<_>>(),
        all.iter().take(20).map(|t| &t.id).collect::<Vec<_>>()
    );
    let one = client.transactions().retrieve(&all[0].id.parse().unwrap()).await.unwrap();
    assert_eq!(one, all[0]);
    // Nothing is newer than the latest refresh.
    let refresh_id = account.transaction_refresh.as_ref().unwrap().id.parse().unwrap();
    let newer =
        client.transactions().list(&ListTransactions::new(account_id.clone()).after_refresh(refresh_id)).await.unwrap();
    assert!(newer.data.is_empty());

    // Events: the account's creation is listed and delivered, signed.
    let events: Vec<_> = client
        .events()
        .list_all(&ListEvents {
            types: Some(finconn_client::params::EventTypes::Type("financial_connections.account.*".into())),
            page: Page::limit(2),
            ..Default::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "financial_connections.account.created"), "{events:?}");
    let created = events.iter().find(|e| e.kind == "financial_connections.account.created").unwrap();
    assert_eq!(client.events().retrieve(&created.id.parse().unwrap()).await.unwrap().id, created.id);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut verified = vec![];
    while !verified.iter().any(|e: &finconn_client::Event| e.kind == "financial_connections.account.created") {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = deliveries.recv_timeout(left).expect("no webhook delivery within 30 s");
        assert_eq!(delivery.method, "POST");
        assert_eq!(delivery.target, "/hook");
        let header = delivery.header("stripe-signature").expect("signed");
        // Rotation: a wrong secret next to the right one still verifies; the wrong one alone does not.
        let event = webhook::verify(
            delivery.body.as_bytes(),
            header,
            &["whsec_rotatedaway", &secret],
            webhook::DEFAULT_TOLERANCE,
            webhook::unix_now(),
        )
        .unwrap();
        assert!(webhook::verify(
            delivery.body.as_bytes(),
            header,
            &["whsec_rotatedaway"],
            webhook::DEFAULT_TOLERANCE,
            webhook::unix_now()
        )
        .is_err());
        webhook::construct_event(delivery.body.as_bytes(), header, &secret).unwrap();
        verified.push(event);
    }
    let delivered = verified.iter().find(|e| e.kind == "financial_connections.account.created").unwrap();
    assert_eq!(delivered.data.object["id"], account.id);

    // Disconnect: refresh is refused afterwards with Stripe's error shape.
    let gone = client.accounts().disconnect(&account_id).await.unwrap();
    assert_eq!(gone.status, "disconnected");
    let err = client.accounts().refresh(&account_id, &[Feature::Balance]).await.unwrap_err();
    let api = err.as_api().unwrap();
    assert_eq!(api.kind, ErrorKind::InvalidRequest);
    assert_eq!(api.code.as_deref(), Some("financial_connections_account_inactive"));
    assert!(api.request_id.as_deref().unwrap().starts_with("req_"));

    let deleted = client.webhook_endpoints().delete(&endpoint.id.parse().unwrap()).await.unwrap();
    assert!(deleted.deleted);
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_crud_errors_and_expiry() {
    let server = start_finconn();
    let client = Client::builder(random_key()).base_url(&server.url).build().unwrap();

    let mut created = vec![];
    for i in 0..5 {
        let c = client
            .customers()
            .create(&CreateCustomer {
                email: Some(format!("c{i}@example.com")),
                metadata: [("n".to_owned(), i.to_string())].into(),
                ..Default::default()
            })
            .await
            .unwrap();
        created.push(c);
    }
    let listed: Vec<_> = client
        .customers()
        .list_all(&ListCustomers { page: Page::limit(2), ..Default::default() })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|c| &c.id).rev().collect::<Vec<_>>(),
        created.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    let by_email = client
        .customers()
        .list(&ListCustomers { email: Some("c3@example.com".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_email.data.len(), 1);

    let id: finconn_client::CustomerId = created[0].id.parse().unwrap();
    let updated = client
        .customers()
        .update(
            &id,
            &UpdateCustomer {
                email: Some(Update::Unset),
                name: Some(Update::Set("Jenny".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((updated.email, updated.name.as_deref()), (None, Some("Jenny")));
    assert!(client.customers().delete(&id).await.unwrap().deleted);
    assert!(matches!(client.customers().retrieve(&id).await.unwrap(), CustomerOrDeleted::Deleted(_)));

    // A session for a deleted customer is refused; a missing session is a NotFound.
    let missing = client.sessions().retrieve(&"fcsess_doesnotexist".parse().unwrap(), &[]).await.unwrap_err();
    let api = missing.as_api().unwrap();
    assert_eq!((api.kind, api.status, api.code.as_deref()), (ErrorKind::NotFound, 404, Some("resource_missing")));

    // An expired session cannot be completed.
    let live_customer: finconn_client::CustomerId = created[1].id.parse().unwrap();
    let session = client
        .sessions()
        .create(&CreateSession::new(AccountHolder::Customer(live_customer), vec![Permission::Balances]))
        .await
        .unwrap();
    let sid = session.id.parse().unwrap();
    client.test_helpers().expire_session(&sid).await.unwrap();
    let err = client
        .test_helpers()
        .complete_session(&sid, &"fcinst_TestInstitution".parse().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_api().unwrap().kind, ErrorKind::InvalidRequest, "{err}");

    // A live key nobody registered: 401.
    let stranger = Client::builder("sk_live_nobody123").base_url(&server.url).max_retries(0).build().unwrap();
    let err = stranger.customers().list(&Default::default()).await.unwrap_err();
    assert_eq!(err.as_api().unwrap().kind, ErrorKind::Authentication, "{err}");
}

#[tokio::test]
async fn institutions_are_typed_and_paginated() {
    let server = start_finconn();
    let client = Client::builder(random_key()).base_url(&server.url).build().unwrap();
    let all: Vec<finconn_client::Institution> =
        client.institutions().list_all(&Page::limit(3)).try_collect().await.unwrap();
    assert!(all.len() >= 9, "{}", all.len());
    let ids: std::collections::HashSet<_> = all.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "pages do not overlap");
    let id: finconn_client::InstitutionId = "fcinst_TestInstitution".parse().unwrap();
    let one = client.institutions().retrieve(&id).await.unwrap();
    assert_eq!(one.name, "Test Institution");
    assert_eq!(one.status, "active");
    assert!(one.features.balances.supported);
    assert!(one.extra.is_empty(), "finconn sends no field the type does not know: {:?}", one.extra);
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_of_a_test_clock_customer_refresh_on_the_clock() {
    const F: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;
    let server = start_finconn();
    let client = Client::builder(random_key()).base_url(&server.url).build().unwrap();
    let clocks = client.test_helpers().test_clocks();

    let clock = clocks.create(&CreateTestClock::new(F).name("client tests")).await.unwrap();
    assert_eq!(
        (clock.frozen_time, &clock.status, clock.name.as_deref()),
        (F, &TestClockStatus::Ready, Some("client tests"))
    );
    assert!(clock.status_details.advancing.is_none());
    let clock_id: TestClockId = clock.id.parse().unwrap();
    assert_eq!(clocks.retrieve(&clock_id).await.unwrap(), clock);
    let listed: Vec<_> = clocks.list_all(&Page::limit(1)).try_collect().await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&clock));

    // A customer on the clock: listed by its clock only, as on Stripe.
    let customer = client
        .customers()
        .create(&CreateCustomer {
            email: Some("clock@example.com".into()),
            test_clock: Some(clock_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(customer.test_clock.as_ref().map(Expandable::id), Some(clock.id.as_str()));
    let on_clock = client
        .customers()
        .list(&ListCustomers { test_clock: Some(clock_id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(on_clock.data.iter().map(|c| &c.id).collect::<Vec<_>>(), [&customer.id]);
    assert!(client.customers().list(&Default::default()).await.unwrap().data.is_empty());

    let session = client
        .sessions()
        .create(&CreateSession::new(
            AccountHolder::Customer(customer.id.parse().unwrap()),
            vec![Permission::Balances, Permission::Transactions],
        ))
        .await
        .unwrap();
    let session_id: finconn_client::SessionId = session.id.parse().unwrap();
    client
        .test_helpers()
        .complete_session(&session_id, &"fcinst_TestInstitution".parse().unwrap(), Some(&["Success"]))
        .await
        .unwrap();
    let accounts =
        client.accounts().list(&ListAccounts { session: Some(session_id), ..Default::default() }).await.unwrap();
    let [account] = &accounts.data[..] else { panic!("{accounts:?}") };
    assert_eq!(account.created, F, "linked at the clock's time");
    let account_id: finconn_client::AccountId = account.id.parse().unwrap();

    // The subscription's first refresh runs at the clock's time.
    let subscribed = client.accounts().subscribe(&account_id, &[SubscriptionFeature::Transactions]).await.unwrap();
    assert_eq!(subscribed.transaction_refresh.as_ref().map(|r| r.last_attempted_at), Some(F));
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let a = client.accounts().retrieve(&account_id, &[]).await.unwrap();
        if !is_pending(a.transaction_refresh.as_ref().map(|r| r.status.as_str())) {
            break a.transaction_refresh.unwrap();
        }
        assert!(Instant::now() < deadline, "the first refresh is still pending: {a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((first.status.as_str(), first.last_attempted_at), ("succeeded", F));

    // Two days and an hour on: the two daily refreshes have run when the clock is ready, the last at F + 2 days.
    let to = F + 2 * DAY + 3_600;
    let ready = clocks.advance_and_wait(&clock_id, to, Duration::from_secs(60)).await.unwrap();
    assert_eq!((&ready.status, ready.frozen_time), (&TestClockStatus::Ready, to));
    assert!(ready.status_details.advancing.is_none());
    let a = client.accounts().retrieve(&account_id, &[]).await.unwrap();
    let refresh = a.transaction_refresh.unwrap();
    assert_eq!((refresh.status.as_str(), refresh.last_attempted_at), ("succeeded", F + 2 * DAY));
    assert_ne!(refresh.id, first.id);
    assert_eq!(clocks.retrieve(&clock_id).await.unwrap().frozen_time, to);

    // Deleting the clock deletes its customer and disconnects the account.
    let deleted = clocks.delete(&clock_id).await.unwrap();
    assert_eq!(
        (deleted.deleted, deleted.id.as_str(), deleted.object.as_str()),
        (true, clock.id.as_str(), "test_helpers.test_clock")
    );
    let a = client.accounts().retrieve(&account_id, &[]).await.unwrap();
    assert_eq!(a.status, "disconnected");
    assert_eq!(a.subscriptions.as_deref(), Some(&[][..]));
    let gone = client.customers().retrieve(&customer.id.parse().unwrap()).await.unwrap();
    assert!(matches!(gone, CustomerOrDeleted::Deleted(_)));
    let err = clocks.retrieve(&clock_id).await.unwrap_err();
    assert_eq!(err.as_api().unwrap().kind, ErrorKind::NotFound, "{err}");
}

/// Polls until the feature's refresh is no longer pending.
async fn settled(
    client: &Client,
    id: &finconn_client::AccountId,
    field: fn(&finconn_client::Account) -> Option<&str>,
) -> finconn_client::Account {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = client.accounts().retrieve(id, &[]).await.unwrap();
        if !is_pending(field(&a)) {
            return a;
        }
        assert!(Instant::now() < deadline, "refresh still pending: {a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_accounts_through_the_typed_helpers() {
    use finconn_client::params::{AddTransaction, NewTransactionStatus, RefreshOutcome};
    let server = start_finconn();
    let client = Client::builder(random_key()).base_url(&server.url).build().unwrap();
    let customer = client.customers().create(&CreateCustomer::default()).await.unwrap();
    let session = client
        .sessions()
        .create(&CreateSession::new(
            AccountHolder::Customer(customer.id.parse().unwrap()),
            vec![Permission::Balances, Permission::Transactions],
        ))
        .await
        .unwrap();
    let done = client
        .test_helpers()
        .complete_session(&session.id.parse().unwrap(), &"fcinst_TestInstitution".parse().unwrap(), Some(&["Success"]))
        .await
        .unwrap();
    let id: finconn_client::AccountId = done.accounts.data[0]["id"].as_str().unwrap().parse().unwrap();
    let helpers = client.test_helpers();
    let balance =
        |a: &finconn_client::Account| a.balance_refresh.as_ref().map(|r| r.status.as_str()).map(str::to_owned);

    helpers.refresh_outcome(&id, Feature::Balance, RefreshOutcome::Failed).await.unwrap();
    client.accounts().refresh(&id, &[Feature::Balance]).await.unwrap();
    let a = settled(&client, &id, |a| a.balance_refresh.as_ref().map(|r| r.status.as_str())).await;
    assert_eq!(balance(&a).as_deref(), Some("failed"));

    helpers.refresh_outcome(&id, Feature::Balance, RefreshOutcome::Succeeded).await.unwrap();
    helpers.set_balance(&id, 98_765, None).await.unwrap();
    client.accounts().refresh(&id, &[Feature::Balance]).await.unwrap();
    let a = settled(&client, &id, |a| a.balance_refresh.as_ref().map(|r| r.status.as_str())).await;
    assert_eq!(balance(&a).as_deref(), Some("succeeded"));
    assert_eq!(a.balance.as_ref().unwrap().current["usd"], 98_765);

    let t = helpers
        .add_transaction(&id, &AddTransaction::new(-1_250, "LUNCH").status(NewTransactionStatus::Pending))
        .await
        .unwrap();
    assert_eq!((t.amount, t.status.as_str()), (-1_250, "pending"));
    let txn: finconn_client::TransactionId = t.id.parse().unwrap();
    let posted = helpers.post_transaction(&id, &txn).await.unwrap();
    assert_eq!(posted.status, "posted");
    assert!(posted.status_transitions.posted_at.is_some());
    client.accounts().refresh(&id, &[Feature::Transactions]).await.unwrap();
    settled(&client, &id, |a| a.transaction_refresh.as_ref().map(|r| r.status.as_str())).await;
    let stored = client.transactions().retrieve(&txn).await.unwrap();
    assert_eq!((stored.status.as_str(), stored.description.as_str()), ("posted", "LUNCH"));
    let err = helpers.void_transaction(&id, &txn).await.unwrap_err();
    assert!(matches!(&err, finconn_client::Error::Api(e) if e.status == 400), "{err:?}");

    // An endpoint created after the account's event still gets it, resent.
    let (hook_url, deliveries) = receiver();
    let endpoint = client
        .webhook_endpoints()
        .create(&CreateWebhookEndpoint::new(&hook_url, vec!["customer.created".into()]))
        .await
        .unwrap();
    let events = client.events().list(&ListEvents::default()).await.unwrap();
    let created = events.data.iter().find(|e| e.kind == "financial_connections.account.created").unwrap();
    let resent = helpers.resend_event(&created.id.parse().unwrap(), &endpoint.id.parse().unwrap()).await.unwrap();
    assert_eq!(resent.id, created.id);
    let got = deliveries.recv_timeout(Duration::from_secs(30)).expect("the resent event arrives");
    let secret = endpoint.secret.clone().unwrap();
    let verified = webhook::verify(
        got.body.as_bytes(),
        got.header("stripe-signature").unwrap(),
        &[secret.as_str()],
        webhook::DEFAULT_TOLERANCE,
        webhook::unix_now(),
    )
    .unwrap();
    assert_eq!(verified.id, created.id);

    let inst: finconn_client::InstitutionId = "fcinst_TestInstitution".parse().unwrap();
    let down = helpers.set_downtime(&inst, finconn_client::params::Downtime::Unscheduled).await.unwrap();
    assert_eq!(down.status, "down");
    assert_eq!(client.institutions().retrieve(&inst).await.unwrap().status, "down");
    let up = helpers.end_downtime(&inst).await.unwrap();
    assert_eq!(up.status, "active");
}
