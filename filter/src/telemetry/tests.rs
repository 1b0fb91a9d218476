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
