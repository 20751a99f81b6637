//! The `/v1` handlers. Each reads its parameters, makes one domain call and renders the result.

pub mod accounts;
pub mod customers;
pub mod events;
pub mod institutions;
pub mod sessions;
pub mod test_clocks;
pub mod test_helpers;
pub mod transactions;

use finconn_core::store::{Cursor, PageRequest};

use crate::error::ApiError;
use crate::extract::params::{Field, Obj};

/// `limit` (1–100, default 10), `starting_after`, `ending_before`: the same on every list.
pub fn page_request(root: &Obj<'_>) -> Option<PageRequest> {
    let limit = match root.integer("limit", 1, 100) {
        Field::Value(n) => u32::try_from(n).ok(),
        Field::Absent => Some(10),
        Field::Empty => {
            root.report().reject(ApiError::invalid_integer("limit", ""));
            None
        }
    };
    let after = root.string("starting_after", 5000).value();
    let before = root.string("ending_before", 5000).value();
    let cursor = match (after, before) {
        (Some(_), Some(_)) => {
            root.report().reject(ApiError::exclusive("starting_after", "ending_before"));
            return None;
        }
        (Some(a), None) => Some(Cursor::After(a)),
        (None, Some(b)) => Some(Cursor::Before(b)),
        (None, None) => None,
    };
    Some(PageRequest { limit: limit?, cursor })
}

/// `created` (and alike): an integer, or `{gt, gte, lt, lte}`; returned as inclusive bounds.
pub fn range(root: &Obj<'_>, key: &str) -> Option<(i64, i64)> {
    if !root.is_object(key) {
        return match root.integer(key, i64::MIN, i64::MAX) {
            Field::Value(n) => Some((n, n)),
            Field::Absent => Some((i64::MIN, i64::MAX)),
            Field::Empty => {
                root.report().reject(ApiError::invalid_integer(key, ""));
                None
            }
        };
    }
    let Field::Value(obj) = root.object(key) else { return None };
    let get = |k: &str| obj.integer(k, i64::MIN, i64::MAX).value();
    let lo = [get("gt").map(|v| v.saturating_add(1)), get("gte")].into_iter().flatten().max().unwrap_or(i64::MIN);
    let hi = [get("lt").map(|v| v.saturating_sub(1)), get("lte")].into_iter().flatten().min().unwrap_or(i64::MAX);
    Some((lo, hi))
}
