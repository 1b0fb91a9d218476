//! The table's columns: the audit record's fields by their proto names, in
//! the proto's order (a test holds them to `field_names()`), and how a
//! record becomes a row and back, by name, through its JSON form.

use kubeplex_proto::audit::v1::AuditRecord;
use serde_json::{Map, Value};

/// The one table.
pub const TABLE: &str = "kubeplex_audit";

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A string.
    Text,
    /// A number (SQLite INTEGER, PostgreSQL BIGINT).
    Int,
    /// `groups`: a JSON array (SQLite TEXT, PostgreSQL JSONB).
    Groups,
    /// `time`: Envoy's text (SQLite TEXT, which sorts in time order;
    /// PostgreSQL TIMESTAMPTZ).
    Time,
}

/// One column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The field's (and column's) name.
    pub name: &'static str,
    /// How it is stored.
    pub kind: ColumnKind,
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Text,
    }
}

const fn int(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Int,
    }
}

/// Every field of the record, in the proto's order.
pub const COLUMNS: [Column; 32] = [
    text("request_id"),
    text("user_agent"),
    text("method"),
    text("path"),
    text("decision"),
    text("reason"),
    text("message"),
    text("user"),
    Column {
        name: "groups",
        kind: ColumnKind::Groups,
    },
    text("uid"),
    text("issuer"),
    text("jti"),
    text("cluster"),
    text("verb"),
    text("api_group"),
    text("api_version"),
    text("resource"),
    text("subresource"),
    text("namespace"),
    text("name"),
    text("config_version"),
    text("kubectl_command"),
    text("kubectl_session"),
    text("stream_ended"),
    text("stream_ended_by"),
    Column {
        name: "time",
        kind: ColumnKind::Time,
    },
    text("source"),
    int("code"),
    text("flags"),
    int("duration_ms"),
    int("bytes_in"),
    int("bytes_out"),
];

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text, Groups (JSON) and Time columns.
    Text(String),
    /// Int columns.
    Int(i64),
}

/// `"name"`: every column name quoted (`user`, `name`, `time` are SQL words).
pub fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// The record's cells, in [`COLUMNS`] order.
pub fn cells(record: &AuditRecord) -> Vec<Cell> {
    let Ok(Value::Object(fields)) = serde_json::to_value(record) else {
        return Vec::new();
    };
    COLUMNS
        .iter()
        .map(|c| {
            let value = fields.get(c.name).unwrap_or(&Value::Null);
            match c.kind {
                ColumnKind::Text | ColumnKind::Time => {
                    Cell::Text(value.as_str().unwrap_or_default().to_string())
                }
                ColumnKind::Int => {
                    Cell::Int(value.as_u64().unwrap_or(0).min(i64::MAX as u64) as i64)
                }
                ColumnKind::Groups => Cell::Text(value.to_string()),
            }
        })
        .collect()
}

/// A record from its cells in [`COLUMNS`] order (a column that does not
/// read as its kind is left empty).
pub fn record(cells: Vec<Cell>) -> AuditRecord {
    let mut fields = Map::new();
    for (column, cell) in COLUMNS.iter().zip(cells) {
        let value = match (column.kind, cell) {
            (ColumnKind::Groups, Cell::Text(json)) => {
                serde_json::from_str(&json).unwrap_or(Value::Array(Vec::new()))
            }
            (_, Cell::Text(text)) => Value::String(text),
            (_, Cell::Int(n)) => Value::from(n.max(0)),
        };
        fields.insert(column.name.to_string(), value);
    }
    serde_json::from_value(Value::Object(fields)).unwrap_or_default()
}
