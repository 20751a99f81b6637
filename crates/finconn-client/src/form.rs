//! Stripe's form encoding: nested parameters as bracketed keys (`a[b][0]=x`), percent-encoded.
//!
//! Parameters are built as a [`serde_json::Value`] tree and flattened: objects become `key[field]`,
//! arrays `key[0]`, `key[1]`…, `null` is left out, booleans and numbers become their text, and an empty
//! string stays (`key=`), which is how Stripe unsets a field.

use serde_json::Value;

/// A flat list of `(key, value)` pairs, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    /// Flattens a tree of parameters (the top level must be an object; anything else gives an empty form).
    pub fn from_value(value: &Value) -> Self {
        let mut form = Self::new();
        if let Value::Object(map) = value {
            for (k, v) in map {
                form.flatten(k.clone(), v);
            }
        }
        form
    }

    fn flatten(&mut self, key: String, value: &Value) {
        match value {
            Value::Null => {}
            Value::Bool(b) => self.pairs.push((key, b.to_string())),
            Value::Number(n) => self.pairs.push((key, n.to_string())),
            Value::String(s) => self.pairs.push((key, s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.flatten(format!("{key}[{i}]"), item);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.flatten(format!("{key}[{k}]"), v);
                }
            }
        }
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Removes every pair whose key is `key`.
    pub fn remove(&mut self, key: &str) {
        self.pairs.retain(|(k, _)| k != key);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `k=v&k=v`, percent-encoded as `application/x-www-form-urlencoded` (space as `+`); brackets in keys
    /// are kept as they are, as stripe-node and stripe-ruby send them.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            escape_into(&mut out, k, true);
            out.push('=');
            escape_into(&mut out, v, false);
        }
        out
    }
}

fn escape_into(out: &mut String, s: &str, keep_brackets: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b'[' | b']' if keep_brackets => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nests_with_brackets_and_indexes_arrays() {
        let form = Form::from_value(&json!({
            "account_holder": {"type": "customer", "customer": "cus_123"},
            "permissions": ["balances", "ownership"],
            "filters": {"countries": ["US"], "account_subcategories": ["checking"]},
            "limits": {"accounts": 3},
            "skip": null,
            "flag": true,
            "unset": "",
        }));
        assert_eq!(
            form.encode(),
            "account_holder[type]=customer&account_holder[customer]=cus_123&permissions[0]=balances&\
             permissions[1]=ownership&filters[countries][0]=US&filters[account_subcategories][0]=checking&\
             limits[accounts]=3&flag=true&unset="
        );
    }

    #[test]
    fn percent_encodes_keys_and_values() {
        let mut form = Form::new();
        form.push("metadata[a b]", "x&y=z é/+");
        form.push("return_url", "https://example.com/cb?x=1");
        assert_eq!(
            form.encode(),
            "metadata[a+b]=x%26y%3Dz+%C3%A9%2F%2B&return_url=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1"
        );
    }

    #[test]
    fn arrays_of_objects_and_remove() {
        let mut form = Form::from_value(&json!({"a": [{"b": 1}, {"b": 2}], "starting_after": "x"}));
        form.remove("starting_after");
        assert_eq!(form.encode(), "a[0][b]=1&a[1][b]=2");
        assert_eq!(form.get("a[1][b]"), Some("2"));
        assert!(Form::from_value(&json!([1])).is_empty());
    }
}
