//! The JSON Patch (RFC 6902) that turns one object into another: what a
//! mutating webhook answers. Objects are compared key by key; arrays of the
//! same length item by item, otherwise replaced whole (the sidecar is
//! inserted at the front of `initContainers`, where index-wise `add`s would
//! be no clearer and easier to get wrong).

use serde_json::{Value, json};

/// The operations that make `from` equal to `to` (empty when equal).
pub fn diff(from: &Value, to: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    walk(from, to, &mut String::new(), &mut ops);
    ops
}

fn walk(from: &Value, to: &Value, path: &mut String, ops: &mut Vec<Value>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": child(path, key)}));
            }
            for (key, value) in b {
                match a.get(key) {
                    Some(old) => {
                        let len = path.len();
                        path.push_str(&child("", key));
                        walk(old, value, path, ops);
                        path.truncate(len);
                    }
                    None => {
                        ops.push(json!({"op": "add", "path": child(path, key), "value": value}))
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                walk(old, new, path, ops);
                path.truncate(len);
            }
        }
        _ => ops.push(json!({"op": "replace", "path": path.clone(), "value": to})),
    }
}

/// `path/key` as a JSON Pointer (RFC 6901: `~` → `~0`, `/` → `~1`).
fn child(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}
