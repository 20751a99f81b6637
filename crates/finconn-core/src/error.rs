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
    /// The request is well-formed but the object's state does not allow it (no single parameter is wrong).
    #[error("{0}")]
    InvalidState(String),
    /// The link flow cannot go on: `code` is one of Stripe.js's error codes (`session_expired`,
    /// `institution_unavailable_planned`, `no_eligible_accounts`, …).
    #[error("{message}")]
    Link { code: &'static str, message: String, param: Option<String> },
    /// The objects a request works on kept changing under it (its unit of work lost every retry).
    #[error("the objects of this request kept changing")]
    Busy,
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

/// An object looked up by id in the caller's account: visible only in the caller's mode. An object of the
/// other mode answers "No such …" with Stripe's hint that it exists in that mode.
pub(crate) fn in_mode<T>(
    found: Option<T>,
    found_scope: impl Fn(&T) -> Option<&crate::Scope>,
    scope: &crate::Scope,
    object: &'static str,
    id: &str,
    param: Option<&str>,
) -> Result<T, DomainError> {
    match found {
        Some(rec) => match found_scope(&rec).map(|s| s.livemode) {
            Some(mode) if mode == scope.livemode => Ok(rec),
            other_mode => {
                Err(DomainError::NotFound { object, id: id.to_owned(), param: param.map(str::to_owned), other_mode })
            }
        },
        None => Err(DomainError::not_found(object, id, param)),
    }
}
