//! Sandbox Bank (Non-OAuth)'s test credentials, after Stripe's: any username and password log in, except
//! for a few keywords. Stripe's words: "In the password field or any subsequent field, enter `options`
//! (selection from a list), `mfa` (one-time passcode entry), `confirm_mfa` (one-time passcode
//! confirmation), or `security_question` (secret answer entry) to exercise further login prompts. Entering
//! `error` in any field ends the login session; `incorrect` gives you a chance to try again."
//!
//! Keywords are compared after trimming, ignoring ASCII case (phones capitalize the first letter).

use finconn_core::provider::{Challenge, LoginOutcome};

use crate::sandbox::{codes, failed};

/// The prompt of the code that `mfa` asks for. Any six digits are accepted.
pub const CODE_PROMPT: &str = "Enter the 6-digit code we sent to your phone.";
/// The prompt `confirm_mfa` shows.
pub const CONFIRM_PROMPT: &str = "Approve this login in your banking app, then confirm.";
/// The answer that completes a `confirm_mfa` prompt.
pub const CONFIRM_ANSWER: &str = "confirm";
/// The question `security_question` asks.
pub const SECURITY_QUESTION: &str = "What is your favorite color?";
/// The answer it accepts.
pub const SECURITY_ANSWER: &str = "blue";
/// The prompt `options` shows.
pub const OPTIONS_PROMPT: &str = "Where should we send your one-time code?";
/// The options it offers; picking one leads to a code prompt.
pub const OPTIONS: [&str; 2] = ["Text message", "Email"];

/// When the username or the password is empty (at every credentials institution).
pub const EMPTY_CREDENTIALS: &str = "Enter your username and password.";
/// `incorrect` in the username or password.
pub const INCORRECT_CREDENTIALS: &str = "The username or password you entered is incorrect.";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Error,
    Incorrect,
    Mfa,
    ConfirmMfa,
    SecurityQuestion,
    Options,
}

fn keyword(field: &str) -> Option<Keyword> {
    let f = field.trim();
    [
        ("error", Keyword::Error),
        ("incorrect", Keyword::Incorrect),
        ("mfa", Keyword::Mfa),
        ("confirm_mfa", Keyword::ConfirmMfa),
        ("security_question", Keyword::SecurityQuestion),
        ("options", Keyword::Options),
    ]
    .into_iter()
    .find(|(word, _)| f.eq_ignore_ascii_case(word))
    .map(|(_, k)| k)
}

fn prompt(k: Keyword) -> Option<Challenge> {
    match k {
        Keyword::Mfa => Some(Challenge::Code { prompt: CODE_PROMPT.to_owned() }),
        Keyword::ConfirmMfa => Some(Challenge::Confirm { prompt: CONFIRM_PROMPT.to_owned() }),
        Keyword::SecurityQuestion => Some(Challenge::Question { question: SECURITY_QUESTION.to_owned() }),
        Keyword::Options => Some(Challenge::Options {
            prompt: OPTIONS_PROMPT.to_owned(),
            options: OPTIONS.iter().map(|o| (*o).to_owned()).collect(),
        }),
        Keyword::Error | Keyword::Incorrect => None,
    }
}

fn ended(institution: &str) -> LoginOutcome {
    failed(
        codes::AUTHORIZATION_FAILED,
        format!("{institution} ended the login session. Try again or choose another bank."),
    )
}

fn incorrect(message: &str) -> LoginOutcome {
    LoginOutcome::Incorrect { message: message.to_owned() }
}

/// A login with a non-empty username and password.
pub(crate) fn login(institution: &str, username: &str, password: &str) -> LoginOutcome {
    let (user, pass) = (keyword(username), keyword(password));
    if user == Some(Keyword::Error) || pass == Some(Keyword::Error) {
        return ended(institution);
    }
    if user == Some(Keyword::Incorrect) || pass == Some(Keyword::Incorrect) {
        return incorrect(INCORRECT_CREDENTIALS);
    }
    match pass.and_then(prompt) {
        Some(challenge) => LoginOutcome::Challenge(challenge),
        None => LoginOutcome::Authorized,
    }
}

/// What a wrong one-time code says.
pub const WRONG_CODE: &str = "The code you entered is incorrect. Enter the 6-digit code.";

/// Whether `answer` is a one-time code: six digits (spaces around allowed).
pub(crate) fn is_six_digits(answer: &str) -> bool {
    let given = answer.trim();
    given.len() == 6 && given.bytes().all(|b| b.is_ascii_digit())
}

/// What a wrong answer to `challenge` says.
fn wrong_answer(challenge: &Challenge) -> &'static str {
    match challenge {
        Challenge::Code { .. } => WRONG_CODE,
        Challenge::Confirm { .. } => "The login has not been approved yet. Approve it, then confirm.",
        Challenge::Question { .. } => "The answer you entered is incorrect.",
        Challenge::Options { .. } => "Choose one of the options.",
    }
}

/// An answer to a prompt this institution showed.
pub(crate) fn answer(institution: &str, challenge: &Challenge, answer: &str) -> LoginOutcome {
    let given = answer.trim();
    if given.is_empty() {
        return incorrect(wrong_answer(challenge));
    }
    match keyword(given) {
        Some(Keyword::Error) => return ended(institution),
        Some(Keyword::Incorrect) => return incorrect(wrong_answer(challenge)),
        Some(k) => {
            if let Some(next) = prompt(k) {
                return LoginOutcome::Challenge(next);
            }
        }
        None => {}
    }
    let right = match challenge {
        Challenge::Code { .. } => is_six_digits(given),
        Challenge::Confirm { .. } => given.eq_ignore_ascii_case(CONFIRM_ANSWER),
        Challenge::Question { .. } => given.eq_ignore_ascii_case(SECURITY_ANSWER),
        Challenge::Options { options, .. } => {
            return match options.iter().find(|o| o.trim().eq_ignore_ascii_case(given)) {
                Some(choice) => LoginOutcome::Challenge(Challenge::Code {
                    prompt: format!("Enter the 6-digit code we sent you by {}.", choice.trim().to_lowercase()),
                }),
                None => incorrect(wrong_answer(challenge)),
            }
        }
    };
    if right {
        LoginOutcome::Authorized
    } else {
        incorrect(wrong_answer(challenge))
    }
}
