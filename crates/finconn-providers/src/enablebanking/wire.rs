//! Enable Banking's JSON, as its API reference gives it, and the mapping onto finconn's connector types:
//! account types, balances (which of the bank's balance types is "current" and which "available"),
//! transactions (sign, status, description, stable ids) and dates.

use finconn_core::provider::{TransactionData, TransactionStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::calendar::{civil_from_days, days_from_civil};
use crate::simplefin::{money, wire::sanitize};

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Application {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(default)]
    pub redirect_urls: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub environment: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Aspsps {
    pub aspsps: Vec<Aspsp>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Aspsp {
    pub name: String,
    pub country: String,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub psu_types: Vec<String>,
    /// Seconds.
    #[serde(default)]
    pub maximum_consent_validity: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuthResponse {
    pub url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Access {
    pub valid_until: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionCreated {
    pub session_id: String,
    pub access: Access,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionData {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    pub access: Access,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AccountId {
    #[serde(default)]
    pub iban: Option<String>,
    #[serde(default)]
    pub other: Option<OtherId>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct OtherId {
    #[serde(default)]
    pub identification: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AccountDetails {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub account_id: Option<AccountId>,
    /// The account holder's name(s).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub cash_account_type: Option<String>,
    pub currency: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Amount {
    pub currency: String,
    pub amount: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Balances {
    pub balances: Vec<Balance>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Balance {
    pub balance_amount: Amount,
    pub balance_type: String,
    #[serde(default)]
    pub reference_date: Option<String>,
    #[serde(default)]
    pub last_change_date_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Party {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BankTransactionCode {
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub entry_reference: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub transaction_amount: Amount,
    pub credit_debit_indicator: String,
    pub status: String,
    #[serde(default)]
    pub booking_date: Option<String>,
    #[serde(default)]
    pub value_date: Option<String>,
    #[serde(default)]
    pub transaction_date: Option<String>,
    #[serde(default)]
    pub creditor: Option<Party>,
    #[serde(default)]
    pub debtor: Option<Party>,
    #[serde(default)]
    pub remittance_information: Option<Vec<String>>,
    #[serde(default)]
    pub bank_transaction_code: Option<BankTransactionCode>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    #[serde(default)]
    pub continuation_key: Option<String>,
}

/// `(category, subcategory)` from `cash_account_type` (ISO 20022) and, for loans, the product's name.
pub fn category_of(cash_account_type: Option<&str>, product: &str) -> (&'static str, &'static str) {
    match cash_account_type {
        Some("CACC" | "CASH" | "TRAN") => ("cash", "checking"),
        Some("SVGS" | "MOMA" | "ONDP") => ("cash", "savings"),
        Some("CARD") => ("credit", "credit_card"),
        Some("LOAN" | "MGLD") => {
            let p = product.to_lowercase();
            if ["mortgage", "home loan", "housing", "hypot", "asunto", "bolån", "immobil"].iter().any(|w| p.contains(w))
            {
                ("credit", "mortgage")
            } else {
                ("credit", "line_of_credit")
            }
        }
        _ => ("other", "other"),
    }
}

/// The last four characters of the account's IBAN, else of its other identifier.
pub fn last4_of(id: Option<&AccountId>) -> Option<String> {
    let id = id?;
    let raw = id.iban.clone().or_else(|| id.other.as_ref().and_then(|o| o.identification.clone()))?;
    let chars: Vec<char> = raw.chars().filter(char::is_ascii_alphanumeric).collect();
    (chars.len() >= 4).then(|| chars[chars.len() - 4..].iter().collect())
}

/// The exponent of an ISO 4217 code (Enable Banking always gives ISO codes).
pub fn exponent_of(currency: &str) -> Option<(String, u32)> {
    match money::currency(currency) {
        money::Currency::Iso { code, exponent } => Some((code, exponent)),
        money::Currency::Other => None,
    }
}

/// `(current, available)` in minor units, with the date they are as of: current is the closing booked
/// balance (CLBD), else the interim booked (ITBD), else the expected (XPCD), else the first given;
/// available is the interim available (ITAV), else the closing available (CLAV).
pub fn pick_balances(list: &[Balance]) -> Result<Option<Picked>, String> {
    let find = |types: &[&str]| types.iter().find_map(|t| list.iter().find(|b| b.balance_type == *t));
    let Some(current) = find(&["CLBD", "ITBD", "XPCD"]).or_else(|| list.first()) else { return Ok(None) };
    let (code, exponent) =
        exponent_of(&current.balance_amount.currency).ok_or("a balance in a currency that is not ISO 4217")?;
    let amount = |b: &Balance| {
        money::to_minor_units(b.balance_amount.amount.trim(), exponent)
            .map_err(|_| format!("a balance that is not a decimal amount ({})", b.balance_type))
    };
    let cur = amount(current)?;
    let available = match find(&["ITAV", "CLAV"]) {
        Some(b) if b.balance_amount.currency.eq_ignore_ascii_case(&current.balance_amount.currency) => Some(amount(b)?),
        _ => None,
    };
    let as_of = current
        .last_change_date_time
        .as_deref()
        .and_then(parse_datetime)
        .or_else(|| current.reference_date.as_deref().and_then(parse_date));
    Ok(Some(Picked { currency: code, current: cur, available, as_of }))
}

/// The balances an account's list comes down to, in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picked {
    pub currency: String,
    pub current: i64,
    pub available: Option<i64>,
    /// When the bank says they are from.
    pub as_of: Option<i64>,
}

/// A transaction as finconn stores it; `None` for statuses that are not money moving (cancelled, rejected,
/// scheduled, other). `seen` counts identical id-less transactions in one listing, so two equal coffees
/// on one day stay two.
pub fn transaction_of(
    t: &Transaction,
    seen: &mut std::collections::HashMap<String, u32>,
) -> Result<Option<TransactionData>, String> {
    let status = match t.status.as_str() {
        "BOOK" => TransactionStatus::Posted,
        "PDNG" | "HOLD" => TransactionStatus::Pending,
        _ => return Ok(None),
    };
    let (code, exponent) =
        exponent_of(&t.transaction_amount.currency).ok_or("a transaction in a currency that is not ISO 4217")?;
    let raw = t.transaction_amount.amount.trim();
    let magnitude = money::to_minor_units(raw.trim_start_matches(['-', '+']), exponent)
        .map_err(|_| "a transaction amount that is not a decimal amount".to_owned())?;
    // The indicator decides the sign (some banks also sign the amount; the indicator is the standard).
    let amount = match t.credit_debit_indicator.as_str() {
        "DBIT" => -magnitude.abs(),
        "CRDT" => magnitude.abs(),
        other => return Err(format!("a transaction with credit_debit_indicator {other:?}")),
    };
    let date = match status {
        TransactionStatus::Pending => t.transaction_date.as_ref().or(t.value_date.as_ref()).or(t.booking_date.as_ref()),
        _ => t.booking_date.as_ref().or(t.transaction_date.as_ref()).or(t.value_date.as_ref()),
    };
    let transacted_at = date.and_then(|d| parse_date(d)).ok_or("a transaction without a valid date")?;
    let counterpart = if amount < 0 { t.creditor.as_ref() } else { t.debtor.as_ref() }.and_then(|p| p.name.clone());
    let remittance = t.remittance_information.clone().unwrap_or_default().join(" ");
    let description = [
        Some(remittance.clone()),
        counterpart.clone(),
        t.bank_transaction_code.as_ref().and_then(|c| c.description.clone()),
    ]
    .into_iter()
    .flatten()
    .map(|s| sanitize(&s))
    .find(|s| !s.trim().is_empty())
    .unwrap_or_else(|| "Transaction".to_owned());
    let provider_id = match t.entry_reference.as_ref().or(t.transaction_id.as_ref()).filter(|s| !s.is_empty()) {
        Some(id) => id.clone(),
        None => {
            // No id from the bank: a hash of what stays the same while the transaction exists (not its status
            // or booking date), numbered among identical ones.
            let day = t.transaction_date.as_ref().or(t.value_date.as_ref()).or(t.booking_date.as_ref());
            let basis = format!(
                "{}|{}|{}|{}|{}|{}",
                amount,
                code,
                day.map(String::as_str).unwrap_or(""),
                remittance,
                counterpart.as_deref().unwrap_or(""),
                t.bank_transaction_code.as_ref().and_then(|c| c.description.as_deref()).unwrap_or("")
            );
            let n = seen.entry(basis.clone()).or_insert(0);
            *n += 1;
            let digest = Sha256::digest(format!("{basis}|{n}").as_bytes());
            format!("h_{}", &hex(&digest)[..32])
        }
    };
    Ok(Some(TransactionData {
        provider_id,
        amount,
        currency: code,
        description,
        transacted_at,
        status,
        status_changed_at: None,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn num(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD` → Unix seconds at 00:00 UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.get(..10)?;
    let (y, m, d) = (num(s.get(0..4)?)?, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    if s.as_bytes()[4] != b'-' || s.as_bytes()[7] != b'-' || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?) * 86_400)
}

/// RFC 3339 (`2026-12-04T10:00:00.123456+02:00`, `…Z`) → Unix seconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let day = parse_date(s)?;
    let t = s.get(10..)?;
    let t = t.strip_prefix('T').or_else(|| t.strip_prefix(' '))?;
    let (h, mi, se) = (num(t.get(0..2)?)?, num(t.get(3..5)?)?, num(t.get(6..8)?)?);
    let mut rest = t.get(8..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let v = num(&o[1..3])? * 3600 + num(&o[4..6])? * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    Some(day + h * 3600 + mi * 60 + se - offset)
}

/// Unix seconds → `YYYY-MM-DD` (UTC).
pub fn format_date(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds → RFC 3339 in UTC.
pub fn format_datetime(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}+00:00", format_date(t), s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-12-04"), Some(1_796_342_400));
        assert_eq!(format_date(1_796_342_400), "2026-12-04");
        assert_eq!(parse_datetime("2026-12-04T01:00:00.5+01:00"), Some(1_796_342_400));
        assert_eq!(parse_datetime("2026-12-04T00:00:00Z"), Some(1_796_342_400));
        assert_eq!(format_datetime(1_796_342_400 + 3661), "2026-12-04T01:01:01+00:00");
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("20261201"), None);
        for t in [0, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_date(&format_date(t)), Some(t));
        }
    }

    fn txn(amount: &str, ind: &str, status: &str) -> Transaction {
        serde_json::from_value(serde_json::json!({
            "transaction_amount": {"currency": "EUR", "amount": amount},
            "credit_debit_indicator": ind, "status": status,
            "booking_date": "2026-11-02", "transaction_date": "2026-11-01",
            "creditor": {"name": "K-Market"}, "remittance_information": []
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn transactions_signed_by_indicator_and_dated_by_status() {
        let mut seen = Default::default();
        let t =
            transaction_of(&txn("49.90", "DBIT", "BOOK"), &mut seen).unwrap_or_default().unwrap_or_else(|| panic!());
        assert_eq!((t.amount, t.status, t.transacted_at), (-4990, TransactionStatus::Posted, 1_793_577_600));
        assert_eq!(t.description, "K-Market");
        let t =
            transaction_of(&txn("-49.90", "DBIT", "PDNG"), &mut seen).unwrap_or_default().unwrap_or_else(|| panic!());
        assert_eq!((t.amount, t.status, t.transacted_at), (-4990, TransactionStatus::Pending, 1_793_491_200));
        assert_eq!(transaction_of(&txn("1.00", "CRDT", "CNCL"), &mut seen), Ok(None));
        assert!(transaction_of(&txn("1,00", "CRDT", "BOOK"), &mut seen).is_err());
    }

    #[test]
    fn id_less_duplicates_stay_distinct_and_stable() {
        let ids = || {
            let mut seen = Default::default();
            [txn("3.00", "DBIT", "BOOK"), txn("3.00", "DBIT", "BOOK")]
                .iter()
                .map(|t| transaction_of(t, &mut seen).ok().flatten().map(|d| d.provider_id).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        let a = ids();
        assert_ne!(a[0], a[1]);
        assert_eq!(a, ids());
    }

    #[test]
    fn balance_choice() {
        let list: Vec<Balance> = serde_json::from_value(serde_json::json!([
            {"balance_amount": {"currency": "EUR", "amount": "10.00"}, "balance_type": "ITAV"},
            {"balance_amount": {"currency": "EUR", "amount": "12.34"}, "balance_type": "ITBD", "reference_date": "2026-12-04"},
            {"balance_amount": {"currency": "EUR", "amount": "1.00"}, "balance_type": "XPCD"}
        ]))
        .unwrap_or_default();
        let want = Picked { currency: "eur".into(), current: 1234, available: Some(1000), as_of: Some(1_796_342_400) };
        assert_eq!(pick_balances(&list), Ok(Some(want)));
        assert_eq!(category_of(Some("LOAN"), "Asuntolaina"), ("credit", "mortgage"));
        assert_eq!(category_of(Some("SVGS"), ""), ("cash", "savings"));
        assert_eq!(
            last4_of(Some(&AccountId { iban: Some("FI21 1234 5600 0007 85".into()), other: None })),
            Some("0785".into())
        );
    }
}
