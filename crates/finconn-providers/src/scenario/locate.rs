//! Where a field is in a file's text, so every problem names the file, line and field. Problems are found on
//! the parsed structure and carry a [`Path`]; this finds that path's position in the TOML (with
//! `toml_edit`, which keeps spans) or the JSON (with a small scanner: serde_json keeps no spans).

use std::fmt;

/// One step into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field's path: `institutions[0].accounts[2].last4`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }

    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// The path serde_path_to_error reports.
    pub fn from_serde(p: &serde_path_to_error::Path) -> Path {
        use serde_path_to_error::Segment;
        Path(
            p.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } | Segment::Enum { variant: key } => Some(Seg::Key(key.clone())),
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            match s {
                Seg::Key(k) if first => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Which syntax a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Json,
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, col)
}

/// The byte offset of `path` in `text`: of the deepest part of the path that exists (a missing key points at
/// its table).
pub fn offset(syntax: Syntax, text: &str, path: &Path) -> usize {
    match syntax {
        Syntax::Toml => toml_offset(text, path),
        Syntax::Json => json_offset(text, path),
    }
}

fn toml_offset(text: &str, path: &Path) -> usize {
    use toml_edit::{Item, Value};
    /// Where the walk is: toml_edit hands out tables, inline tables, arrays and values as different types.
    #[derive(Clone, Copy)]
    enum Node<'a> {
        Item(&'a Item),
        Table(&'a toml_edit::Table),
        Value(&'a Value),
    }
    let Ok(doc) = toml_edit::ImDocument::parse(text) else { return 0 };
    let mut best = 0;
    let mut node = Node::Table(doc.as_table());
    for seg in &path.0 {
        // Unwrap an item into the table or value it holds.
        let here = match node {
            Node::Item(Item::Table(t)) => Node::Table(t),
            Node::Item(Item::Value(v)) => Node::Value(v),
            other => other,
        };
        let next: Option<(Option<usize>, Node)> = match (seg, here) {
            (Seg::Key(k), Node::Table(t)) => {
                t.get_key_value(k).map(|(key, v)| (key.span().map(|s| s.start), Node::Item(v)))
            }
            (Seg::Key(k), Node::Value(Value::InlineTable(t))) => {
                t.get_key_value(k).map(|(key, v)| (key.span().map(|s| s.start), Node::Item(v)))
            }
            (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => {
                a.get(*i).map(|t| (t.span().map(|s| s.start), Node::Table(t)))
            }
            (Seg::Index(i), Node::Value(Value::Array(a))) => {
                a.get(*i).map(|v| (v.span().map(|s| s.start), Node::Value(v)))
            }
            _ => None,
        };
        let Some((start, next)) = next else { break };
        if let Some(s) = start {
            best = s;
        }
        node = next;
    }
    best
}

fn json_offset(text: &str, path: &Path) -> usize {
    let mut s = JsonScan { b: text.as_bytes(), i: 0, target: &path.0, best: 0 };
    s.walk(Some(0));
    s.best
}

/// A JSON walker that records the offset of each step of the target path it passes.
struct JsonScan<'a> {
    b: &'a [u8],
    i: usize,
    target: &'a [Seg],
    best: usize,
}

impl JsonScan<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips a string starting at `self.i` (on the quote) and returns its unescaped text.
    fn string(&mut self) -> String {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(e) = self.peek() {
                        self.i += 1;
                        match e {
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'u' => self.i += 4,
                            other => out.push(other),
                        }
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Walks one value. `depth` is how much of the target path leads here (`None`: off the path).
    fn walk(&mut self, depth: Option<usize>) {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'"') => {
                            let at = self.i;
                            let key = self.string();
                            let next = match depth {
                                Some(d) if matches!(self.target.get(d), Some(Seg::Key(k)) if *k == key) => {
                                    self.best = at;
                                    Some(d + 1)
                                }
                                _ => None,
                            };
                            self.ws();
                            if self.peek() == Some(b':') {
                                self.i += 1;
                            }
                            self.walk(next);
                            self.ws();
                            if self.peek() == Some(b',') {
                                self.i += 1;
                            }
                        }
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        None => break,
                        Some(_) => self.i += 1,
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut index = 0;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        None => break,
                        Some(_) => {
                            let next = match depth {
                                Some(d) if self.target.get(d) == Some(&Seg::Index(index)) => {
                                    self.best = self.i;
                                    Some(d + 1)
                                }
                                _ => None,
                            };
                            self.walk(next);
                            self.ws();
                            if self.peek() == Some(b',') {
                                self.i += 1;
                            }
                            index += 1;
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        break;
                    }
                    self.i += 1;
                }
            }
            None => {}
        }
    }
}
