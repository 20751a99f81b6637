//! `expand[]`, once for every object and list: an id field named by a path is replaced by its object.

use std::collections::HashMap;

use finconn_core::customers::CustomerView;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::auth::Ctx;
use crate::json::Json;

/// The kinds of object an id can expand into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Customer,
    Account,
    /// An account's `ownership` (needs the account's id: the parent object's).
    Ownership,
    /// An account's `account_numbers`: an includable field, computed when expanded (null otherwise).
    AccountNumbers,
    TestClock,
}

/// The expandable paths of one object type.
pub type Expandables = &'static [(&'static str, Target)];

pub const SESSION: Expandables = &[
    ("account_holder.customer", Target::Customer),
    ("account_holder.account", Target::Account),
    ("account_holder.customer.test_clock", Target::TestClock),
];
pub const CUSTOMER: Expandables = &[("test_clock", Target::TestClock)];
pub const NONE: Expandables = &[];
pub const ACCOUNT: Expandables = &[("ownership", Target::Ownership), ("account_numbers", Target::AccountNumbers)];

fn cannot_expand(param: &str, path: &str) -> ApiError {
    ApiError::invalid(param.to_owned(), format!("This property cannot be expanded ({path})."))
}

/// Checks the requested paths against `allowed`; for a list every path starts with `data.`.
fn plan(
    requested: &[(String, String)],
    allowed: Expandables,
    list: bool,
) -> Result<Vec<(Vec<String>, Target)>, ApiError> {
    let mut out = Vec::new();
    for (param, path) in requested {
        let inner =
            if list { path.strip_prefix("data.").ok_or_else(|| cannot_expand(param, path))? } else { path.as_str() };
        let target =
            allowed.iter().find(|(p, _)| *p == inner).map(|(_, t)| *t).ok_or_else(|| cannot_expand(param, path))?;
        // As Stripe: expanding `a.b.c` expands `a.b` too, when that is an expandable id.
        for (prefix, t) in allowed.iter().filter(|(p, _)| inner.starts_with(&format!("{p}."))) {
            out.push((prefix.split('.').map(str::to_owned).collect::<Vec<_>>(), *t));
        }
        out.push((inner.split('.').map(str::to_owned).collect(), target));
    }
    // Parents before children, each path once.
    out.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    out.dedup();
    Ok(out)
}

async fn resolve(ctx: &Ctx, target: Target, id: &str, parent: &str) -> Result<Option<Value>, ApiError> {
    let v = match target {
        Target::Customer => match ctx.core.find_customer(ctx.scope(), id, None).await {
            Ok(rec) => Some(
                match ctx.core.retrieve_customer(ctx.scope(), &rec.id).await? {
                    CustomerView::Live(c) => serde_json::to_value(c),
                    CustomerView::Deleted(d) => serde_json::to_value(d),
                }
                .map_err(|e| ApiError::internal(&e))?,
            ),
            Err(finconn_core::DomainError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        // finconn has no account objects beyond the tenant itself: a minimal `account`.
        Target::Account => Some(serde_json::json!({ "id": id, "object": "account" })),
        Target::Ownership => match ctx.core.ownership_object(ctx.scope(), parent, id).await? {
            Some(o) => Some(serde_json::to_value(o).map_err(|e| ApiError::internal(&e))?),
            None => None,
        },
        Target::AccountNumbers => None,
        Target::TestClock => match ctx.core.retrieve_test_clock(ctx.scope(), id).await {
            Ok(c) => Some(serde_json::to_value(c).map_err(|e| ApiError::internal(&e))?),
            Err(finconn_core::DomainError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    Ok(v)
}

async fn expand_one(
    ctx: &Ctx,
    obj: &mut Value,
    path: &[String],
    target: Target,
    cache: &mut HashMap<(Target, String), Option<Value>>,
) -> Result<(), ApiError> {
    let Some((last, parents)) = path.split_last() else { return Ok(()) };
    let mut cur = obj;
    for seg in parents {
        match cur.get_mut(seg.as_str()) {
            Some(next) => cur = next,
            None => return Ok(()),
        }
    }
    let parent = cur.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(field) = cur.get_mut(last.as_str()) else { return Ok(()) };
    if target == Target::AccountNumbers {
        *field = ctx.core.account_numbers(ctx.scope(), &parent).await?.unwrap_or(Value::Null);
        return Ok(());
    }
    let Some(id) = field.as_str().map(str::to_owned) else { return Ok(()) };
    let key = (target, id.clone());
    if !cache.contains_key(&key) {
        let v = resolve(ctx, target, &id, &parent).await?;
        cache.insert(key.clone(), v);
    }
    if let Some(Some(v)) = cache.get(&key) {
        *field = v.clone();
    }
    Ok(())
}

/// Renders `object` with the requested expansions (none: written straight from the wire type).
pub async fn object<T: Serialize>(
    ctx: &Ctx,
    object: T,
    requested: &[(String, String)],
    allowed: Expandables,
) -> Result<Json, ApiError> {
    let plan = plan(requested, allowed, false)?;
    if plan.is_empty() {
        return Ok(Json::wire(&object));
    }
    let mut v = serde_json::to_value(object).map_err(|e| ApiError::internal(&e))?;
    let mut cache = HashMap::new();
    for (path, target) in &plan {
        expand_one(ctx, &mut v, path, *target, &mut cache).await?;
    }
    Ok(Json::value(v))
}

/// Renders a list object with the requested expansions (paths start with `data.`).
pub async fn list<T: Serialize>(
    ctx: &Ctx,
    list: finconn_types::List<T>,
    requested: &[(String, String)],
    allowed: Expandables,
) -> Result<Json, ApiError> {
    let plan = plan(requested, allowed, true)?;
    if plan.is_empty() {
        return Ok(Json::wire(&list));
    }
    let mut v = serde_json::to_value(list).map_err(|e| ApiError::internal(&e))?;
    let mut cache = HashMap::new();
    if let Some(items) = v.get_mut("data").and_then(Value::as_array_mut) {
        for item in items {
            for (path, target) in &plan {
                expand_one(ctx, item, path, *target, &mut cache).await?;
            }
        }
    }
    Ok(Json::value(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nested_paths_expand_their_parents_once() {
        let req = vec![("expand[0]".to_owned(), "account_holder.customer.test_clock".to_owned())];
        let p = plan(&req, SESSION, false).unwrap();
        let paths: Vec<String> = p.iter().map(|(path, _)| path.join(".")).collect();
        assert_eq!(paths, ["account_holder.customer", "account_holder.customer.test_clock"]);
        assert!(plan(&[("expand[0]".into(), "nope".into())], SESSION, false).is_err());
        assert!(
            plan(&[("expand[0]".into(), "account_holder.customer".into())], SESSION, true).is_err(),
            "lists need data."
        );
    }

    proptest! {
        /// Any requested paths: planning never panics, and what it plans is only what may be expanded,
        /// parents before children, each once.
        #[test]
        fn plans_only_allowed_paths(paths in proptest::collection::vec("(data\\.)?(account_holder|customer|test_clock|ownership|x)(\\.(customer|test_clock|account|y)){0,3}", 0..6), list in any::<bool>()) {
            let req: Vec<(String, String)> = paths.iter().enumerate().map(|(i, p)| (format!("expand[{i}]"), p.clone())).collect();
            for allowed in [SESSION, CUSTOMER, ACCOUNT, NONE] {
                if let Ok(plan) = plan(&req, allowed, list) {
                    for (path, _) in &plan {
                        prop_assert!(allowed.iter().any(|(p, _)| *p == path.join(".")));
                    }
                    prop_assert!(plan.windows(2).all(|w| w[0].0.len() <= w[1].0.len() && w[0] != w[1]));
                }
            }
        }
    }
}
