//! The test-mode provider: Stripe's test institutions, their accounts and their deterministic logins.

use finconn_core::provider::{
    Challenge, Institution, InstitutionAccount, InstitutionStatus, LoginKind, LoginOutcome, Provider,
};

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::keywords;
use crate::scenario::{self, Catalog, CredentialRules, Entry, SandboxDataError, Summary};

/// Stripe.js error codes a login can end with.
pub mod codes {
    pub const AUTHORIZATION_FAILED: &str = "authorization_failed";
    pub const INSTITUTION_UNAVAILABLE_PLANNED: &str = "institution_unavailable_planned";
    pub const INSTITUTION_UNAVAILABLE_UNPLANNED: &str = "institution_unavailable_unplanned";
    pub const UNEXPECTED_ERROR: &str = "unexpected_error";
}

/// The sandbox: every institution of the built-in catalogue and of the sandbox data files, in file order.
/// [`Sandbox::reload`] swaps them whole (SIGHUP): a request sees the old set or the new one, never a mix.
#[derive(Debug)]
pub struct Sandbox {
    catalog: RwLock<Catalog>,
    /// Where it was loaded from, for reloads.
    builtin: bool,
    files: Vec<PathBuf>,
}

impl Sandbox {
    /// The sandbox of the catalogue compiled into this crate (`sandbox/institutions.toml`).
    pub fn load() -> Result<Self, SandboxDataError> {
        Self::from_files(true, &[])
    }

    /// The built-in catalogue (unless `builtin` is false) and then `files` (TOML or JSON sandbox data).
    pub fn from_files(builtin: bool, files: &[PathBuf]) -> Result<Self, SandboxDataError> {
        let entries = scenario::load(builtin, files)?;
        Ok(Self { catalog: RwLock::new(Arc::new(entries)), builtin, files: files.to_vec() })
    }

    /// A sandbox from one TOML text in the same format (for tests and experiments).
    pub fn from_toml(text: &str) -> Result<Self, SandboxDataError> {
        let entries = scenario::load_text("<text>", text)?;
        Ok(Self { catalog: RwLock::new(Arc::new(entries)), builtin: false, files: Vec::new() })
    }

    /// Reads the same sources again and, if they load, serves them from now on. Linked accounts are
    /// unaffected: they name their institution and account, and find them again if they still exist. On a
    /// problem the sandbox keeps what it had.
    pub fn reload(&self) -> Result<Summary, SandboxDataError> {
        let entries = scenario::load(self.builtin, &self.files)?;
        let summary = scenario::summary(&entries);
        *self.catalog.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(entries);
        Ok(summary)
    }

    /// How many institutions, accounts, listed transactions and series it serves.
    pub fn summary(&self) -> Summary {
        scenario::summary(&self.catalog())
    }

    /// The sandbox as one sandbox-data file (TOML, or JSON when `json`) that loads back to the same sandbox.
    pub fn to_document(&self, json: bool) -> String {
        let doc = scenario::to_file(&self.catalog());
        if json {
            scenario::to_json(&doc)
        } else {
            scenario::to_toml(&doc)
        }
    }

    /// The entries being served.
    pub(crate) fn catalog(&self) -> Catalog {
        self.catalog.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn entry(&self, id: &str) -> Option<Entry> {
        self.catalog().iter().find(|e| e.institution.id == id).cloned()
    }
}

pub(crate) fn failed(code: &str, message: impl Into<String>) -> LoginOutcome {
    LoginOutcome::Failed { code: code.to_owned(), message: message.into() }
}

/// The outcome of any attempt at an institution that is not up.
fn unavailable(inst: &Institution) -> Option<LoginOutcome> {
    let name = &inst.name;
    match inst.status {
        InstitutionStatus::Active => None,
        InstitutionStatus::DownScheduled { available_in_seconds } => {
            let minutes = (available_in_seconds.max(1) + 59) / 60;
            Some(failed(
                codes::INSTITUTION_UNAVAILABLE_PLANNED,
                format!("{name} is down for scheduled maintenance. Try again in about {minutes} minutes."),
            ))
        }
        InstitutionStatus::DownUnscheduled => Some(failed(
            codes::INSTITUTION_UNAVAILABLE_UNPLANNED,
            format!("{name} is unexpectedly unavailable. Try again later or choose another bank."),
        )),
        InstitutionStatus::Erroring => {
            Some(failed(codes::UNEXPECTED_ERROR, format!("Something went wrong while connecting to {name}.")))
        }
    }
}

impl Provider for Sandbox {
    fn institutions(&self) -> Vec<Institution> {
        self.catalog().iter().map(|e| e.institution.clone()).collect()
    }

    fn institution(&self, id: &str) -> Option<Institution> {
        self.entry(id).map(|e| e.institution.clone())
    }

    fn accounts(&self, institution_id: &str) -> Vec<InstitutionAccount> {
        self.entry(institution_id).map(|e| e.accounts.clone()).unwrap_or_default()
    }

    fn login(&self, institution_id: &str, username: &str, password: &str) -> LoginOutcome {
        let Some(entry) = self.entry(institution_id) else {
            return failed(codes::UNEXPECTED_ERROR, format!("No such institution: {institution_id}."));
        };
        let inst = &entry.institution;
        if let Some(outcome) = unavailable(inst) {
            return outcome;
        }
        let rules = match (inst.login, entry.rules) {
            (LoginKind::Credentials, Some(rules)) => rules,
            _ => {
                return failed(
                    codes::UNEXPECTED_ERROR,
                    format!("{} is authorized on its own page, not with a username and password.", inst.name),
                )
            }
        };
        if username.trim().is_empty() || password.trim().is_empty() {
            return LoginOutcome::Incorrect { message: keywords::EMPTY_CREDENTIALS.to_owned() };
        }
        match rules {
            CredentialRules::Any => LoginOutcome::Authorized,
            CredentialRules::SandboxKeywords => keywords::login(&inst.name, username, password),
            CredentialRules::Mfa => {
                LoginOutcome::Challenge(Challenge::Code { prompt: keywords::CODE_PROMPT.to_owned() })
            }
        }
    }

    fn answer(&self, institution_id: &str, challenge: &Challenge, answer: &str) -> LoginOutcome {
        let Some(entry) = self.entry(institution_id) else {
            return failed(codes::UNEXPECTED_ERROR, format!("No such institution: {institution_id}."));
        };
        let inst = &entry.institution;
        if let Some(outcome) = unavailable(inst) {
            return outcome;
        }
        match (inst.login, entry.rules) {
            (LoginKind::Credentials, Some(CredentialRules::SandboxKeywords)) => {
                keywords::answer(&inst.name, challenge, answer)
            }
            (LoginKind::Credentials, Some(CredentialRules::Mfa)) => match challenge {
                Challenge::Code { .. } if keywords::is_six_digits(answer) => LoginOutcome::Authorized,
                Challenge::Code { .. } => LoginOutcome::Incorrect { message: keywords::WRONG_CODE.to_owned() },
                _ => failed(codes::UNEXPECTED_ERROR, format!("{} did not ask for that.", inst.name)),
            },
            _ => failed(codes::UNEXPECTED_ERROR, format!("{} did not ask for anything more.", inst.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use finconn_core::provider::AccountSubcategoryOrOther;
    use finconn_types::{AccountSubcategory, ObjectId, Permission};

    use super::*;

    const TEST_INSTITUTION: &str = "fcinst_TestInstitution";
    const TEST_OAUTH: &str = "fcinst_TestOAuthInstitution";
    const OWNERSHIP: &str = "fcinst_OwnershipAccounts";
    const SANDBOX_OAUTH: &str = "fcinst_SandboxBankOAuth";
    const SANDBOX_NON_OAUTH: &str = "fcinst_SandboxBankNonOAuth";
    const INVALID_PAYMENT: &str = "fcinst_InvalidPaymentAccounts";
    const DOWN_SCHEDULED: &str = "fcinst_DownBankScheduled";
    const DOWN_UNSCHEDULED: &str = "fcinst_DownBankUnscheduled";
    const DOWN_ERROR: &str = "fcinst_DownBankError";
    const CANADA: &str = "fcinst_SandboxBankCanada";

    fn sandbox() -> Sandbox {
        Sandbox::load().unwrap()
    }

    fn code(outcome: &LoginOutcome) -> &str {
        match outcome {
            LoginOutcome::Failed { code, .. } => code,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_embedded_catalogue_loads() {
        let s = sandbox();
        assert_eq!(s.institutions().len(), 10);
        assert!(scenario::CATALOGUE_TOML.contains("\nversion = 1\n"));
        assert!(scenario::CATALOGUE_TOML.starts_with("# "), "the catalogue starts with its comment header");
    }

    #[test]
    fn stripes_test_institutions_are_all_there_in_stripes_order() {
        let names: Vec<String> = sandbox().institutions().into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "Test Institution",
                "Test OAuth Institution",
                "Ownership Accounts",
                "Sandbox Bank (OAuth)",
                "Sandbox Bank (Non-OAuth)",
                "Invalid Payment Accounts",
                "Down Bank (Scheduled)",
                "Down Bank (Unscheduled)",
                "Down Bank (Error)",
                "Sandbox Bank (Canada)",
            ]
        );
    }

    #[test]
    fn ids_and_names_are_unique_and_ids_are_object_ids() {
        let insts = sandbox().institutions();
        let ids: HashSet<&str> = insts.iter().map(|i| i.id.as_str()).collect();
        let names: HashSet<&str> = insts.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(ids.len(), insts.len());
        assert_eq!(names.len(), insts.len());
        for i in &insts {
            ObjectId::parse(&i.id, "fcinst_").unwrap();
        }
    }

    #[test]
    fn every_account_obeys_the_catalogue_rules() {
        let s = sandbox();
        for inst in s.institutions() {
            let accounts = s.accounts(&inst.id);
            assert!(!accounts.is_empty(), "{} has no accounts", inst.name);
            let names: HashSet<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names.len(), accounts.len(), "{}: account names repeat", inst.name);
            for a in &accounts {
                let at = format!("{} / {}", inst.name, a.name);
                assert!(a.last4.len() == 4 && a.last4.bytes().all(|b| b.is_ascii_digit()), "{at}: last4");
                let sub = a.subcategory.as_str();
                let ok = match a.category.as_str() {
                    "cash" => ["checking", "savings", "other"].contains(&sub),
                    "credit" => ["credit_card", "line_of_credit", "mortgage", "other"].contains(&sub),
                    "investment" | "other" => sub == "other",
                    c => panic!("{at}: category {c}"),
                };
                assert!(ok, "{at}: {} / {sub}", a.category);
                assert!(!a.purpose.is_empty(), "{at}: purpose");
                // Payable: US cash checking and savings, except at Invalid Payment Accounts.
                let payable = a.category == "cash"
                    && ["checking", "savings"].contains(&sub)
                    && inst.countries == ["US"]
                    && inst.id != INVALID_PAYMENT;
                let expected: &[&str] = if payable { &["us_bank_account", "link"] } else { &[] };
                assert_eq!(a.supported_payment_method_types, expected, "{at}: payment methods");
                if payable {
                    assert!(inst.features.contains(&Permission::PaymentMethod), "{at}: feature");
                }
            }
        }
    }

    #[test]
    fn the_main_banks_have_the_standard_accounts() {
        let s = sandbox();
        let checking = AccountSubcategoryOrOther::Known(AccountSubcategory::Checking);
        let expected = [
            ("Success", checking.clone()),
            ("High Balance", checking.clone()),
            ("Insufficient Funds", checking.clone()),
            ("Savings", AccountSubcategoryOrOther::Known(AccountSubcategory::Savings)),
            ("Joint Checking", checking),
            ("Credit Card", AccountSubcategoryOrOther::Known(AccountSubcategory::CreditCard)),
            ("Mortgage", AccountSubcategoryOrOther::Known(AccountSubcategory::Mortgage)),
            ("Line of Credit", AccountSubcategoryOrOther::Known(AccountSubcategory::LineOfCredit)),
        ];
        for id in [TEST_INSTITUTION, TEST_OAUTH, SANDBOX_OAUTH, SANDBOX_NON_OAUTH] {
            let accounts = s.accounts(id);
            for (name, sub) in &expected {
                let a = accounts.iter().find(|a| a.name == *name).unwrap_or_else(|| panic!("{id} lacks {name}"));
                assert_eq!(&a.subcategory, sub, "{id} / {name}");
            }
        }
        // Stripe: Test OAuth Institution "contains the same test accounts as Test Institution".
        assert_eq!(s.accounts(TEST_OAUTH), s.accounts(TEST_INSTITUTION));
        assert_eq!(s.accounts(SANDBOX_NON_OAUTH), s.accounts(SANDBOX_OAUTH));
        let joint = s.accounts(TEST_INSTITUTION).into_iter().find(|a| a.name == "Joint Checking").unwrap();
        assert!(joint.purpose.contains("two owners"));
        let refresh_fails = s
            .accounts(TEST_INSTITUTION)
            .into_iter()
            .chain(s.accounts(OWNERSHIP))
            .filter(|a| a.purpose.contains("`failed`"));
        assert_eq!(refresh_fails.count(), 2);
        assert!(s.accounts(SANDBOX_OAUTH).iter().any(|a| a.subcategory == AccountSubcategoryOrOther::Other));
    }

    #[test]
    fn ownership_accounts_document_their_owner_data() {
        let accounts = sandbox().accounts(OWNERSHIP);
        assert!(accounts.iter().any(|a| a.purpose.contains("mismatched")));
        assert!(accounts.iter().any(|a| a.purpose.contains("missing")));
    }

    #[test]
    fn institution_settings() {
        let s = sandbox();
        let inst = |id: &str| s.institution(id).unwrap();
        for id in [TEST_OAUTH, SANDBOX_OAUTH] {
            assert_eq!(inst(id).login, LoginKind::OAuth, "{id}");
        }
        // Stripe: "The client can link accounts from any of these institutions without providing credentials."
        for id in [TEST_INSTITUTION, OWNERSHIP, INVALID_PAYMENT, DOWN_SCHEDULED, DOWN_UNSCHEDULED, DOWN_ERROR] {
            assert_eq!(inst(id).login, LoginKind::None, "{id}");
        }
        for id in [SANDBOX_NON_OAUTH, CANADA] {
            assert_eq!(inst(id).login, LoginKind::Credentials, "{id}");
        }
        assert_eq!(inst(DOWN_SCHEDULED).status, InstitutionStatus::DownScheduled { available_in_seconds: 3600 });
        assert_eq!(inst(DOWN_UNSCHEDULED).status, InstitutionStatus::DownUnscheduled);
        assert_eq!(inst(DOWN_ERROR).status, InstitutionStatus::Erroring);
        assert_eq!(inst(TEST_INSTITUTION).status, InstitutionStatus::Active);
        for i in s.institutions() {
            // Stripe: each test institution is "represented as a bank in the list of featured institutions".
            assert_eq!(i.featured, i.id != CANADA, "{}", i.name);
            assert_eq!(i.countries, if i.id == CANADA { ["CA"] } else { ["US"] }, "{}", i.name);
        }
        assert!(s.institution("fcinst_Nope").is_none());
        assert!(s.accounts("fcinst_Nope").is_empty());
    }

    #[test]
    fn stripes_test_institutions_take_no_login() {
        let s = sandbox();
        for id in [TEST_INSTITUTION, OWNERSHIP, INVALID_PAYMENT] {
            assert!(matches!(s.login(id, "jenny", "hunter2"), LoginOutcome::Failed { .. }), "{id}");
        }
    }

    #[test]
    fn any_credentials_log_in_at_the_simple_banks() {
        let s = sandbox();
        assert_eq!(s.login(CANADA, "jenny", "hunter2"), LoginOutcome::Authorized);
        // The Sandbox Bank keywords mean nothing here.
        assert_eq!(s.login(CANADA, "jenny", "error"), LoginOutcome::Authorized);
        assert_eq!(s.login(CANADA, "jenny", "mfa"), LoginOutcome::Authorized);
    }

    #[test]
    fn empty_credentials_are_incorrect_everywhere() {
        let s = sandbox();
        for id in [SANDBOX_NON_OAUTH, CANADA] {
            for (u, p) in [("", "pw"), ("user", ""), ("  ", "pw"), ("user", " \t")] {
                assert_eq!(
                    s.login(id, u, p),
                    LoginOutcome::Incorrect { message: keywords::EMPTY_CREDENTIALS.into() },
                    "{id} {u:?} {p:?}"
                );
            }
        }
    }

    #[test]
    fn oauth_institutions_refuse_credentials() {
        let s = sandbox();
        for id in [TEST_OAUTH, SANDBOX_OAUTH] {
            assert_eq!(code(&s.login(id, "jenny", "hunter2")), codes::UNEXPECTED_ERROR);
            let challenge = Challenge::Confirm { prompt: "p".into() };
            assert_eq!(code(&s.answer(id, &challenge, "confirm")), codes::UNEXPECTED_ERROR);
        }
    }

    #[test]
    fn down_banks_fail_with_their_codes() {
        let s = sandbox();
        let out = s.login(DOWN_SCHEDULED, "jenny", "hunter2");
        assert_eq!(code(&out), codes::INSTITUTION_UNAVAILABLE_PLANNED);
        assert!(matches!(&out, LoginOutcome::Failed { message, .. } if message.contains("60 minutes")), "{out:?}");
        assert_eq!(code(&s.login(DOWN_UNSCHEDULED, "jenny", "hunter2")), codes::INSTITUTION_UNAVAILABLE_UNPLANNED);
        assert_eq!(code(&s.login(DOWN_ERROR, "jenny", "hunter2")), codes::UNEXPECTED_ERROR);
        // Even with empty credentials: the bank is down before anything is checked.
        assert_eq!(code(&s.login(DOWN_ERROR, "", "")), codes::UNEXPECTED_ERROR);
        let challenge = Challenge::Code { prompt: "p".into() };
        assert_eq!(code(&s.answer(DOWN_UNSCHEDULED, &challenge, "123456")), codes::INSTITUTION_UNAVAILABLE_UNPLANNED);
    }

    #[test]
    fn unknown_institutions_fail() {
        let s = sandbox();
        assert_eq!(code(&s.login("fcinst_Nope", "jenny", "hunter2")), codes::UNEXPECTED_ERROR);
        let challenge = Challenge::Code { prompt: "p".into() };
        assert_eq!(code(&s.answer("fcinst_Nope", &challenge, "123456")), codes::UNEXPECTED_ERROR);
    }

    #[test]
    fn institutions_without_challenges_refuse_answers() {
        let s = sandbox();
        let challenge = Challenge::Code { prompt: "p".into() };
        assert_eq!(code(&s.answer(TEST_INSTITUTION, &challenge, "123456")), codes::UNEXPECTED_ERROR);
    }

    // Sandbox Bank (Non-OAuth): Stripe's test credentials.

    fn non_oauth(password: &str) -> LoginOutcome {
        sandbox().login(SANDBOX_NON_OAUTH, "jenny", password)
    }

    fn challenge(outcome: LoginOutcome) -> Challenge {
        match outcome {
            LoginOutcome::Challenge(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn answer(c: &Challenge, a: &str) -> LoginOutcome {
        sandbox().answer(SANDBOX_NON_OAUTH, c, a)
    }

    #[test]
    fn any_other_credentials_log_in() {
        assert_eq!(non_oauth("hunter2"), LoginOutcome::Authorized);
        assert_eq!(sandbox().login(SANDBOX_NON_OAUTH, "mfa", "hunter2"), LoginOutcome::Authorized);
    }

    #[test]
    fn error_fails_from_either_field() {
        let out = non_oauth("error");
        assert_eq!(code(&out), codes::AUTHORIZATION_FAILED);
        assert_eq!(code(&sandbox().login(SANDBOX_NON_OAUTH, "error", "hunter2")), codes::AUTHORIZATION_FAILED);
        assert_eq!(code(&non_oauth(" ERROR ")), codes::AUTHORIZATION_FAILED, "trimmed, any case");
    }

    #[test]
    fn incorrect_lets_the_user_retry() {
        let expected = LoginOutcome::Incorrect { message: "The username or password you entered is incorrect.".into() };
        assert_eq!(non_oauth("incorrect"), expected);
        assert_eq!(sandbox().login(SANDBOX_NON_OAUTH, "incorrect", "hunter2"), expected);
        assert_eq!(non_oauth("Incorrect"), expected);
    }

    #[test]
    fn mfa_asks_for_a_six_digit_code() {
        let c = challenge(non_oauth("mfa"));
        assert_eq!(c, Challenge::Code { prompt: keywords::CODE_PROMPT.into() });
        assert_eq!(answer(&c, "123456"), LoginOutcome::Authorized);
        assert_eq!(answer(&c, " 000000 "), LoginOutcome::Authorized);
        for wrong in ["12345", "1234567", "12345a", "one two"] {
            assert!(matches!(answer(&c, wrong), LoginOutcome::Incorrect { .. }), "{wrong}");
        }
    }

    #[test]
    fn confirm_mfa_asks_for_a_confirmation() {
        let c = challenge(non_oauth("confirm_mfa"));
        assert_eq!(c, Challenge::Confirm { prompt: keywords::CONFIRM_PROMPT.into() });
        assert_eq!(answer(&c, "confirm"), LoginOutcome::Authorized);
        assert_eq!(answer(&c, "Confirm"), LoginOutcome::Authorized);
        assert!(matches!(answer(&c, "yes"), LoginOutcome::Incorrect { .. }));
    }

    #[test]
    fn security_question_has_one_answer() {
        let c = challenge(non_oauth("security_question"));
        assert_eq!(c, Challenge::Question { question: keywords::SECURITY_QUESTION.into() });
        assert_eq!(answer(&c, keywords::SECURITY_ANSWER), LoginOutcome::Authorized);
        assert_eq!(answer(&c, " Blue "), LoginOutcome::Authorized);
        assert!(matches!(answer(&c, "red"), LoginOutcome::Incorrect { .. }));
    }

    #[test]
    fn options_then_a_code() {
        let c = challenge(non_oauth("options"));
        let Challenge::Options { options, .. } = &c else { panic!("{c:?}") };
        assert_eq!(options, &keywords::OPTIONS.map(String::from));
        for option in options {
            let next = challenge(answer(&c, option));
            assert!(matches!(&next, Challenge::Code { prompt } if prompt.contains(&option.to_lowercase())), "{next:?}");
            assert_eq!(answer(&next, "654321"), LoginOutcome::Authorized);
        }
        assert!(matches!(challenge(answer(&c, "  email ")), Challenge::Code { .. }));
        assert!(matches!(answer(&c, "Carrier pigeon"), LoginOutcome::Incorrect { .. }));
    }

    #[test]
    fn keywords_work_in_every_later_field() {
        let code = challenge(non_oauth("mfa"));
        let question = challenge(non_oauth("security_question"));
        let options = challenge(non_oauth("options"));
        let confirm = challenge(non_oauth("confirm_mfa"));
        for c in [&code, &question, &options, &confirm] {
            assert_eq!(self::code(&answer(c, "error")), codes::AUTHORIZATION_FAILED, "{c:?}");
            assert!(matches!(answer(c, "incorrect"), LoginOutcome::Incorrect { .. }), "{c:?}");
            assert!(matches!(answer(c, ""), LoginOutcome::Incorrect { .. }), "{c:?}");
        }
        // A keyword chains to another prompt.
        assert_eq!(challenge(answer(&code, "security_question")), question);
        assert_eq!(challenge(answer(&question, "confirm_mfa")), confirm);
        assert_eq!(challenge(answer(&confirm, "options")), options);
        assert_eq!(challenge(answer(&options, "mfa")), code);
    }

    #[test]
    fn the_same_input_always_gives_the_same_outcome() {
        for p in ["hunter2", "mfa", "confirm_mfa", "security_question", "options", "error", "incorrect"] {
            assert_eq!(non_oauth(p), non_oauth(p), "{p}");
        }
    }
}
