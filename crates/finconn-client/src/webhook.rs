//! Verifying webhook deliveries (`Stripe-Signature`), exactly as Stripe's SDKs do.
//!
//! The header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{payload}">[,v1=…]`, keyed with the whole
//! `whsec_…` secret. Other schemes (`v0=…`) and malformed pairs are ignored; the delivery is accepted when
//! any `v1` matches any of the given secrets (several while a secret is rotated).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use finconn_types::Event;

/// The header a delivery is signed in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How old a signature may be by default (300 s, as every official SDK).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a delivery was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("the signature header has no valid timestamp (t=…)")]
    MissingTimestamp,
    #[error("the signature header has no v1 signature")]
    NoSignatures,
    #[error("no signing secret was given")]
    NoSecrets,
    #[error("no signature matches the payload for the given secrets")]
    SignatureMismatch,
    #[error("the timestamp {timestamp} is older than the tolerance allows (now {now})")]
    TimestampTooOld { timestamp: i64, now: i64 },
    #[error("the payload is not an event: {0}")]
    InvalidPayload(#[from] serde_json::Error),
}

/// Checks the signature of a delivery and parses its event.
///
/// `payload` is the raw body exactly as received; `header` the `Stripe-Signature` value; `secrets` every
/// endpoint secret currently valid; `now` the current unix time in seconds. A timestamp older than
/// `now - tolerance` is rejected (one in the future is not, as the SDKs).
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    tolerance: Duration,
    now: i64,
) -> Result<Event, WebhookError> {
    verify_signature(payload, header, secrets, tolerance, now)?;
    Ok(serde_json::from_slice(payload)?)
}

/// [`verify`] with the default tolerance and the system clock.
pub fn construct_event(payload: &[u8], header: &str, secret: &str) -> Result<Event, WebhookError> {
    verify(payload, header, &[secret], DEFAULT_TOLERANCE, unix_now())
}

/// The signature check of [`verify`], without parsing the payload.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    tolerance: Duration,
    now: i64,
) -> Result<(), WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    let mut timestamp = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for pair in header.split(',') {
        let mut parts = pair.trim().splitn(2, '=');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else { continue };
        match key {
            "t" => {
                if let Ok(t) = value.parse::<i64>() {
                    timestamp = Some(t);
                }
            }
            "v1" => {
                if let Ok(sig) = hex::decode(value) {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(WebhookError::NoSignatures);
    }
    let matched = secrets.iter().any(|secret| {
        let expected = mac(payload, secret, timestamp);
        // Every candidate is compared (no early exit on the signatures of one secret).
        signatures.iter().fold(false, |found, sig| found | bool::from(expected.as_slice().ct_eq(sig)))
    });
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if timestamp < now.saturating_sub(tolerance) {
        return Err(WebhookError::TimestampTooOld { timestamp, now });
    }
    Ok(())
}

/// `t={timestamp},v1={signature}`: the header Stripe (and finconn) sends, for tests.
pub fn sign_header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(payload, secret, timestamp)))
}

fn mac(payload: &[u8], secret: &str, timestamp: i64) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return Vec::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &[u8] = include_bytes!("../../../../shared/reference/fixtures/event.json");
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn accepts_its_own_signature_and_parses_the_event() {
        let header = sign_header(EVENT, "whsec_abc", NOW);
        let event =
            verify(EVENT, &header, &["whsec_abc"], DEFAULT_TOLERANCE, NOW + 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event.object, "event");
    }

    #[test]
    fn known_vector() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign_header(b"{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91".to_owned()
        );
    }

    #[test]
    fn rotation_accepts_any_v1_with_any_secret() {
        let old = sign_header(EVENT, "whsec_old", NOW);
        let new = sign_header(EVENT, "whsec_new", NOW);
        let v1_new = new.split(",v1=").nth(1).unwrap_or_default();
        let header = format!("{old},v1={v1_new},v0=deadbeef,garbage,v1=nothex");
        for secrets in [&["whsec_new"][..], &["whsec_old"], &["whsec_other", "whsec_new"]] {
            assert!(verify(EVENT, &header, secrets, DEFAULT_TOLERANCE, NOW).is_ok(), "{secrets:?}");
        }
        assert!(matches!(
            verify(EVENT, &header, &["whsec_wrong"], DEFAULT_TOLERANCE, NOW),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn rejects_wrong_secret_tampered_payload_and_old_timestamps() {
        let header = sign_header(EVENT, "whsec_abc", NOW);
        assert!(matches!(
            verify(EVENT, &header, &["whsec_abd"], DEFAULT_TOLERANCE, NOW),
            Err(WebhookError::SignatureMismatch)
        ));
        let mut tampered = EVENT.to_vec();
        tampered.push(b' ');
        assert!(matches!(
            verify(&tampered, &header, &["whsec_abc"], DEFAULT_TOLERANCE, NOW),
            Err(WebhookError::SignatureMismatch)
        ));
        assert!(matches!(
            verify(EVENT, &header, &["whsec_abc"], DEFAULT_TOLERANCE, NOW + 301),
            Err(WebhookError::TimestampTooOld { .. })
        ));
        assert!(verify(EVENT, &header, &["whsec_abc"], DEFAULT_TOLERANCE, NOW + 300).is_ok());
        // A timestamp in the future is accepted, as the SDKs do.
        assert!(verify(EVENT, &header, &["whsec_abc"], DEFAULT_TOLERANCE, NOW - 10_000).is_ok());
    }

    #[test]
    fn rejects_malformed_headers() {
        let sig = sign_header(EVENT, "whsec_abc", NOW);
        let v1 = sig.split(",v1=").nth(1).unwrap_or_default();
        let check = |h: &str| verify(EVENT, h, &["whsec_abc"], DEFAULT_TOLERANCE, NOW);
        assert!(matches!(check(&format!("v1={v1}")), Err(WebhookError::MissingTimestamp)));
        assert!(matches!(check(&format!("t=abc,v1={v1}")), Err(WebhookError::MissingTimestamp)));
        assert!(matches!(check(&format!("t={NOW}")), Err(WebhookError::NoSignatures)));
        assert!(matches!(check(&format!("t={NOW},v0={v1}")), Err(WebhookError::NoSignatures)));
        assert!(matches!(check(""), Err(WebhookError::MissingTimestamp)));
        assert!(check(&format!(" t={NOW} , v1={v1} ")).is_ok());
        assert!(matches!(verify(EVENT, &sig, &[], DEFAULT_TOLERANCE, NOW), Err(WebhookError::NoSecrets)));
        let not_event = b"{\"hello\": 1}";
        let h = sign_header(not_event, "whsec_abc", NOW);
        assert!(matches!(
            verify(not_event, &h, &["whsec_abc"], DEFAULT_TOLERANCE, NOW),
            Err(WebhookError::InvalidPayload(_))
        ));
    }
}
