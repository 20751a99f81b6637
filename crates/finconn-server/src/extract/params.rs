//! Typed, Stripe-worded validation over a parsed [`Form`].
//!
//! Handlers read parameters through [`Obj`] accessors. Every accessor marks its key as known; an `Obj`
//! reports the keys nobody asked for when it is dropped. Problems are collected rather than returned at
//! once, so the error a client gets follows Stripe's order whatever order the code reads in: unknown
//! parameters first, then missing ones, then invalid values. A reader must therefore read every parameter
//! it knows before it gives up on one (`let a = …; let b = …; Some((a?, b?))`, never `a?` before `b` is
//! read): a key left unread is reported as unknown. Required accessors go on with a placeholder after
//! reporting, for the same reason.

use std::cell::RefCell;

use super::form::{Form, Node};
use crate::error::ApiError;

#[derive(Default)]
pub struct Report {
    /// Parameters nobody read.
    unknown: RefCell<Vec<String>>,
    missing: RefCell<Vec<ApiError>>,
    invalid: RefCell<Vec<ApiError>>,
}

impl Report {
    fn missing(&self, e: ApiError) {
        self.missing.borrow_mut().push(e);
    }

    fn invalid(&self, e: ApiError) {
        self.invalid.borrow_mut().push(e);
    }

    /// Adds a problem found after reading (e.g. two parameters that conflict).
    pub fn reject(&self, e: ApiError) {
        self.invalid(e);
    }

    /// The first problem in Stripe's order: unknown parameters, then missing ones, then invalid values.
    /// Readers read every parameter before they give up on one, so an unread key is unknown.
    fn into_result(self) -> Result<(), ApiError> {
        let unknown = self.unknown.into_inner();
        if !unknown.is_empty() {
            return Err(ApiError::unknown_params(&unknown));
        }
        if let Some(e) = self.missing.into_inner().into_iter().next() {
            return Err(e);
        }
        if let Some(e) = self.invalid.into_inner().into_iter().next() {
            return Err(e);
        }
        Ok(())
    }
}

/// Runs `read` over the whole parameter set and returns what it built, or the first error in Stripe's
/// order. `read` returns `None` only when it reported a problem.
pub fn parse<T>(form: &Form, read: impl FnOnce(Obj<'_>) -> Option<T>) -> Result<T, ApiError> {
    let report = Report::default();
    let out = read(Obj::root(&form.root, &report));
    report.into_result()?;
    out.ok_or_else(|| {
        ApiError::internal(&*Box::<dyn std::error::Error + Send + Sync>::from(
            "parameter reader gave up without reporting why",
        ))
    })
}

/// A string value with Stripe's three states: absent, `""` (unset), or a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Field<T> {
    Absent,
    Empty,
    Value(T),
}

impl<T> Field<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// One level of the parameter tree.
pub struct Obj<'a> {
    prefix: Option<String>,
    entries: &'a [(String, Node)],
    seen: RefCell<Vec<bool>>,
    report: &'a Report,
}

impl Drop for Obj<'_> {
    fn drop(&mut self) {
        let seen = self.seen.borrow();
        let mut unknown = self.report.unknown.borrow_mut();
        for ((key, _), seen) in self.entries.iter().zip(seen.iter()) {
            if !seen {
                unknown.push(self.path(key));
            }
        }
    }
}

fn one_of(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} or {b}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// Long values are shown as their first and last ten characters, as Stripe does.
fn shown(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 20 {
        return value.to_owned();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 10..].iter().collect();
    format!("{head}...{tail}")
}

fn is_index(key: &str) -> bool {
    !key.is_empty() && key.len() <= 6 && key.bytes().all(|b| b.is_ascii_digit())
}

impl<'a> Obj<'a> {
    fn root(entries: &'a [(String, Node)], report: &'a Report) -> Self {
        Self::new(None, entries, report)
    }

    fn new(prefix: Option<String>, entries: &'a [(String, Node)], report: &'a Report) -> Self {
        Self { prefix, entries, seen: RefCell::new(vec![false; entries.len()]), report }
    }

    pub fn report(&self) -> &'a Report {
        self.report
    }

    /// The client-visible path of a key at this level: `key` or `prefix[key]`.
    pub fn path(&self, key: &str) -> String {
        match &self.prefix {
            None => key.to_owned(),
            Some(p) => format!("{p}[{key}]"),
        }
    }

    fn take(&self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.seen.borrow_mut()[i] = true;
        Some(&self.entries[i].1)
    }

    /// Whether the key holds an object (without marking it known).
    pub fn is_object(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, n)| k == key && matches!(n, Node::Map(_)))
    }

    /// Whether the key was sent at all (and marks it known).
    pub fn has(&self, key: &str) -> bool {
        self.take(key).is_some()
    }

    fn scalar_at(&self, path: String, node: &Node, max_len: usize) -> Option<String> {
        match node {
            Node::Str(s) if s.chars().count() > max_len => {
                self.report.invalid(ApiError::invalid(
                    path,
                    format!("Invalid string: {}; must be at most {max_len} characters", shown(s)),
                ));
                None
            }
            Node::Str(s) => Some(s.clone()),
            Node::Map(_) => {
                self.report.invalid(ApiError::invalid(path, "Invalid string: an object or array was given"));
                None
            }
        }
    }

    /// A string of at most `max_len` characters.
    pub fn string(&self, key: &str, max_len: usize) -> Field<String> {
        match self.take(key) {
            None => Field::Absent,
            Some(Node::Str(s)) if s.is_empty() => Field::Empty,
            Some(node) => match self.scalar_at(self.path(key), node, max_len) {
                Some(s) => Field::Value(s),
                None => Field::Absent,
            },
        }
    }

    /// A string that cannot be unset: `""` is refused.
    pub fn string_set(&self, key: &str, max_len: usize) -> Option<String> {
        match self.string(key, max_len) {
            Field::Empty => {
                self.report.invalid(ApiError::empty_not_allowed(&self.path(key)));
                None
            }
            f => f.value(),
        }
    }

    /// Required accessors report a missing or invalid value and go on with a placeholder (never returned
    /// to the handler: `parse` answers with the problem), so the reader still reaches every parameter after
    /// it and a truly unknown one is told apart from the valid ones.
    pub fn required_string(&self, key: &str, max_len: usize) -> Option<String> {
        if self.entries.iter().all(|(k, _)| k != key) {
            self.report.missing(ApiError::missing(&self.path(key)));
            return Some(String::new());
        }
        Some(self.string_set(key, max_len).unwrap_or_default())
    }

    fn enum_at<E>(&self, path: String, raw: &str, values: &[&str], parse: fn(&str) -> Option<E>) -> Option<E> {
        let v = parse(raw);
        if v.is_none() {
            self.report
                .invalid(ApiError::invalid(path.clone(), format!("Invalid {path}: must be one of {}", one_of(values))));
        }
        v
    }

    pub fn enumeration<E>(&self, key: &str, values: &[&str], parse: fn(&str) -> Option<E>) -> Field<E> {
        match self.string(key, 5000) {
            Field::Value(s) => match self.enum_at(self.path(key), &s, values, parse) {
                Some(v) => Field::Value(v),
                None => Field::Absent,
            },
            Field::Empty => Field::Empty,
            Field::Absent => Field::Absent,
        }
    }

    pub fn required_enum<E>(&self, key: &str, values: &[&str], parse: fn(&str) -> Option<E>) -> Option<E> {
        let placeholder = || values.first().and_then(|v| parse(v));
        if self.entries.iter().all(|(k, _)| k != key) {
            self.report.missing(ApiError::missing(&self.path(key)));
            return placeholder();
        }
        match self.string_set(key, 5000) {
            Some(s) => self.enum_at(self.path(key), &s, values, parse).or_else(placeholder),
            None => placeholder(),
        }
    }

    /// An integer in `min..=max`; `""` gives `Field::Empty`.
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Field<i64> {
        let path = self.path(key);
        match self.string(key, 64) {
            Field::Value(raw) => {
                let well_formed = raw.strip_prefix('-').unwrap_or(&raw).bytes().all(|b| b.is_ascii_digit());
                match raw.parse::<i64>() {
                    Ok(n) if well_formed && n < min => {
                        self.report.invalid(ApiError::invalid(
                            path,
                            format!("This value must be greater than or equal to {min}."),
                        ));
                        Field::Absent
                    }
                    Ok(n) if well_formed && n > max => {
                        self.report.invalid(ApiError::invalid(
                            path,
                            format!("This value must be less than or equal to {max}."),
                        ));
                        Field::Absent
                    }
                    Ok(n) if well_formed => Field::Value(n),
                    _ => {
                        self.report.invalid(ApiError::invalid_integer(&path, &raw));
                        Field::Absent
                    }
                }
            }
            other => other.map_never(),
        }
    }

    /// A required integer in `min..=max` (missing, empty and invalid are reported; a placeholder goes on).
    pub fn required_integer(&self, key: &str, min: i64, max: i64) -> Option<i64> {
        if self.entries.iter().all(|(k, _)| k != key) {
            self.report.missing(ApiError::missing(&self.path(key)));
            return Some(0);
        }
        match self.integer(key, min, max) {
            Field::Value(n) => Some(n),
            Field::Empty => {
                self.report.invalid(ApiError::empty_not_allowed(&self.path(key)));
                Some(0)
            }
            Field::Absent => Some(0),
        }
    }

    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.string(key, 64) {
            Field::Value(raw) => match raw.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    self.report.invalid(ApiError::invalid(self.path(key), format!("Invalid boolean: {raw}")));
                    None
                }
            },
            Field::Empty => {
                self.report.invalid(ApiError::invalid(self.path(key), "Invalid boolean: "));
                None
            }
            Field::Absent => None,
        }
    }

    /// A nested object. `""` gives `Field::Empty` (unset), a scalar is "Invalid object".
    pub fn object(&self, key: &str) -> Field<Obj<'a>> {
        match self.take(key) {
            None => Field::Absent,
            Some(Node::Str(s)) if s.is_empty() => Field::Empty,
            Some(Node::Str(_)) => {
                self.report.invalid(ApiError::invalid(self.path(key), "Invalid object"));
                Field::Absent
            }
            Some(Node::Map(entries)) => Field::Value(Obj::new(Some(self.path(key)), entries, self.report)),
        }
    }

    pub fn required_object(&self, key: &str) -> Option<Obj<'a>> {
        let empty = || Obj::new(Some(self.path(key)), &[], self.report);
        match self.object(key) {
            Field::Value(o) => Some(o),
            Field::Absent if self.entries.iter().any(|(k, _)| k == key) => Some(empty()),
            _ => {
                self.report.missing(ApiError::missing(&self.path(key)));
                Some(empty())
            }
        }
    }

    /// An array of strings: `(element path, value)` pairs. `""` gives `Field::Empty`.
    pub fn string_array(&self, key: &str, max_len: usize, max_items: usize) -> Field<Vec<(String, String)>> {
        let path = self.path(key);
        match self.take(key) {
            None => Field::Absent,
            Some(Node::Str(s)) if s.is_empty() => Field::Empty,
            Some(Node::Str(_)) => {
                self.report.invalid(ApiError::invalid(path, "Invalid array"));
                Field::Absent
            }
            Some(Node::Map(entries)) => {
                if !entries.iter().all(|(k, _)| is_index(k)) {
                    self.report.invalid(ApiError::invalid(path, "Invalid array"));
                    return Field::Absent;
                }
                if entries.len() > max_items {
                    self.report.invalid(ApiError::invalid(
                        path,
                        format!("Invalid array: must have at most {max_items} elements"),
                    ));
                    return Field::Absent;
                }
                let mut items: Vec<(usize, &Node)> =
                    entries.iter().filter_map(|(k, n)| k.parse::<usize>().ok().map(|i| (i, n))).collect();
                items.sort_by_key(|(i, _)| *i);
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, node) in items {
                    let p = format!("{path}[{i}]");
                    match self.scalar_at(p.clone(), node, max_len) {
                        Some(v) => out.push((p, v)),
                        None => ok = false,
                    }
                }
                if ok {
                    Field::Value(out)
                } else {
                    Field::Absent
                }
            }
        }
    }

    /// An array of enum values, duplicates removed, order kept.
    pub fn enum_array<E: PartialEq>(&self, key: &str, values: &[&str], parse: fn(&str) -> Option<E>) -> Field<Vec<E>> {
        match self.string_array(key, 5000, 100) {
            Field::Value(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (p, raw) in items {
                    match self.enum_at(p, &raw, values, parse) {
                        Some(v) if !out.contains(&v) => out.push(v),
                        Some(_) => {}
                        None => ok = false,
                    }
                }
                if ok {
                    Field::Value(out)
                } else {
                    Field::Absent
                }
            }
            Field::Empty => Field::Empty,
            Field::Absent => Field::Absent,
        }
    }

    /// `expand[]`: the fields to expand.
    pub fn expand(&self) -> Vec<(String, String)> {
        self.string_array("expand", 5000, 100).value().unwrap_or_default()
    }

    /// `metadata[key]=value`: keys up to 40 characters, values up to 500, at most 50 keys. `""` unsets the
    /// whole map (`Some(None)`); an empty value unsets one key.
    pub fn metadata(&self, key: &str) -> Option<Option<Vec<(String, String)>>> {
        let path = self.path(key);
        match self.object(key) {
            Field::Absent => None,
            Field::Empty => Some(None),
            Field::Value(obj) => {
                let mut out = Vec::new();
                for (k, node) in obj.entries {
                    match node {
                        Node::Str(v) if k.chars().count() > 40 => self.report.invalid(ApiError::invalid(
                            path.clone(),
                            format!("Invalid key: {} must be a string under 40 characters", shown(k)),
                        )),
                        Node::Str(v) if v.chars().count() > 500 => self.report.invalid(ApiError::invalid(
                            path.clone(),
                            format!("Invalid val: {} must be a string under 500 characters", shown(v)),
                        )),
                        Node::Str(v) => out.push((k.clone(), v.clone())),
                        Node::Map(_) => self.report.invalid(ApiError::invalid(
                            format!("{path}[{k}]"),
                            "Invalid string: an object or array was given",
                        )),
                    }
                }
                obj.seen.borrow_mut().iter_mut().for_each(|s| *s = true);
                if out.len() > 50 {
                    self.report.invalid(ApiError::invalid(path, "Invalid metadata: at most 50 keys are allowed"));
                }
                Some(Some(out))
            }
        }
    }
}

impl<T> Field<T> {
    fn map_never<U>(self) -> Field<U> {
        match self {
            Field::Absent | Field::Value(_) => Field::Absent,
            Field::Empty => Field::Empty,
        }
    }
}
