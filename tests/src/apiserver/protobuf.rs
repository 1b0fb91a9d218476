//! Request bodies in the Kubernetes protobuf encoding
//! (`application/vnd.kubernetes.protobuf`), decoded to JSON.
//!
//! kubectl's typed clients (`create configmap|secret|namespace|deployment`,
//! `auth whoami`, `auth can-i`...) send protobuf; the real apiserver accepts
//! it, so this server does too. Responses stay JSON (kubectl accepts both).
//!
//! The message schemas are the API's own `FileDescriptorProto`s, exactly as
//! Kubernetes 1.32's Go packages register them (extracted from the gzipped
//! descriptors embedded in a kubectl 1.32 binary, decompressed, unchanged):
//! `protobuf/*.pb`. Field names in these protos are the JSON names.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
use serde_json::{Map, Value, json};

/// The protobuf media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// A body that is not a decodable Kubernetes protobuf object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    BadMagic,
    /// The wire data is truncated or malformed.
    #[error("malformed protobuf data: {0}")]
    Malformed(&'static str),
    /// No schema for this `apiVersion`/`kind`.
    #[error("no kind {kind:?} is registered for version {api_version:?}")]
    UnknownKind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
}

const DESCRIPTORS: &[&[u8]] = &[
    include_bytes!("protobuf/core_v1.pb"),
    include_bytes!("protobuf/apps_v1.pb"),
    include_bytes!("protobuf/authentication_v1.pb"),
    include_bytes!("protobuf/authorization_v1.pb"),
    include_bytes!("protobuf/autoscaling_v1.pb"),
    include_bytes!("protobuf/meta_v1.pb"),
    include_bytes!("protobuf/runtime.pb"),
    include_bytes!("protobuf/runtime_schema.pb"),
    include_bytes!("protobuf/intstr.pb"),
    include_bytes!("protobuf/resource.pb"),
];

/// Every message by full name (`.k8s.io.api.core.v1.ConfigMap`).
static MESSAGES: LazyLock<HashMap<String, DescriptorProto>> = LazyLock::new(|| {
    fn add(prefix: &str, msgs: &[DescriptorProto], out: &mut HashMap<String, DescriptorProto>) {
        for m in msgs {
            let name = format!("{prefix}.{}", m.name());
            add(&name, &m.nested_type, out);
            out.insert(name, m.clone());
        }
    }
    let mut out = HashMap::new();
    for bytes in DESCRIPTORS {
        let file = FileDescriptorProto::decode(*bytes).expect("embedded descriptor decodes");
        add(
            &format!(".{}", file.package()),
            &file.message_type,
            &mut out,
        );
    }
    out
});

/// The proto package of an `apiVersion`.
fn package(api_version: &str) -> Option<&'static str> {
    Some(match api_version {
        "v1" => "k8s.io.api.core.v1",
        "apps/v1" => "k8s.io.api.apps.v1",
        "authentication.k8s.io/v1" => "k8s.io.api.authentication.v1",
        "authorization.k8s.io/v1" => "k8s.io.api.authorization.v1",
        "autoscaling/v1" => "k8s.io.api.autoscaling.v1",
        "meta.k8s.io/v1" => "k8s.io.apimachinery.pkg.apis.meta.v1",
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if self.buf.len() < n {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
}

/// One raw field value off the wire.
enum Raw<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
}

fn fields(buf: &[u8]) -> Result<Vec<(u32, Raw<'_>)>, ProtobufError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while !r.buf.is_empty() {
        let key = r.varint()?;
        let number =
            u32::try_from(key >> 3).map_err(|_| ProtobufError::Malformed("field number"))?;
        let raw = match key & 7 {
            0 => Raw::Varint(r.varint()?),
            1 => Raw::Fixed64(r.take(8)?.try_into().expect("8 bytes")),
            2 => {
                let n =
                    usize::try_from(r.varint()?).map_err(|_| ProtobufError::Malformed("length"))?;
                Raw::Bytes(r.take(n)?)
            }
            5 => Raw::Fixed32(r.take(4)?.try_into().expect("4 bytes")),
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        out.push((number, raw));
    }
    Ok(out)
}

fn scalar(field: &FieldDescriptorProto, raw: &Raw<'_>) -> Result<Value, ProtobufError> {
    let t = field.r#type();
    Ok(match (t, raw) {
        (Type::Bool, Raw::Varint(v)) => json!(*v != 0),
        (Type::Int32, Raw::Varint(v)) => json!(*v as i64 as i32),
        (Type::Int64, Raw::Varint(v)) => json!(*v as i64),
        (Type::Uint32 | Type::Uint64, Raw::Varint(v)) => json!(*v),
        (Type::Sint32 | Type::Sint64, Raw::Varint(v)) => {
            json!(((*v >> 1) as i64) ^ -((*v & 1) as i64))
        }
        (Type::Enum, Raw::Varint(v)) => json!(*v),
        (Type::Double, Raw::Fixed64(b)) => json!(f64::from_le_bytes(*b)),
        (Type::Fixed64, Raw::Fixed64(b)) => json!(u64::from_le_bytes(*b)),
        (Type::Sfixed64, Raw::Fixed64(b)) => json!(i64::from_le_bytes(*b)),
        (Type::Float, Raw::Fixed32(b)) => json!(f32::from_le_bytes(*b)),
        (Type::Fixed32, Raw::Fixed32(b)) => json!(u32::from_le_bytes(*b)),
        (Type::Sfixed32, Raw::Fixed32(b)) => json!(i32::from_le_bytes(*b)),
        (Type::String, Raw::Bytes(b)) => json!(String::from_utf8_lossy(b)),
        (Type::Bytes, Raw::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Type::Message, Raw::Bytes(b)) => message(field.type_name(), b)?,
        _ => {
            return Err(ProtobufError::Malformed(
                "wire type does not match field type",
            ));
        }
    })
}

/// Packed repeated scalars: several values in one length-delimited field.
fn packed(field: &FieldDescriptorProto, b: &[u8]) -> Result<Vec<Value>, ProtobufError> {
    let mut r = Reader { buf: b };
    let mut out = Vec::new();
    while !r.buf.is_empty() {
        let raw = match field.r#type() {
            Type::Double | Type::Fixed64 | Type::Sfixed64 => {
                Raw::Fixed64(r.take(8)?.try_into().expect("8 bytes"))
            }
            Type::Float | Type::Fixed32 | Type::Sfixed32 => {
                Raw::Fixed32(r.take(4)?.try_into().expect("4 bytes"))
            }
            _ => Raw::Varint(r.varint()?),
        };
        out.push(scalar(field, &raw)?);
    }
    Ok(out)
}

fn is_packable(t: Type) -> bool {
    !matches!(t, Type::String | Type::Bytes | Type::Message | Type::Group)
}

/// Kubernetes' special types that JSON renders as scalars.
fn special(type_name: &str, m: &Map<String, Value>) -> Option<Value> {
    let meta = ".k8s.io.apimachinery.pkg.apis.meta.v1.";
    if let Some(t) = type_name.strip_prefix(meta) {
        match t {
            "Time" | "MicroTime" => {
                let secs = m.get("seconds").and_then(Value::as_i64).unwrap_or(0);
                let nanos = m.get("nanos").and_then(Value::as_i64).unwrap_or(0);
                if secs == 0 && nanos == 0 {
                    return Some(Value::Null);
                }
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
                let s = super::timestamps::format_rfc3339(t);
                return Some(if t_is_micro(type_name) {
                    json!(s.replace('Z', &format!(".{:06}Z", nanos / 1000)))
                } else {
                    json!(s)
                });
            }
            "Duration" => {
                let ns = m.get("duration").and_then(Value::as_i64).unwrap_or(0);
                return Some(json!(format!("{}s", ns as f64 / 1e9)));
            }
            "FieldsV1" => return Some(raw_json(m.get("Raw"))),
            _ => return None,
        }
    }
    match type_name {
        ".k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
            Some(if m.get("type").and_then(Value::as_i64).unwrap_or(0) == 1 {
                m.get("strVal").cloned().unwrap_or(json!(""))
            } else {
                m.get("intVal").cloned().unwrap_or(json!(0))
            })
        }
        ".k8s.io.apimachinery.pkg.api.resource.Quantity" => {
            Some(m.get("string").cloned().unwrap_or(json!("0")))
        }
        ".k8s.io.apimachinery.pkg.runtime.RawExtension" => Some(raw_json(m.get("raw"))),
        _ => None,
    }
}

fn t_is_micro(type_name: &str) -> bool {
    type_name.ends_with("MicroTime")
}

/// Embedded JSON carried as protobuf `bytes` (already base64 here).
fn raw_json(b64: Option<&Value>) -> Value {
    b64.and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

fn message(type_name: &str, buf: &[u8]) -> Result<Value, ProtobufError> {
    let desc = MESSAGES
        .get(type_name)
        .ok_or(ProtobufError::Malformed("unknown message type"))?;
    let is_map_entry = desc.options.as_ref().is_some_and(|o| o.map_entry());
    let mut out = Map::new();
    for (number, raw) in fields(buf)? {
        // Unknown fields are skipped, as any protobuf reader does.
        let Some(field) = desc.field.iter().find(|f| f.number() == number as i32) else {
            continue;
        };
        let name = field.name().to_string();
        let repeated = field.label() == Label::Repeated;
        let map_type = repeated
            && field.r#type() == Type::Message
            && MESSAGES
                .get(field.type_name())
                .and_then(|d| d.options.as_ref())
                .is_some_and(|o| o.map_entry());
        if map_type {
            let Raw::Bytes(b) = raw else {
                return Err(ProtobufError::Malformed("map entry"));
            };
            let entry = message(field.type_name(), b)?;
            let key = entry["key"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| entry["key"].to_string());
            let slot = out.entry(name).or_insert_with(|| json!({}));
            slot[key] = entry.get("value").cloned().unwrap_or(Value::Null);
        } else if repeated {
            let values = match (&raw, is_packable(field.r#type())) {
                (Raw::Bytes(b), true) => packed(field, b)?,
                _ => vec![scalar(field, &raw)?],
            };
            let slot = out.entry(name).or_insert_with(|| json!([]));
            if let Value::Array(a) = slot {
                a.extend(values);
            }
        } else {
            out.insert(name, scalar(field, &raw)?);
        }
    }
    if is_map_entry {
        return Ok(Value::Object(out));
    }
    if let Some(v) = special(type_name, &out) {
        return Ok(v);
    }
    // Go writes every non-pointer string; JSON would omit the empty ones.
    out.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()) && !v.is_null());
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-prefixed `runtime.Unknown` envelope into the JSON
/// form of the object it carries (with `apiVersion` and `kind`).
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let payload = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::BadMagic)?;
    let envelope = message(".k8s.io.apimachinery.pkg.runtime.Unknown", payload)?;
    let api_version = envelope["typeMeta"]["apiVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let kind = envelope["typeMeta"]["kind"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let raw = envelope["raw"]
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_default();
    let unknown = || ProtobufError::UnknownKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    };
    let pkg = package(&api_version).ok_or_else(unknown)?;
    let mut type_name = format!(".{pkg}.{kind}");
    if !MESSAGES.contains_key(&type_name) {
        // Options kinds (DeleteOptions...) live in meta/v1 whatever the group.
        type_name = format!(".k8s.io.apimachinery.pkg.apis.meta.v1.{kind}");
        if !MESSAGES.contains_key(&type_name) {
            return Err(unknown());
        }
    }
    let mut obj = message(&type_name, &raw)?;
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    Ok(obj)
}

/// Types JSON renders as scalars or free-form JSON: not walked further.
fn opaque(type_name: &str) -> bool {
    matches!(
        type_name,
        ".k8s.io.apimachinery.pkg.apis.meta.v1.Time"
            | ".k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime"
            | ".k8s.io.apimachinery.pkg.apis.meta.v1.Duration"
            | ".k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"
            | ".k8s.io.apimachinery.pkg.util.intstr.IntOrString"
            | ".k8s.io.apimachinery.pkg.api.resource.Quantity"
            | ".k8s.io.apimachinery.pkg.runtime.RawExtension"
    )
}

fn walk(type_name: &str, v: &Value, path: &str, out: &mut Vec<String>) {
    if opaque(type_name) {
        return;
    }
    let (Some(desc), Value::Object(m)) = (MESSAGES.get(type_name), v) else {
        return;
    };
    for (k, child) in m {
        let child_path = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if path.is_empty() && (k == "apiVersion" || k == "kind") {
            continue;
        }
        let Some(field) = desc.field.iter().find(|f| f.name() == k) else {
            out.push(child_path);
            continue;
        };
        if field.r#type() != Type::Message {
            continue;
        }
        let entry = MESSAGES
            .get(field.type_name())
            .filter(|d| d.options.as_ref().is_some_and(|o| o.map_entry()));
        match (entry, child) {
            (Some(entry), Value::Object(map)) => {
                if let Some(value_field) = entry.field.iter().find(|f| f.name() == "value")
                    && value_field.r#type() == Type::Message
                {
                    for (mk, mv) in map {
                        walk(
                            value_field.type_name(),
                            mv,
                            &format!("{child_path}.{mk}"),
                            out,
                        );
                    }
                }
            }
            (None, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    walk(field.type_name(), item, &format!("{child_path}[{i}]"), out);
                }
            }
            (None, _) => walk(field.type_name(), child, &child_path, out),
            _ => {}
        }
    }
}

/// Fields of `obj` that the `apiVersion`/`kind` schema does not have
/// (paths like `spec.foo`, `spec.containers[0].bogus`); `None` if the kind
/// is unknown here.
pub fn unknown_fields(api_version: &str, kind: &str, obj: &Value) -> Option<Vec<String>> {
    let type_name = format!(".{}.{kind}", package(api_version)?);
    MESSAGES.get(&type_name)?;
    let mut out = Vec::new();
    walk(&type_name, obj, "", &mut out);
    Some(out)
}
