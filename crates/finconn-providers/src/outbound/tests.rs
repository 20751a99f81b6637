//! The policy against local servers on 127.0.0.1 (which count what reaches them); every other address is
//! checked by classification only: no test opens a connection outside 127.0.0.0/8.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A one-route HTTP server: answers every request with `reply(request head)`, records the heads.
struct Local {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Local {
    async fn start(reply: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Local {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, reply) = (seen.clone(), Arc::new(reply));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (seen, reply) = (seen2.clone(), reply.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    seen.lock().unwrap().push(head.clone());
                    match reply(&head) {
                        Some(r) => {
                            let _ = sock.write_all(r.as_bytes()).await;
                        }
                        // Never answer.
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        Local { port, seen }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
    }
}

fn ok(body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

fn redirect(to: &str) -> Option<String> {
    Some(format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"))
}

fn outbound(allow_loopback: bool) -> Outbound {
    Outbound::new(Policy { allow_loopback, timeout: Duration::from_secs(5), ..Policy::default() }).unwrap()
}

fn refused(r: Result<Response, OutboundError>) -> String {
    match r {
        Err(OutboundError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn loopback_is_refused_by_default_and_nothing_is_sent() {
    let local = Local::start(|_| ok("hi")).await;
    let o = outbound(false);
    let m = refused(o.get(&local.url("/x?secret=abc"), None).await);
    assert!(m.contains("loopback") && m.contains("connector_allow_loopback"), "{m}");
    assert!(!m.contains("secret"), "{m}");
    let by_name = url::Url::parse(&format!("http://localhost:{}/x", local.port)).unwrap();
    refused(o.get(&by_name, None).await);
    let https_name = url::Url::parse(&format!("https://localhost:{}/x", local.port)).unwrap();
    let m = refused(o.get(&https_name, None).await);
    assert!(m.contains("localhost") && m.contains("loopback"), "the resolver says why: {m}");
    let https = url::Url::parse(&format!("https://127.0.0.1:{}/", local.port)).unwrap();
    refused(o.get(&https, None).await);
    let mapped = url::Url::parse(&format!("http://[::ffff:127.0.0.1]:{}/", local.port)).unwrap();
    refused(o.get(&mapped, None).await);
    refused(o.post_empty(&local.url("/claim/x")).await);
    assert_eq!(local.count(), 0, "the loopback listener saw no request");
}

#[test]
fn private_and_metadata_addresses_are_refused_before_any_connection() {
    let o = outbound(true);
    for u in [
        "https://10.0.0.1/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://0.0.0.0/",
        "https://0xa9fea9fe/",
    ] {
        let url = url::Url::parse(u).unwrap();
        assert!(matches!(o.check_url(&url), Err(OutboundError::Refused(_))), "{u}");
    }
    let off = outbound(false);
    for u in ["https://2130706433/", "http://127.0.0.1/", "https://[::1]/"] {
        assert!(matches!(off.check_url(&url::Url::parse(u).unwrap()), Err(OutboundError::Refused(_))), "{u}");
    }
    // Plain http only to loopback, even when loopback is allowed; no credentials in URLs.
    assert!(o.check_url(&url::Url::parse("http://example.com/").unwrap()).is_err());
    assert!(o.check_url(&url::Url::parse("https://u:p@example.com/").unwrap()).is_err());
    assert!(o.check_url(&url::Url::parse("ftp://example.com/").unwrap()).is_err());
    assert!(o.check_url(&url::Url::parse("https://example.com/simplefin").unwrap()).is_ok());
}

#[tokio::test]
async fn allowed_loopback_works_and_carries_authorization() {
    let local = Local::start(|_| ok("hello")).await;
    let o = outbound(true);
    let r = o.get(&local.url("/accounts"), Some("Basic dTpw")).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"hello".as_slice()));
    let head = local.seen.lock().unwrap()[0].to_lowercase();
    assert!(head.contains("authorization: basic dtpw"), "{head}");
    assert!(head.contains("user-agent: finconn/"), "{head}");
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    let other = Local::start(|_| ok("other")).await;
    let other_port = other.port;
    let local = Local::start(move |head| {
        if head.starts_with("GET /same") {
            redirect("/final")
        } else if head.starts_with("GET /final") {
            ok("final")
        } else if head.starts_with("GET /elsewhere") {
            redirect(&format!("http://localhost:{other_port}/x?user=u&pass=secretpw"))
        } else if head.starts_with("GET /metadata") {
            redirect("https://169.254.169.254/latest/meta-data")
        } else if head.starts_with("GET /loop") {
            redirect("/loop")
        } else {
            redirect("/final")
        }
    })
    .await;
    let o = outbound(true);
    let r = o.get(&local.url("/same"), Some("Basic x")).await.unwrap();
    assert_eq!(r.body, b"final");
    let heads = local.seen.lock().unwrap().clone();
    assert!(heads[1].to_lowercase().contains("authorization: basic x"), "same-origin hop keeps credentials");
    match o.get(&local.url("/elsewhere"), Some("Basic x")).await {
        Err(OutboundError::Redirect(m)) => {
            assert!(m.contains("another host") && !m.contains("secretpw"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(other.count(), 0, "credentials never went to the other host");
    assert!(matches!(
        o.get(&local.url("/metadata"), None).await,
        Err(OutboundError::Redirect(_) | OutboundError::Refused(_))
    ));
    assert!(matches!(o.get(&local.url("/loop"), None).await, Err(OutboundError::Redirect(_))));
    // A claim follows no redirect at all, and says it sent an empty body.
    let r = o.post_empty(&local.url("/claim/abc")).await.unwrap();
    assert_eq!(r.status, 302);
    let claim = local.seen.lock().unwrap().last().cloned().unwrap().to_lowercase();
    assert!(claim.starts_with("post /claim/abc") && claim.contains("content-length: 0"), "{claim}");
}

#[tokio::test]
async fn size_and_time_are_bounded() {
    let big = Local::start(|_| ok(&"x".repeat(5000))).await;
    let o = Outbound::new(Policy { allow_loopback: true, max_response_bytes: 1000, ..Policy::default() }).unwrap();
    assert!(matches!(o.get(&big.url("/"), None).await, Err(OutboundError::TooLarge(1000))));
    let silent = Local::start(|_| None).await;
    let o = Outbound::new(Policy { allow_loopback: true, timeout: Duration::from_millis(300), ..Policy::default() })
        .unwrap();
    assert!(matches!(o.get(&silent.url("/"), None).await, Err(OutboundError::Timeout)));
}

#[tokio::test]
async fn webhook_policies_allow_plain_http_and_private_networks_only_when_asked() {
    let webhooks = Outbound::new(Policy { allow_loopback: true, require_https: false, ..Policy::default() }).unwrap();
    assert!(webhooks.check_url(&url::Url::parse("http://example.com/hook").unwrap()).is_ok());
    assert!(webhooks.check_url(&url::Url::parse("http://10.1.2.3/hook").unwrap()).is_err());
    assert!(webhooks.check_url(&url::Url::parse("http://169.254.169.254/").unwrap()).is_err());
    let private = Outbound::new(Policy { allow_private: true, require_https: false, ..Policy::default() }).unwrap();
    assert!(private.check_url(&url::Url::parse("http://10.1.2.3/hook").unwrap()).is_ok());
    assert!(private.check_url(&url::Url::parse("http://[fd00::1]/hook").unwrap()).is_ok());
    assert!(private.check_url(&url::Url::parse("http://169.254.169.254/").unwrap()).is_err(), "metadata never");
    assert!(private.check_url(&url::Url::parse("http://127.0.0.1/").unwrap()).is_err(), "loopback not asked for");

    let local =
        Local::start(|head| if head.starts_with("POST /redirect") { redirect("/elsewhere") } else { ok("x") }).await;
    let status =
        webhooks.post(&local.url("/hook"), &[("content-type", "application/json")], b"{}".to_vec()).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(webhooks.post(&local.url("/redirect"), &[], Vec::new()).await.unwrap(), 302, "no redirect followed");
    assert_eq!(local.count(), 2);
}
