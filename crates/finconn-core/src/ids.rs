//! Random ids and secrets.
//!
//! Ids carry 24 base62 characters (about 143 random bits) from a CSPRNG, so they are unguessable as well as
//! unique; secrets carry 32 (about 190 bits). The generator is `rand`'s thread-local ChaCha12, seeded and
//! periodically reseeded from the operating system: cryptographically secure, without a system call per
//! character (which cost a `getrandom` per character and ~6% of a retrieve's CPU).

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn random_base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char).collect()
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_base62(24))
}

/// `fcsess_…_secret_…`: the session id, then 32 random base62 characters (about 190 bits).
pub fn session_client_secret(session_id: &str) -> String {
    format!("{session_id}_secret_{}", random_base62(32))
}

/// Base62 of the first bytes of a digest: deterministic ids (sandbox tenants).
pub fn base62_of(bytes: &[u8], len: usize) -> String {
    bytes.iter().cycle().take(len).map(|b| BASE62[(*b as usize) % BASE62.len()] as char).collect()
}

pub const SESSION: &str = "fcsess_";
pub const CUSTOMER: &str = "cus_";
pub const ACCOUNT: &str = "acct_";
pub const REQUEST: &str = "req_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_length() {
        let id = new_id(SESSION);
        assert!(id.starts_with("fcsess_"));
        assert_eq!(id.len(), 7 + 24);
        assert_ne!(new_id(SESSION), new_id(SESSION));
    }

    #[test]
    fn client_secret_embeds_session_id() {
        let s = session_client_secret("fcsess_abc");
        assert!(s.starts_with("fcsess_abc_secret_"));
        assert_eq!(s.len(), "fcsess_abc_secret_".len() + 32);
    }
}
