use crate::helpers::TestApp;

fn session_form(cus: &str) -> Vec<(&'static str, String)> {
    vec![
        ("account_holder[type]", "customer".into()),
        ("account_holder[customer]", cus.to_owned()),
        ("permissions[]", "balances".into()),
    ]
}

async fn a_repeated_key_replays_the_first_response(app: TestApp) {
    let cus = app.create_customer(&[]).await["id"].as_str().unwrap().to_owned();
    let form = session_form(&cus);
    let send = |key: &'static str, form: Vec<(&'static str, String)>| {
        let req = app
            .request(reqwest::Method::POST, "/v1/financial_connections/sessions")
            .header("Idempotency-Key", key)
            .form(&form);
        app.send(req)
    };
    let first = send("key-1", form.clone()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotency-key"), Some("key-1"));
    assert!(first.header("idempotent-replayed").is_none());
    let second = send("key-1", form.clone()).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body, "same session, same client secret");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.header("original-request"), first.header("request-id"));
    assert_ne!(second.header("request-id"), first.header("request-id"));

    let mut other = form.clone();
    other.push(("prefetch[]", "balances".into()));
    let mismatch = send("key-1", other).await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(mismatch.error("type"), "idempotency_error");
    assert_eq!(
        mismatch.error("message"),
        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'key-1' if you meant to execute a different request."
    );
    let other_endpoint =
        app.send(app.request(reqwest::Method::POST, "/v1/customers").header("Idempotency-Key", "key-1")).await;
    assert_eq!(other_endpoint.status, 400);
    assert_eq!(other_endpoint.error("type"), "idempotency_error");

    // Keys belong to one account: another tenant's same key is a new request.
    let stranger = app.with_key(&crate::helpers::random_key());
    let theirs = stranger
        .send(stranger.request(reqwest::Method::POST, "/v1/customers").header("Idempotency-Key", "key-1"))
        .await;
    assert_eq!(theirs.status, 200);
}

async fn validation_failures_are_not_remembered(app: TestApp) {
    let bad = app
        .send(
            app.request(reqwest::Method::POST, "/v1/customers").header("Idempotency-Key", "k2").form(&[("nope", "1")]),
        )
        .await;
    assert_eq!(bad.status, 400);
    let good = app
        .send(
            app.request(reqwest::Method::POST, "/v1/customers")
                .header("Idempotency-Key", "k2")
                .form(&[("email", "a@b.c")]),
        )
        .await;
    assert_eq!(good.status, 200, "{}", good.body);
    let long = "k".repeat(256);
    let r = app.send(app.request(reqwest::Method::POST, "/v1/customers").header("Idempotency-Key", long)).await;
    assert_eq!(r.status, 400);
}

async fn concurrent_duplicates_create_one_object(app: TestApp) {
    let cus = app.create_customer(&[]).await["id"].as_str().unwrap().to_owned();
    let form = session_form(&cus);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let req = app
            .request(reqwest::Method::POST, "/v1/financial_connections/sessions")
            .header("Idempotency-Key", "race")
            .form(&form);
        tasks.push(app.send(req));
    }
    let results = futures::future::join_all(tasks).await;
    let mut ids = std::collections::HashSet::new();
    for r in &results {
        match r.status {
            200 => {
                ids.insert(r.body["id"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_eq!(r.error("code"), "idempotency_key_in_use");
                assert_eq!(r.header("stripe-should-retry"), Some("true"));
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same session: {ids:?}");
}

crate::on_both_backends!(
    a_repeated_key_replays_the_first_response,
    validation_failures_are_not_remembered,
    concurrent_duplicates_create_one_object,
);
