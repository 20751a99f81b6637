use serde::{Deserialize, Serialize};

/// Stripe's list object: `{"object": "list", "data": [...], "has_more": bool, "url": "/v1/..."}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct List<T> {
    object: ListTag,
    pub data: Vec<T>,
    pub has_more: bool,
    pub url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ListTag {
    List,
}

impl<T> List<T> {
    pub fn new(data: Vec<T>, has_more: bool, url: impl Into<String>) -> Self {
        Self { data, has_more, object: ListTag::List, url: url.into() }
    }

    pub fn empty(url: impl Into<String>) -> Self {
        Self::new(Vec::new(), false, url)
    }
}
