//! The sandbox-data file format as serde sees it: the same shape in TOML and JSON. `schema/sandbox-data.schema.json`
//! is generated from these types (`finconn sandbox-data schema`), so editors validate what finconn reads.
//!
//! Everything here is the file's vocabulary, unchecked: `check` turns it into the sandbox's model and
//! reports every broken rule with the file, line and field.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn is_false(b: &bool) -> bool {
    !*b
}

/// One sandbox-data file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "finconn sandbox data",
    description = "Institutions, accounts and their data for finconn's test mode."
)]
pub struct FileDoc {
    /// The format's version. This finconn reads version 1.
    pub version: i64,
    /// The institutions this file adds to the sandbox.
    #[serde(default)]
    pub institutions: Vec<InstitutionDoc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionDoc {
    /// `fcinst_` followed by letters and digits; unique across every file and the built-in catalogue.
    pub id: String,
    /// Shown in the modal and the institutions API; unique.
    pub name: String,
    /// The institution's web site (https://).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ISO 3166-1 alpha-2 codes of the countries it serves.
    pub countries: Vec<String>,
    /// Shown in the modal before the user searches.
    #[serde(default, skip_serializing_if = "is_false")]
    pub featured: bool,
    /// How the user logs in.
    pub login: LoginDoc,
    /// `credentials` only: which usernames and passwords log in (default `any`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_rules: Option<CredentialRulesDoc>,
    /// Whether it is up (default `up`).
    #[serde(default)]
    pub status: StatusDoc,
    /// `down_scheduled` only: seconds until it is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_in_seconds: Option<i64>,
    /// The data it can share: `balances`, `ownership`, `payment_method`, `transactions` (default: all four).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// The id of an institution listed before it whose accounts it has (instead of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_from: Option<String>,
    /// Its accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountDoc>,
    /// Files of one account each (TOML or JSON, the shape of one `accounts` entry), relative to this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_files: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginDoc {
    /// Choosing the institution authorizes (Stripe's test institutions).
    None,
    /// A simulated authorization page: Authorize or Cancel.
    #[serde(rename = "oauth")]
    OAuth,
    /// Username and password.
    Credentials,
    /// Username and password, then a six-digit code (any six digits).
    Mfa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialRulesDoc {
    /// Any non-empty username and password log in.
    Any,
    /// Stripe's Sandbox Bank (Non-OAuth) keywords: `mfa`, `options`, `security_question`, `confirm_mfa`,
    /// `error`, `incorrect`.
    SandboxKeywords,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusDoc {
    /// Up (also spelled `active`).
    #[default]
    #[serde(alias = "active")]
    Up,
    /// Down for planned maintenance (`available_in_seconds` says until when).
    DownScheduled,
    /// Down without notice.
    DownUnscheduled,
    /// Up, but every attempt fails with an error.
    Erroring,
}

/// One account. Without `balance`, `owners`, `transactions` or `series`, finconn generates that data from the
/// account's category (as for the built-in institutions); with them, a refresh returns exactly what the file
/// says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDoc {
    /// Unique within the institution; it becomes the linked account's `display_name`.
    pub name: String,
    /// `cash`, `credit`, `investment` or `other`.
    pub category: String,
    /// cash: `checking`, `savings`, `other`; credit: `credit_card`, `line_of_credit`, `mortgage`, `other`;
    /// investment and other: `other`.
    pub subcategory: String,
    /// Four digits.
    pub last4: String,
    /// `us_bank_account` and/or `link` (cash checking and savings only; default none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_methods: Vec<String>,
    /// Why the account exists (documentation; never shown to end users).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub purpose: String,
    /// ISO 4217 code, lower case (default from the institution's first country: usd, cad, gbp, eur).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The balance every refresh reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceDoc>,
    /// The owners every ownership refresh reports (`[]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<OwnerDoc>>,
    /// Transactions, listed one by one (`[]`: none besides the series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<TransactionDoc>>,
    /// Generated transactions: payroll, rent, card spending, any recurring amount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesDoc>,
}

/// Minor units of the account's currency (cents).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceDoc {
    /// The balance; for credit accounts, negative when money is owed.
    pub current: i64,
    /// Cash: what can be spent now (not for credit accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// Credit: the credit used (not for cash accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The address as one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionDoc {
    /// A stable id of your own (default: derived from the date, amount and description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Minor units; negative for money leaving the account.
    pub amount: i64,
    pub description: String,
    /// When it happened: `2026-01-15`, `2026-01-15T09:30:00Z` or Unix seconds. Listed once the clock
    /// (or the account's test clock) reaches it.
    pub transacted_at: When,
    /// `posted` (default), `pending` or `void`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TransactionStatusDoc>,
    /// When it posted or was voided (default: `transacted_at`); pending until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<When>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatusDoc {
    Pending,
    Posted,
    Void,
}

/// A generated series of transactions, from `start` until `end` (or the clock's now).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesDoc {
    /// `payroll` (a credit; default every `semi_month`, moved to the Friday before a weekend), `rent` (a debit
    /// of `amount`; default every `month` on `day` 1), `recurring` (`amount` as signed; default every `month`),
    /// `card_spend` (purchases between `min` and `max`, `per_week` on average, at `merchants`).
    pub kind: SeriesKindDoc,
    /// What the statement says (payroll, rent, recurring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Minor units (payroll, rent: positive; recurring: signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// `day`, `week`, `two_weeks`, `semi_month` (the 1st and 15th) or `month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<EveryDoc>,
    /// `month`: the day of the month (1–31; the month's last day when it is shorter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// card_spend: the smallest purchase, minor units (positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// card_spend: the largest purchase, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// card_spend: purchases per week on average (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_week: Option<u32>,
    /// card_spend: where the purchases happen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merchants: Vec<String>,
    /// card_spend: the seed of its draws; the same seed always gives the same purchases (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The first day: `2023-12-01` (or a date-time, or Unix seconds).
    pub start: When,
    /// The last day (default: none, the series goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<When>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKindDoc {
    Payroll,
    Rent,
    Recurring,
    CardSpend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EveryDoc {
    Day,
    Week,
    TwoWeeks,
    SemiMonth,
    Month,
}

/// A moment as the file wrote it: a date, a date-time (RFC 3339, or a TOML date/date-time) or Unix seconds.
/// `check` parses it.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    Unix(i64),
    Text(String),
}

impl Serialize for When {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            When::Unix(n) => s.serialize_i64(*n),
            When::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = When;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a date (2026-01-15), a date-time (2026-01-15T09:30:00Z) or Unix seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<When, E> {
                Ok(When::Unix(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<When, E> {
                i64::try_from(v).map(When::Unix).map_err(|_| E::custom("too large for Unix seconds"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<When, E> {
                Ok(When::Text(v.to_owned()))
            }
            // A TOML date or date-time arrives as toml's private one-key map.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<When, A::Error> {
                let dt = toml::value::Datetime::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(When::Text(dt.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for When {
    fn schema_name() -> Cow<'static, str> {
        "When".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A date (2026-01-15), an RFC 3339 date-time (2026-01-15T09:30:00Z) or Unix seconds.",
            "oneOf": [
                { "type": "integer" },
                { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}([Tt ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?([Zz]|[+-]\\d{2}:\\d{2})?)?$" }
            ]
        })
    }
}

/// One account file (`account_files`): the shape of one `accounts` entry.
pub type AccountFileDoc = AccountDoc;

/// The JSON Schema of a sandbox-data file, pretty-printed (what `schema/sandbox-data.schema.json` holds).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(FileDoc);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
