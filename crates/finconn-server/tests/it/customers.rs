use serde_json::json;

use crate::helpers::{random_key, TestApp};

async fn customers_are_created_updated_and_deleted(app: TestApp) {
    let c = app
        .create_customer(&[
            ("email", "jenny@example.com"),
            ("name", "Jenny Rosen"),
            ("phone", "+15555550100"),
            ("description", "first"),
            ("metadata[plan]", "gold"),
            ("metadata[team]", "a"),
            ("address[line1]", "1 Main St"),
            ("address[country]", "US"),
        ])
        .await;
    let id = c["id"].as_str().unwrap();
    assert!(id.starts_with("cus_"));
    assert_eq!(c["object"], "customer");
    assert_eq!(c["email"], "jenny@example.com");
    assert_eq!(c["metadata"], json!({"plan": "gold", "team": "a"}));
    assert_eq!(c["address"]["line1"], "1 Main St");
    assert_eq!(c["address"]["city"], serde_json::Value::Null);

    let u = app
        .post(
            &format!("/v1/customers/{id}"),
            &[("name", "J. Rosen"), ("description", ""), ("metadata[team]", ""), ("metadata[tier]", "2")],
        )
        .await
        .ok();
    assert_eq!(u["name"], "J. Rosen");
    assert_eq!(u["description"], serde_json::Value::Null, "an empty string unsets");
    assert_eq!(u["metadata"], json!({"plan": "gold", "tier": "2"}), "metadata merges; an empty value removes its key");
    assert_eq!(u["email"], "jenny@example.com", "untouched fields stay");
    let u = app.post(&format!("/v1/customers/{id}"), &[("metadata", "")]).await.ok();
    assert_eq!(u["metadata"], json!({}));

    assert_eq!(app.get(&format!("/v1/customers/{id}")).await.ok(), u);

    let d = app.delete(&format!("/v1/customers/{id}")).await.ok();
    assert_eq!(d, json!({"deleted": true, "id": id, "object": "customer"}));
    assert_eq!(app.get(&format!("/v1/customers/{id}")).await.ok(), d, "a deleted customer reads as deleted");
    let r = app.post(&format!("/v1/customers/{id}"), &[("name", "x")]).await;
    assert_eq!((r.status, r.error("code").as_str()), (404, Some("resource_missing")));
    let r = app.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(r.status, 404);
    let r = app
        .create_session(&[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", id),
            ("permissions[]", "balances"),
        ])
        .await;
    assert_eq!(r.status, 400, "a deleted customer cannot hold accounts");
}

async fn customer_parameters_are_validated(app: TestApp) {
    let r = app.post("/v1/customers", &[("email", &"x".repeat(513))]).await;
    assert_eq!((r.status, r.error("param").as_str()), (400, Some("email")));
    let r = app.post("/v1/customers", &[("phone", "123456789012345678901")]).await;
    assert_eq!(r.error("param"), "phone");
    let r = app.post("/v1/customers", &[("metadata[k]", &"v".repeat(501))]).await;
    assert_eq!(r.error("param"), "metadata");
    let r = app.post("/v1/customers", &[("balance", "10")]).await;
    assert_eq!(r.error("message"), "Received unknown parameter: balance");
    let r = app.post("/v1/customers", &[("address", "Main St")]).await;
    assert_eq!((r.error("param").as_str(), r.error("message").as_str()), (Some("address"), Some("Invalid object")));
    let r = app.get("/v1/customers/cus_missing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error("message"), "No such customer: 'cus_missing'");
    assert_eq!(r.error("param"), "id");
    let other = app.create_customer(&[]).await;
    let stranger = app.with_key(&random_key());
    assert_eq!(stranger.get(&format!("/v1/customers/{}", other["id"].as_str().unwrap())).await.status, 404);
    assert_eq!(stranger.delete(&format!("/v1/customers/{}", other["id"].as_str().unwrap())).await.status, 404);
}

async fn customer_lists_paginate_in_both_directions(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_customer(&[("email", &format!("c{i}@example.com"))]).await["id"].as_str().unwrap().to_owned(),
        );
    }
    ids.reverse(); // newest first
    let page = app.get("/v1/customers?limit=2").await.ok();
    assert_eq!(page["object"], "list");
    assert_eq!(page["url"], "/v1/customers");
    assert_eq!(page["has_more"], true);
    let got: Vec<&str> = page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(got, &ids[0..2]);
    let page2 = app.get(&format!("/v1/customers?limit=2&starting_after={}", ids[1])).await.ok();
    let got: Vec<&str> = page2["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(got, &ids[2..4]);
    let last = app.get(&format!("/v1/customers?limit=2&starting_after={}", ids[3])).await.ok();
    assert_eq!(last["has_more"], false);
    assert_eq!(last["data"].as_array().unwrap().len(), 1);
    let back = app.get(&format!("/v1/customers?limit=2&ending_before={}", ids[3])).await.ok();
    let got: Vec<&str> = back["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(got, &ids[1..3], "ending_before gives the objects just newer, still newest first");
    assert_eq!(back["has_more"], true);

    let default = app.get("/v1/customers").await.ok();
    assert_eq!(default["data"].as_array().unwrap().len(), 5);
    let by_email = app.get("/v1/customers?email=c3%40example.com").await.ok();
    assert_eq!(by_email["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_email["data"][0]["email"], "c3@example.com");
    let created = app.get("/v1/customers?created[lt]=1").await.ok();
    assert_eq!(created["data"].as_array().unwrap().len(), 0);
    let created = app.get("/v1/customers?created[gte]=1").await.ok();
    assert_eq!(created["data"].as_array().unwrap().len(), 5);

    for (q, param, msg) in [
        ("limit=0", "limit", "This value must be greater than or equal to 1."),
        ("limit=101", "limit", "This value must be less than or equal to 100."),
        ("limit=ten", "limit", "Invalid integer: ten"),
        ("starting_after=cus_nope", "starting_after", "No such customer: 'cus_nope'"),
        (
            "starting_after=a&ending_before=b",
            "starting_after",
            "You may only specify one of these parameters: starting_after, ending_before.",
        ),
        ("colour=red", "colour", "Received unknown parameter: colour"),
        ("expand[]=data.nothing", "expand[0]", "This property cannot be expanded (data.nothing)."),
    ] {
        let r = app.get(&format!("/v1/customers?{q}")).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.error("param"), param, "{q}");
        assert_eq!(r.error("message"), msg, "{q}");
    }
    let stranger = app.with_key(&random_key());
    assert_eq!(stranger.get("/v1/customers").await.ok()["data"], json!([]));
}

crate::on_both_backends!(
    customers_are_created_updated_and_deleted,
    customer_parameters_are_validated,
    customer_lists_paginate_in_both_directions,
);
