//! From a file's vocabulary ([`super::doc`]) to the sandbox's model ([`Entry`]), checking every rule and
//! reporting every break with the field's [`Path`], not just the first.

use std::collections::HashSet;
use std::sync::Arc;

use finconn_core::provider::{
    AccountSubcategoryOrOther, Institution, InstitutionAccount, InstitutionStatus, LoginKind, OwnerData,
    TransactionStatus,
};
use finconn_types::{AccountSubcategory, ObjectId, Permission};

use super::doc::{
    AccountDoc, CredentialRulesDoc, EveryDoc, InstitutionDoc, LoginDoc, SeriesDoc, SeriesKindDoc, StatusDoc,
    TransactionStatusDoc,
};
use super::locate::Path;
use super::when;

/// How a credentials institution treats what the user types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CredentialRules {
    /// Any non-empty username and password log in.
    Any,
    /// Stripe's Sandbox Bank (Non-OAuth) keywords (`mfa`, `options`, `error`, `incorrect`, …).
    SandboxKeywords,
    /// Any non-empty username and password, then any six-digit code.
    Mfa,
}

/// One institution, ready to serve.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub institution: Institution,
    pub accounts: Vec<InstitutionAccount>,
    /// The data the file gives each account (same order as `accounts`).
    pub data: Vec<Arc<AccountFile>>,
    /// `Some` exactly for credentials institutions.
    pub rules: Option<CredentialRules>,
    /// The id and name of the institution whose accounts it shares, if it has none of its own.
    pub accounts_from: Option<(String, String)>,
}

/// What a file says about an account's data; what it leaves out is generated.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AccountFile {
    pub currency: Option<String>,
    pub balance: Option<FileBalance>,
    pub owners: Option<Vec<OwnerData>>,
    pub transactions: Option<Vec<FileTransaction>>,
    pub series: Vec<Series>,
}

impl AccountFile {
    /// Whether its transactions come from the file (a list, even empty, or a series).
    pub fn has_transactions(&self) -> bool {
        self.transactions.is_some() || !self.series.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileBalance {
    pub current: i64,
    pub available: Option<i64>,
    pub used: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileTransaction {
    pub id: Option<String>,
    pub amount: i64,
    pub description: String,
    pub transacted_at: i64,
    /// What it ends as (`Pending`: it stays pending).
    pub status: TransactionStatus,
    /// When it posted or was voided; pending until then.
    pub settled_at: i64,
}

/// A generated series, its defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Series {
    pub kind: SeriesKindDoc,
    pub description: Option<String>,
    pub amount: Option<i64>,
    pub every: Option<EveryDoc>,
    pub day: Option<u32>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub per_week: Option<u32>,
    pub merchants: Vec<String>,
    pub seed: Option<u64>,
    pub start: i64,
    pub end: Option<i64>,
}

/// A broken rule: which file (an index into the sources), where in it, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub file: usize,
    pub path: Path,
    pub message: String,
}

/// Where an account's table lives: an institution's `accounts` entry, or a file of its own.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub file: usize,
    pub path: Path,
}

/// Collects problems at one place in one file.
pub(crate) struct At<'a> {
    pub origin: Origin,
    pub out: &'a mut Vec<Problem>,
}

impl At<'_> {
    fn push(&mut self, field: &[&str], message: impl Into<String>) {
        let mut path = self.origin.path.clone();
        for f in field {
            path = path.key(f);
        }
        self.out.push(Problem { file: self.origin.file, path, message: message.into() });
    }

    fn push_path(&mut self, path: Path, message: impl Into<String>) {
        self.out.push(Problem { file: self.origin.file, path, message: message.into() });
    }
}

pub(crate) const CATEGORIES: &[&str] = &["cash", "credit", "investment", "other"];
pub(crate) const PAYMENT_METHODS: &[&str] = &["us_bank_account", "link"];
pub(crate) const ALL_FEATURES: [Permission; 4] =
    [Permission::Balances, Permission::Ownership, Permission::PaymentMethod, Permission::Transactions];
/// The most transactions one account may list (explicitly).
pub(crate) const MAX_TRANSACTIONS: usize = 100_000;
/// The largest amount, in minor units (ten billion dollars).
pub(crate) const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// The subcategories each category allows.
pub(crate) fn allowed_subcategories(category: &str) -> &'static [&'static str] {
    match category {
        "cash" => &["checking", "savings", "other"],
        "credit" => &["credit_card", "line_of_credit", "mortgage", "other"],
        _ => &["other"],
    }
}

fn parse_subcategory(s: &str) -> Option<AccountSubcategoryOrOther> {
    if s == "other" {
        return Some(AccountSubcategoryOrOther::Other);
    }
    AccountSubcategory::parse_known(s).map(AccountSubcategoryOrOther::Known)
}

/// Checks one institution whose accounts (inline or from files) are `accounts`, each with where it lives.
/// `earlier` are the institutions before it (in every file so far), for `accounts_from`.
pub(crate) fn institution(
    inst: InstitutionDoc,
    accounts_in: Vec<(AccountDoc, Origin)>,
    earlier: &[Entry],
    at: &mut At,
) -> Entry {
    if ObjectId::parse(&inst.id, "fcinst_").is_err() {
        at.push(&["id"], "the id must be \"fcinst_\" followed by letters and digits");
    }
    if inst.name.trim().is_empty() {
        at.push(&["name"], "the name is empty");
    }
    if let Some(url) = &inst.url {
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            at.push(&["url"], "the url must start with https://");
        }
    }
    if inst.countries.is_empty() {
        at.push(&["countries"], "it serves no country");
    }
    for (i, c) in inst.countries.iter().enumerate() {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            let p = at.origin.path.key("countries").index(i);
            at.push_path(p, format!("{c:?} is not an ISO 3166-1 alpha-2 country code (e.g. \"US\")"));
        }
    }
    let (login, rules) = match (inst.login, inst.credential_rules) {
        (LoginDoc::None, None) => (LoginKind::None, None),
        (LoginDoc::OAuth, None) => (LoginKind::OAuth, None),
        (LoginDoc::Credentials, None | Some(CredentialRulesDoc::Any)) => {
            (LoginKind::Credentials, Some(CredentialRules::Any))
        }
        (LoginDoc::Credentials, Some(CredentialRulesDoc::SandboxKeywords)) => {
            (LoginKind::Credentials, Some(CredentialRules::SandboxKeywords))
        }
        (LoginDoc::Mfa, None) => (LoginKind::Credentials, Some(CredentialRules::Mfa)),
        (other, Some(_)) => {
            at.push(&["credential_rules"], "only a credentials login takes credential_rules");
            match other {
                LoginDoc::None => (LoginKind::None, None),
                LoginDoc::OAuth => (LoginKind::OAuth, None),
                _ => (LoginKind::Credentials, Some(CredentialRules::Mfa)),
            }
        }
    };
    let status = match (inst.status, inst.available_in_seconds) {
        (StatusDoc::DownScheduled, Some(s)) if s > 0 => InstitutionStatus::DownScheduled { available_in_seconds: s },
        (StatusDoc::DownScheduled, _) => {
            at.push(&["available_in_seconds"], "down_scheduled needs a positive available_in_seconds");
            InstitutionStatus::DownScheduled { available_in_seconds: 1 }
        }
        (other, secs) => {
            if secs.is_some() {
                at.push(&["available_in_seconds"], "available_in_seconds only goes with status = \"down_scheduled\"");
            }
            match other {
                StatusDoc::Up => InstitutionStatus::Active,
                StatusDoc::DownUnscheduled => InstitutionStatus::DownUnscheduled,
                StatusDoc::Erroring | StatusDoc::DownScheduled => InstitutionStatus::Erroring,
            }
        }
    };
    let mut features = Vec::new();
    match &inst.features {
        None => features.extend(ALL_FEATURES),
        Some(list) => {
            for (i, f) in list.iter().enumerate() {
                let p = at.origin.path.key("features").index(i);
                match Permission::parse_known(f) {
                    Some(p2) if features.contains(&p2) => at.push_path(p, format!("feature {f} is listed twice")),
                    Some(p2) => features.push(p2),
                    None => at.push_path(
                        p,
                        format!("{f:?} is not a feature (balances, ownership, payment_method, transactions)"),
                    ),
                }
            }
        }
    }
    let mut accounts = Vec::new();
    let mut data = Vec::new();
    let mut seen = HashSet::new();
    for (doc, origin) in accounts_in {
        let mut at_account = At { origin, out: &mut *at.out };
        if !seen.insert(doc.name.clone()) {
            at_account.push(&["name"], format!("two accounts of {} are named {:?}", inst.id, doc.name));
        }
        if let Some((a, d)) = account(doc, &features, &mut at_account) {
            accounts.push(a);
            data.push(Arc::new(d));
        }
    }
    let accounts_from = match &inst.accounts_from {
        None => {
            if seen.is_empty() {
                at.push(&["accounts"], "it has no accounts (and no accounts_from)");
            }
            None
        }
        Some(from) => {
            if !seen.is_empty() {
                at.push(&["accounts_from"], "it has both accounts and accounts_from");
            }
            match earlier.iter().find(|e| &e.institution.id == from) {
                Some(src) if src.accounts_from.is_none() => {
                    accounts.clone_from(&src.accounts);
                    data.clone_from(&src.data);
                    if !features.contains(&Permission::PaymentMethod)
                        && accounts.iter().any(|a| !a.supported_payment_method_types.is_empty())
                    {
                        at.push(
                            &["accounts_from"],
                            format!("accounts from {from} support payments, but payment_method is not a feature"),
                        );
                    }
                    Some((src.institution.id.clone(), src.institution.name.clone()))
                }
                Some(_) => {
                    at.push(&["accounts_from"], "accounts_from must name an institution with accounts of its own");
                    None
                }
                None => {
                    at.push(&["accounts_from"], format!("{from:?} is not an institution listed before it"));
                    None
                }
            }
        }
    };
    Entry {
        institution: Institution {
            id: inst.id,
            name: inst.name,
            url: inst.url.unwrap_or_default(),
            countries: inst.countries,
            featured: inst.featured,
            login,
            status,
            features,
            logo: None,
        },
        accounts,
        data,
        rules,
        accounts_from,
    }
}

/// The currency of an institution's accounts when the file does not say: from its first country.
pub(crate) fn default_currency(countries: &[String]) -> &'static str {
    const EURO: &[&str] = &[
        "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT",
        "SI", "SK",
    ];
    match countries.first().map(String::as_str) {
        Some("CA") => "cad",
        Some("GB") => "gbp",
        Some(c) if EURO.contains(&c) => "eur",
        _ => "usd",
    }
}

fn amount_ok(n: i64) -> bool {
    n.unsigned_abs() <= MAX_AMOUNT.unsigned_abs()
}

fn account(a: AccountDoc, features: &[Permission], at: &mut At) -> Option<(InstitutionAccount, AccountFile)> {
    let before = at.out.len();
    if a.name.trim().is_empty() {
        at.push(&["name"], "the name is empty");
    }
    if !CATEGORIES.contains(&a.category.as_str()) {
        at.push(&["category"], format!("{:?} is not a category ({})", a.category, CATEGORIES.join(", ")));
    } else if !allowed_subcategories(&a.category).contains(&a.subcategory.as_str()) {
        at.push(
            &["subcategory"],
            format!(
                "a {} account's subcategory is one of {}, not {:?}",
                a.category,
                allowed_subcategories(&a.category).join(", "),
                a.subcategory
            ),
        );
    }
    // An unknown subcategory is reported above, with the ones the category allows.
    let subcategory = parse_subcategory(&a.subcategory);
    if a.last4.len() != 4 || !a.last4.bytes().all(|b| b.is_ascii_digit()) {
        at.push(&["last4"], format!("last4 must be four digits, not {:?}", a.last4));
    }
    let mut methods: Vec<String> = Vec::new();
    for (i, m) in a.payment_methods.iter().enumerate() {
        let p = at.origin.path.key("payment_methods").index(i);
        if !PAYMENT_METHODS.contains(&m.as_str()) {
            at.push_path(p, format!("{m:?} is not a payment method ({})", PAYMENT_METHODS.join(", ")));
        } else if methods.contains(m) {
            at.push_path(p, format!("payment method {m} is listed twice"));
        } else {
            methods.push(m.clone());
        }
    }
    if !methods.is_empty() {
        if !(a.category == "cash" && matches!(a.subcategory.as_str(), "checking" | "savings")) {
            at.push(&["payment_methods"], "only cash checking and savings accounts can support payments");
        }
        if !features.contains(&Permission::PaymentMethod) {
            at.push(
                &["payment_methods"],
                "it supports payments, but payment_method is not one of the institution's features",
            );
        }
    }
    if let Some(c) = &a.currency {
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_lowercase()) {
            at.push(&["currency"], format!("{c:?} is not a lower-case ISO 4217 code (e.g. \"usd\")"));
        }
    }
    let credit = a.category == "credit";
    let balance = a.balance.map(|b| {
        if credit && b.available.is_some() {
            at.push(&["balance", "available"], "a credit account has no available balance (use used)");
        }
        if !credit && b.used.is_some() {
            at.push(&["balance", "used"], "only credit accounts have used credit");
        }
        for (field, v) in [("current", Some(b.current)), ("available", b.available), ("used", b.used)] {
            if v.is_some_and(|v| !amount_ok(v)) {
                at.push(&["balance", field], format!("the amount is beyond ±{MAX_AMOUNT}"));
            }
        }
        FileBalance { current: b.current, available: b.available, used: b.used }
    });
    let owners = a.owners.map(|owners| {
        owners
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let p = at.origin.path.key("owners").index(i);
                if o.name.trim().is_empty() {
                    at.push_path(p.key("name"), "the owner's name is empty");
                }
                if o.email.as_deref().is_some_and(|e| !e.contains('@')) {
                    at.push_path(p.key("email"), "the email has no @");
                }
                OwnerData { name: o.name, email: o.email, phone: o.phone, raw_address: o.address }
            })
            .collect::<Vec<_>>()
    });
    let transactions = a.transactions.map(|list| {
        if list.len() > MAX_TRANSACTIONS {
            at.push(&["transactions"], format!("more than {MAX_TRANSACTIONS} transactions"));
        }
        let mut ids = HashSet::new();
        list.into_iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let p = at.origin.path.key("transactions").index(i);
                let before = at.out.len();
                if t.description.trim().is_empty() {
                    at.push_path(p.key("description"), "the description is empty");
                }
                if !amount_ok(t.amount) {
                    at.push_path(p.key("amount"), format!("the amount is beyond ±{MAX_AMOUNT}"));
                }
                if let Some(id) = &t.id {
                    if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
                        at.push_path(p.key("id"), "an id is 1 to 100 printable characters");
                    } else if !ids.insert(id.clone()) {
                        at.push_path(p.key("id"), format!("the id {id:?} is used twice in this account"));
                    }
                }
                let transacted_at = when::parse(&t.transacted_at)
                    .map_err(|m| at.push_path(p.key("transacted_at"), m))
                    .unwrap_or_default();
                let status = match t.status.unwrap_or(TransactionStatusDoc::Posted) {
                    TransactionStatusDoc::Pending => TransactionStatus::Pending,
                    TransactionStatusDoc::Posted => TransactionStatus::Posted,
                    TransactionStatusDoc::Void => TransactionStatus::Void,
                };
                let settled_at = match &t.settled_at {
                    None => transacted_at,
                    Some(_) if status == TransactionStatus::Pending => {
                        at.push_path(p.key("settled_at"), "a pending transaction has not settled");
                        transacted_at
                    }
                    Some(w) => match when::parse(w) {
                        Ok(s) if s < transacted_at => {
                            at.push_path(p.key("settled_at"), "it settles before it happened");
                            s
                        }
                        Ok(s) => s,
                        Err(m) => {
                            at.push_path(p.key("settled_at"), m);
                            transacted_at
                        }
                    },
                };
                (at.out.len() == before).then_some(FileTransaction {
                    id: t.id,
                    amount: t.amount,
                    description: t.description,
                    transacted_at,
                    status,
                    settled_at,
                })
            })
            .collect::<Vec<_>>()
    });
    let series = a
        .series
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let mut at_series = At {
                origin: Origin { file: at.origin.file, path: at.origin.path.key("series").index(i) },
                out: &mut *at.out,
            };
            series(s, &mut at_series)
        })
        .collect();
    if at.out.len() > before {
        return None;
    }
    Some((
        InstitutionAccount {
            name: a.name,
            category: a.category,
            subcategory: subcategory?,
            last4: a.last4,
            supported_payment_method_types: methods,
            purpose: a.purpose,
        },
        AccountFile { currency: a.currency, balance, owners, transactions, series },
    ))
}

/// The merchants of a `card_spend` series that names none.
pub(crate) const DEFAULT_MERCHANTS: &[&str] =
    &["Corner Coffee", "Green Grocer", "City Fuel", "Book Nook", "Noodle House", "Hardware Depot", "Pharmacy Plus"];

fn series(s: SeriesDoc, at: &mut At) -> Option<Series> {
    let before = at.out.len();
    let start = when::parse(&s.start).map_err(|m| at.push(&["start"], m)).unwrap_or_default();
    let end = s.end.as_ref().and_then(|w| when::parse(w).map_err(|m| at.push(&["end"], m)).ok());
    if end.is_some_and(|e| e < start) {
        at.push(&["end"], "the series ends before it starts");
    }
    let card = s.kind == SeriesKindDoc::CardSpend;
    let fixed_only = [
        ("description", s.description.is_some()),
        ("amount", s.amount.is_some()),
        ("every", s.every.is_some()),
        ("day", s.day.is_some()),
    ];
    let card_only = [
        ("min", s.min.is_some()),
        ("max", s.max.is_some()),
        ("per_week", s.per_week.is_some()),
        ("merchants", !s.merchants.is_empty()),
        ("seed", s.seed.is_some()),
    ];
    let kind = match s.kind {
        SeriesKindDoc::Payroll => "payroll",
        SeriesKindDoc::Rent => "rent",
        SeriesKindDoc::Recurring => "recurring",
        SeriesKindDoc::CardSpend => "card_spend",
    };
    for (field, given) in if card { &fixed_only[..] } else { &card_only[..] } {
        if *given {
            at.push(&[field], format!("{kind} takes no {field}"));
        }
    }
    if card {
        let (min, max) = (s.min.unwrap_or(0), s.max.unwrap_or(0));
        if s.min.is_none() || min <= 0 || min > MAX_AMOUNT {
            at.push(&["min"], "card_spend needs a positive min (minor units)");
        }
        if s.max.is_none() || max < min || max > MAX_AMOUNT {
            at.push(&["max"], "card_spend needs a max at least min");
        }
        if s.per_week.is_some_and(|n| n == 0 || n > 100) {
            at.push(&["per_week"], "per_week is 1 to 100");
        }
        for (i, m) in s.merchants.iter().enumerate() {
            if m.trim().is_empty() {
                at.push_path(at.origin.path.key("merchants").index(i), "the merchant's name is empty");
            }
        }
    } else {
        if s.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
            at.push(&["description"], format!("{kind} needs a description"));
        }
        match (s.kind, s.amount) {
            (_, None) => at.push(&["amount"], format!("{kind} needs an amount (minor units)")),
            (SeriesKindDoc::Recurring, Some(0)) => at.push(&["amount"], "the amount is zero"),
            (SeriesKindDoc::Payroll | SeriesKindDoc::Rent, Some(n)) if n <= 0 => {
                at.push(&["amount"], format!("{kind}'s amount is positive (rent is taken out of the account)"))
            }
            (_, Some(n)) if !amount_ok(n) => at.push(&["amount"], format!("the amount is beyond ±{MAX_AMOUNT}")),
            _ => {}
        }
        let every = s.every.unwrap_or(match s.kind {
            SeriesKindDoc::Payroll => EveryDoc::SemiMonth,
            _ => EveryDoc::Month,
        });
        match (every, s.day) {
            (EveryDoc::Month, Some(d)) if !(1..=31).contains(&d) => at.push(&["day"], "day is 1 to 31"),
            (EveryDoc::Month, _) | (_, None) => {}
            (_, Some(_)) => at.push(&["day"], "day only goes with every = \"month\""),
        }
    }
    (at.out.len() == before).then(|| {
        if card {
            Series {
                kind: s.kind,
                description: None,
                amount: None,
                every: None,
                day: None,
                min: s.min,
                max: s.max,
                per_week: Some(s.per_week.unwrap_or(5)),
                merchants: if s.merchants.is_empty() {
                    DEFAULT_MERCHANTS.iter().map(|m| (*m).to_owned()).collect()
                } else {
                    s.merchants
                },
                seed: Some(s.seed.unwrap_or(0)),
                start,
                end,
            }
        } else {
            let every = s.every.unwrap_or(match s.kind {
                SeriesKindDoc::Payroll => EveryDoc::SemiMonth,
                _ => EveryDoc::Month,
            });
            let day = match every {
                EveryDoc::Month => Some(s.day.unwrap_or(1)),
                _ => None,
            };
            Series {
                kind: s.kind,
                description: s.description,
                amount: s.amount,
                every: Some(every),
                day,
                min: None,
                max: None,
                per_week: None,
                merchants: Vec::new(),
                seed: None,
                start,
                end,
            }
        }
    })
}
