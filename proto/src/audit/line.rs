//! The audit record as JSON: the access log's line, the filter's fragment
//! of it, and the spill file's lines. Field names are the proto's.

use super::v1::AuditRecord;

/// A line or fragment that is not an audit record.
#[derive(Debug, thiserror::Error)]
#[error("not an audit record: {0}")]
pub struct LineError(#[from] serde_json::Error);

impl AuditRecord {
    /// Parse one access-log line (`AUDIT_LINE`, one JSON object). Members
    /// the record does not know are ignored (a newer filter's).
    pub fn from_line(line: &str) -> Result<AuditRecord, LineError> {
        Ok(serde_json::from_str(line.trim_end())?)
    }

    /// Parse the filter's fragment (`"k":v,` members, see `AUDIT_LINE`):
    /// the record's filter fields, Envoy's left empty.
    pub fn from_fragment(fragment: &str) -> Result<AuditRecord, LineError> {
        let members = fragment.trim_end();
        let members = members.strip_suffix(',').unwrap_or(members);
        Self::from_line(&format!("{{{members}}}"))
    }

    /// The record as one JSON object on one line (no newline).
    pub fn to_line(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Every field's JSON name, sorted.
pub fn field_names() -> Vec<String> {
    match serde_json::to_value(AuditRecord::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
