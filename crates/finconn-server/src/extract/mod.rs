//! Request extraction: API keys, Stripe's form encoding, idempotency keys.

pub mod auth;
pub mod form;
pub mod params;
