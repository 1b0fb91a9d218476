use super::*;

#[test]
fn table() {
    use PathEncodingError::*;
    let cases: &[(&str, Result<(), PathEncodingError>)] = &[
        // ordinary Kubernetes paths
        ("/api/v1/namespaces/default/pods", Ok(())),
        ("/apis/apps/v1/namespaces/ns/deployments/web/scale", Ok(())),
        ("/", Ok(())),
        ("", Ok(())),
        ("/version?timeout=32s", Ok(())),
        ("/api/v1/nodes/node-1.example.com", Ok(())),
        // the query is the apiserver's business: selectors carry %2F
        (
            "/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dweb",
            Ok(()),
        ),
        ("/api/v1/pods?fieldSelector=a%2E%5Cb&x=%zz", Ok(())),
        // encodings that decode to harmless characters
        ("/api/v1/namespaces/a%3Ab/pods", Ok(())),
        ("/api/v1/namespaces/a%25b/pods", Ok(())),
        ("/api/v1/namespaces/%C3%A9/pods", Ok(())),
        ("/api/v1/namespaces/a%20b/pods", Ok(())),
        ("/api/v1/namespaces/a%252Fb/pods", Ok(())),
        // encoded slashes
        ("/api/v1/namespaces/a%2Fb/pods", Err(EncodedSlash)),
        ("/api/v1/namespaces/a%2fb/pods", Err(EncodedSlash)),
        ("%2F", Err(EncodedSlash)),
        (
            "/api/v1/namespaces/x%2F..%2Fkube-system/secrets",
            Err(EncodedSlash),
        ),
        // encoded backslashes
        ("/api/v1/namespaces/a%5Cb/pods", Err(EncodedBackslash)),
        ("/api/v1/namespaces/a%5cb/pods", Err(EncodedBackslash)),
        // encoded dots
        ("/api/v1/namespaces/%2E%2E/pods", Err(EncodedDot)),
        ("/api/v1/namespaces/%2e/pods", Err(EncodedDot)),
        ("/api/v1/namespaces/a%2Eb/pods", Err(EncodedDot)),
        // malformed escapes
        ("/api/v1/namespaces/a%/pods", Err(MalformedEscape)),
        ("/api/v1/namespaces/a%2", Err(MalformedEscape)),
        ("/api/v1/namespaces/a%zz/pods", Err(MalformedEscape)),
        ("/api/v1/namespaces/%%2F/pods", Err(MalformedEscape)),
        // escapes that are not UTF-8
        ("/api/v1/namespaces/%FF/pods", Err(NotUtf8)),
        ("/api/v1/namespaces/%C3/pods", Err(NotUtf8)),
        // raw bytes Envoy should already have refused
        ("/api/v1/namespaces/a b/pods", Err(RawNonAscii)),
        ("/api/v1/namespaces/\u{e9}/pods", Err(RawNonAscii)),
        ("/api/v1/namespaces/\u{fffd}/pods", Err(RawNonAscii)),
        ("/api/v1/namespaces/a\tb", Err(RawNonAscii)),
        ("/api/v1/namespaces/a\u{7f}b", Err(RawNonAscii)),
    ];
    for (path, want) in cases {
        assert_eq!(check(path), *want, "{path:?}");
    }
}

#[test]
fn messages_name_the_problem() {
    assert!(
        PathEncodingError::EncodedSlash
            .to_string()
            .contains("encoded slash (%2F)")
    );
    assert!(
        PathEncodingError::EncodedBackslash
            .to_string()
            .contains("%5C")
    );
    assert!(PathEncodingError::EncodedDot.to_string().contains("%2E"));
}

#[test]
fn percent_decoding_edge_cases() {
    assert_eq!(percent_decode("a%2Fb"), "a/b");
    assert_eq!(percent_decode("a%2fb"), "a/b");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz"), "%zz");
    assert_eq!(percent_decode("%e2%82%ac"), "€");
    // invalid UTF-8 stays literal
    assert_eq!(percent_decode("%ff"), "%ff");
}
