//! String enums of the wire format.
//!
//! Each enum knows its values in the spec's order (for "must be one of …" messages) and keeps values it
//! does not know as `Unknown(String)`, because Stripe marks most of these enums as open
//! (`x-stripeBypassValidation`).

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($variant,)+
            /// A value this version of finconn does not know.
            Unknown(String),
        }

        impl $name {
            /// The known values, in the order of Stripe's spec.
            pub const VALUES: &'static [&'static str] = &[$($value),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $value,)+
                    Self::Unknown(s) => s,
                }
            }

            /// Parses a known value; `None` for anything else (request validation rejects it).
            pub fn parse_known(s: &str) -> Option<Self> {
                match s {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse_known(s).unwrap_or_else(|| Self::Unknown(s.to_owned()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// `account_holder.type`.
    AccountHolderType { Account => "account", Customer => "customer" }
);
string_enum!(
    /// A data permission requested by a session or granted on an account.
    Permission {
        Balances => "balances",
        Ownership => "ownership",
        PaymentMethod => "payment_method",
        Transactions => "transactions",
    }
);
string_enum!(
    /// A feature fetched when the session completes.
    Prefetch { Balances => "balances", Ownership => "ownership", Transactions => "transactions" }
);
string_enum!(
    /// `filters.account_subcategories` on a session.
    AccountSubcategory {
        Checking => "checking",
        CreditCard => "credit_card",
        LineOfCredit => "line_of_credit",
        Mortgage => "mortgage",
        Savings => "savings",
    }
);
string_enum!(
    /// `filters.require_payment_method_support`.
    RequirePaymentMethodSupport { All => "all", AtLeastOne => "at_least_one", None => "none" }
);
string_enum!(
    /// `manual_entry.mode`.
    ManualEntryMode { Automatic => "automatic", Disabled => "disabled" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip() {
        let p: Permission = serde_json::from_str("\"future_permission\"").unwrap();
        assert_eq!(p, Permission::Unknown("future_permission".into()));
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"future_permission\"");
        let k: Permission = serde_json::from_str("\"balances\"").unwrap();
        assert_eq!(k, Permission::Balances);
    }

    #[test]
    fn parse_known_rejects_unknown() {
        assert_eq!(ManualEntryMode::parse_known("automatic"), Some(ManualEntryMode::Automatic));
        assert_eq!(ManualEntryMode::parse_known("Automatic"), None);
    }
}
