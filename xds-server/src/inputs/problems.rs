//! Collecting every problem of one input file, and the typed accessors the
//! loaders use to read a [`Node`] tree against their schema.
//!
//! Each accessor records what is wrong (with the field path and line) and
//! returns `None`, so a loader reads on and reports everything in one pass.

use std::path::{Path, PathBuf};

use super::yaml_tree::{self, Entry, Node, Value};
use super::{InputError, InputErrors};

/// The problems found so far in one file.
#[derive(Debug)]
pub struct Problems {
    file: PathBuf,
    list: Vec<InputError>,
}

impl Problems {
    pub fn new(file: &Path) -> Self {
        Problems {
            file: file.to_path_buf(),
            list: Vec::new(),
        }
    }

    /// `text`'s YAML tree with an empty list of problems for `path`, or the
    /// syntax error (nothing else can be checked without a tree).
    pub fn parse_yaml(path: &Path, text: &str) -> Result<(Self, Node), InputErrors> {
        let mut p = Problems::new(path);
        match yaml_tree::parse(text) {
            Ok(root) => Ok((p, root)),
            Err(e) => {
                p.add(e.line, "", e.reason);
                Err(p.into_errors())
            }
        }
    }

    /// Record a problem at `field` (empty = the whole file).
    pub fn add(&mut self, line: Option<u64>, field: &str, reason: impl Into<String>) {
        self.list.push(InputError {
            file: self.file.clone(),
            line,
            field: (!field.is_empty()).then(|| field.to_string()),
            reason: reason.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// `Ok(value)` when nothing was found, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, InputErrors> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(InputErrors(self.list))
        }
    }

    /// The problems so far, as an error (even if empty; callers check).
    pub fn into_errors(self) -> InputErrors {
        InputErrors(self.list)
    }
}

/// `parent.key`, or `key` at the top.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A mapping being read: its entries, where it is, and what it may hold.
pub struct Fields<'a> {
    pub path: String,
    pub line: Option<u64>,
    entries: &'a [Entry],
}

const NO_ENTRIES: &[Entry] = &[];

impl<'a> Fields<'a> {
    /// Read `node` (at `path`) as a mapping whose keys must all be in
    /// `known`. Null counts as an empty mapping. Unknown keys, duplicate
    /// keys and a non-mapping are recorded; the result is still usable.
    pub fn new(p: &mut Problems, node: &'a Node, path: &str, known: &[&str]) -> Fields<'a> {
        let entries: &'a [Entry] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => NO_ENTRIES,
            other => {
                p.add(
                    node.line,
                    path,
                    format!("expected a mapping, found {}", other.kind()),
                );
                NO_ENTRIES
            }
        };
        for (i, entry) in entries.iter().enumerate() {
            if entries[..i].iter().any(|e| e.key == entry.key) {
                p.add(
                    entry.key_line,
                    &join(path, &entry.key),
                    "duplicate key".to_string(),
                );
            }
            if !known.contains(&entry.key.as_str()) {
                p.add(
                    entry.key_line,
                    &join(path, &entry.key),
                    unknown_field_reason(&entry.key, known),
                );
            }
        }
        Fields {
            path: path.to_string(),
            line: node.line,
            entries,
        }
    }

    /// The field's path.
    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The entry for `key`, if present.
    pub fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value of `key`, treating an explicit null as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entry(key)
            .map(|e| &e.value)
            .filter(|n| n.value != Value::Null)
    }

    /// Whether `key` is present with a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Line of `key` (the key itself), else of the mapping.
    pub fn line_of(&self, key: &str) -> Option<u64> {
        self.entry(key).and_then(|e| e.key_line).or(self.line)
    }

    /// Record "missing required field".
    pub fn missing(&self, p: &mut Problems, key: &str) {
        p.add(self.line, &self.path_of(key), "required field is missing");
    }

    /// An optional string.
    pub fn str(&self, p: &mut Problems, key: &str) -> Option<String> {
        let node = self.get(key)?;
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                p.add(
                    self.line_of(key),
                    &self.path_of(key),
                    format!("expected a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A required, non-empty string.
    pub fn req_str(&self, p: &mut Problems, key: &str) -> Option<String> {
        if !self.has(key) {
            self.missing(p, key);
            return None;
        }
        let s = self.str(p, key)?;
        if s.is_empty() {
            p.add(self.line_of(key), &self.path_of(key), "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A problem at `key` unless `found` (its value, when there is one)
    /// is `expected`, e.g. `apiVersion` or `kind`.
    pub fn expect_value(&self, p: &mut Problems, key: &str, found: Option<String>, expected: &str) {
        if let Some(found) = found
            && found != expected
        {
            p.add(
                self.line_of(key),
                &self.path_of(key),
                format!("expected `{expected}`, found `{found}`"),
            );
        }
    }

    /// An optional boolean.
    pub fn bool(&self, p: &mut Problems, key: &str) -> Option<bool> {
        let node = self.get(key)?;
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                p.add(
                    self.line_of(key),
                    &self.path_of(key),
                    format!("expected true or false, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub fn int(&self, p: &mut Problems, key: &str, min: i128, max: i128) -> Option<i128> {
        let node = self.get(key)?;
        match &node.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                p.add(
                    self.line_of(key),
                    &self.path_of(key),
                    format!("{i} is out of range {min}..={max}"),
                );
                None
            }
            other => {
                p.add(
                    self.line_of(key),
                    &self.path_of(key),
                    format!("expected an integer, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// An optional list; each item with its path.
    pub fn list(&self, p: &mut Problems, key: &str) -> Option<Vec<(String, &'a Node)>> {
        let node = self.get(key)?;
        match &node.value {
            Value::Seq(items) => {
                let path = self.path_of(key);
                Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (index(&path, i), n))
                        .collect(),
                )
            }
            other => {
                p.add(
                    self.line_of(key),
                    &self.path_of(key),
                    format!("expected a list, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// An optional list of strings; wrong items are recorded and left out.
    pub fn str_list(&self, p: &mut Problems, key: &str) -> Option<Vec<(String, Option<u64>)>> {
        let items = self.list(p, key)?;
        let mut out = Vec::new();
        for (path, node) in items {
            match &node.value {
                Value::Str(s) => out.push((s.clone(), node.line)),
                other => p.add(
                    node.line.or(self.line_of(key)),
                    &path,
                    format!("expected a string, found {}", other.kind()),
                ),
            }
        }
        Some(out)
    }
}

/// "unknown field `x`", with a suggestion when one known field is close.
fn unknown_field_reason(key: &str, known: &[&str]) -> String {
    let close = known
        .iter()
        .map(|k| (edit_distance(&key.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    match close {
        Some((_, k)) => format!("unknown field `{key}`; did you mean `{k}`?"),
        None if known.is_empty() => format!("unknown field `{key}`"),
        None => format!(
            "unknown field `{key}`; expected one of: {}",
            known.join(", ")
        ),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Read the items of a list node that must hold mappings.
pub fn items<'a>(p: &mut Problems, node: &'a Node, path: &str) -> Vec<(String, &'a Node)> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (index(path, i), n))
            .collect(),
        Value::Null => Vec::new(),
        other => {
            p.add(
                node.line,
                path,
                format!("expected a list, found {}", other.kind()),
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
