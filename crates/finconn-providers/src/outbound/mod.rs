//! The one way a connector reaches the network. Connectors fetch URLs their users supply (a setup token is
//! a URL), so every request is checked before a socket opens: https only (plain http only to loopback,
//! and only when the operator allows loopback for tests or a local server), no credentials in URLs, IP
//! literals classified (`address.rs`), host names resolved by a resolver that drops every refused address
//! — the connection goes only to addresses that passed, so DNS cannot rebind it elsewhere — redirects
//! followed by hand, each hop checked again and never to another origin, no proxy from the environment,
//! and bounded time and size. Error messages name the host, never a path, query or credential.

pub mod address;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use address::{classify, AddressClass};

#[derive(Debug, Clone)]
pub struct Policy {
    /// Permit loopback targets (127.0.0.0/8, ::1) (and, with `require_https`, plain http for them only).
    pub allow_loopback: bool,
    /// Permit private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). Link-local and metadata
    /// addresses are refused whatever the policy.
    pub allow_private: bool,
    /// Only https, except to loopback (connectors); webhooks allow plain http.
    pub require_https: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
    pub user_agent: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            require_https: true,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 16 << 20,
            max_redirects: 3,
            user_agent: format!("finconn/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Redirect(String),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Network(String),
    #[error("the response was larger than {0} bytes")]
    TooLarge(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

struct PolicyResolver {
    allow_loopback: bool,
    allow_private: bool,
}

fn allowed(class: AddressClass, allow_loopback: bool, allow_private: bool) -> bool {
    match class {
        AddressClass::Public => true,
        AddressClass::Loopback => allow_loopback,
        AddressClass::Private => allow_private,
        AddressClass::Forbidden(_) => false,
    }
}

fn loopback_hint(allow_loopback: bool) -> &'static str {
    if allow_loopback {
        ""
    } else {
        " (set connector_allow_loopback to allow a server on this machine)"
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (allow_loopback, allow_private) = (self.allow_loopback, self.allow_private);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(Refusal(format!("{host} could not be resolved"))) as Box<_>)?
                .collect();
            let mut reasons: Vec<&'static str> = Vec::new();
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| {
                    let class = classify(a.ip());
                    let ok = allowed(class, allow_loopback, allow_private);
                    if !ok {
                        reasons.push(match class {
                            AddressClass::Loopback => "a loopback address (this machine)",
                            AddressClass::Private => "a private network address",
                            AddressClass::Forbidden(why) => why,
                            AddressClass::Public => "",
                        });
                    }
                    ok
                })
                .collect();
            if kept.is_empty() {
                reasons.dedup();
                let why = if reasons.is_empty() { "no address".to_owned() } else { reasons.join(", ") };
                return Err(Box::new(Refusal(format!(
                    "finconn does not connect to {host}: it resolves only to {why}{}",
                    loopback_hint(allow_loopback)
                ))) as Box<_>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Clone)]
pub struct Outbound {
    policy: Policy,
    client: reqwest::Client,
}

fn host_of(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or("?")),
        None => url.host_str().unwrap_or("?").to_owned(),
    }
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

impl Outbound {
    pub fn new(policy: Policy) -> Result<Self, OutboundError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                allow_loopback: policy.allow_loopback,
                allow_private: policy.allow_private,
            }))
            .no_proxy()
            .timeout(policy.timeout)
            .connect_timeout(policy.connect_timeout)
            .user_agent(policy.user_agent.clone())
            .build()
            .map_err(|_| OutboundError::Network("the HTTP client could not be built".into()))?;
        Ok(Self { policy, client })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks a URL before any connection is made.
    pub fn check_url(&self, url: &url::Url) -> Result<(), OutboundError> {
        let host = host_of(url);
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Refused(format!(
                "finconn does not send URLs with credentials in them ({host})"
            )));
        }
        let loopback_hint = loopback_hint(self.policy.allow_loopback);
        let (ip_class, is_name) = match url.host() {
            None => return Err(OutboundError::Refused("the URL has no host".into())),
            Some(url::Host::Ipv4(v4)) => (Some(classify(v4.into())), false),
            Some(url::Host::Ipv6(v6)) => (Some(classify(v6.into())), false),
            // `localhost` is this machine by definition (RFC 6761): classified without asking DNS.
            Some(url::Host::Domain(d))
                if d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost") =>
            {
                (Some(AddressClass::Loopback), true)
            }
            Some(url::Host::Domain(_)) => (None, true),
        };
        if let Some(class) = ip_class {
            match class {
                AddressClass::Public => {}
                AddressClass::Loopback if self.policy.allow_loopback => {}
                AddressClass::Loopback => {
                    return Err(OutboundError::Refused(format!(
                        "finconn does not connect to {host}: a loopback address (this machine){loopback_hint}"
                    )))
                }
                AddressClass::Private if self.policy.allow_private => {}
                AddressClass::Private => {
                    return Err(OutboundError::Refused(format!(
                        "finconn does not connect to {host}: a private network address"
                    )))
                }
                AddressClass::Forbidden(why) => {
                    return Err(OutboundError::Refused(format!("finconn does not connect to {host}: {why}")))
                }
            }
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if !self.policy.require_https => Ok(()),
            "http" => {
                let local_name =
                    is_name && url.host_str().is_some_and(|h| h == "localhost" || h.ends_with(".localhost"));
                let loopback = ip_class == Some(AddressClass::Loopback) || local_name;
                if self.policy.allow_loopback && loopback {
                    Ok(())
                } else {
                    Err(OutboundError::Refused(format!(
                        "finconn connects to {host} only over https{}",
                        if self.policy.allow_loopback { "" } else { loopback_hint }
                    )))
                }
            }
            other => Err(OutboundError::Refused(format!("finconn does not fetch {other}: URLs ({host})"))),
        }
    }

    fn map_error(&self, e: &reqwest::Error, url: &url::Url) -> OutboundError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refusal>() {
                return OutboundError::Refused(r.0.clone());
            }
            source = s.source();
        }
        let host = host_of(url);
        if e.is_timeout() {
            OutboundError::Timeout
        } else if e.is_connect() {
            OutboundError::Network(format!("could not connect to {host}"))
        } else {
            OutboundError::Network(format!("the request to {host} failed"))
        }
    }

    async fn read(&self, res: reqwest::Response, url: &url::Url) -> Result<Response, OutboundError> {
        let status = res.status().as_u16();
        let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut res = res;
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.policy.max_response_bytes {
                        return Err(OutboundError::TooLarge(self.policy.max_response_bytes));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.map_error(&e, url)),
            }
        }
        Ok(Response { status, body, content_type })
    }

    /// GET, following same-origin redirects (each hop checked again).
    pub async fn get(&self, url: &url::Url, authorization: Option<&str>) -> Result<Response, OutboundError> {
        let origin = url.clone();
        let mut current = url.clone();
        for _ in 0..=self.policy.max_redirects {
            self.check_url(&current)?;
            let mut req = self.client.get(current.clone());
            if let Some(a) = authorization {
                req = req.header("authorization", a);
            }
            let res = req.send().await.map_err(|e| self.map_error(&e, &current))?;
            if res.status().is_redirection() {
                let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let Some(location) = location else { return self.read(res, &current).await };
                let next = current.join(&location).map_err(|_| {
                    OutboundError::Redirect(format!("{} redirected to an invalid address", host_of(&current)))
                })?;
                if !same_origin(&origin, &next) {
                    return Err(OutboundError::Redirect(format!(
                        "{} redirected to another host ({}); finconn does not follow it",
                        host_of(&current),
                        host_of(&next)
                    )));
                }
                current = next;
                continue;
            }
            return self.read(res, &current).await;
        }
        Err(OutboundError::Redirect(format!("{} redirected too many times", host_of(url))))
    }

    /// POST `body` with `headers`; no redirect is followed (a 3xx is an answer like any other). Only the
    /// status is read: a webhook receiver's body is not finconn's business.
    pub async fn post(&self, url: &url::Url, headers: &[(&str, &str)], body: Vec<u8>) -> Result<u16, OutboundError> {
        self.check_url(url)?;
        let mut req = self.client.post(url.clone()).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.map_err(|e| self.map_error(&e, url))?;
        Ok(res.status().as_u16())
    }

    /// Any method with `headers` and an optional JSON body; no redirect is followed (a 3xx is an answer).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &url::Url,
        headers: &[(&str, &str)],
        json: Option<Vec<u8>>,
    ) -> Result<Response, OutboundError> {
        self.check_url(url)?;
        let mut req = self.client.request(method, url.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = json {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req.send().await.map_err(|e| self.map_error(&e, url))?;
        self.read(res, url).await
    }

    /// POST with an empty body and `Content-Length: 0`; no redirect is followed.
    pub async fn post_empty(&self, url: &url::Url) -> Result<Response, OutboundError> {
        self.check_url(url)?;
        let res = self
            .client
            .post(url.clone())
            .header("content-length", "0")
            .body(Vec::<u8>::new())
            .send()
            .await
            .map_err(|e| self.map_error(&e, url))?;
        self.read(res, url).await
    }
}

#[cfg(test)]
mod tests;
