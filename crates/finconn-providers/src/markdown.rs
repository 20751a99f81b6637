//! The catalogue as Markdown, for the READMEs.

use std::fmt::Write as _;

use finconn_core::provider::{InstitutionStatus, LoginKind};

use crate::sandbox::Sandbox;
use crate::scenario::CredentialRules;

/// A table cell: pipes escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The test institutions Stripe's testing guide documents (the others are finconn's own extras).
const STRIPES: [&str; 9] = [
    "fcinst_TestInstitution",
    "fcinst_TestOAuthInstitution",
    "fcinst_OwnershipAccounts",
    "fcinst_SandboxBankOAuth",
    "fcinst_SandboxBankNonOAuth",
    "fcinst_InvalidPaymentAccounts",
    "fcinst_DownBankScheduled",
    "fcinst_DownBankUnscheduled",
    "fcinst_DownBankError",
];

pub(crate) fn render(sandbox: &Sandbox) -> String {
    let mut out = String::new();
    out.push_str("| institution | id | countries | login | status | featured | from |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for e in sandbox.catalog().iter() {
        let i = &e.institution;
        let login = match (i.login, e.rules) {
            (LoginKind::None, _) => "none (Stripe's: no credentials)",
            (LoginKind::OAuth, _) => "OAuth (simulated authorization page)",
            (LoginKind::Credentials, Some(CredentialRules::SandboxKeywords)) => "username and password: test keywords",
            (LoginKind::Credentials, Some(CredentialRules::Mfa)) => "username and password, then a 6-digit code",
            (LoginKind::Credentials, _) => "username and password: any",
            (LoginKind::SetupToken, _) => "a SimpleFIN setup token",
        };
        let status = match i.status {
            InstitutionStatus::Active => "active".to_owned(),
            InstitutionStatus::DownScheduled { available_in_seconds } => {
                format!("down, scheduled (back in {available_in_seconds} s)")
            }
            InstitutionStatus::DownUnscheduled => "down, unscheduled".to_owned(),
            InstitutionStatus::Erroring => "erroring".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {login} | {status} | {} | {} |",
            cell(&i.name),
            i.id,
            i.countries.join(", "),
            if i.featured { "yes" } else { "no" },
            if STRIPES.contains(&i.id.as_str()) { "Stripe's guide" } else { "finconn's extra" }
        );
    }
    for e in sandbox.catalog().iter() {
        let i = &e.institution;
        let _ = write!(out, "\n**{}** (`{}`)\n\n", cell(&i.name), i.id);
        if let Some((_, from)) = &e.accounts_from {
            let _ = writeln!(out, "The same accounts as {}.", cell(from));
            continue;
        }
        out.push_str("| account | category | subcategory | last4 | payment methods | purpose |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for a in &e.accounts {
            let methods = if a.supported_payment_method_types.is_empty() {
                "none".to_owned()
            } else {
                a.supported_payment_method_types.join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {methods} | {} |",
                cell(&a.name),
                a.category,
                a.subcategory.as_str(),
                a.last4,
                cell(&a.purpose)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_institution_and_account_is_rendered() {
        let s = Sandbox::load().unwrap();
        let md = render(&s);
        for e in s.catalog().iter() {
            assert!(md.contains(&format!("**{}** (`{}`)", e.institution.name, e.institution.id)));
            for a in &e.accounts {
                if e.accounts_from.is_none() {
                    assert!(md.contains(&format!("| {} | {} |", a.name, a.category)), "{}", a.name);
                }
            }
        }
        assert!(md.contains("The same accounts as Test Institution."));
        assert!(md.ends_with('\n') && !md.ends_with("\n\n"));
        assert!(!md.lines().any(|l| l.ends_with(' ')), "no trailing spaces");
    }

    #[test]
    fn cells_escape_pipes() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
