//! The sandbox catalogue: `sandbox/institutions.toml`, embedded at compile time, parsed and checked when the
//! sandbox loads. The file's header documents its format; [`parse`] enforces it.

use std::collections::HashSet;

use finconn_core::provider::{
    AccountSubcategoryOrOther, Institution, InstitutionAccount, InstitutionStatus, LoginKind,
};
use finconn_types::{AccountSubcategory, ObjectId, Permission};
use serde::Deserialize;

/// The catalogue as compiled into this crate.
pub const CATALOGUE_TOML: &str = include_str!("../sandbox/institutions.toml");

/// The catalogue format this crate reads (`version` in the file).
pub const CATALOGUE_VERSION: i64 = 1;

/// Why the catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("the sandbox catalogue does not parse: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("the sandbox catalogue has version {found}; this finconn reads version {CATALOGUE_VERSION}")]
    Version { found: i64 },
    /// Every rule the file breaks, one per line.
    #[error("the sandbox catalogue breaks its rules:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// How a credentials institution treats what the user types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CredentialRules {
    /// Any non-empty username and password log in.
    Any,
    /// Stripe's Sandbox Bank (Non-OAuth) keywords (`mfa`, `options`, `error`, `incorrect`, …).
    SandboxKeywords,
}

/// One institution, ready to serve.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub institution: Institution,
    pub accounts: Vec<InstitutionAccount>,
    /// `Some` exactly for credentials institutions.
    pub rules: Option<CredentialRules>,
    /// The name of the institution whose accounts it shares, if it has none of its own.
    pub accounts_from: Option<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[allow(dead_code)]
    version: i64,
    #[serde(default)]
    institutions: Vec<InstitutionToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstitutionToml {
    id: String,
    name: String,
    url: String,
    countries: Vec<String>,
    featured: bool,
    login: LoginToml,
    credential_rules: Option<CredentialRules>,
    status: StatusToml,
    available_in_seconds: Option<i64>,
    features: Vec<String>,
    accounts_from: Option<String>,
    #[serde(default)]
    accounts: Vec<AccountToml>,
}

#[derive(Clone, Copy, Deserialize)]
enum LoginToml {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "oauth")]
    OAuth,
    #[serde(rename = "credentials")]
    Credentials,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StatusToml {
    Active,
    DownScheduled,
    DownUnscheduled,
    Erroring,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountToml {
    name: String,
    category: String,
    subcategory: String,
    last4: String,
    payment_methods: Vec<String>,
    purpose: String,
}

const CATEGORIES: &[&str] = &["cash", "credit", "investment", "other"];
const PAYMENT_METHODS: &[&str] = &["us_bank_account", "link"];

/// The subcategories each category allows.
fn allowed_subcategories(category: &str) -> &'static [&'static str] {
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

/// Parses and checks a catalogue. Every broken rule is reported, not just the first.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, CatalogueError> {
    let VersionOnly { version } = toml::from_str(text)?;
    if version != CATALOGUE_VERSION {
        return Err(CatalogueError::Version { found: version });
    }
    let file: FileToml = toml::from_str(text)?;
    let mut problems = Vec::new();
    if file.institutions.is_empty() {
        problems.push("there are no institutions".to_owned());
    }
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    let mut entries: Vec<Entry> = Vec::new();
    for inst in file.institutions {
        let entry = check_institution(inst, &entries, &mut problems);
        let at = format!("institution {}", entry.institution.id);
        if !ids.insert(entry.institution.id.clone()) {
            problems.push(format!("{at}: the id is used twice"));
        }
        if !names.insert(entry.institution.name.clone()) {
            problems.push(format!("{at}: the name {:?} is used twice", entry.institution.name));
        }
        entries.push(entry);
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(CatalogueError::Invalid(problems))
    }
}

fn check_institution(inst: InstitutionToml, earlier: &[Entry], problems: &mut Vec<String>) -> Entry {
    let at = format!("institution {}", inst.id);
    if ObjectId::parse(&inst.id, "fcinst_").is_err() {
        problems.push(format!("{at}: the id must be \"fcinst_\" followed by letters and digits"));
    }
    if inst.name.trim().is_empty() {
        problems.push(format!("{at}: the name is empty"));
    }
    if !inst.url.starts_with("https://") || inst.url.len() <= "https://".len() {
        problems.push(format!("{at}: the url must start with https://"));
    }
    if inst.countries.is_empty() {
        problems.push(format!("{at}: it serves no country"));
    }
    for c in &inst.countries {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push(format!("{at}: {c:?} is not an ISO 3166-1 alpha-2 country code"));
        }
    }
    let login = match inst.login {
        LoginToml::None => LoginKind::None,
        LoginToml::OAuth => LoginKind::OAuth,
        LoginToml::Credentials => LoginKind::Credentials,
    };
    match (login, inst.credential_rules) {
        (LoginKind::Credentials, None) => problems.push(format!("{at}: a credentials login needs credential_rules")),
        (LoginKind::OAuth | LoginKind::None, Some(_)) => {
            problems.push(format!("{at}: only a credentials login takes credential_rules"))
        }
        _ => {}
    }
    let status = match (inst.status, inst.available_in_seconds) {
        (StatusToml::DownScheduled, Some(s)) if s > 0 => InstitutionStatus::DownScheduled { available_in_seconds: s },
        (StatusToml::DownScheduled, _) => {
            problems.push(format!("{at}: down_scheduled needs a positive available_in_seconds"));
            InstitutionStatus::DownScheduled { available_in_seconds: 1 }
        }
        (other, secs) => {
            if secs.is_some() {
                problems.push(format!("{at}: available_in_seconds only goes with down_scheduled"));
            }
            match other {
                StatusToml::Active => InstitutionStatus::Active,
                StatusToml::DownUnscheduled => InstitutionStatus::DownUnscheduled,
                StatusToml::Erroring | StatusToml::DownScheduled => InstitutionStatus::Erroring,
            }
        }
    };
    let mut features = Vec::new();
    for f in &inst.features {
        match Permission::parse_known(f) {
            Some(p) if features.contains(&p) => problems.push(format!("{at}: feature {f} is listed twice")),
            Some(p) => features.push(p),
            None => problems
                .push(format!("{at}: {f:?} is not a feature (balances, ownership, payment_method, transactions)")),
        }
    }
    let mut accounts = Vec::new();
    let mut seen = HashSet::new();
    for a in inst.accounts {
        if !seen.insert(a.name.clone()) {
            problems.push(format!("{at}: two accounts are named {:?}", a.name));
        }
        if let Some(account) = check_account(a, &at, &features, problems) {
            accounts.push(account);
        }
    }
    let accounts_from = match &inst.accounts_from {
        None => {
            if accounts.is_empty() && seen.is_empty() {
                problems.push(format!("{at}: it has no accounts (and no accounts_from)"));
            }
            None
        }
        Some(from) => {
            if !seen.is_empty() {
                problems.push(format!("{at}: it has both accounts and accounts_from"));
            }
            match earlier.iter().find(|e| &e.institution.id == from) {
                Some(src) if src.accounts_from.is_none() => {
                    accounts.clone_from(&src.accounts);
                    if !features.contains(&Permission::PaymentMethod)
                        && accounts.iter().any(|a| !a.supported_payment_method_types.is_empty())
                    {
                        problems.push(format!(
                            "{at}: accounts from {from} support payments, but payment_method is not a feature"
                        ));
                    }
                    Some(src.institution.name.clone())
                }
                Some(_) => {
                    problems.push(format!("{at}: accounts_from must name an institution with accounts of its own"));
                    None
                }
                None => {
                    problems.push(format!("{at}: accounts_from {from:?} is not an institution listed before it"));
                    None
                }
            }
        }
    };
    Entry {
        institution: Institution {
            id: inst.id,
            name: inst.name,
            url: inst.url,
            countries: inst.countries,
            featured: inst.featured,
            login,
            status,
            features,
            logo: None,
        },
        accounts,
        rules: inst.credential_rules.filter(|_| login == LoginKind::Credentials),
        accounts_from,
    }
}

fn check_account(
    a: AccountToml,
    institution: &str,
    features: &[Permission],
    problems: &mut Vec<String>,
) -> Option<InstitutionAccount> {
    let at = format!("{institution}, account {:?}", a.name);
    let before = problems.len();
    if a.name.trim().is_empty() {
        problems.push(format!("{at}: the name is empty"));
    }
    if a.purpose.trim().is_empty() {
        problems.push(format!("{at}: the purpose is empty"));
    }
    if !CATEGORIES.contains(&a.category.as_str()) {
        problems.push(format!("{at}: {:?} is not a category ({})", a.category, CATEGORIES.join(", ")));
    } else if !allowed_subcategories(&a.category).contains(&a.subcategory.as_str()) {
        problems.push(format!(
            "{at}: a {} account's subcategory is one of {}, not {:?}",
            a.category,
            allowed_subcategories(&a.category).join(", "),
            a.subcategory
        ));
    }
    let subcategory = parse_subcategory(&a.subcategory);
    if subcategory.is_none() {
        problems.push(format!("{at}: {:?} is not a subcategory", a.subcategory));
    }
    if a.last4.len() != 4 || !a.last4.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(format!("{at}: last4 must be four digits, not {:?}", a.last4));
    }
    let mut methods: Vec<String> = Vec::new();
    for m in &a.payment_methods {
        if !PAYMENT_METHODS.contains(&m.as_str()) {
            problems.push(format!("{at}: {m:?} is not a payment method ({})", PAYMENT_METHODS.join(", ")));
        } else if methods.contains(m) {
            problems.push(format!("{at}: payment method {m} is listed twice"));
        } else {
            methods.push(m.clone());
        }
    }
    if !methods.is_empty() {
        if !(a.category == "cash" && matches!(a.subcategory.as_str(), "checking" | "savings")) {
            problems.push(format!("{at}: only cash checking and savings accounts can support payments"));
        }
        if !features.contains(&Permission::PaymentMethod) {
            problems.push(format!(
                "{at}: it supports payments, but payment_method is not one of the institution's features"
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(InstitutionAccount {
        name: a.name,
        category: a.category,
        subcategory: subcategory?,
        last4: a.last4,
        supported_payment_method_types: methods,
        purpose: a.purpose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Err(CatalogueError::Invalid(p)) => p,
            other => panic!("expected rule violations, got {other:?}"),
        }
    }

    const ONE: &str = r#"
version = 1
[[institutions]]
id = "fcinst_One"
name = "One"
url = "https://one.example.com"
countries = ["US"]
featured = true
login = "credentials"
credential_rules = "any"
status = "active"
features = ["balances", "payment_method"]
[[institutions.accounts]]
name = "Checking"
category = "cash"
subcategory = "checking"
last4 = "1234"
payment_methods = ["us_bank_account", "link"]
purpose = "p"
"#;

    #[test]
    fn a_minimal_catalogue_parses() {
        let entries = parse(ONE).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].accounts[0].subcategory, AccountSubcategoryOrOther::Known(AccountSubcategory::Checking));
        assert_eq!(entries[0].rules, Some(CredentialRules::Any));
    }

    #[test]
    fn other_versions_are_refused() {
        let text = ONE.replace("version = 1", "version = 2");
        assert!(matches!(parse(&text), Err(CatalogueError::Version { found: 2 })));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = ONE.replace("featured = true", "featured = true\nfeatured_rank = 1");
        assert!(matches!(parse(&text), Err(CatalogueError::Toml(_))));
    }

    #[test]
    fn broken_rules_are_all_reported() {
        let text = ONE
            .replace("fcinst_One", "fcinst_one_two")
            .replace("subcategory = \"checking\"", "subcategory = \"mortgage\"")
            .replace("last4 = \"1234\"", "last4 = \"12a4\"")
            .replace("countries = [\"US\"]", "countries = [\"usa\"]");
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains("letters and digits")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("subcategory is one of checking, savings, other")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("last4 must be four digits")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("alpha-2")), "{p:?}");
        let shown = CatalogueError::Invalid(p).to_string();
        assert!(shown.contains("fcinst_one_two, account \"Checking\""), "{shown}");
    }

    #[test]
    fn duplicates_are_reported() {
        let account = ONE.split("[[institutions.accounts]]").nth(1).unwrap();
        let text = format!("{ONE}[[institutions.accounts]]{account}");
        assert!(problems(&text).iter().any(|m| m.contains("two accounts are named \"Checking\"")));
        let second = ONE.replace("version = 1", "");
        let text = format!("{ONE}{second}");
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains("the id is used twice")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("the name \"One\" is used twice")), "{p:?}");
    }

    #[test]
    fn payments_only_from_cash_checking_and_savings() {
        let text =
            ONE.replace("category = \"cash\"", "category = \"credit\"").replace("\"checking\"", "\"credit_card\"");
        assert!(problems(&text).iter().any(|m| m.contains("only cash checking and savings")));
        let text = ONE.replace("features = [\"balances\", \"payment_method\"]", "features = [\"balances\"]");
        assert!(problems(&text).iter().any(|m| m.contains("payment_method is not one of the institution's features")));
    }

    #[test]
    fn login_and_status_keys_must_agree() {
        let text = ONE.replace("login = \"credentials\"", "login = \"oauth\"");
        assert!(problems(&text).iter().any(|m| m.contains("only a credentials login takes credential_rules")));
        let text = ONE.replace("credential_rules = \"any\"\n", "");
        assert!(problems(&text).iter().any(|m| m.contains("needs credential_rules")));
        let text = ONE.replace("status = \"active\"", "status = \"down_scheduled\"");
        assert!(problems(&text).iter().any(|m| m.contains("positive available_in_seconds")));
        let text = ONE.replace("status = \"active\"", "status = \"active\"\navailable_in_seconds = 5");
        assert!(problems(&text).iter().any(|m| m.contains("only goes with down_scheduled")));
    }

    #[test]
    fn accounts_from_must_name_an_earlier_institution() {
        let text = ONE.replace("name = \"One\"", "name = \"One\"\naccounts_from = \"fcinst_Zero\"");
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains("both accounts and accounts_from")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("not an institution listed before it")), "{p:?}");
    }
}
