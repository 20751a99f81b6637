use std::path::PathBuf;

use finconn_core::provider::{AccountSubcategoryOrOther, LoginKind};
use finconn_types::AccountSubcategory;

use super::*;

fn problems(text: &str) -> Vec<String> {
    match load_text("bank.toml", text) {
        Err(SandboxDataError(p)) => p,
        Ok(_) => panic!("expected problems"),
    }
}

const ONE: &str = r#"version = 1
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

/// The shortest institution the format allows: the issue's "at least" keys.
const MINIMAL: &str = r#"version = 1
[[institutions]]
id = "fcinst_Min"
name = "Min"
countries = ["GB"]
login = "mfa"
[[institutions.accounts]]
name = "Current"
category = "cash"
subcategory = "checking"
last4 = "0001"
"#;

#[test]
fn a_catalogue_parses() {
    let entries = load_text("bank.toml", ONE).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].accounts[0].subcategory, AccountSubcategoryOrOther::Known(AccountSubcategory::Checking));
    assert_eq!(entries[0].rules, Some(CredentialRules::Any));
}

#[test]
fn defaults_fill_in_what_a_minimal_file_leaves_out() {
    let e = &load_text("bank.toml", MINIMAL).unwrap()[0];
    assert_eq!(e.institution.login, LoginKind::Credentials);
    assert_eq!(e.rules, Some(CredentialRules::Mfa));
    assert_eq!(e.institution.status, InstitutionStatus::Active);
    assert_eq!(e.institution.features.len(), 4, "every feature by default");
    assert!(!e.institution.featured);
    assert!(e.accounts[0].supported_payment_method_types.is_empty());
    assert_eq!(default_currency(&e.institution.countries), "gbp");
}

#[test]
fn every_problem_names_the_file_line_and_field() {
    let text = ONE
        .replace("fcinst_One", "fcinst_one_two")
        .replace("subcategory = \"checking\"", "subcategory = \"mortgage\"")
        .replace("last4 = \"1234\"", "last4 = \"12a4\"")
        .replace("countries = [\"US\"]", "countries = [\"usa\"]");
    let p = problems(&text);
    let has = |s: &str| p.iter().any(|m| m.contains(s));
    assert!(
        has("bank.toml:3:1: institutions[0].id: the id must be \"fcinst_\" followed by letters and digits"),
        "{p:?}"
    );
    assert!(has("bank.toml:6:14: institutions[0].countries[0]: \"usa\" is not an ISO 3166-1 alpha-2"), "{p:?}");
    assert!(has("bank.toml:15:1: institutions[0].accounts[0].subcategory: a cash account's subcategory is one of checking, savings, other"), "{p:?}");
    assert!(has("bank.toml:16:1: institutions[0].accounts[0].last4: last4 must be four digits"), "{p:?}");
    assert!(
        has("bank.toml:17:1: institutions[0].accounts[0].payment_methods: only cash checking and savings"),
        "{p:?}"
    );
    assert_eq!(p.len(), 5, "{p:?}");
}

#[test]
fn type_errors_and_unknown_keys_name_their_place() {
    let p = problems(&ONE.replace("last4 = \"1234\"", "last4 = 1234"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("bank.toml:16:9: institutions[0].accounts[0].last4: invalid type: integer"), "{p:?}");
    let p = problems(&ONE.replace("featured = true", "featured = true\nfeatured_rank = 1"));
    assert!(p[0].starts_with("bank.toml:8:1: ") && p[0].contains("unknown field `featured_rank`"), "{p:?}");
    let p = problems("version = 1\n[[institutions]\n");
    assert!(p[0].starts_with("bank.toml:2:"), "{p:?}");
}

#[test]
fn other_versions_are_refused() {
    let p = problems(&ONE.replace("version = 1", "version = 2"));
    assert_eq!(p, ["bank.toml:1:1: version: version 2: this finconn reads version 1"]);
    let p = problems(&ONE.replace("version = 1", ""));
    assert!(p[0].contains("missing `version = 1`"), "{p:?}");
}

#[test]
fn duplicates_are_reported() {
    let account = ONE.split("[[institutions.accounts]]").nth(1).unwrap();
    let text = format!("{ONE}[[institutions.accounts]]{account}");
    assert!(problems(&text).iter().any(|m| m.contains("two accounts of fcinst_One are named \"Checking\"")));
    let second = ONE.replace("version = 1", "");
    let p = problems(&format!("{ONE}{second}"));
    assert!(p.iter().any(|m| m.contains("institutions[1].id: the id fcinst_One is used twice")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("institutions[1].name: the name \"One\" is used twice")), "{p:?}");
}

#[test]
fn payments_only_from_cash_checking_and_savings() {
    let text = ONE.replace("category = \"cash\"", "category = \"credit\"").replace("\"checking\"", "\"credit_card\"");
    assert!(problems(&text).iter().any(|m| m.contains("only cash checking and savings")));
    let text = ONE.replace("features = [\"balances\", \"payment_method\"]", "features = [\"balances\"]");
    assert!(problems(&text).iter().any(|m| m.contains("payment_method is not one of the institution's features")));
}

#[test]
fn login_and_status_keys_must_agree() {
    let text = ONE.replace("login = \"credentials\"", "login = \"oauth\"");
    assert!(problems(&text).iter().any(|m| m.contains("only a credentials login takes credential_rules")));
    let text = ONE.replace("status = \"active\"", "status = \"down_scheduled\"");
    assert!(problems(&text).iter().any(|m| m.contains("positive available_in_seconds")));
    let text = ONE.replace("status = \"active\"", "status = \"up\"\navailable_in_seconds = 5");
    assert!(problems(&text).iter().any(|m| m.contains("only goes with status = \"down_scheduled\"")));
}

#[test]
fn accounts_from_must_name_an_earlier_institution() {
    let text = ONE.replace("name = \"One\"", "name = \"One\"\naccounts_from = \"fcinst_Zero\"");
    let p = problems(&text);
    assert!(p.iter().any(|m| m.contains("both accounts and accounts_from")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("not an institution listed before it")), "{p:?}");
}

const DATA: &str = r#"
currency = "usd"
balance = { current = 123456, available = 120000 }
owners = [{ name = "Jenny Rosen", email = "jenny@example.com" }]
[[institutions.accounts.transactions]]
amount = -1250
description = "Coffee"
transacted_at = 2026-01-15T09:30:00Z
[[institutions.accounts.transactions]]
amount = 5000
description = "Refund"
transacted_at = "2026-01-16"
status = "pending"
[[institutions.accounts.series]]
kind = "payroll"
description = "ACME PAYROLL"
amount = 250000
start = 2024-01-01
"#;

#[test]
fn account_data_is_read() {
    let text = format!("{ONE}{DATA}");
    let e = &load_text("bank.toml", &text).unwrap()[0];
    let d = &e.data[0];
    assert_eq!(d.balance, Some(check::FileBalance { current: 123_456, available: Some(120_000), used: None }));
    assert_eq!(d.owners.as_ref().unwrap()[0].email.as_deref(), Some("jenny@example.com"));
    let t = d.transactions.as_ref().unwrap();
    assert_eq!(t[0].transacted_at, 1_768_469_400);
    assert_eq!(t[1].status, TransactionStatus::Pending);
    assert_eq!(d.series[0].every, Some(doc::EveryDoc::SemiMonth));
}

#[test]
fn account_data_problems_name_their_field() {
    let text = format!("{ONE}{DATA}")
        .replace("available = 120000", "used = 5")
        .replace("transacted_at = \"2026-01-16\"", "transacted_at = \"2026-01-32\"")
        .replace("amount = 250000", "amount = -5")
        .replace("currency = \"usd\"", "currency = \"USD\"");
    let p = problems(&text);
    let has = |s: &str| p.iter().any(|m| m.contains(s));
    assert!(
        has("bank.toml:20:1: institutions[0].accounts[0].currency: \"USD\" is not a lower-case ISO 4217 code"),
        "{p:?}"
    );
    assert!(has("institutions[0].accounts[0].balance.used: only credit accounts have used credit"), "{p:?}");
    assert!(
        has("bank.toml:30:1: institutions[0].accounts[0].transactions[1].transacted_at: \"2026-01-32\" is not a date"),
        "{p:?}"
    );
    assert!(has("bank.toml:35:1: institutions[0].accounts[0].series[0].amount: payroll's amount is positive"), "{p:?}");
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finconn-scenario-{}", rand_suffix()));
    std::fs::create_dir_all(dir.join("accounts")).unwrap();
    dir
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{n:x}-{:?}", std::thread::current().id()).replace(['(', ')'], "")
}

#[test]
fn json_files_account_files_and_the_built_in_catalogue_load_together() {
    let dir = temp_dir();
    let bank = r#"{
  "version": 1,
  "institutions": [
    {
      "id": "fcinst_JsonBank",
      "name": "Json Bank",
      "countries": ["US"],
      "login": "none",
      "account_files": ["accounts/savings.json"]
    }
  ]
}"#;
    std::fs::write(dir.join("bank.json"), bank).unwrap();
    let savings = r#"{"name": "Savings", "category": "cash", "subcategory": "savings", "last4": "4321",
 "balance": {"current": 100}}"#;
    std::fs::write(dir.join("accounts/savings.json"), savings).unwrap();
    let entries = load(true, &[dir.join("bank.json")]).unwrap();
    assert_eq!(entries.len(), 11, "the 10 built-in ones, then the file's");
    let e = entries.last().unwrap();
    assert_eq!(e.accounts[0].name, "Savings");
    assert_eq!(e.data[0].balance.as_ref().map(|b| b.current), Some(100));

    // A problem in the account file names that file, its line and the field.
    std::fs::write(dir.join("accounts/savings.json"), savings.replace("\"4321\"", "\"43\"")).unwrap();
    let p = load(false, &[dir.join("bank.json")]).unwrap_err().0;
    let name = dir.join("accounts/savings.json").display().to_string();
    assert_eq!(p, [format!("{name}:1:67: last4: last4 must be four digits, not \"43\"")]);
    // A syntax error in JSON.
    std::fs::write(dir.join("accounts/savings.json"), "{\"name\": }").unwrap();
    let p = load(false, &[dir.join("bank.json")]).unwrap_err().0;
    assert!(p[0].starts_with(&format!("{name}:1:10: ")), "{p:?}");
    // A missing account file is reported where it is named.
    std::fs::remove_file(dir.join("accounts/savings.json")).unwrap();
    let p = load(false, &[dir.join("bank.json")]).unwrap_err().0;
    let bank_name = dir.join("bank.json").display().to_string();
    assert!(p[0].starts_with(&format!("{bank_name}:9:25: institutions[0].account_files[0]: ")), "{p:?}");
    assert!(p[0].contains("cannot read it"), "{p:?}");
    // A clash with a built-in id.
    std::fs::write(dir.join("clash.toml"), ONE.replace("fcinst_One", "fcinst_TestInstitution")).unwrap();
    let p = load(true, &[dir.join("clash.toml")]).unwrap_err().0;
    assert!(
        p.iter().any(|m| m.contains("clash.toml:3:1: institutions[0].id: the id fcinst_TestInstitution is used twice")),
        "{p:?}"
    );
    // Other extensions are refused, and no institutions at all is a problem.
    let p = load(false, &[dir.join("bank.yaml")]).unwrap_err().0;
    assert!(p[0].ends_with("bank.yaml: sandbox data files end in .toml or .json"), "{p:?}");
    std::fs::write(dir.join("empty.toml"), "version = 1\n").unwrap();
    let p = load(false, &[dir.join("empty.toml")]).unwrap_err().0;
    assert!(p[0].contains("there are no institutions"), "{p:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_built_in_catalogue_round_trips_through_the_file_format() {
    let builtin = load(true, &[]).unwrap();
    let doc = to_file(&builtin);
    let toml_text = to_toml(&doc);
    assert_eq!(load_text("round-trip.toml", &toml_text).unwrap(), builtin);
    let dir = temp_dir();
    std::fs::write(dir.join("round-trip.json"), to_json(&doc)).unwrap();
    assert_eq!(load(false, &[dir.join("round-trip.json")]).unwrap(), builtin);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn account_data_round_trips_too() {
    let text = format!("{ONE}{DATA}");
    let entries = load_text("bank.toml", &text).unwrap();
    let back = to_toml(&to_file(&entries));
    assert_eq!(load_text("back.toml", &back).unwrap(), entries);
}

#[test]
fn the_committed_schemas_are_current() {
    let committed = include_str!("../../../../schema/sandbox-data.schema.json");
    assert_eq!(
        committed,
        doc::json_schema(),
        "schema/sandbox-data.schema.json is stale: run `finconn sandbox-data schema > schema/sandbox-data.schema.json`"
    );
}

#[test]
fn the_example_file_loads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let entries = load(false, &[root.join("examples/sandbox-data.toml")]).unwrap();
    let s = summary(&entries);
    assert!(s.institutions >= 2 && s.series >= 3 && s.listed_transactions >= 2, "{s:?}");
}
