//! The names of Stripe's own headers, which finconn reads and writes on every `/v1` request. As constants
//! they are built at compile time; a name given as a `&str` (`headers.get("request-id")`) is parsed and
//! validated byte by byte each time it is used.

use axum::http::HeaderName;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const ORIGINAL_REQUEST: HeaderName = HeaderName::from_static("original-request");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
pub const STRIPE_SHOULD_RETRY: HeaderName = HeaderName::from_static("stripe-should-retry");
