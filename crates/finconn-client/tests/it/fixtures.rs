//! Every fixture of Stripe's reference deserializes into its type, keeps unknown keys and enum values, and
//! serializes back to the same JSON.

use std::path::PathBuf;

use finconn_client::types::{
    Account, AccountOwner, AccountOwnership, Customer, DeletedCustomer, DeletedWebhookEndpoint, Event, List,
    Permission, Session, Transaction, WebhookEndpoint,
};
use finconn_client::CustomerOrDeleted;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/fixtures")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Deserializes, checks a round trip, then adds an unknown key and checks it survives too.
fn check<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let orig = fixture(name);
    let v: T = serde_json::from_value(orig.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(serde_json::to_value(&v).unwrap(), orig, "{name} round trip");
    let mut extended = orig;
    extended["a_future_field"] = json!({"nested": [1, "two"]});
    let w: T = serde_json::from_value(extended.clone()).unwrap();
    assert_eq!(serde_json::to_value(&w).unwrap(), extended, "{name} keeps unknown keys");
    v
}

#[test]
fn every_fixture_deserializes_into_its_type() {
    let mut covered = vec![];
    let mut seen = |n: &'static str| {
        covered.push(n);
        n
    };
    let session: Session = check(seen("financial_connections.session.json"));
    assert_eq!(session.object, Session::OBJECT);
    let account: Account = check(seen("financial_connections.account.json"));
    assert_eq!(account.object, Account::OBJECT);
    check::<AccountOwner>(seen("financial_connections.account_owner.json"));
    check::<AccountOwnership>(seen("financial_connections.account_ownership.json"));
    check::<Transaction>(seen("financial_connections.transaction.json"));
    check::<Event>(seen("event.json"));
    check::<WebhookEndpoint>(seen("webhook_endpoint.json"));
    check::<DeletedWebhookEndpoint>(seen("deleted_webhook_endpoint.json"));
    check::<Customer>(seen("customer.json"));
    check::<DeletedCustomer>(seen("deleted_customer.json"));
    // Not served by finconn (no type): the preview Authorizations API.
    seen("financial_connections.authorization.json");

    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = covered.into_iter().map(str::to_owned).collect();
    covered.sort();
    assert_eq!(on_disk, covered, "a fixture without a test");
}

#[test]
fn customer_or_deleted_picks_by_the_deleted_flag() {
    let live: CustomerOrDeleted = serde_json::from_value(fixture("customer.json")).unwrap();
    assert!(matches!(live, CustomerOrDeleted::Customer(_)));
    let gone: CustomerOrDeleted = serde_json::from_value(fixture("deleted_customer.json")).unwrap();
    assert!(matches!(gone, CustomerOrDeleted::Deleted(d) if d.deleted));
}

#[test]
fn unknown_enum_values_are_kept() {
    let mut v = fixture("financial_connections.account.json");
    v["permissions"] = json!(["balances", "a_future_permission"]);
    let a: Account = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        a.permissions.as_deref(),
        Some(&[Permission::Balances, Permission::Unknown("a_future_permission".into())][..])
    );
    assert_eq!(serde_json::to_value(&a).unwrap(), v);
}

#[test]
fn lists_of_fixtures_round_trip() {
    let list = json!({
        "data": [fixture("financial_connections.transaction.json")],
        "has_more": true,
        "object": "list",
        "url": "/v1/financial_connections/transactions",
    });
    let l: List<Transaction> = serde_json::from_value(list.clone()).unwrap();
    assert!(l.has_more);
    assert_eq!(l.data.len(), 1);
    assert_eq!(serde_json::to_value(&l).unwrap(), list);
}
