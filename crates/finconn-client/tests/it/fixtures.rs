//! Every fixture of Stripe's reference deserializes into its type, keeps unknown keys and enum values, and
//! serializes back to the same JSON.

use std::path::PathBuf;

use finconn_client::types::{
    Account, AccountOwner, AccountOwnership, Customer, DeletedCustomer, DeletedTestClock, DeletedWebhookEndpoint,
    Event, Expandable, List, Permission, Session, TestClock, TestClockStatus, Transaction, WebhookEndpoint,
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
    check_value(name, fixture(name))
}

fn check_value<T: DeserializeOwned + Serialize>(name: &str, orig: Value) -> T {
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

/// A test clock as finconn serves it (Stripe's reference has no fixture for it): `ready`, with empty
/// `status_details`.
pub fn ready_clock() -> Value {
    json!({
        "created": 1_764_000_000, "deletes_after": 1_764_604_800, "frozen_time": 1_700_000_000,
        "id": "clock_1Mr3I2LkdIwHu7ixjAzGv8bt", "livemode": false, "name": "renewals",
        "object": "test_helpers.test_clock", "status": "ready", "status_details": {}
    })
}

pub fn clock_with(status: &str, status_details: Value) -> Value {
    let mut v = ready_clock();
    v["status"] = status.into();
    v["status_details"] = status_details;
    v
}

#[test]
fn test_clocks_ready_advancing_and_deleted_round_trip() {
    let ready: TestClock = check_value("ready clock", ready_clock());
    assert_eq!(ready.object, TestClock::OBJECT);
    assert_eq!((ready.status, ready.name.as_deref()), (TestClockStatus::Ready, Some("renewals")));
    assert_eq!(ready.status_details, Default::default());

    let mut advancing = clock_with("advancing", json!({"advancing": {"target_frozen_time": 1_700_176_400}}));
    advancing["name"] = Value::Null;
    let a: TestClock = check_value("advancing clock", advancing);
    assert_eq!((a.status, a.name), (TestClockStatus::Advancing, None));
    assert_eq!(a.status_details.advancing.map(|d| d.target_frozen_time), Some(1_700_176_400));

    let failed: TestClock = check_value("failed clock", clock_with("internal_failure", json!({})));
    assert_eq!(failed.status, TestClockStatus::InternalFailure);

    let deleted: DeletedTestClock = check_value(
        "deleted clock",
        json!({"deleted": true, "id": "clock_1Mr3I2LkdIwHu7ixjAzGv8bt", "object": "test_helpers.test_clock"}),
    );
    assert!(deleted.deleted);
    assert_eq!(deleted.object, TestClock::OBJECT);
}

#[test]
fn test_clocks_keep_unknown_statuses_and_nested_keys() {
    let v = clock_with(
        "a_future_status",
        json!({"a_future_detail": {"x": 1}, "advancing": {"target_frozen_time": 9, "a_future_key": true}}),
    );
    let c: TestClock = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.status, TestClockStatus::Unknown("a_future_status".into()));
    assert_eq!(c.status_details.extra["a_future_detail"], json!({"x": 1}));
    assert_eq!(c.status_details.advancing.as_ref().unwrap().extra["a_future_key"], true);
    assert_eq!(serde_json::to_value(&c).unwrap(), v);
}

#[test]
fn a_customer_test_clock_is_an_id_or_the_expanded_clock() {
    let mut v = fixture("customer.json");
    v["test_clock"] = json!("clock_1Mr3I2LkdIwHu7ixjAzGv8bt");
    let c: Customer = check_value("customer on a clock", v.clone());
    assert!(matches!(&c.test_clock, Some(Expandable::Id(id)) if id == "clock_1Mr3I2LkdIwHu7ixjAzGv8bt"));
    v["test_clock"] = ready_clock();
    let c: Customer = check_value("customer with its clock expanded", v);
    let clock = c.test_clock.as_ref().and_then(Expandable::as_object).unwrap();
    assert_eq!((clock.id.as_str(), clock.frozen_time), ("clock_1Mr3I2LkdIwHu7ixjAzGv8bt", 1_700_000_000));
    assert_eq!(c.test_clock.unwrap().id(), "clock_1Mr3I2LkdIwHu7ixjAzGv8bt");
}
