//! Patches: JSON merge patch (RFC 7386), strategic merge patch (treated as
//! a merge patch that understands the `$patch`/`$retainKeys`/
//! `$setElementOrder` directives kubectl sends), and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// A patch that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not valid JSON (or YAML for apply).
    #[error("error decoding patch: {0}")]
    Decode(String),
    /// A JSON patch operation is malformed or unknown.
    #[error("{0}")]
    Operation(String),
    /// A JSON patch path does not exist.
    #[error("{0}")]
    Path(String),
    /// A JSON patch `test` failed.
    #[error("testing value {path} failed: test failed")]
    TestFailed {
        /// The path tested.
        path: String,
    },
}

/// The patch types the apiserver accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// Reads the request's `Content-Type`.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// A strategic merge patch applied as a merge patch: lists are replaced,
/// directives are honoured where they make sense without schema merge keys
/// (`$patch: delete|replace` on maps; `$setElementOrder/*`, `$retainKeys`
/// and `$deleteFromPrimitiveList/*` are dropped).
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        Some("replace") => {
            let mut replaced = p.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        let slot = t.entry(k.clone()).or_insert(Value::Null);
        strategic_merge_patch(slot, v);
        if slot.is_null() {
            t.remove(k);
        }
    }
}

/// RFC 6902 JSON patch: add, remove, replace, move, copy, test.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError::Decode("json patch must be an array of operations".into()))?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Operation(format!("operation missing \"path\": {op}")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::Operation(format!("missing value for {name} {path}")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError::Operation(format!("missing from for {name} {path}")))
        };
        match name {
            "add" => add(target, path, value()?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value()?)?;
            }
            "move" => {
                let v = remove(target, from()?)?;
                add(target, path, v)?;
            }
            "copy" => {
                let v = get(target, from()?)?.clone();
                add(target, path, v)?;
            }
            "test" => {
                if *get(target, path)? != value()? {
                    return Err(PatchError::TestFailed { path: path.into() });
                }
            }
            other => {
                return Err(PatchError::Operation(format!("Unexpected kind: {other}")));
            }
        }
    }
    Ok(())
}

fn tokens(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError::Path(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn missing(path: &str) -> PatchError {
    PatchError::Path(format!("doc is missing path: \"{path}\": missing value"))
}

fn get<'a>(target: &'a Value, path: &str) -> Result<&'a Value, PatchError> {
    let mut cur = target;
    for t in tokens(path)? {
        cur = match cur {
            Value::Object(m) => m.get(&t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| missing(path))?;
    }
    Ok(cur)
}

fn parent_mut<'a>(
    target: &'a mut Value,
    path: &str,
) -> Result<(&'a mut Value, String), PatchError> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| PatchError::Path("cannot operate on the document root".into()))?;
    let mut cur = target;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(&t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| missing(path))?;
    }
    Ok((cur, last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(target, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| missing(path))?
            };
            if idx > a.len() {
                return Err(PatchError::Path(format!(
                    "add operation does not apply: doc is missing path: \"{path}\": missing value"
                )));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, last) = parent_mut(target, path)?;
    match parent {
        Value::Object(m) => m.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let idx = last.parse::<usize>().map_err(|_| missing(path))?;
            if idx >= a.len() {
                return Err(missing(path));
            }
            Ok(a.remove(idx))
        }
        _ => Err(missing(path)),
    }
}
