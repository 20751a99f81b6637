//! SimpleFIN gives no account type: the picker pre-fills one from the account's name, and the user
//! corrects it. Checks run from the most specific phrase to the least: an explicit "credit card" or "line
//! of credit" wins; then checking and savings words (a "Visa Checking" is a checking account with a card);
//! then card brands and loans; then investments.

/// `(category, subcategory)` as Stripe's account fields.
pub fn guess(name: &str) -> (&'static str, &'static str) {
    let n = format!(" {} ", name.to_lowercase().replace(|c: char| !c.is_alphanumeric() && c != '(' && c != ')', " "));
    let has = |words: &[&str]| words.iter().any(|w| n.contains(&format!(" {w} ")));
    if has(&["credit card"]) {
        return ("credit", "credit_card");
    }
    if has(&["line of credit", "loc", "heloc"]) {
        return ("credit", "line_of_credit");
    }
    if has(&["mortgage", "home loan"]) {
        return ("credit", "mortgage");
    }
    if has(&["checking", "chequing", "chk", "debit"]) {
        return ("cash", "checking");
    }
    if has(&["savings", "saving", "money market", "mmkt", "cd", "certificate"]) {
        return ("cash", "savings");
    }
    if has(&["card", "visa", "mastercard", "amex", "american express", "discover", "rewards"]) {
        return ("credit", "credit_card");
    }
    if has(&["brokerage", "ira", "401k", "401(k)", "roth", "invest", "investment", "investments", "retirement", "hsa"])
    {
        return ("investment", "other");
    }
    if has(&["loan", "auto loan", "student loan"]) {
        return ("credit", "other");
    }
    ("other", "other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_types() {
        for (name, want) in [
            ("Everyday Checking", ("cash", "checking")),
            ("TOTAL CHECKING ...1234", ("cash", "checking")),
            ("Chequing Account", ("cash", "checking")),
            ("Visa Checking", ("cash", "checking")),
            ("Debit Account", ("cash", "checking")),
            ("High Yield Savings", ("cash", "savings")),
            ("Money Market", ("cash", "savings")),
            ("12 Month CD", ("cash", "savings")),
            ("Rewards Visa Card", ("credit", "credit_card")),
            ("Sapphire Preferred Credit Card", ("credit", "credit_card")),
            ("Credit Card Savings Rewards", ("credit", "credit_card")),
            ("Amex Gold", ("credit", "credit_card")),
            ("American Express Platinum", ("credit", "credit_card")),
            ("MasterCard", ("credit", "credit_card")),
            ("Discover It", ("credit", "credit_card")),
            ("Home Equity Line of Credit", ("credit", "line_of_credit")),
            ("HELOC", ("credit", "line_of_credit")),
            ("30 Year Mortgage", ("credit", "mortgage")),
            ("Home Loan", ("credit", "mortgage")),
            ("Auto Loan", ("credit", "other")),
            ("Roth IRA", ("investment", "other")),
            ("Brokerage", ("investment", "other")),
            ("401(k) Plan", ("investment", "other")),
            ("HSA", ("investment", "other")),
            ("Yen Wallet", ("other", "other")),
            ("Joint", ("other", "other")),
            ("Discovery Bay Checking", ("cash", "checking")),
        ] {
            assert_eq!(guess(name), want, "{name}");
        }
    }
}
