//! Object ids: a known prefix followed by a random body.

/// An id whose prefix has been checked (e.g. `fcsess_`, `cus_`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    WrongPrefix { expected: &'static str },
    Malformed,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdError::WrongPrefix { expected } => write!(f, "id must start with {expected}"),
            IdError::Malformed => f.write_str("id contains characters ids never have"),
        }
    }
}

impl std::error::Error for IdError {}

impl ObjectId {
    /// Parses an id with the given prefix (`"cus_"`, `"fcsess_"`, …).
    pub fn parse(s: &str, prefix: &'static str) -> Result<Self, IdError> {
        let body = s.strip_prefix(prefix).ok_or(IdError::WrongPrefix { expected: prefix })?;
        if body.is_empty() || body.len() > 255 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::Malformed);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
