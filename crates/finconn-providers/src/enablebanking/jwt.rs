//! The application's bearer token: an RS256 JWT signed with the application's private key, as Enable
//! Banking's API reference specifies (header `kid` = application id; claims `iss`, `aud`, `iat`, `exp`).
//! One token is cached and renewed well before it expires.

use std::sync::Mutex;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Tokens live an hour (the API accepts at most a day).
pub const TTL: i64 = 3600;
/// A cached token is replaced when it has less than this left.
const RENEW_BEFORE: i64 = 300;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

pub struct Signer {
    application_id: String,
    key: EncodingKey,
    cached: Mutex<Option<(String, i64)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not an RSA key in PEM form (PKCS#1 or PKCS#8)")]
    NotRsaPem,
    #[error("the private key could not sign a token")]
    CannotSign,
}

impl Signer {
    /// Checks the key by signing once, so a wrong key fails at start-up, not at the first link.
    pub fn new(application_id: &str, private_key_pem: &[u8]) -> Result<Self, KeyError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|_| KeyError::NotRsaPem)?;
        let signer = Self { application_id: application_id.to_owned(), key, cached: Mutex::new(None) };
        signer.sign(0).map_err(|_| KeyError::CannotSign)?;
        Ok(signer)
    }

    fn sign(&self, now: i64) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.application_id.clone());
        let claims = Claims { iss: "enablebanking.com", aud: "api.enablebanking.com", iat: now, exp: now + TTL };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }

    /// A token valid for at least five more minutes.
    pub fn token(&self, now: i64) -> Result<String, KeyError> {
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, exp)) = cached.as_ref() {
            if *exp - RENEW_BEFORE > now {
                return Ok(t.clone());
            }
        }
        let t = self.sign(now).map_err(|_| KeyError::CannotSign)?;
        *cached = Some((t.clone(), now + TTL));
        Ok(t)
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("application_id", &self.application_id).finish_non_exhaustive()
    }
}
