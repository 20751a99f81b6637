//! The Access URL a claim returns: `https://user:password@host/path`. Its user and password may be
//! percent-encoded (an `@` or `:` in a password must survive), so it is parsed as a URL, never split on
//! `@`. `Debug` and every error leave the credentials out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters kept as they are in userinfo; everything else is percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[derive(Clone, PartialEq, Eq)]
pub struct AccessUrl {
    /// The protocol root, without credentials.
    pub base: url::Url,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessUrlError {
    #[error("the SimpleFIN server's answer is not a URL")]
    NotUrl,
    #[error("the SimpleFIN Access URL is not http or https")]
    BadScheme,
    #[error("the SimpleFIN Access URL carries no credentials")]
    NoCredentials,
}

impl std::fmt::Debug for AccessUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessUrl")
            .field("base", &self.base.as_str())
            .field("username", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

impl AccessUrl {
    pub fn parse(text: &str) -> Result<Self, AccessUrlError> {
        let mut url = url::Url::parse(text.trim()).map_err(|_| AccessUrlError::NotUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AccessUrlError::BadScheme);
        }
        if url.host().is_none() {
            return Err(AccessUrlError::NotUrl);
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
        let username = decode(url.username()).map_err(|_| AccessUrlError::NoCredentials)?;
        let password = decode(url.password().unwrap_or("")).map_err(|_| AccessUrlError::NoCredentials)?;
        if username.is_empty() && password.is_empty() {
            return Err(AccessUrlError::NoCredentials);
        }
        url.set_username("").map_err(|()| AccessUrlError::NotUrl)?;
        url.set_password(None).map_err(|()| AccessUrlError::NotUrl)?;
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self { base: url, username, password })
    }

    /// `{base}/accounts`.
    pub fn accounts_url(&self) -> url::Url {
        let mut u = self.base.clone();
        let path = format!("{}/accounts", u.path().trim_end_matches('/'));
        u.set_path(&path);
        u
    }

    /// `Basic base64(user:password)`.
    pub fn authorization(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.username, self.password)))
    }

    /// The whole Access URL again (credentials percent-encoded), for sealing at rest.
    pub fn to_secret_string(&self) -> String {
        let user = utf8_percent_encode(&self.username, USERINFO).to_string();
        let pass = utf8_percent_encode(&self.password, USERINFO).to_string();
        let base = self.base.as_str();
        match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{user}:{pass}@{rest}"),
            None => base.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percent_encoded_credentials_are_decoded() {
        let a = AccessUrl::parse(" https://user:p%40ss%3Aw%25rd@bridge.example/simplefin\n").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("user", "p@ss:w%rd"));
        assert_eq!(a.base.as_str(), "https://bridge.example/simplefin");
        assert_eq!(a.accounts_url().as_str(), "https://bridge.example/simplefin/accounts");
        let b = AccessUrl::parse("https://u:p@bridge.example/simplefin/").unwrap();
        assert_eq!(b.accounts_url().as_str(), "https://bridge.example/simplefin/accounts");
        assert_eq!(b.authorization(), format!("Basic {}", STANDARD.encode("u:p")));
    }

    #[test]
    fn bad_answers_are_refused_without_echoing_them() {
        assert_eq!(AccessUrl::parse("<html>nope</html>"), Err(AccessUrlError::NotUrl));
        assert_eq!(AccessUrl::parse("ftp://u:p@h/"), Err(AccessUrlError::BadScheme));
        assert_eq!(AccessUrl::parse("https://h/simplefin"), Err(AccessUrlError::NoCredentials));
        let e = AccessUrl::parse("ftp://secretuser:secretpass@h/").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn debug_hides_the_credentials() {
        let a = AccessUrl::parse("https://alice:hunter2@h.example/s").unwrap();
        let d = format!("{a:?}");
        assert!(!d.contains("alice") && !d.contains("hunter2"), "{d}");
    }

    proptest! {
        #[test]
        fn credentials_round_trip(user in "[A-Za-z0-9]{1,16}", password in "[ -~]{1,32}") {
            let a = AccessUrl { base: url::Url::parse("https://h.example/simplefin").unwrap(), username: user, password };
            let back = AccessUrl::parse(&a.to_secret_string()).unwrap();
            prop_assert_eq!(back, a);
        }
    }
}
