//! Object ids: a known prefix followed by a random body.

/// An id whose prefix has been checked (e.g. `fcsess_`, `cus_`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    WrongPrefix { expected: &'static str },
    Malformed,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdError::WrongPrefix { expected } => write!(f, "id must start with {expected}"),
            IdError::Malformed => f.write_str("id contains characters ids never have"),
        }
    }
}

impl std::error::Error for IdError {}

impl ObjectId {
    /// Parses an id with the given prefix (`"cus_"`, `"fcsess_"`, …).
    pub fn parse(s: &str, prefix: &'static str) -> Result<Self, IdError> {
        let body = s.strip_prefix(prefix).ok_or(IdError::WrongPrefix { expected: prefix })?;
        if body.is_empty() || body.len() > 255 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::Malformed);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Typed ids: a parsed id of one object type. Parsing checks the prefix, so an account id cannot be passed
/// where a session id is expected.
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                ObjectId::parse(s, $prefix).map(|id| Self(id.0))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

typed_id!(/// `fcsess_…`
    SessionId, "fcsess_");
typed_id!(/// `fca_…`
    AccountId, "fca_");
typed_id!(/// `cus_…`
    CustomerId, "cus_");
typed_id!(/// `fctxn_…`
    TransactionId, "fctxn_");
typed_id!(/// `fctxnref_…`
    TransactionRefreshId, "fctxnref_");
typed_id!(/// `fcaowns_…`
    OwnershipId, "fcaowns_");
typed_id!(/// `fcaown_…`
    OwnerId, "fcaown_");
typed_id!(/// `evt_…`
    EventId, "evt_");
typed_id!(/// `we_…`
    WebhookEndpointId, "we_");
typed_id!(/// `fcinst_…`
    InstitutionId, "fcinst_");
typed_id!(/// `acct_…`
    StripeAccountId, "acct_");
typed_id!(/// `clock_…`
    TestClockId, "clock_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_ids_check_their_prefix() {
        assert!("fcsess_abc123".parse::<SessionId>().is_ok());
        assert_eq!("fca_abc".parse::<SessionId>(), Err(IdError::WrongPrefix { expected: "fcsess_" }));
        assert_eq!("fcsess_".parse::<SessionId>(), Err(IdError::Malformed));
        assert_eq!("fcsess_a/b".parse::<SessionId>(), Err(IdError::Malformed));
        // A transaction refresh id is not a transaction id.
        assert!("fctxnref_abc".parse::<TransactionId>().is_err());
        let id: AccountId = "fca_XYZ".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"fca_XYZ\"");
    }

    proptest::proptest! {
        /// Any text: parsing never panics, and what it accepts is exactly the prefix and 1 to 255 ASCII
        /// letters and digits (no control character, separator or quote ever gets through to a query).
        #[test]
        fn ids_accept_exactly_prefix_and_alphanumerics(s in "\\PC{0,40}|fcsess_[A-Za-z0-9%\u{0}/'_-]{0,30}") {
            match s.parse::<SessionId>() {
                Ok(id) => {
                    let body = &id.as_str()["fcsess_".len()..];
                    proptest::prop_assert!(!body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric()));
                }
                Err(_) => {
                    let body = s.strip_prefix("fcsess_");
                    proptest::prop_assert!(body.is_none_or(|b| b.is_empty() || !b.bytes().all(|c| c.is_ascii_alphanumeric()) || b.len() > 255));
                }
            }
        }
    }
}
