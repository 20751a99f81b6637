//! Stripe's form encoding: `a[b][0]=x&a[c][]=y`, in request bodies and query strings.
//!
//! Parsing produces a tree of [`Node`]s. Arrays are maps whose keys are indices: `a[]=x` appends the next
//! index, `a[0]=x` names it, so both styles the SDKs use (and a mix of them) give the same tree, and every
//! element keeps the path a client would recognise (`permissions[0]`) for error messages.

use percent_encoding::percent_decode;

/// Limits that keep a hostile body from costing more than a normal one.
pub const MAX_PAIRS: usize = 4096;
pub const MAX_DEPTH: usize = 8;
pub const MAX_KEY_LEN: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Str(String),
    /// Entries in the order they first appeared.
    Map(Vec<(String, Node)>),
}

impl Node {
    fn entries_mut(&mut self) -> Option<&mut Vec<(String, Node)>> {
        match self {
            Node::Map(m) => Some(m),
            Node::Str(_) => None,
        }
    }
}

/// The whole decoded parameter set, plus the raw pairs (for idempotency fingerprints).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Form {
    pub root: Vec<(String, Node)>,
    pub pairs: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("Invalid request: the request is not valid UTF-8 once percent-decoded.")]
    NotUtf8,
    #[error("Invalid request: too many parameters (at most {MAX_PAIRS}).")]
    TooManyPairs,
    #[error("Invalid parameter name: {0}")]
    BadName(String),
    #[error("Invalid request: {0} is nested too deeply (at most {MAX_DEPTH} levels).")]
    TooDeep(String),
    #[error("Invalid request: {0} is given both as a value and as an object or array.")]
    Conflict(String),
    /// Strings cannot hold U+0000 (PostgreSQL's text cannot, and no Stripe value does), nor other control
    /// characters than tab, line feed and carriage return.
    #[error("Invalid string: {0} contains a control character (such as U+0000), which is not allowed.")]
    ControlCharacter(String),
}

impl FormError {
    /// The parameter the error is about, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            FormError::BadName(p) | FormError::TooDeep(p) | FormError::Conflict(p) | FormError::ControlCharacter(p) => {
                Some(p)
            }
            FormError::NotUtf8 | FormError::TooManyPairs => None,
        }
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_decode(&plus).decode_utf8().map(|c| c.into_owned()).map_err(|_| FormError::NotUtf8)
}

/// A control character that no parameter value may hold.
pub fn forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Splits `a[b][]` into `["a", "b", ""]`.
fn segments(key: &str) -> Result<Vec<&str>, FormError> {
    let bad = || FormError::BadName(key.to_owned());
    if key.len() > MAX_KEY_LEN {
        return Err(bad());
    }
    let (name, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if name.is_empty() || name.contains(']') {
        return Err(bad());
    }
    let mut segs = vec![name];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        let seg = &inner[..close];
        if seg.contains('[') {
            return Err(bad());
        }
        segs.push(seg);
        rest = &inner[close + 1..];
    }
    if segs.len() > MAX_DEPTH + 1 {
        return Err(FormError::TooDeep(key.to_owned()));
    }
    // `a[][b]`: an array of objects must use explicit indices, as the SDKs send it.
    if segs[..segs.len() - 1].iter().skip(1).any(|s| s.is_empty()) {
        return Err(bad());
    }
    Ok(segs)
}

fn next_index(entries: &[(String, Node)]) -> usize {
    entries.iter().filter_map(|(k, _)| k.parse::<usize>().ok()).map(|i| i + 1).max().unwrap_or(0)
}

/// Path of the first `n` segments, as a client writes it: `a[b][0]`.
fn path_of(segs: &[String]) -> String {
    let mut p = segs[0].clone();
    for s in &segs[1..] {
        p.push('[');
        p.push_str(s);
        p.push(']');
    }
    p
}

fn insert(root: &mut Vec<(String, Node)>, segs: &[&str], value: String) -> Result<(), FormError> {
    let mut entries = root;
    let mut resolved: Vec<String> = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        let key = if seg.is_empty() { next_index(entries).to_string() } else { (*seg).to_owned() };
        resolved.push(key.clone());
        let last = i == segs.len() - 1;
        let pos = entries.iter().position(|(k, _)| *k == key);
        if last {
            match pos {
                Some(p) => match &mut entries[p].1 {
                    // A repeated scalar: the last value wins.
                    Node::Str(s) => *s = value,
                    Node::Map(_) => return Err(FormError::Conflict(path_of(&resolved))),
                },
                None => entries.push((key, Node::Str(value))),
            }
            return Ok(());
        }
        let p = match pos {
            Some(p) => p,
            None => {
                entries.push((key, Node::Map(Vec::new())));
                entries.len() - 1
            }
        };
        entries = entries[p].1.entries_mut().ok_or_else(|| FormError::Conflict(path_of(&resolved)))?;
    }
    Ok(())
}

/// Parses `application/x-www-form-urlencoded` bytes (a body or a query string).
pub fn parse(input: &[u8]) -> Result<Form, FormError> {
    let mut form = Form::default();
    for pair in input.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        if form.pairs.len() >= MAX_PAIRS {
            return Err(FormError::TooManyPairs);
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let key = decode(k)?;
        let value = decode(v)?;
        if key.chars().any(char::is_control) {
            return Err(FormError::BadName(key.chars().filter(|c| !c.is_control()).collect()));
        }
        if value.chars().any(forbidden_control) {
            return Err(FormError::ControlCharacter(key));
        }
        let segs = segments(&key)?;
        insert(&mut form.root, &segs, value.clone())?;
        form.pairs.push((key, value));
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> Node {
        Node::Str(v.into())
    }

    #[test]
    fn control_characters_are_refused_with_the_parameter_named() {
        assert_eq!(parse(b"email=a%00b").unwrap_err(), FormError::ControlCharacter("email".into()));
        assert_eq!(parse(b"metadata[k]=%01").unwrap_err(), FormError::ControlCharacter("metadata[k]".into()));
        assert!(matches!(parse(b"na%00me=x").unwrap_err(), FormError::BadName(_)));
        assert!(parse(b"description=line%0Aline%09tab%0D").is_ok(), "tab and line breaks are text");
    }

    #[test]
    fn both_array_styles_give_the_same_tree() {
        let a = parse(b"permissions[]=balances&permissions[]=ownership").unwrap();
        let b = parse(b"permissions[0]=balances&permissions[1]=ownership").unwrap();
        assert_eq!(a.root, b.root);
        assert_eq!(
            a.root,
            vec![("permissions".into(), Node::Map(vec![("0".into(), s("balances")), ("1".into(), s("ownership"))]))]
        );
    }

    #[test]
    fn nests_objects_and_decodes() {
        let f = parse(b"account_holder%5Btype%5D=customer&return_url=https%3A%2F%2Fx.test%2F%3Fa%3Db+c").unwrap();
        assert_eq!(
            f.root,
            vec![
                ("account_holder".into(), Node::Map(vec![("type".into(), s("customer"))])),
                ("return_url".into(), s("https://x.test/?a=b c")),
            ]
        );
    }

    #[test]
    fn rejects_malformed_names_deep_nesting_and_conflicts() {
        assert!(matches!(parse(b"a[b=1"), Err(FormError::BadName(_))));
        assert!(matches!(parse(b"[a]=1"), Err(FormError::BadName(_))));
        assert!(matches!(parse(b"a]b=1"), Err(FormError::BadName(_))));
        assert!(matches!(parse(b"a[][b]=1"), Err(FormError::BadName(_))));
        assert!(matches!(parse(b"a[1][2][3][4][5][6][7][8][9]=1"), Err(FormError::TooDeep(_))));
        assert_eq!(parse(b"a=1&a[b]=2"), Err(FormError::Conflict("a".into())));
        assert_eq!(parse(b"a[b]=2&a=1"), Err(FormError::Conflict("a".into())));
        assert_eq!(parse(b"a=%FF"), Err(FormError::NotUtf8));
    }

    #[test]
    fn caps_the_number_of_pairs() {
        let body = "a=1&".repeat(MAX_PAIRS + 1);
        assert_eq!(parse(body.as_bytes()), Err(FormError::TooManyPairs));
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&input);
        }

        #[test]
        fn never_panics_on_bracket_soup(input in "[a-c\\[\\]=&%0-9]{0,200}") {
            let _ = parse(input.as_bytes());
        }

        /// Whatever is accepted holds no forbidden control character, in any name or value.
        #[test]
        fn accepted_forms_hold_no_control_characters(input in "([a-c]{1,3}(\\[[0-2]?\\])?=([a-z]|%0[0-9A-F]|%1[0-9A-F]|%7F|%C2%85|%09|%0A)*&?){0,8}") {
            if let Ok(form) = parse(input.as_bytes()) {
                for (k, v) in &form.pairs {
                    prop_assert!(!k.chars().any(char::is_control), "{k:?}");
                    prop_assert!(!v.chars().any(forbidden_control), "{v:?}");
                }
            }
        }
    }
}
