use super::*;
use crate::audit::{AUDIT_LINE, ENVOY_FIELDS};

#[test]
fn a_line_parses_into_the_record() {
    let line = concat!(
        r#"{"request_id":"r1","user":"alice","groups":["dev","ops"],"decision":"deny","#,
        r#""reason":"policy_denied","kubectl_command":"kubectl exec","unknown_future_field":"x","#,
        r#""time":"2026-05-20T10:11:12.345Z","source":"127.0.0.1:5555","code":403,"#,
        r#""flags":"","duration_ms":2,"bytes_in":0,"bytes_out":311}"#,
        "\n"
    );
    let r = AuditRecord::from_line(line).unwrap();
    assert_eq!(r.request_id, "r1");
    assert_eq!(r.groups, ["dev", "ops"]);
    assert_eq!(r.kubectl_command, "kubectl exec");
    assert_eq!(r.code, 403);
    assert_eq!(r.bytes_out, 311);
    assert_eq!(r.time, "2026-05-20T10:11:12.345Z");
    assert_eq!(AuditRecord::from_line(&r.to_line()).unwrap(), r);
}

#[test]
fn a_fragment_parses_with_or_without_members() {
    let r = AuditRecord::from_fragment(r#""user":"bob","cluster":"a\"b","#).unwrap();
    assert_eq!((r.user.as_str(), r.cluster.as_str()), ("bob", "a\"b"));
    assert_eq!(
        AuditRecord::from_fragment("").unwrap(),
        AuditRecord::default()
    );
    assert!(AuditRecord::from_fragment(r#""user":"#).is_err());
}

#[test]
fn the_access_log_line_writes_every_envoy_field_under_its_record_name() {
    let names = field_names();
    for field in ENVOY_FIELDS {
        assert!(
            names.iter().any(|n| n == field),
            "{field} is not a record field"
        );
        assert!(
            AUDIT_LINE.contains(&format!("\"{field}\":")),
            "AUDIT_LINE does not write {field}"
        );
    }
    // and nothing else: the rest is the filter's fragment
    assert_eq!(AUDIT_LINE.matches("\":").count(), ENVOY_FIELDS.len());
}
