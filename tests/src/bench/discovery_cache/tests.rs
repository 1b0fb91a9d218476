use super::*;

fn request(path: &str) -> RecordedRequest {
    RecordedRequest {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: Vec::new(),
        http_version: "HTTP/2.0".into(),
        host: None,
        client_cert_subject: None,
        authenticated_user: None,
        effective_user: None,
        status: 200,
    }
}

#[test]
fn discovery_is_told_from_everything_else() {
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/openapi/v3/apis/apps/v1",
    ] {
        assert!(is_discovery(&request(path)), "{path}");
    }
    for path in [
        "/api/v1/namespaces/default/pods",
        "/api/v1/pods",
        "/apis/apps/v1/deployments",
        "/version",
        "/readyz",
    ] {
        assert!(!is_discovery(&request(path)), "{path}");
    }
    assert!(is_health_check(&request("/readyz")));
}

#[test]
fn medians_and_totals() {
    let r = PathResult {
        label: "x".into(),
        upstream_discovery: 0,
        upstream_total: 0,
        wall_ms: vec![30.0, 10.0, 20.0],
    };
    assert_eq!(r.median_ms(), 20.0);
    assert!((r.total_s() - 0.06).abs() < 1e-9);
}
