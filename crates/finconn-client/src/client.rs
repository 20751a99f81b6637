//! The client: configuration, authentication, retries and pagination.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::form::Form;
use crate::ListItem;
use finconn_types::List;

/// Stripe's API address, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// A client of the Financial Connections API. Cheap to clone (one connection pool, shared).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
    api_version: String,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("api_version", &self.inner.api_version)
            .field("max_retries", &self.inner.max_retries)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; start with [`Client::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    secret_key: String,
    base_url: String,
    api_version: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl ClientBuilder {
    /// Where the API is, e.g. `http://127.0.0.1:8420` for a local finconn (default [`DEFAULT_BASE_URL`]).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The `Stripe-Version` header (default [`finconn_types::API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The timeout of one attempt, from connecting to reading the whole body (default 80 s, as the SDKs).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout of one attempt (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a failed request is retried (default 2; 0 turns retries off).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The backoff before the first retry and its ceiling (default 500 ms and 5 s); it doubles per retry and
    /// is jittered down to half.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::InvalidRequest(format!("base URL must be http(s)://…, got {:?}", self.base_url)));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("finconn-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url,
                secret_key: self.secret_key,
                api_version: self.api_version,
                max_retries: self.max_retries,
                initial_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
            }),
        })
    }
}

impl Client {
    /// Starts configuring a client authenticated with a secret key (`sk_test_…` / `sk_live_…`).
    pub fn builder(secret_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            secret_key: secret_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: finconn_types::API_VERSION.to_owned(),
            timeout: Duration::from_secs(80),
            connect_timeout: Duration::from_secs(30),
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str, params: &Form) -> Result<T, Error> {
        self.request(Method::GET, path, params).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(&self, path: &str, params: &Form) -> Result<T, Error> {
        self.request(Method::POST, path, params).await
    }

    pub(crate) async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.request(Method::DELETE, path, &Form::new()).await
    }

    /// Sends a request with retries. A POST carries one `Idempotency-Key`, the same on every attempt, so a
    /// retried create never creates twice.
    pub(crate) async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &Form,
    ) -> Result<T, Error> {
        let inner = &*self.inner;
        let mut url = format!("{}{}", inner.base_url, path);
        let is_post = method == Method::POST;
        if !is_post && !params.is_empty() {
            url.push('?');
            url.push_str(&params.encode());
        }
        let body = is_post.then(|| params.encode());
        let idempotency_key = is_post.then(new_idempotency_key);
        let mut attempt = 0u32;
        loop {
            let mut req = inner
                .http
                .request(method.clone(), &url)
                .bearer_auth(&inner.secret_key)
                .header("Stripe-Version", &inner.api_version);
            if let Some(key) = &idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            if let Some(body) = &body {
                req = req.header("Content-Type", "application/x-www-form-urlencoded").body(body.clone());
            }
            let (retryable, error) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let should_retry = header(&resp, "stripe-should-retry");
                    let request_id = header(&resp, "request-id");
                    match resp.bytes().await {
                        Ok(bytes) if (200..300).contains(&status) => {
                            return serde_json::from_slice(&bytes).map_err(|source| Error::Decode { status, source });
                        }
                        Ok(bytes) => {
                            let retry = match should_retry.as_deref() {
                                Some("true") => true,
                                Some("false") => false,
                                _ => status == 409 || status == 429 || status >= 500,
                            };
                            (retry, Error::from(ApiError::from_response(status, request_id, &bytes)))
                        }
                        Err(e) => (true, Error::Network(e)),
                    }
                }
                Err(e) => (!e.is_builder(), Error::Network(e)),
            };
            if !retryable || attempt >= inner.max_retries {
                return Err(error);
            }
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with jitter: `initial * 2^attempt`, capped, then scaled by a random factor in
    /// `[0.5, 1]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.initial_backoff.saturating_mul(2u32.saturating_pow(attempt)).min(self.inner.max_backoff);
        base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Every object of a list endpoint, page after page (following `starting_after`), as a stream. The
    /// parameters (filters, `limit`, `expand`) apply to every page.
    pub(crate) fn paginate<T>(&self, path: String, mut params: Form) -> impl Stream<Item = Result<T, Error>> + Send
    where
        T: DeserializeOwned + ListItem + Send + 'static,
    {
        params.remove("ending_before");
        let state: PageState<T> = PageState { client: self.clone(), path, params, buf: VecDeque::new(), done: false };
        futures::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(item) = s.buf.pop_front() {
                    if s.buf.is_empty() {
                        s.params.remove("starting_after");
                        s.params.push("starting_after", item.list_id());
                    }
                    return Some((Ok(item), s));
                }
                if s.done {
                    return None;
                }
                match s.client.get::<List<T>>(&s.path, &s.params).await {
                    Ok(page) => {
                        s.done = !page.has_more || page.data.is_empty();
                        s.buf.extend(page.data);
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                }
            }
        })
    }
}

struct PageState<T> {
    client: Client,
    path: String,
    params: Form,
    buf: VecDeque<T>,
    done: bool,
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A random version-4-UUID-shaped key.
fn new_idempotency_key() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_look_like_uuids_and_differ() {
        let a = new_idempotency_key();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_ne!(a, new_idempotency_key());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let c = Client::builder("sk_test_x")
            .retry_backoff(Duration::from_millis(100), Duration::from_millis(350))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..50 {
            let b0 = c.backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100), "{b0:?}");
            let b1 = c.backoff(1);
            assert!(b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(200), "{b1:?}");
            let b5 = c.backoff(5);
            assert!(b5 <= Duration::from_millis(350), "{b5:?}");
        }
    }

    #[test]
    fn rejects_a_base_url_without_scheme() {
        assert!(Client::builder("sk_test_x").base_url("localhost:8420").build().is_err());
    }
}
