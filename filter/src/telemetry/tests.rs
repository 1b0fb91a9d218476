use super::*;

#[test]
fn metric_name_carries_tags_before_the_base_name() {
    assert_eq!(
        metric_name("deny", "token_expired", "dev-a"),
        "decision=.=deny;.;reason=.=token_expired;.;cluster=.=dev-a;.;kubeplex_requests_total"
    );
}

#[test]
fn empty_cluster_and_odd_characters() {
    assert_eq!(
        metric_name("deny", "no_token", ""),
        "decision=.=deny;.;reason=.=no_token;.;cluster=.=;.;kubeplex_requests_total"
    );
    assert!(metric_name("allow", "ok", "a;b").contains("cluster=.=a_b;.;"));
}

#[test]
fn declaration_field_numbers() {
    use prost::Message;
    // declare_property.proto: name = 1, readonly = 2, type = 3 (String = 1),
    // schema = 4, span = 5 (defaults are not encoded).
    let bytes = audit_property_declaration().encode_to_vec();
    let mut want = vec![0x0a, 14];
    want.extend_from_slice(b"kubeplex_audit");
    want.extend_from_slice(&[0x18, 1]);
    assert_eq!(bytes, want);
}

#[test]
fn streams_ended_metric_name_has_the_reason_tag() {
    assert_eq!(
        streams_ended_metric_name("revoked"),
        "reason=.=revoked;.;kubeplex_streams_ended_total"
    );
}
