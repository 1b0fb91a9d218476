//! A YAML document as a tree whose nodes remember their line.
//!
//! serde's `deny_unknown_fields` stops at the first problem, but an input
//! edit must be rejected with *every* problem named. So the loaders first
//! read the document into this tree (serde-saphyr, with
//! [`serde_saphyr::Spanned`] for lines), then walk it against their schema
//! with [`Problems`](super::problems::Problems) collecting errors as they go.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub mod deserializer;

/// One YAML node and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based; None when the parser could not tell.
    pub line: Option<u64>,
    pub value: Value,
}

/// A YAML value, after the core schema resolved scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// The key's line: where a problem with this field is reported.
    pub key_line: Option<u64>,
    pub value: Node,
}

impl Value {
    /// What the value is, for "expected a string, found a mapping".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The entry named `key` when this node is a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The `index`th item when this node is a list.
    pub fn item(&self, index: usize) -> Option<&Node> {
        match &self.value {
            Value::Seq(items) => items.get(index),
            _ => None,
        }
    }
}

pub fn line_of(location: serde_saphyr::Location) -> Option<u64> {
    match location.line() {
        0 => None,
        n => Some(n),
    }
}

/// A YAML syntax (or structure) error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: Option<u64>,
    pub reason: String,
}

/// Parse one YAML document. An empty document is a null node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            line: None,
            value: Value::Null,
        });
    }
    serde_saphyr::from_str_with_options::<Option<Node>>(text, options_for(text))
        .map(|node| {
            node.unwrap_or(Node {
                line: None,
                value: Value::Null,
            })
        })
        .map_err(|e| SyntaxError {
            line: e.location().and_then(line_of),
            reason: match &e {
                serde_saphyr::Error::Budget { breach, .. } => {
                    format!("YAML beyond a parse limit (too deep or too many aliases): {breach:?}")
                }
                _ => format!("invalid YAML: {}", plain_message(&e)),
            },
        })
}

/// Our parse options for an input's text: positions without snippets,
/// strict booleans, and a budget sized from the text.
fn options_for(text: &str) -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        budget: Some(budget_for(text.len())),
    }
}

/// The parse budget for `len` bytes of YAML: serde-saphyr's defaults (which
/// refuse a kubeconfig of ~15,000 contexts: 250,000 nodes), raised in step
/// with the text so a larger input is never refused for its size alone,
/// while the work stays linear in the bytes read. Every node (scalar,
/// sequence or mapping) takes at least one byte of text, and every event
/// belongs to a node (or to one of a few stream/document markers); scalars
/// are never longer than the text. Aliases and anchors keep their default
/// limits: those bound what a small text can expand into. Nesting stops at
/// 32 levels (our inputs use fewer than 10): the parse and the
/// deserializers recurse once per level, and serde-saphyr's default (64)
/// overflowed a 2 MB thread's stack (a tokio worker's size) at 50 levels
/// in a debug build.
pub fn budget_for(len: usize) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 32;
    budget.max_nodes = budget.max_nodes.max(len);
    budget.max_events = budget.max_events.max(len.saturating_mul(2));
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(len);
    budget
}

/// serde-saphyr's message without its own "at line X column Y" suffix
/// (the line is reported separately).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    match first.rfind(" at line ") {
        Some(at) => first[..at].to_string(),
        None => first.to_string(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            line: line_of(spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        // Trees are kept (the kubeconfig's pieces): no spare capacity.
        items.shrink_to_fit();
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: key.value.0,
                key_line: line_of(key.referenced),
                value,
            });
        }
        // A mapping of two keys would keep room for four otherwise.
        entries.shrink_to_fit();
        Ok(Value::Map(entries))
    }
}

/// A mapping key as text (`1: x` has the key `"1"`).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(KeyText(match value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s,
            Value::Seq(_) | Value::Map(_) => {
                return Err(de::Error::custom("mapping keys must be scalars"));
            }
        }))
    }
}

#[cfg(test)]
mod tests;
