use super::*;
use crate::bench::scenarios::all;

fn scenario(id: &str) -> Scenario {
    all().into_iter().find(|s| s.id == id).unwrap()
}

const PROMETHEUS: &str = "\
# TYPE kubeplex_requests_total counter
kubeplex_requests_total{decision=\"allow\",reason=\"ok\",cluster=\"bench\"} 1300
kubeplex_requests_total{decision=\"deny\",reason=\"token_expired\",cluster=\"\"} 0
";

#[test]
fn the_kubeplex_filter_must_have_allowed_every_request() {
    let s = scenario("kubeplex-cached");
    assert!(check(&s, 1300, PROMETHEUS, "").is_ok());
    let err = check(&s, 1301, PROMETHEUS, "").unwrap_err().to_string();
    assert!(err.contains("counted 1300 allowed requests"), "{err}");
    let denied = PROMETHEUS.replace(
        "token_expired\",cluster=\"\"} 0",
        "token_expired\",cluster=\"\"} 2",
    );
    let err = check(&s, 1300, &denied, "").unwrap_err().to_string();
    assert!(err.contains("denied requests"), "{err}");
    // a filter that never ran counts nothing
    assert!(check(&s, 5, "", "").is_err());
}

#[test]
fn jwt_authn_must_have_allowed_every_request() {
    let s = scenario("jwt_authn-first-rs256");
    let stats = "http.bench.jwt_authn.allowed: 42\nhttp.bench.jwt_authn.denied: 0\n";
    assert!(check(&s, 42, "", stats).is_ok());
    assert!(check(&s, 43, "", stats).is_err());
    let denied = "http.bench.jwt_authn.allowed: 42\nhttp.bench.jwt_authn.denied: 1\n";
    assert!(check(&s, 42, "", denied).is_err());
}

#[test]
fn rows_without_a_verifying_filter_pass() {
    assert!(check(&scenario("no-filter"), 10, "", "").is_ok());
    assert!(check(&scenario("empty-wasm"), 10, "", "").is_ok());
}

#[test]
fn values_are_read_exactly() {
    assert_eq!(
        prometheus_value(
            PROMETHEUS,
            "kubeplex_requests_total{decision=\"allow\",reason=\"ok\",cluster=\"bench\"}"
        ),
        Some(1300)
    );
    assert_eq!(
        prometheus_value(PROMETHEUS, "kubeplex_requests_total{decision=\"allow\"}"),
        None
    );
    assert_eq!(stat_value("a.b: 7\na.bc: 9\n", "a.b"), Some(7));
    assert_eq!(stat_value("a.bc: 9\n", "a.b"), None);
}
