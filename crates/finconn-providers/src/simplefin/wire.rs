//! The `/accounts` answer in both protocol shapes: v1 (`errors` strings, `org` per account) and the v2
//! draft (`errlist` with codes, `connections`, `conn_id`), which servers may send together. Lenient:
//! unknown fields are ignored, optional fields default, and numbers that real servers send as strings (or
//! strings as numbers) are accepted either way. Amounts stay text for `money.rs` to convert exactly.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AccountSet {
    #[serde(default, deserialize_with = "strings")]
    pub errors: Vec<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub errlist: Vec<WireError>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub connections: Vec<Connection>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub accounts: Vec<Account>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WireError {
    #[serde(default)]
    pub code: String,
    /// `msg` in the protocol's table, `message` in its example: both accepted.
    #[serde(default, alias = "message")]
    pub msg: String,
    #[serde(default)]
    pub conn_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Connection {
    pub conn_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub org_name: Option<String>,
    #[serde(default)]
    pub org_url: Option<String>,
    #[serde(default)]
    pub sfin_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Org {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "sfin-url")]
    pub sfin_url: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Account {
    #[serde(deserialize_with = "text")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub conn_id: Option<String>,
    #[serde(default)]
    pub conn_name: Option<String>,
    #[serde(default)]
    pub org: Option<Org>,
    #[serde(default)]
    pub currency: String,
    #[serde(deserialize_with = "text")]
    pub balance: String,
    #[serde(default, rename = "available-balance", deserialize_with = "optional_text")]
    pub available_balance: Option<String>,
    #[serde(default, rename = "balance-date", deserialize_with = "epoch")]
    pub balance_date: i64,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub transactions: Vec<Transaction>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Transaction {
    #[serde(deserialize_with = "text")]
    pub id: String,
    #[serde(default, deserialize_with = "epoch")]
    pub posted: i64,
    #[serde(deserialize_with = "text")]
    pub amount: String,
    #[serde(default, deserialize_with = "optional_text")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "optional_epoch")]
    pub transacted_at: Option<i64>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub pending: bool,
    #[serde(default, deserialize_with = "optional_text")]
    pub payee: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub memo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireParseError {
    #[error("the answer is not JSON (an error page?)")]
    NotJson,
    #[error("the answer is JSON but not an account set: {0}")]
    Shape(String),
}

pub fn parse_account_set(body: &[u8]) -> Result<AccountSet, WireParseError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| WireParseError::NotJson)?;
    if !value.is_object() || value.get("accounts").is_none() {
        return Err(WireParseError::Shape("no `accounts` list".into()));
    }
    // serde's message names the field and type, never the data.
    serde_json::from_value(value).map_err(|e| WireParseError::Shape(sanitize(&e.to_string())))
}

impl AccountSet {
    /// The messages for the user: v2 `errlist` and v1 `errors`, each sanitised, without repeats.
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.errlist.iter().map(|e| &e.msg).chain(&self.errors) {
            let s = sanitize(m);
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

impl Transaction {
    /// Not posted yet: `pending: true`, or `posted: 0`.
    pub fn is_pending(&self) -> bool {
        self.pending || self.posted == 0
    }

    /// The description, with the Bridge's `payee` in front when the description does not already hold it
    /// (`"Cafe — COFFEE 123"`), and its `memo` after, in parentheses, when it adds something. Sanitised.
    pub fn display_description(&self) -> String {
        let desc = self.description.as_deref().map(sanitize).unwrap_or_default();
        let payee = self.payee.as_deref().map(sanitize).filter(|p| !p.is_empty());
        let memo = self.memo.as_deref().map(sanitize).filter(|m| !m.is_empty());
        let mut out = match payee {
            Some(p) if desc.is_empty() => p,
            Some(p) if !desc.to_lowercase().contains(&p.to_lowercase()) => format!("{p} — {desc}"),
            _ => desc,
        };
        if let Some(m) = memo {
            if !out.to_lowercase().contains(&m.to_lowercase()) {
                out = if out.is_empty() { m } else { format!("{out} ({m})") };
            }
        }
        out
    }
}

/// `prefix.[subcode]`; unknown subcodes count as their naked prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    GenAuth,
    Gen,
    ConAuth,
    Con,
    ActMissingData,
    Act,
    Unknown,
}

pub fn error_kind(code: &str) -> ErrorKind {
    let code = code.trim().to_ascii_lowercase();
    let (prefix, sub) = code.split_once('.').unwrap_or((code.as_str(), ""));
    match (prefix, sub) {
        ("gen", "auth") => ErrorKind::GenAuth,
        ("gen", _) => ErrorKind::Gen,
        ("con", "auth") => ErrorKind::ConAuth,
        ("con", _) => ErrorKind::Con,
        ("act", "missingdata") => ErrorKind::ActMissingData,
        ("act", _) => ErrorKind::Act,
        _ => ErrorKind::Unknown,
    }
}

/// Upstream text made safe to keep and show: tags and control characters removed, whitespace collapsed,
/// at most 300 characters.
pub fn sanitize(text: &str) -> String {
    let mut plain = String::with_capacity(text.len().min(4096));
    let mut in_tag = false;
    for c in text.chars().take(20_000) {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if in_tag => {}
            c if c.is_control() => plain.push(' '),
            c => plain.push(c),
        }
    }
    let collapsed = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > 300 {
        let cut: String = collapsed.chars().take(299).collect();
        format!("{}…", cut.trim_end())
    } else {
        collapsed
    }
}

/// v1 `errors` strings that mean something (used only without `errlist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Hint {
    NeedsAttention,
    RateLimited,
    Other,
}

pub fn v1_hint(message: &str) -> V1Hint {
    let m = message.to_lowercase();
    let any = |ws: &[&str]| ws.iter().any(|w| m.contains(w));
    if any(&["make fewer requests", "once every 24 hours", "rate limit"]) {
        V1Hint::RateLimited
    } else if any(&["reauth", "authenticat", "two-factor", "2fa", "forbidden", "unauthorized", "may need attention"]) {
        V1Hint::NeedsAttention
    } else {
        V1Hint::Other
    }
}

// --- lenient field readers ---------------------------------------------------------------------------

fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    value_text(&v).ok_or_else(|| serde::de::Error::custom("expected a string or a number"))
}

fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_text(&serde_json::Value::deserialize(d)?))
}

fn value_epoch(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn epoch<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(value_epoch(&serde_json::Value::deserialize(d)?).unwrap_or(0))
}

fn optional_epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(value_epoch(&serde_json::Value::deserialize(d)?))
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => matches!(s.as_str(), "true" | "1"),
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    })
}

fn nullable_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Option<Vec<serde_json::Value>> = Option::deserialize(d)?;
    Ok(v.unwrap_or_default().iter().filter_map(value_text).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"{"errlist":[{"code":"con.auth","msg":"Authentication required for Example Bank - Jo","conn_id":"CON-1"}],
 "errors":["Authentication required for Example Bank - Jo"],
 "connections":[{"conn_id":"CON-1","name":"Example Bank - Jo","org_id":"ORG-1","org_name":"Example Bank",
                 "org_url":"https://examplebank.test","sfin_url":"https://127.0.0.1:8443/simplefin"}],
 "accounts":[{"id":"ACT-1","name":"Everyday Checking","conn_id":"CON-1","currency":"USD",
              "org":{"domain":"examplebank.test","name":"Example Bank","sfin-url":"https://127.0.0.1:8443/simplefin"},
              "balance":"1520.33","available-balance":"1490.33","balance-date":1764115200,
              "transactions":[{"id":"T-9","posted":0,"transacted_at":1764100000,"pending":true,
                               "amount":"-30.00","description":"COFFEE","payee":"Cafe"}]}]}"#;

    #[test]
    fn the_v2_example_parses() {
        let s = parse_account_set(V2.as_bytes()).unwrap();
        assert_eq!(s.errlist[0].code, "con.auth");
        assert_eq!(s.errlist[0].conn_id.as_deref(), Some("CON-1"));
        assert_eq!(s.connections[0].name.as_deref(), Some("Example Bank - Jo"));
        let a = &s.accounts[0];
        assert_eq!(
            (a.balance.as_str(), a.available_balance.as_deref(), a.balance_date),
            ("1520.33", Some("1490.33"), 1_764_115_200)
        );
        let t = &a.transactions[0];
        assert!(t.is_pending());
        assert_eq!(t.display_description(), "Cafe — COFFEE");
        assert_eq!(s.messages(), ["Authentication required for Example Bank - Jo"]);
    }

    #[test]
    fn a_v1_answer_parses() {
        let body = r#"{"errors":["Connection to Example Bank may need attention"],"accounts":[{"org":{"domain":"mybank.com","sfin-url":"https://sfin.mybank.com"},
          "id":"2930002","name":"Savings","currency":"USD","balance":"100.23","balance-date":978366153,"extra":{"account-open-date":978360153},
          "transactions":[{"id":"12394832938403","posted":793090572,"amount":"-33293.43","description":"Uncle Frank's Bait Shop"}]}]}"#;
        let s = parse_account_set(body.as_bytes()).unwrap();
        assert!(s.errlist.is_empty() && s.connections.is_empty());
        assert_eq!(s.accounts[0].org.as_ref().unwrap().sfin_url.as_deref(), Some("https://sfin.mybank.com"));
        assert!(!s.accounts[0].transactions[0].is_pending());
        assert_eq!(v1_hint(&s.errors[0]), V1Hint::NeedsAttention);
    }

    #[test]
    fn loose_fields_are_accepted() {
        let body = r#"{"errlist":[{"code":"act.missingdata","message":"Incomplete","account_id":"A"}],"accounts":[{"id":7,"name":"X","currency":"USD","balance":12.5,
           "balance-date":"1700000000","unknown":{"deep":[1,2]},"transactions":[{"id":"t","posted":"1700000000","amount":-1.25,"pending":null,"description":null}]}]}"#;
        let s = parse_account_set(body.as_bytes()).unwrap();
        assert_eq!(s.errlist[0].msg, "Incomplete");
        assert_eq!(error_kind(&s.errlist[0].code), ErrorKind::ActMissingData);
        let a = &s.accounts[0];
        assert_eq!((a.id.as_str(), a.balance.as_str(), a.balance_date), ("7", "12.5", 1_700_000_000));
        assert_eq!(a.transactions[0].amount, "-1.25");
        assert_eq!(a.transactions[0].posted, 1_700_000_000);
        assert!(!a.transactions[0].pending);
    }

    #[test]
    fn error_pages_are_not_account_sets() {
        assert_eq!(parse_account_set(b"<html><body><h1>Bad gateway</h1></body></html>"), Err(WireParseError::NotJson));
        assert!(matches!(parse_account_set(b"{\"x\":1}"), Err(WireParseError::Shape(_))));
        assert!(matches!(parse_account_set(b"[]"), Err(WireParseError::Shape(_))));
    }

    #[test]
    fn codes_fall_back_to_their_prefix() {
        assert_eq!(error_kind("gen.auth"), ErrorKind::GenAuth);
        assert_eq!(error_kind("gen.api"), ErrorKind::Gen);
        assert_eq!(error_kind("gen."), ErrorKind::Gen);
        assert_eq!(error_kind("con.auth"), ErrorKind::ConAuth);
        assert_eq!(error_kind("con.weird"), ErrorKind::Con);
        assert_eq!(error_kind("act.failed"), ErrorKind::Act);
        assert_eq!(error_kind("act.new"), ErrorKind::Act);
        assert_eq!(error_kind("xyz.q"), ErrorKind::Unknown);
    }

    #[test]
    fn sanitize_removes_markup_and_caps_length() {
        assert_eq!(sanitize("<script>alert(1)</script>Bad"), "alert(1) Bad");
        assert_eq!(sanitize("a\u{0}b\n\tc   d"), "a b c d");
        let long = sanitize(&"x".repeat(2000));
        assert_eq!(long.chars().count(), 300);
        assert!(long.ends_with('…'));
        assert!(!sanitize("<img src=x onerror=alert(1)>hi").contains('<'));
    }

    #[test]
    fn descriptions_combine_payee_and_memo() {
        let t = |d: Option<&str>, p: Option<&str>, m: Option<&str>| {
            Transaction {
                description: d.map(str::to_owned),
                payee: p.map(str::to_owned),
                memo: m.map(str::to_owned),
                ..Transaction::default()
            }
            .display_description()
        };
        assert_eq!(t(Some("POS 1234 STARBUCKS"), Some("Starbucks"), None), "POS 1234 STARBUCKS");
        assert_eq!(t(Some("POS 1234"), Some("Starbucks"), Some("latte")), "Starbucks — POS 1234 (latte)");
        assert_eq!(t(None, Some("Payee"), None), "Payee");
        assert_eq!(t(Some("Rent"), None, Some("Rent")), "Rent");
    }
}
