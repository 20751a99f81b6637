//! API keys: `sk_test_…`, `sk_live_…`, `pk_test_…`, `pk_live_…`.
//!
//! Keys are stored as SHA-256 digests and looked up by digest, so the server never holds a key it could
//! leak and never compares key bytes itself. (Keys carry ≥128 random bits, so a fast hash is enough.)

use sha2::{Digest, Sha256};

use crate::model::{AccountRecord, ApiKeyRecord, Scope};
use crate::{ids, DomainError, Finconn};

/// How long a process trusts a key it has looked up (per process, so across processes too).
pub const KEY_CACHE_SECONDS: i64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(KeyKind::Secret),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// A syntactically valid key. Its `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    raw: String,
    /// `hash_key(raw)`, computed once: a request needs it for the key lookup and for its rate limit.
    digest: String,
    pub kind: KeyKind,
    pub livemode: bool,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({})", mask_key(&self.raw))
    }
}

impl ApiKey {
    /// `None` when the text cannot be a key at all.
    pub fn parse(raw: &str) -> Option<Self> {
        let (kind, rest) = if let Some(r) = raw.strip_prefix("sk_") {
            (KeyKind::Secret, r)
        } else if let Some(r) = raw.strip_prefix("pk_") {
            (KeyKind::Publishable, r)
        } else {
            return None;
        };
        let (livemode, suffix) = if let Some(s) = rest.strip_prefix("test_") {
            (false, s)
        } else if let Some(s) = rest.strip_prefix("live_") {
            (true, s)
        } else {
            return None;
        };
        let ok =
            !suffix.is_empty() && raw.len() <= 255 && suffix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| ApiKey { raw: raw.to_owned(), digest: hash_key(raw), kind, livemode })
    }

    /// The key's SHA-256 in hex: what the database keeps instead of the key.
    pub fn hash(&self) -> &str {
        &self.digest
    }

    /// The part after `sk_test_` / `pk_test_`.
    pub fn suffix(&self) -> &str {
        &self.raw[8..]
    }

    pub fn masked(&self) -> String {
        mask_key(&self.raw)
    }

    pub fn expose(&self) -> &str {
        &self.raw
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn hash_key(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    // Into a buffer in one pass (`hex::encode` collects its output a `char` at a time): every request pays it.
    let mut buf = [0u8; 64];
    match hex::encode_to_slice(digest, &mut buf).ok().and_then(|()| std::str::from_utf8(&buf).ok()) {
        Some(text) => text.to_owned(),
        None => hex::encode(digest),
    }
}

/// Stripe's masking in "Invalid API Key provided: …": length kept, first 8 and last 4 characters shown.
pub fn mask_key(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return raw.to_owned();
    }
    if n <= 12 {
        let tail: String = chars[n - 4..].iter().collect();
        return format!("{}{tail}", "*".repeat(n - 4));
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - 12))
}

/// A sandbox account's publishable key, derived one way from its secret key: `pk_test_` and the first 32
/// hex digits of the SHA-256 of the whole secret key. Knowing it gives nothing; test suites compute it.
pub fn sandbox_publishable_key(secret_key: &str) -> String {
    format!("pk_test_{}", &hash_key(secret_key)[..32])
}

fn sandbox_pk_hash(secret: &ApiKey) -> String {
    hash_key(&sandbox_publishable_key(secret.expose()))
}

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub scope: Scope,
    pub kind: KeyKind,
}

/// A new account and its key pair, as `finconn keys create` prints it.
pub struct CreatedKeys {
    pub account: String,
    pub secret_key: String,
    pub publishable_key: String,
}

impl Finconn {
    /// Resolves a key to its account, provisioning a sandbox account for an unregistered test key when
    /// sandbox keys are on. `None` means the key is unknown (401).
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Option<Caller>, DomainError> {
        let hash = key.hash();
        let now = self.now();
        if let Some(caller) = self.cached_caller(hash, now) {
            return Ok(Some(caller));
        }
        if let Some(rec) = self.records.find_api_key(hash).await? {
            if rec.sandbox
                && rec.kind == KeyKind::Secret
                && self.records.find_api_key(&sandbox_pk_hash(key)).await?.is_none_or(|pk| pk.account != rec.account)
            {
                // A sandbox account from before publishable keys were derived: its old `pk_test_<same
                // suffix>` was removed by migration 0007; register the derived one now.
                self.provision_sandbox(key).await?;
            }
            let caller = Caller { scope: Scope { account: rec.account, livemode: rec.livemode }, kind: rec.kind };
            self.cache_caller(hash.to_owned(), caller.clone(), now);
            return Ok(Some(caller));
        }
        // Only a secret key provisions a sandbox account: a publishable key is public, so it creates nothing.
        if key.livemode || key.kind != KeyKind::Secret || !self.settings.sandbox_keys {
            return Ok(None);
        }
        self.provision_sandbox(key).await
    }

    /// A positive answer is reused for `KEY_CACHE_SECONDS`, so most requests pay no key lookup; a key that
    /// stops being valid in the database (another process, a future revocation) stops working here within
    /// that time. Unknown keys are not cached (they may be provisioned or created at any moment).
    fn cached_caller(&self, hash: &str, now: i64) -> Option<Caller> {
        let cache = self.key_cache.lock().ok()?;
        cache.get(hash).filter(|(_, until)| *until > now).map(|(c, _)| c.clone())
    }

    fn cache_caller(&self, hash: String, caller: Caller, now: i64) {
        const TTL: i64 = KEY_CACHE_SECONDS;
        const MAX: usize = 10_000;
        if let Ok(mut cache) = self.key_cache.lock() {
            if cache.len() >= MAX {
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= MAX {
                    cache.clear();
                }
            }
            cache.insert(hash, (caller, now + TTL));
        }
    }

    async fn provision_sandbox(&self, key: &ApiKey) -> Result<Option<Caller>, DomainError> {
        let sk = key.hash().to_owned();
        let pk = sandbox_pk_hash(key);
        // The account id is derived from the secret key's digest, so two processes provisioning the same
        // key at once create the same rows and the second insert is a no-op.
        let account = format!("{}{}", ids::ACCOUNT, ids::base62_of(&Sha256::digest(sk.as_bytes()), 16));
        let now = self.now();
        let keys = [
            ApiKeyRecord {
                hash: sk,
                account: account.clone(),
                kind: KeyKind::Secret,
                livemode: false,
                sandbox: true,
                created: now,
            },
            ApiKeyRecord {
                hash: pk,
                account: account.clone(),
                kind: KeyKind::Publishable,
                livemode: false,
                sandbox: true,
                created: now,
            },
        ];
        let rec = AccountRecord { id: account.clone(), display_name: None, sandbox: true, created: now };
        if !self.records.provision_account(&rec, &keys).await? {
            // One of the two keys is registered to a non-sandbox account (e.g. someone typed the suffix of
            // a `finconn keys create` publishable key): never hand that account out.
            return Ok(None);
        }
        match self.records.find_api_key(key.hash()).await? {
            Some(rec) if rec.account == account => {
                Ok(Some(Caller { scope: Scope { account, livemode: false }, kind: key.kind }))
            }
            _ => Ok(None),
        }
    }

    /// Creates a fresh random key pair, for a new account or for an existing one (e.g. live keys for an
    /// account that has test keys). Never a sandbox account.
    pub async fn create_account_keys(
        &self,
        livemode: bool,
        display_name: Option<String>,
        existing: Option<&str>,
    ) -> Result<CreatedKeys, DomainError> {
        let mode = if livemode { "live" } else { "test" };
        let secret_key = format!("sk_{mode}_{}", ids::random_base62(32));
        let publishable_key = format!("pk_{mode}_{}", ids::random_base62(32));
        let (account, display_name) = match existing {
            Some(id) => match self.records.get_account(id).await? {
                Some(acct) => (acct.id, acct.display_name),
                None => return Err(DomainError::not_found("account", id, Some("account"))),
            },
            None => (ids::new_id(ids::ACCOUNT), display_name),
        };
        let now = self.now();
        let keys = [
            ApiKeyRecord {
                hash: hash_key(&secret_key),
                account: account.clone(),
                kind: KeyKind::Secret,
                livemode,
                sandbox: false,
                created: now,
            },
            ApiKeyRecord {
                hash: hash_key(&publishable_key),
                account: account.clone(),
                kind: KeyKind::Publishable,
                livemode,
                sandbox: false,
                created: now,
            },
        ];
        let rec = AccountRecord { id: account.clone(), display_name, sandbox: false, created: now };
        if !self.records.provision_account(&rec, &keys).await? {
            return Err(DomainError::Internal("a freshly generated key collided".into()));
        }
        Ok(CreatedKeys { account, secret_key, publishable_key })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_key_hashes_to_its_sha256_in_lowercase_hex() {
        // FIPS 180-2's "abc" example.
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(ApiKey::parse("sk_test_abc").unwrap().hash(), hash_key("sk_test_abc"));
    }

    use super::*;

    proptest::proptest! {
        /// Key parsing never panics on any header value, and what it accepts has a mode, a kind and a
        /// suffix of letters, digits and underscores only.
        #[test]
        fn key_parsing_accepts_only_well_formed_keys(s in "\\PC{0,60}|[sp]k_(test|live)_[A-Za-z0-9_ \u{0}%]{0,40}") {
            if let Some(k) = ApiKey::parse(&s) {
                proptest::prop_assert!(k.suffix().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                proptest::prop_assert!(!k.suffix().is_empty() && s.len() <= 255);
                proptest::prop_assert_eq!(ApiKey::parse(&sandbox_publishable_key(&s)).map(|p| p.kind), Some(KeyKind::Publishable));
            }
            // Masking (in error messages) never panics and keeps the length, as Stripe's does.
            proptest::prop_assert_eq!(mask_key(&s).chars().count(), s.chars().count());
        }
    }

    #[test]
    fn a_sandbox_publishable_key_is_derived_one_way_from_the_secret_key() {
        // The documented rule, checked against Python's hashlib: pk_test_ + sha256(sk).hexdigest()[:32].
        assert_eq!(sandbox_publishable_key("sk_test_abc"), "pk_test_4b4090ccee1e713c3d411b96a4226b90");
        assert!(!sandbox_publishable_key("sk_test_abc").contains("abc"));
        assert!(ApiKey::parse(&sandbox_publishable_key("sk_test_abc")).is_some());
    }

    #[test]
    fn parses_the_four_key_kinds() {
        let k = ApiKey::parse("sk_test_abc").unwrap();
        assert_eq!((k.kind, k.livemode, k.suffix()), (KeyKind::Secret, false, "abc"));
        let k = ApiKey::parse("pk_live_X_9").unwrap();
        assert_eq!((k.kind, k.livemode, k.suffix()), (KeyKind::Publishable, true, "X_9"));
        for bad in ["", "sk_test_", "rk_test_abc", "sk_prod_abc", "sk_test_a b", "sk_test_é"] {
            assert!(ApiKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn masks_like_stripe() {
        assert_eq!(mask_key("sk_test_abcd1234"), "sk_test_****1234");
        assert_eq!(mask_key("undefined"), "*****ined");
        assert_eq!(mask_key("nil"), "nil");
    }

    #[test]
    fn debug_never_prints_the_key() {
        let k = ApiKey::parse("sk_test_supersecretvalue123").unwrap();
        assert!(!format!("{k:?}").contains("supersecretvalue"));
    }
}
