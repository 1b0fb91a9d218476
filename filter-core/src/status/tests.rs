use super::*;

#[test]
fn unauthorized_body_matches_the_apiserver_shape() {
    let s = Status::new(
        Reason::Unauthorized,
        "token expired at 2026-11-23T12:00:00Z",
    );
    assert_eq!(s.code(), 401);
    assert_eq!(
        s.to_json(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"token expired at 2026-11-23T12:00:00Z","reason":"Unauthorized","code":401}"#
    );
}

#[test]
fn forbidden_with_details() {
    let s = Status::new(Reason::Forbidden, r#"secrets "db" is forbidden: "quoted""#).with_details(
        Details {
            name: "db".into(),
            group: String::new(),
            kind: "secrets".into(),
        },
    );
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["code"], 403);
    assert_eq!(v["reason"], "Forbidden");
    assert_eq!(v["message"], r#"secrets "db" is forbidden: "quoted""#);
    assert_eq!(
        v["details"],
        serde_json::json!({"name": "db", "kind": "secrets"})
    );
}

#[test]
fn warning_header_quotes_and_strips_controls() {
    let s = Status::new(Reason::Unauthorized, "issuer \"a\\b\" is\nnot trusted");
    assert_eq!(s.warning(), r#"299 - "issuer \"a\\b\" is not trusted""#);
}

#[test]
fn codes() {
    assert_eq!(Reason::BadRequest.code(), 400);
    assert_eq!(Reason::NotFound.code(), 404);
    assert_eq!(Reason::NotFound.as_str(), "NotFound");
    assert_eq!(Reason::ServiceUnavailable.code(), 503);
}
