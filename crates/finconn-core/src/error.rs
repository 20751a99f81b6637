use crate::store::StoreError;

/// What the domain can refuse. The server maps each to Stripe's status, type, code and param.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// `No such {object}: '{id}'`. `param` is `None` when the id came from the URL path (404), else the
    /// parameter that named it (400). `other_mode` says the object exists in the other mode
    /// (`Some(true)`: in live mode).
    #[error("No such {object}: '{id}'")]
    NotFound { object: &'static str, id: String, param: Option<String>, other_mode: Option<bool> },
    /// A parameter that is well-formed but not acceptable in this state.
    #[error("{message}")]
    InvalidParam { param: String, message: String },
    /// The link flow cannot go on: `code` is one of Stripe.js's error codes (`session_expired`,
    /// `institution_unavailable_planned`, `no_eligible_accounts`, …).
    #[error("{message}")]
    Link { code: &'static str, message: String, param: Option<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn not_found(object: &'static str, id: &str, param: Option<&str>) -> Self {
        DomainError::NotFound { object, id: id.to_owned(), param: param.map(str::to_owned), other_mode: None }
    }
}
