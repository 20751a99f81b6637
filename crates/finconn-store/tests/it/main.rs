//! The storage conformance suite: every test runs against SQLite and against PostgreSQL.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a failed test should panic with its cause")]

use std::collections::BTreeMap;

use finconn_core::keys::KeyKind;
use finconn_core::model::{
    AccountRecord, ApiKeyRecord, CustomerRecord, FiltersRecord, HolderRecord, IdempotencyRecord, Scope, SessionRecord,
    StoredResponse,
};
use finconn_core::store::{Commit, CommitOutcome, Cursor, CustomerFilter, PageRequest, Write};
use finconn_core::store::{Console, Database, Jobs, Objects, Tenants, Upkeep};
use finconn_core::{ids, StoreError};
use finconn_store::Db;

struct Fixture {
    db: Db,
    _dir: tempfile::TempDir,
}

async fn postgres_url() -> String {
    if let Ok(url) = std::env::var("FINCONN_TEST_DATABASE_URL") {
        return url;
    }
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL must run at 127.0.0.1:5432 (user postgres, trust auth) for these tests");
    let _ = sqlx::query("CREATE DATABASE finconn_test").execute(&mut admin).await;
    "postgres://postgres@127.0.0.1:5432/finconn_test".to_owned()
}

async fn open(postgres: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = if postgres { postgres_url().await } else { format!("sqlite://{}", dir.path().join("t.db").display()) };
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    Fixture { db, _dir: dir }
}

fn scope() -> Scope {
    Scope { account: ids::new_id(ids::ACCOUNT), livemode: false }
}

fn customer(email: &str) -> CustomerRecord {
    CustomerRecord {
        id: ids::new_id(ids::CUSTOMER),
        scope: None,
        created: 1_700_000_000,
        email: Some(email.to_owned()),
        name: None,
        description: None,
        phone: None,
        address: None,
        metadata: BTreeMap::new(),
        invoice_prefix: "ABC".into(),
        deleted: false,
        test_clock: None,
        version: 0,
    }
}

fn key(hash: &str, account: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        hash: hash.to_owned(),
        account: account.to_owned(),
        kind: KeyKind::Secret,
        livemode: false,
        sandbox: true,
        created: 1,
    }
}

async fn provisioning_is_idempotent_and_never_steals_a_key(db: &Db) {
    let a = AccountRecord { id: ids::new_id(ids::ACCOUNT), display_name: Some("A".into()), sandbox: true, created: 1 };
    let h = ids::random_base62(40);
    assert!(db.provision_account(&a, &[key(&h, &a.id)]).await.unwrap());
    assert!(db.provision_account(&a, &[key(&h, &a.id)]).await.unwrap(), "same rows again: a no-op");
    let b = AccountRecord { id: ids::new_id(ids::ACCOUNT), display_name: None, sandbox: true, created: 1 };
    let h2 = ids::random_base62(40);
    assert!(!db.provision_account(&b, &[key(&h2, &b.id), key(&h, &b.id)]).await.unwrap());
    assert!(db.find_api_key(&h2).await.unwrap().is_none(), "a refused provisioning writes nothing");
    assert_eq!(db.find_api_key(&h).await.unwrap().unwrap().account, a.id);
    assert_eq!(db.get_account(&a.id).await.unwrap().unwrap().display_name.as_deref(), Some("A"));
    assert!(db.get_account(&b.id).await.unwrap().is_none());
}

async fn customers_are_scoped_and_versioned(db: &Db) {
    let s = scope();
    let mut c = customer("a@example.com");
    db.insert_customer(&s, &c).await.unwrap();
    let got = db.get_customer(&s.account, &c.id).await.unwrap().unwrap();
    assert_eq!(got.email.as_deref(), Some("a@example.com"));
    assert_eq!(got.scope, Some(s.clone()));
    assert!(db.get_customer("acct_other", &c.id).await.unwrap().is_none());

    c.name = Some("first".into());
    assert!(db.update_customer(&s, &c).await.unwrap());
    c.name = Some("stale".into());
    assert!(!db.update_customer(&s, &c).await.unwrap(), "a write based on an old version is refused");
    let got = db.get_customer(&s.account, &c.id).await.unwrap().unwrap();
    assert_eq!(got.name.as_deref(), Some("first"));
    assert_eq!(got.version, 1);
    let other_mode = Scope { livemode: true, ..s.clone() };
    let mut g = got.clone();
    g.name = Some("live".into());
    assert!(!db.update_customer(&other_mode, &g).await.unwrap(), "the other mode cannot write it");
}

async fn lists_page_newest_first_within_scope(db: &Db) {
    let s = scope();
    let mut ids_newest_first = Vec::new();
    for i in 0..7 {
        let c = customer(&format!("{i}@x.test"));
        db.insert_customer(&s, &c).await.unwrap();
        ids_newest_first.insert(0, c.id.clone());
    }
    db.insert_customer(&scope(), &customer("stranger@x.test")).await.unwrap();
    let f = CustomerFilter::default();
    let p = db.list_customers(&s, &f, &PageRequest { limit: 3, cursor: None }).await.unwrap();
    assert!(p.has_more);
    assert_eq!(p.items.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids_newest_first[0..3]);
    let p = db
        .list_customers(&s, &f, &PageRequest { limit: 3, cursor: Some(Cursor::After(ids_newest_first[5].clone())) })
        .await
        .unwrap();
    assert!(!p.has_more);
    assert_eq!(p.items.len(), 1);
    let p = db
        .list_customers(&s, &f, &PageRequest { limit: 2, cursor: Some(Cursor::Before(ids_newest_first[3].clone())) })
        .await
        .unwrap();
    assert_eq!(p.items.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids_newest_first[1..3]);
    assert!(p.has_more);
    let err =
        db.list_customers(&s, &f, &PageRequest { limit: 2, cursor: Some(Cursor::After("cus_nope".into())) }).await;
    assert!(matches!(err, Err(StoreError::CursorNotFound)));
    let f = CustomerFilter { email: Some("4@x.test".into()), ..CustomerFilter::default() };
    assert_eq!(db.list_customers(&s, &f, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.len(), 1);
}

async fn sessions_round_trip(db: &Db) {
    let s = scope();
    let rec = SessionRecord {
        id: ids::new_id(ids::SESSION),
        scope: None,
        created: 5,
        client_secret: "fcsess_x_secret_y".into(),
        expires_at: 3605,
        holder: HolderRecord {
            kind: finconn_types::AccountHolderType::Customer,
            customer: Some("cus_1".into()),
            account: None,
            customer_account: None,
        },
        permissions: vec![finconn_types::Permission::Balances],
        prefetch: vec![],
        filters: FiltersRecord { countries: vec!["US".into()], ..FiltersRecord::default() },
        limits: Some(2),
        manual_entry: None,
        return_url: None,
        accounts: vec![],
        status: finconn_core::model::SessionStatus::Open,
        completed_at: None,
        link: finconn_core::flow::LinkStep::Consent,
        oauth_authorized: None,
        relink: None,
        relink_result: None,
        test_clock: None,
        version: 0,
    };
    db.insert_session(&s, &rec).await.unwrap();
    let got = db.get_session(&s.account, &rec.id).await.unwrap().unwrap();
    assert_eq!(got, SessionRecord { scope: Some(s.clone()), ..rec.clone() });
    assert!(db.get_session("acct_x", &rec.id).await.unwrap().is_none());
    assert!(db.insert_session(&s, &rec).await.is_err(), "ids are unique");
}

fn idem(key: &str, body: &[u8]) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        method: "POST".into(),
        path: "/v1/customers".into(),
        fingerprint: "f".into(),
        created: 100,
        response: StoredResponse { status: 200, body: body.to_vec(), request_id: "req_1".into() },
    }
}

/// A unit's writes and its key commit together; a second unit with the same key writes nothing.
async fn a_unit_commits_its_writes_and_key_together(db: &Db) {
    let s = scope();
    let (a, b) = (customer("a@example.com"), customer("b@example.com"));
    let first = Commit {
        writes: vec![Write::InsertCustomer { scope: s.clone(), rec: a.clone() }],
        idempotency: Some((s.clone(), idem("k", b"{\"first\":1}"))),
    };
    assert_eq!(db.commit(first).await.unwrap(), CommitOutcome::Committed);
    assert!(db.get_customer(&s.account, &a.id).await.unwrap().is_some());
    let stored = db.get_idempotency_key(&s, "k").await.unwrap().expect("the key is stored with the writes");
    assert_eq!(stored.response.body, b"{\"first\":1}");

    let second = Commit {
        writes: vec![Write::InsertCustomer { scope: s.clone(), rec: b.clone() }],
        idempotency: Some((s.clone(), idem("k", b"{\"second\":1}"))),
    };
    assert_eq!(db.commit(second).await.unwrap(), CommitOutcome::KeyTaken);
    assert!(db.get_customer(&s.account, &b.id).await.unwrap().is_none(), "the losing unit wrote nothing");
    assert_eq!(db.get_idempotency_key(&s, "k").await.unwrap().unwrap().response.body, b"{\"first\":1}");

    let other = Scope { account: s.account.clone(), livemode: true };
    assert!(db.get_idempotency_key(&other, "k").await.unwrap().is_none(), "keys are per mode");
    assert!(db.prune_idempotency_keys(101).await.unwrap() >= 1);
    assert!(db.get_idempotency_key(&s, "k").await.unwrap().is_none());
}

/// A compare-and-swap that fails anywhere in a unit leaves none of the unit's writes.
async fn a_conflicting_unit_writes_nothing(db: &Db) {
    let s = scope();
    let c = customer("c@example.com");
    db.insert_customer(&s, &c).await.unwrap();
    let stored = db.get_customer(&s.account, &c.id).await.unwrap().unwrap();
    assert!(db.update_customer(&s, &stored).await.unwrap());
    let fresh = customer("fresh@example.com");
    let unit = Commit {
        writes: vec![
            Write::InsertCustomer { scope: s.clone(), rec: fresh.clone() },
            // `stored` holds the version before the update above: a stale read.
            Write::UpdateCustomer { scope: s.clone(), rec: stored.clone() },
        ],
        idempotency: Some((s.clone(), idem("stale", b"{}"))),
    };
    assert_eq!(db.commit(unit).await.unwrap(), CommitOutcome::Conflict);
    assert!(db.get_customer(&s.account, &fresh.id).await.unwrap().is_none(), "the insert before it is rolled back");
    assert!(db.get_idempotency_key(&s, "stale").await.unwrap().is_none(), "and so is the key");

    // A stale update alone with its key (on PostgreSQL a plan run as one statement): the same.
    let unit = Commit {
        writes: vec![Write::UpdateCustomer { scope: s.clone(), rec: stored.clone() }],
        idempotency: Some((s.clone(), idem("stale alone", b"{}"))),
    };
    assert_eq!(db.commit(unit).await.unwrap(), CommitOutcome::Conflict);
    assert!(db.get_idempotency_key(&s, "stale alone").await.unwrap().is_none(), "the key is not stored");
    let now = db.get_customer(&s.account, &c.id).await.unwrap().unwrap();
    assert_eq!(now.version, stored.version + 1, "the record keeps the update that won, once");
}

/// Many units committed at once (SQLite: in shared batches) each get their own outcome: one unit's conflict
/// or failure does not touch the others.
async fn concurrent_units_keep_their_own_outcomes(db: &Db) {
    let s = scope();
    let dup = customer("dup@example.com");
    db.insert_customer(&s, &dup).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (db, s, dup) = (db.clone(), s.clone(), dup.clone());
        tasks.push(tokio::spawn(async move {
            let c = customer(&format!("u{i}@example.com"));
            // Every 8th unit also re-inserts an existing id: a database error for that unit alone.
            let mut writes = vec![Write::InsertCustomer { scope: s.clone(), rec: c.clone() }];
            if i % 8 == 0 {
                writes.push(Write::InsertCustomer { scope: s.clone(), rec: dup.clone() });
            }
            let out = db.commit(Commit { writes, idempotency: Some((s.clone(), idem(&format!("c{i}"), b"{}"))) }).await;
            (i, c.id, out)
        }));
    }
    for t in tasks {
        let (i, id, out) = t.await.unwrap();
        let found = db.get_customer(&s.account, &id).await.unwrap().is_some();
        let key = db.get_idempotency_key(&s, &format!("c{i}")).await.unwrap().is_some();
        if i % 8 == 0 {
            assert!(out.is_err(), "unit {i} inserted a duplicate id");
            assert!(!found && !key, "unit {i} left nothing");
        } else {
            assert_eq!(out.unwrap(), CommitOutcome::Committed, "unit {i}");
            assert!(found && key, "unit {i} is stored with its key");
        }
    }
}

async fn finished_jobs_are_pruned_and_due_jobs_are_claimed_once(db: &Db) {
    let s = scope();
    let c = customer("jobs@x.test");
    db.insert_customer(&s, &c).await.unwrap();
    let rec = SessionRecord {
        id: ids::new_id(ids::SESSION),
        scope: None,
        created: 5,
        client_secret: "x".into(),
        expires_at: 100,
        holder: HolderRecord {
            kind: finconn_types::AccountHolderType::Customer,
            customer: None,
            account: None,
            customer_account: None,
        },
        permissions: vec![],
        prefetch: vec![],
        filters: FiltersRecord::default(),
        limits: None,
        manual_entry: None,
        return_url: None,
        accounts: vec![],
        status: finconn_core::model::SessionStatus::Open,
        completed_at: None,
        link: finconn_core::flow::LinkStep::Consent,
        oauth_authorized: None,
        relink: None,
        relink_result: None,
        test_clock: None,
        version: 0,
    };
    db.insert_session(&s, &rec).await.unwrap();
    let mut done = rec.clone();
    done.status = finconn_core::model::SessionStatus::Completed;
    let job = finconn_core::model::NewJob {
        kind: finconn_core::model::JobKind::SubscriptionTick { account: "fca_none".into(), subscription: None },
        run_at: 1_000,
        test_clock: None,
    };
    let effects = finconn_core::store::Effects { jobs: vec![job], events: vec![] };
    assert!(db.complete_session(&s, &done, &[], &effects, None).await.unwrap());
    assert!(db.claim_jobs(999, 2_000, 10, Some(&s.account), None).await.unwrap().is_empty(), "not due yet");
    let claimed = db.claim_jobs(1_000, 2_000, 10, Some(&s.account), None).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(db.claim_jobs(1_500, 2_500, 10, Some(&s.account), None).await.unwrap().is_empty(), "leased");
    db.finish_job(&s, claimed[0].id, &finconn_core::accounts::RefreshOutcome::default()).await.unwrap();
    assert!(
        db.claim_jobs(3_000, 4_000, 10, Some(&s.account), None).await.unwrap().is_empty(),
        "done jobs never run again"
    );
    // done_at is the lease end (2_000): a prune before it keeps the job, after it removes it.
    assert_eq!(db.prune_jobs(1_999).await.unwrap(), 0);
    assert!(db.prune_jobs(2_001).await.unwrap() >= 1);
}

fn clock(frozen_time: i64) -> finconn_core::model::TestClockRecord {
    finconn_core::model::TestClockRecord {
        id: ids::new_id("clock_"),
        scope: None,
        created: 1,
        deletes_after: 100,
        frozen_time,
        name: None,
        status: finconn_core::model::TestClockStatus::Ready,
        target: None,
        deleted: false,
        version: 0,
    }
}

/// A job of a test clock is due when its clock gets there, however far real time has gone; claiming it
/// reports its time on the clock.
async fn test_clock_jobs_wait_for_their_clock(db: &Db) {
    use finconn_core::model::{JobKind, NewJob};
    use finconn_core::store::Effects;
    let s = scope();
    let mut c = clock(1_000);
    assert!(db.insert_test_clock(&s, &c, None, &Effects::default()).await.unwrap());
    let clock_id = c.id.clone();
    let tick = |run_at| NewJob {
        kind: JobKind::SubscriptionTick { account: "fca_x".into(), subscription: None },
        run_at,
        test_clock: Some(clock_id.clone()),
    };
    let effects = Effects { jobs: vec![tick(1_000), tick(1_000 + 86_400)], events: vec![] };
    c = db.get_test_clock(&s.account, &c.id).await.unwrap().unwrap();
    assert!(db.update_test_clock(&s, &c, &effects).await.unwrap());
    let real_now = 5_000_000_000; // real time far past both
    let claimed = db.claim_jobs(real_now, real_now + 60, 10, Some(&s.account), None).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the job at the clock's time is due");
    assert_eq!(claimed[0].run_at, 1_000, "a clock job reports its time on the clock");
    assert_eq!(claimed[0].test_clock.as_deref(), Some(c.id.as_str()));
    db.finish_job(&s, claimed[0].id, &Default::default()).await.unwrap();
    assert_eq!(db.release_clock_jobs(&c.id, 1_000).await.unwrap(), 0, "nothing left due at 1000");
    assert_eq!(db.next_clock_job(&c.id).await.unwrap(), Some(1_000 + 86_400));
    assert!(db.claim_jobs(real_now, real_now + 60, 10, Some(&s.account), None).await.unwrap().is_empty());
    assert_eq!(db.release_clock_jobs(&c.id, 1_000 + 86_400).await.unwrap(), 1, "the clock reached the next one");
    let other = clock(0);
    assert!(db.insert_test_clock(&s, &other, None, &Effects::default()).await.unwrap());
    assert!(
        db.claim_jobs(real_now, real_now + 60, 10, None, Some(&other.id)).await.unwrap().is_empty(),
        "claims for one clock leave the others' jobs"
    );
    let claimed = db.claim_jobs(real_now, real_now + 60, 10, None, Some(&c.id)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run_at, 1_000 + 86_400);
    db.finish_job(&s, claimed[0].id, &Default::default()).await.unwrap();
    assert_eq!(db.next_clock_job(&c.id).await.unwrap(), None);
    assert_eq!(db.test_clock_time(&c.id).await.unwrap(), Some(1_000));

    // Deleting a clock makes its waiting jobs due at once.
    let effects = Effects { jobs: vec![tick(9_000_000)], events: vec![] };
    c = db.get_test_clock(&s.account, &c.id).await.unwrap().unwrap();
    assert!(db.update_test_clock(&s, &c, &effects).await.unwrap());
    assert!(db.claim_jobs(real_now, real_now + 60, 10, Some(&s.account), None).await.unwrap().is_empty());
    c = db.get_test_clock(&s.account, &c.id).await.unwrap().unwrap();
    c.deleted = true;
    assert!(db.update_test_clock(&s, &c, &Effects::default()).await.unwrap());
    assert_eq!(db.claim_jobs(real_now, real_now + 60, 10, Some(&s.account), None).await.unwrap().len(), 1);
    let stale = finconn_core::model::TestClockRecord { version: 0, ..c.clone() };
    assert!(!db.update_test_clock(&s, &stale, &Effects::default()).await.unwrap(), "compare-and-swap on version");
}

async fn test_clocks_attach_customers_once(db: &Db) {
    use finconn_core::store::{CustomerFilter, Effects};
    let s = scope();
    let cust = customer("clock@x.test");
    db.insert_customer(&s, &cust).await.unwrap();
    let plain = customer("plain@x.test");
    db.insert_customer(&s, &plain).await.unwrap();
    let first = clock(10);
    let read = db.get_customer(&s.account, &cust.id).await.unwrap().unwrap();
    let attached = CustomerRecord { test_clock: Some(first.id.clone()), ..read.clone() };
    assert!(db.insert_test_clock(&s, &first, Some(&attached), &Effects::default()).await.unwrap());
    let second = clock(20);
    assert!(
        !db.insert_test_clock(
            &s,
            &second,
            Some(&CustomerRecord { test_clock: Some(second.id.clone()), ..read }),
            &Effects::default()
        )
        .await
        .unwrap(),
        "a customer read before it was attached cannot be attached again"
    );
    assert!(db.get_test_clock(&s.account, &second.id).await.unwrap().is_none(), "a refused clock is not written");
    let page = PageRequest { limit: 10, cursor: None };
    let all = db.list_customers(&s, &CustomerFilter::default(), &page).await.unwrap();
    assert_eq!(
        all.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [plain.id.as_str()],
        "clock customers are left out"
    );
    let on_clock = CustomerFilter { test_clock: Some(first.id.clone()), ..Default::default() };
    let mine = db.list_customers(&s, &on_clock, &page).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].test_clock.as_deref(), Some(first.id.as_str()));
    let clocks = db.list_test_clocks(&s, &page).await.unwrap();
    assert_eq!(clocks.items.len(), 1);
    assert_eq!(db.expired_test_clocks(99).await.unwrap().iter().filter(|(sc, _)| *sc == s).count(), 0);
    assert_eq!(db.expired_test_clocks(100).await.unwrap().iter().filter(|(sc, _)| *sc == s).count(), 1);
}

fn log_row(scope: &Scope, created_ms: i64) -> finconn_core::console::RequestLogRecord {
    finconn_core::console::RequestLogRecord {
        seq: 0,
        scope: scope.clone(),
        request_id: ids::new_id(ids::REQUEST),
        created_ms,
        method: "GET".into(),
        path: "/v1/financial_connections/accounts".into(),
        status: 200,
        duration_ms: 1,
        idempotency_key: None,
        error_type: None,
        error_code: None,
        error_param: None,
    }
}

/// The `seq`s of a scope's whole request log, newest first.
async fn logged(db: &Db, scope: &Scope) -> Vec<i64> {
    let filter = finconn_core::console::RequestLogFilter::default();
    let (mut out, mut before) = (Vec::new(), None);
    loop {
        let page = db.list_request_log(scope, &filter, before, 100).await.unwrap();
        out.extend(page.items.iter().map(|r| r.seq));
        before = out.last().copied();
        if !page.has_more {
            return out;
        }
    }
}

/// Pruning removes rows past the age limit and beyond the newest `keep` of each account and mode, in
/// chunks (more rows than one chunk here), and keeps exactly the newest.
async fn the_request_log_prunes_by_age_and_rows_per_mode(db: &Db) {
    let now_ms = 1_800_000_000_000;
    let day_ms = 86_400_000;
    let a_test = scope();
    let a_live = Scope { account: a_test.account.clone(), livemode: true };
    let b = scope();
    let mut rows = Vec::new();
    rows.extend((0..2600).map(|i| log_row(&a_test, now_ms - 2600 + i)));
    rows.extend((0..300).map(|i| log_row(&a_live, now_ms - 300 + i)));
    rows.extend((0..1200).map(|i| log_row(&b, now_ms - 10 * day_ms + i)));
    rows.extend((0..50).map(|i| log_row(&b, now_ms - 50 + i)));
    for chunk in rows.chunks(500) {
        db.insert_request_log(chunk).await.unwrap();
    }
    let (before_a, before_live) = (logged(db, &a_test).await, logged(db, &a_live).await);
    assert_eq!((before_a.len(), before_live.len(), logged(db, &b).await.len()), (2600, 300, 1250));

    let removed = db.prune_request_log(now_ms - 7 * day_ms, 100).await.unwrap();
    assert!(removed >= 2500 + 200 + 1200, "removed {removed}");
    assert_eq!(logged(db, &a_test).await, before_a[..100], "the newest 100 of test mode stay");
    assert_eq!(logged(db, &a_live).await, before_live[..100], "and of live mode, counted apart");
    let left_b = logged(db, &b).await;
    assert_eq!(left_b.len(), 50, "rows older than the age limit go, though under the row limit");

    db.prune_request_log(now_ms - 7 * day_ms, 100).await.unwrap();
    assert_eq!(logged(db, &a_test).await, before_a[..100], "a second prune keeps them");
    assert_eq!(logged(db, &b).await, left_b);
}

/// Many lookups by id at once (on PostgreSQL they are answered in batches, one statement for many): each gets
/// its own object, a foreign account's id and an unknown id get nothing, and one id asked twice is answered
/// twice.
async fn concurrent_lookups_each_get_their_own_object(db: &Db) {
    let (mine, theirs) = (scope(), scope());
    let mut own = Vec::new();
    for i in 0..40 {
        let c = customer(&format!("{i}@mine.test"));
        db.insert_customer(&mine, &c).await.unwrap();
        own.push(c);
    }
    let stranger = customer("stranger@theirs.test");
    db.insert_customer(&theirs, &stranger).await.unwrap();
    // (id asked for, email expected)
    let mut asks: Vec<(String, Option<String>)> = Vec::new();
    for round in 0..5 {
        for (i, c) in own.iter().enumerate() {
            asks.push((c.id.clone(), c.email.clone()));
            if (i + round) % 7 == 0 {
                asks.push((stranger.id.clone(), None));
                asks.push((ids::new_id(ids::CUSTOMER), None));
            }
        }
    }
    let answers = futures::future::join_all(asks.iter().map(|(id, _)| db.get_customer(&mine.account, id))).await;
    assert_eq!(answers.len(), asks.len());
    for ((id, email), got) in asks.iter().zip(answers) {
        let got = got.unwrap();
        assert_eq!(got.as_ref().map(|c| c.id.as_str()), email.as_ref().map(|_| id.as_str()), "{id}");
        assert_eq!(got.and_then(|c| c.email), *email, "{id}");
    }
    let theirs_seen = db.get_customer(&theirs.account, &stranger.id).await.unwrap();
    assert_eq!(theirs_seen.and_then(|c| c.email).as_deref(), Some("stranger@theirs.test"));
}

/// A trim as rows arrive keeps exactly the newest `keep` of one account and mode and says how many rows it
/// removed: the blocks wholly older go, the block the limit cuts through keeps its newest rows (and their
/// `seq`), and the other mode and accounts are not touched.
async fn request_log_trims_keep_exactly_the_newest(db: &Db) {
    let now_ms = 1_800_000_000_000;
    let s = scope();
    let live = Scope { account: s.account.clone(), livemode: true };
    let other = scope();
    // Three batches of 200: three blocks.
    for b in 0..3 {
        let rows: Vec<_> = (0..200).map(|i| log_row(&s, now_ms - 600 + b * 200 + i)).collect();
        db.insert_request_log(&rows).await.unwrap();
    }
    db.insert_request_log(&[log_row(&live, now_ms), log_row(&other, now_ms)]).await.unwrap();
    let before = logged(db, &s).await;
    assert_eq!(before.len(), 600);
    assert!(before.windows(2).all(|w| w[0] > w[1]), "newest first, each seq once");
    assert_eq!(db.trim_request_log(&s, 250).await.unwrap(), 350);
    assert_eq!(logged(db, &s).await, before[..250], "the newest 250, their seq unchanged");
    assert_eq!(db.trim_request_log(&s, 250).await.unwrap(), 0, "nothing beyond the limit");

    let more: Vec<_> = (0..300).map(|i| log_row(&s, now_ms + i)).collect();
    db.insert_request_log(&more).await.unwrap();
    let before = logged(db, &s).await;
    assert_eq!(before.len(), 550);
    assert_eq!(db.trim_request_log(&s, 100).await.unwrap(), 450);
    assert_eq!(logged(db, &s).await, before[..100]);
    assert_eq!(logged(db, &live).await.len(), 1, "the other mode keeps its row");
    assert_eq!(logged(db, &other).await.len(), 1, "and the other account");
    assert_eq!(db.trim_request_log(&s, 0).await.unwrap(), 100);
    assert!(logged(db, &s).await.is_empty());
}

/// The request log's filters and cursor: a page holds rows of one scope newest first; `errors_only` and a
/// request id pick across blocks; `before` continues exactly after the last row shown.
async fn request_log_pages_and_filters_across_blocks(db: &Db) {
    let now_ms = 1_800_000_000_000;
    let s = scope();
    let mut all = Vec::new();
    for b in 0..40 {
        let rows: Vec<_> = (0..7)
            .map(|i| {
                let mut r = log_row(&s, now_ms + b * 7 + i);
                if (b * 7 + i) % 5 == 0 {
                    r.status = 402;
                    r.error_type = Some("card_error".into());
                }
                r
            })
            .collect();
        all.extend(rows.iter().map(|r| (r.request_id.clone(), r.status)));
        db.insert_request_log(&rows).await.unwrap();
    }
    all.reverse();
    let errors = finconn_core::console::RequestLogFilter { errors_only: true, ..Default::default() };
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let page = db.list_request_log(&s, &errors, before, 9).await.unwrap();
        assert!(page.items.len() <= 9);
        seen.extend(page.items.iter().map(|r| (r.request_id.clone(), r.status)));
        before = page.items.last().map(|r| r.seq);
        if !page.has_more {
            break;
        }
    }
    let want: Vec<_> = all.iter().filter(|(_, status)| *status >= 400).cloned().collect();
    assert_eq!(want.len(), 56);
    assert_eq!(seen, want, "every error, newest first, once");
    let (id, _) = &all[137];
    let by_id = finconn_core::console::RequestLogFilter { request_id: Some(id.clone()), ..Default::default() };
    let found = db.list_request_log(&s, &by_id, None, 50).await.unwrap();
    assert_eq!(found.items.iter().map(|r| &r.request_id).collect::<Vec<_>>(), [id]);
    assert!(!found.has_more);
    let stranger = db.list_request_log(&scope(), &Default::default(), None, 50).await.unwrap();
    assert!(stranger.items.is_empty(), "another account sees none of it");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { let f = super::open(false).await; super::$name(&f.db).await; } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { let f = super::open(true).await; super::$name(&f.db).await; } )*
        }
    };
}

conformance!(
    provisioning_is_idempotent_and_never_steals_a_key,
    customers_are_scoped_and_versioned,
    lists_page_newest_first_within_scope,
    sessions_round_trip,
    a_unit_commits_its_writes_and_key_together,
    a_conflicting_unit_writes_nothing,
    concurrent_units_keep_their_own_outcomes,
    finished_jobs_are_pruned_and_due_jobs_are_claimed_once,
    test_clock_jobs_wait_for_their_clock,
    test_clocks_attach_customers_once,
    the_request_log_prunes_by_age_and_rows_per_mode,
    concurrent_lookups_each_get_their_own_object,
    request_log_trims_keep_exactly_the_newest,
    request_log_pages_and_filters_across_blocks,
);

#[tokio::test]
async fn sqlite_data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let s = scope();
    let c = customer("keep@x.test");
    {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.insert_customer(&s, &c).await.unwrap();
        db.close().await;
    }
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.get_customer(&s.account, &c.id).await.unwrap().is_some());
}

/// `finconn keys create` (or `finconn migrate`) run beside a serving process: two connection pools on one SQLite
/// file, each writing in transactions that read before they write. A deferred transaction would fail with
/// SQLITE_BUSY_SNAPSHOT (517) instead of waiting for the other writer.
#[tokio::test]
async fn sqlite_two_processes_on_one_file_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let first = Db::connect(&url).await.unwrap();
    first.migrate().await.unwrap();
    let second = Db::connect(&url).await.unwrap();
    second.migrate().await.unwrap();

    let provision = |db: Db| {
        tokio::spawn(async move {
            let mut made = Vec::new();
            for _ in 0..40 {
                let a = AccountRecord { id: ids::new_id(ids::ACCOUNT), display_name: None, sandbox: false, created: 1 };
                let h = ids::random_base62(40);
                assert!(db.provision_account(&a, &[key(&h, &a.id)]).await.unwrap());
                made.push(h);
            }
            made
        })
    };
    let writer = |db: Db| {
        tokio::spawn(async move {
            let s = scope();
            for i in 0..40 {
                db.insert_customer(&s, &customer(&format!("c{i}@x.test"))).await.unwrap();
            }
        })
    };
    let (a, b, c, d) = tokio::join!(
        provision(first.clone()),
        provision(second.clone()),
        writer(first.clone()),
        writer(second.clone())
    );
    c.unwrap();
    d.unwrap();
    for h in a.unwrap().into_iter().chain(b.unwrap()) {
        assert!(first.find_api_key(&h).await.unwrap().is_some(), "every provisioned key is stored");
    }
}

const OLD_LOG_TABLE: &str = "CREATE TABLE request_log (seq INTEGER PRIMARY KEY, account_id TEXT NOT NULL, \
     livemode BOOLEAN NOT NULL, request_id TEXT NOT NULL, created_ms BIGINT NOT NULL, method TEXT NOT NULL, \
     path TEXT NOT NULL, status INTEGER NOT NULL, duration_ms BIGINT NOT NULL, idempotency_key TEXT, \
     error_type TEXT, error_code TEXT, error_param TEXT)";

const OLD_LOG_INSERT: &str = "INSERT INTO request_log (seq, account_id, livemode, request_id, created_ms, method, \
     path, status, duration_ms, idempotency_key, error_type, error_code, error_param) \
     VALUES ($1, $2, false, $3, $4, 'POST', '/v1/customers', $5, 3, 'k1', $6, NULL, NULL)";

/// Creates the old one-row-per-request table on connection `$c` and puts `OLD_LOG_ROWS` of scope `$s` in it.
macro_rules! insert_old_log_rows {
    ($c:ident, $s:ident) => {
        sqlx::raw_sql(OLD_LOG_TABLE).execute(&mut $c).await.unwrap();
        for (seq, status, kind) in OLD_LOG_ROWS {
            sqlx::query(OLD_LOG_INSERT)
                .bind(seq)
                .bind(&$s.account)
                .bind(format!("req_old{seq}"))
                .bind(1_800_000_000_000 + seq)
                .bind(status as i32)
                .bind(kind)
                .execute(&mut $c)
                .await
                .unwrap();
        }
    };
}

/// A database at `url` with every migration applied, closed.
async fn migrated(url: &str) {
    let db = Db::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
}

/// SQLite keeps the request log in a file of its own (`<file>-requests`). A database from before migration
/// 0013 kept it in its `request_log` table: opening it moves those rows into the file in their order,
/// drops the table, and new rows are numbered after them.
#[tokio::test]
async fn sqlite_request_log_moves_to_its_own_file() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    let s = scope();
    migrated(&url).await;
    // The database as 0012 left it: the table in the file, rows in it, 0013 not applied, no log file yet.
    for suffix in ["-requests", "-requests-wal", "-requests-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("DELETE FROM _sqlx_migrations WHERE version = 13").execute(&mut c).await.unwrap();
        insert_old_log_rows!(c, s);
        c.close().await.unwrap();
    }

    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.migration_status().await.unwrap().is_current());
    converted_old_rows(&db, &s).await;
    db.close().await;

    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (tables,): (i64,) = sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE name = 'request_log'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(tables, 0, "the database's own table is gone");
    assert!(std::path::Path::new(&format!("{}-requests", path.display())).exists());
}

/// The rows of the old one-row-per-request layout, as both backends held them before blocks.
const OLD_LOG_ROWS: [(i64, i64, Option<&str>); 3] = [(7, 200, None), (8, 402, Some("card_error")), (40, 200, None)];

/// Checks the three `OLD_LOG_ROWS` of `s` came through a conversion: newest first, in their order, every
/// field, and a new row is numbered after them.
async fn converted_old_rows(db: &Db, s: &Scope) {
    let rows = db.list_request_log(s, &Default::default(), None, 100).await.unwrap().items;
    let seen: Vec<_> = rows.iter().map(|r| (r.request_id.as_str(), r.status, r.error_type.as_deref())).collect();
    assert_eq!(seen, [("req_old40", 200, None), ("req_old8", 402, Some("card_error")), ("req_old7", 200, None)]);
    assert!(rows.windows(2).all(|w| w[0].seq > w[1].seq), "in their order");
    let r = &rows[1];
    assert_eq!(
        (r.created_ms, r.method.as_str(), r.path.as_str(), r.duration_ms, r.idempotency_key.as_deref()),
        (1_800_000_000_008, "POST", "/v1/customers", 3, Some("k1"))
    );
    assert_eq!((r.error_code.as_deref(), r.error_param.as_deref()), (None, None));
    db.insert_request_log(&[log_row(s, 1_800_000_000_100)]).await.unwrap();
    let newest = db.list_request_log(s, &Default::default(), None, 1).await.unwrap().items;
    assert!(newest[0].seq > rows[0].seq, "new rows come after the converted ones: {}", newest[0].seq);
    let errors = finconn_core::console::RequestLogFilter { errors_only: true, ..Default::default() };
    assert_eq!(db.list_request_log(s, &errors, None, 10).await.unwrap().items.len(), 1);
}

/// A SQLite log file written before blocks (one table row per request) is converted when opened: its rows
/// become blocks in the same order, its table is dropped.
#[tokio::test]
async fn sqlite_request_log_file_from_before_blocks_is_converted() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.db");
    let url = format!("sqlite://{}", path.display());
    let s = scope();
    migrated(&url).await;
    let file = format!("sqlite://{}-requests", path.display());
    {
        let mut c = sqlx::SqliteConnection::connect(&file).await.unwrap();
        sqlx::raw_sql("DROP TABLE request_log_blocks").execute(&mut c).await.unwrap();
        insert_old_log_rows!(c, s);
        c.close().await.unwrap();
    }
    let db = Db::connect(&url).await.unwrap();
    converted_old_rows(&db, &s).await;
    db.close().await;
    let mut c = sqlx::SqliteConnection::connect(&file).await.unwrap();
    let (tables,): (i64,) = sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE name = 'request_log'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(tables, 0, "the old table is gone");
}

/// PostgreSQL's migration 0015 converts the `request_log` table into blocks (a database of its own: it
/// drops and recreates the log's tables).
#[tokio::test]
async fn postgres_request_log_table_becomes_blocks() {
    use sqlx::Connection;
    let base = postgres_url().await;
    let (server, _) = base.rsplit_once('/').unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    let name = "finconn_log_blocks";
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("{server}/{name}");
    let s = scope();
    {
        migrated(&url).await;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("DROP TABLE request_log_blocks; DELETE FROM _sqlx_migrations WHERE version = 15")
            .execute(&mut c)
            .await
            .unwrap();
        insert_old_log_rows!(c, s);
        c.close().await.unwrap();
    }
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.migration_status().await.unwrap().is_current());
    converted_old_rows(&db, &s).await;
    db.close().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
}
