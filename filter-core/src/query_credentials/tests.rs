use super::*;

const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";

#[test]
fn finds_named_credentials_and_bare_jwts() {
    assert_eq!(
        find(&format!("/api?access_token={JWT}")).as_deref(),
        Some("access_token")
    );
    assert_eq!(find("/api?limit=5&ID_TOKEN=x").as_deref(), Some("ID_TOKEN"));
    assert_eq!(find("/api?token=abc").as_deref(), Some("token"));
    assert_eq!(
        find(&format!("/api?bearer={JWT}")).as_deref(),
        Some("bearer")
    );
    // percent-encoded name and dots
    let encoded = JWT.replace('.', "%2E");
    assert_eq!(
        find(&format!("/api?acc%65ss_token={encoded}")).as_deref(),
        Some("access_token")
    );
    assert_eq!(find(&format!("/api?x={encoded}")).as_deref(), Some("x"));
}

#[test]
fn ordinary_queries_pass() {
    for q in [
        "/api/v1/pods",
        "/api/v1/pods?limit=500&labelSelector=app%3Dweb",
        "/api/v1/pods?watch=true&resourceVersion=123&allowWatchBookmarks=true",
        "/api/v1/namespaces/a/pods/p/exec?command=echo&command=a.b.c&stdout=true",
        "/api?token=",
        "/api?fieldSelector=metadata.name%3Deyj.a.b",
    ] {
        assert_eq!(find(q), None, "{q}");
        assert_eq!(redact(q), q);
    }
}

#[test]
fn redaction_keeps_everything_but_the_value() {
    assert_eq!(
        redact(&format!(
            "/clusters/a/api/v1/pods?limit=5&access_token={JWT}&watch=1"
        )),
        "/clusters/a/api/v1/pods?limit=5&access_token=REDACTED&watch=1"
    );
    assert_eq!(
        redact(&format!("/x?a={JWT}&token=t")),
        "/x?a=REDACTED&token=REDACTED"
    );
    assert!(!redact(&format!("/x?access_token={JWT}")).contains("c2lnbmF0dXJl"));
}
