//! The fake against the protocol text: one-time claims, Basic auth, both shapes, windows, controls.
#![expect(clippy::unwrap_used, reason = "a failed test should panic with its cause")]

use base64::Engine;
use finconn_fake_simplefin::{FakeSimplefin, Options};
use serde_json::Value;

const DAY: i64 = 86_400;

async fn get(url: &str, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn claim_once_then_read_accounts_in_both_shapes() {
    let now = 1_790_000_000;
    let fake = FakeSimplefin::start(Options { now: Some(now), ..Options::default() }).await.unwrap();
    let (token, claim_url, user) = fake.create_token(None);
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&token).unwrap()).unwrap();
    assert_eq!(decoded, claim_url);
    let http = reqwest::Client::new();
    let no_length = http.post(&claim_url).send().await.unwrap();
    assert_eq!(no_length.status(), 411, "a claim needs Content-Length: 0");
    let first = http.post(&claim_url).header("content-length", "0").send().await.unwrap();
    assert_eq!(first.status(), 200);
    let access = first.text().await.unwrap();
    let again = http.post(&claim_url).header("content-length", "0").send().await.unwrap();
    assert_eq!(again.status(), 403, "a token works once");
    let parsed = url::Url::parse(&access).unwrap();
    assert!(parsed.password().unwrap().contains("%40"), "the password needs percent-encoding: {access}");
    let user_name = parsed.username().to_owned();
    let password = percent_encoding::percent_decode_str(parsed.password().unwrap()).decode_utf8().unwrap().to_string();
    let auth = Some((user_name.as_str(), password.as_str()));
    let root = fake.base_url();

    let (status, _) = get(&format!("{root}/accounts"), Some(("x", "y"))).await;
    assert_eq!(status, 403);
    let (status, body) = get(&format!("{root}/accounts?version=2&balances-only=1"), auth).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["connections"].as_array().unwrap().len(), 2);
    assert!(v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a.get("transactions").is_none() && a["conn_id"].is_string()));
    let (_, body) = get(&format!("{root}/accounts?balances-only=1"), auth).await;
    let v1: Value = serde_json::from_str(&body).unwrap();
    assert!(v1.get("errlist").is_none() && v1.get("connections").is_none());
    assert!(v1["accounts"][0]["org"]["sfin-url"].is_string() && v1["accounts"][0].get("conn_id").is_none());

    // Windows: end exclusive, pending only on request, one account only.
    let (start, end) = (now - 60 * DAY, now + 1);
    let q = format!("{root}/accounts?version=2&account=ACT-CHK&start-date={start}&end-date={end}");
    let (_, body) = get(&q, auth).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    let txns = accounts[0]["transactions"].as_array().unwrap();
    assert!(txns.iter().all(|t| t["pending"] == false));
    assert!(txns.iter().all(|t| (start..end).contains(&t["posted"].as_i64().unwrap())));
    let (_, body) = get(&format!("{q}&pending=1"), auth).await;
    let with_pending: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(with_pending["accounts"][0]["transactions"].as_array().unwrap().len(), txns.len() + 2);
    let (status, _) = get(&format!("{root}/accounts?start-date={}&end-date={now}", now - 91 * DAY), auth).await;
    assert_eq!(status, 400, "windows over 90 days are refused");
    assert_eq!(fake.requests(&user), 5, "requests with wrong credentials count for nobody");
    fake.revoke(&user);
    let (status, _) = get(&format!("{root}/accounts"), auth).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn control_routes_shape_the_next_answers() {
    let fake = FakeSimplefin::start(Options::default()).await.unwrap();
    let root = fake.base_url();
    let control = root.replace("/simplefin", "/_control");
    let http = reqwest::Client::new();
    let t: Value =
        http.post(format!("{control}/tokens")).json(&serde_json::json!({})).send().await.unwrap().json().await.unwrap();
    let user = t["user"].as_str().unwrap();
    let access = http
        .post(t["claim_url"].as_str().unwrap())
        .header("content-length", "0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = url::Url::parse(&access).unwrap();
    let password = percent_encoding::percent_decode_str(parsed.password().unwrap()).decode_utf8().unwrap().to_string();
    let auth = Some((parsed.username(), password.as_str()));
    http.post(format!("{control}/users/{user}/errors"))
        .json(&serde_json::json!({"code": "con.auth", "msg": "Authentication required", "conn_id": "CON-B"}))
        .send()
        .await
        .unwrap();
    let (_, body) = get(&format!("{root}/accounts?version=2"), auth).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errlist"][0]["code"], "con.auth");
    assert_eq!(v["errors"][0], "Authentication required");
    http.post(format!("{control}/users/{user}/http_status"))
        .json(&serde_json::json!({"status": 429, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&format!("{root}/accounts"), auth).await.0, 429);
    assert_eq!(get(&format!("{root}/accounts"), auth).await.0, 200);
    http.post(format!("{control}/redirect"))
        .json(&serde_json::json!({"path": "/simplefin/accounts", "location": "http://localhost:1/x"}))
        .send()
        .await
        .unwrap();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{root}/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let log: Value = http.get(format!("{control}/requests")).send().await.unwrap().json().await.unwrap();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"].as_str().unwrap().contains("/claim/") && r["content_length"] == "0"));
    assert!(!log.to_string().contains(&password), "the log never holds credentials");
}
