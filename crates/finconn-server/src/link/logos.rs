//! `GET /link/logos/{institution}`: a live institution's logo, fetched by finconn from the provider's URL
//! (through the connectors' outbound policy) and served from finconn's origin, so the modal loads nothing
//! from other hosts. Only raster images (PNG, JPEG, GIF, WebP, checked by their bytes) up to 256 KiB are
//! passed on; answers are kept in memory (at most 2,000 logos; a failure is retried after an hour).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use finconn_providers::outbound::{Outbound, Policy};

use crate::startup::AppState;

const MAX_BYTES: usize = 256 * 1024;
const MAX_ENTRIES: usize = 2000;
const RETRY_FAILED_AFTER: i64 = 3600;

#[derive(Clone)]
enum Entry {
    Image { content_type: &'static str, body: Arc<Vec<u8>> },
    Failed { at: i64 },
}

pub struct Logos {
    http: Option<Outbound>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl Logos {
    pub fn new(policy: &Policy) -> Self {
        let policy = Policy { max_response_bytes: MAX_BYTES, ..policy.clone() };
        Self { http: Outbound::new(policy).ok(), cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, id: &str, now: i64) -> Option<Entry> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.get(id) {
            Some(Entry::Failed { at }) if now - at >= RETRY_FAILED_AFTER => None,
            other => other.cloned(),
        }
    }

    fn keep(&self, id: &str, entry: Entry) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_ENTRIES && !cache.contains_key(id) {
            cache.clear();
        }
        cache.insert(id.to_owned(), entry);
    }

    async fn fetch(&self, url: &str) -> Option<(&'static str, Vec<u8>)> {
        let url = url::Url::parse(url).ok()?;
        let res = self.http.as_ref()?.get(&url, None).await.ok()?;
        if res.status != 200 {
            return None;
        }
        let kind = image_kind(&res.body)?;
        Some((kind, res.body))
    }
}

/// The image type of `bytes` by their signature: only raster formats a browser cannot run script in.
pub fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn not_found() -> Response {
    let mut res = StatusCode::NOT_FOUND.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=600"));
    res
}

pub async fn logo(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let now = app.core.now();
    let entry = match app.logos.cached(&id, now) {
        Some(e) => e,
        None => {
            let Some(url) = app.core.providers.connectors.institution(&id).and_then(|i| i.logo) else {
                return not_found();
            };
            let entry = match app.logos.fetch(&url).await {
                Some((content_type, body)) => Entry::Image { content_type, body: Arc::new(body) },
                None => {
                    tracing::debug!(institution = %id, "an institution's logo could not be fetched or is not an image");
                    Entry::Failed { at: now }
                }
            };
            app.logos.keep(&id, entry.clone());
            entry
        }
    };
    match entry {
        Entry::Failed { .. } => not_found(),
        Entry::Image { content_type, body } => {
            let mut res = body.as_ref().clone().into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_kind;

    #[test]
    fn only_raster_images_by_their_bytes() {
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_kind(b"GIF89a.."), Some("image/gif"));
        assert_eq!(image_kind(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_kind(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"), None);
        assert_eq!(image_kind(b"<html>"), None);
        assert_eq!(image_kind(b""), None);
    }
}
