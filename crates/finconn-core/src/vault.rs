//! Secrets at rest: connector credentials (a SimpleFIN Access URL carries a user name and password) are
//! sealed with XChaCha20-Poly1305 under the operator's master key before they reach the store, and opened
//! only in memory, just before a connector uses them.
//!
//! A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext)>`. The key id (the first 8 hex digits of
//! the key's SHA-256) says which key sealed it, so a vault holding the current key and the previous ones
//! opens everything during a rotation while sealing only with the current key. The associated data binds a
//! ciphertext to the row it belongs to: a sealed credential copied onto another connection does not open.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
pub const KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("a master key must be 32 bytes, written as 64 hex digits or as Base64 (43 or 44 characters)")]
    BadKey,
    #[error("the sealed value is not in the vault's format")]
    Malformed,
    #[error(
        "the value was sealed with master key {0}, which this server does not have (set it as a previous master key)"
    )]
    UnknownKey(String),
    #[error("the sealed value does not open with its key: it was altered, or belongs to another object")]
    Tampered,
}

/// One master key. Its bytes are wiped from memory when dropped; `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(raw: [u8; KEY_LEN]) -> Self {
        let id = hex::encode(&Sha256::digest(raw)[..4]);
        Self { id, bytes: Zeroizing::new(raw) }
    }

    /// 64 hex digits, or standard / URL-safe Base64 of 32 bytes (padded or not). Surrounding whitespace is
    /// ignored (key files end with a newline).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let t = text.trim();
        let raw: Zeroizing<Vec<u8>> = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Zeroizing::new(hex::decode(t).map_err(|_| VaultError::BadKey)?)
        } else {
            let unpadded = t.trim_end_matches('=');
            let std = base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded);
            Zeroizing::new(std.or_else(|_| URL_SAFE_NO_PAD.decode(unpadded)).map_err(|_| VaultError::BadKey)?)
        };
        let arr: [u8; KEY_LEN] = raw.as_slice().try_into().map_err(|_| VaultError::BadKey)?;
        Ok(Self::from_bytes(arr))
    }

    /// A new random key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut raw = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::from_bytes(raw)
    }

    /// The key as 64 hex digits, for writing a key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_ref().into())
    }
}

/// The current master key and the previous ones (for opening during a rotation).
#[derive(Clone, Debug)]
pub struct Vault {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Vault {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `plaintext`, bound to `aad` (e.g. the id of the row that stores it).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| VaultError::Malformed)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!("{VERSION}.{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens a sealed value with whichever of the vault's keys sealed it.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VaultError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| VaultError::Malformed)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        key.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered)
    }

    /// Whether a sealed value was sealed with the current key (rotation re-seals the others).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.current.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_its_row() {
        let v = Vault::new(MasterKey::generate(), Vec::new());
        let secret = b"https://user:p%40ss@bridge.example/simplefin";
        let sealed = v.seal(secret, b"fcconn_1").unwrap();
        assert!(!sealed.contains("user") && !sealed.contains("bridge"), "{sealed}");
        assert_eq!(v.open(&sealed, b"fcconn_1").unwrap().as_slice(), secret);
        assert_eq!(v.open(&sealed, b"fcconn_2"), Err(VaultError::Tampered));
        // Two seals of one secret differ (random nonces).
        assert_ne!(sealed, v.seal(secret, b"fcconn_1").unwrap());
    }

    #[test]
    fn a_flipped_bit_does_not_open() {
        let v = Vault::new(MasterKey::generate(), Vec::new());
        let sealed = v.seal(b"secret", b"a").unwrap();
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut blob = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode(blob));
        assert_eq!(v.open(&forged, b"a"), Err(VaultError::Tampered));
        assert_eq!(v.open("v1.xx", b"a"), Err(VaultError::Malformed));
        assert_eq!(v.open("v2.a.b", b"a"), Err(VaultError::Malformed));
    }

    #[test]
    fn rotation_opens_old_values_and_seals_with_the_new_key() {
        let old = MasterKey::generate();
        let sealed_old = Vault::new(old.clone(), Vec::new()).seal(b"s", b"r").unwrap();
        let new = MasterKey::generate();
        let without_old = Vault::new(new.clone(), Vec::new());
        assert!(matches!(without_old.open(&sealed_old, b"r"), Err(VaultError::UnknownKey(_))));
        let rotated = Vault::new(new, vec![old]);
        assert_eq!(rotated.open(&sealed_old, b"r").unwrap().as_slice(), b"s");
        assert!(!rotated.is_current(&sealed_old));
        assert!(rotated.is_current(&rotated.seal(b"s", b"r").unwrap()));
    }

    #[test]
    fn keys_parse_from_hex_and_base64_only_at_32_bytes() {
        let k = MasterKey::generate();
        let hex = k.to_hex();
        assert_eq!(MasterKey::parse(&format!("{}\n", hex.as_str())).unwrap().id(), k.id());
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex.as_str()).unwrap());
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), k.id());
        assert_eq!(MasterKey::parse("abcd").unwrap_err(), VaultError::BadKey);
        assert_eq!(MasterKey::parse("").unwrap_err(), VaultError::BadKey);
        assert!(!format!("{k:?}").contains(hex.as_str()));
    }
}
