use super::*;

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

#[test]
fn only_the_token_in_the_file_is_admitted_and_a_rotation_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-token");
    std::fs::write(&path, "s3cret-admin-token\n").unwrap();
    let token = AdminToken::from_file(&path).unwrap();
    let admits = |value: Option<&str>| token.admits(value.map(header).as_ref()).unwrap();
    assert!(admits(Some("Bearer s3cret-admin-token")));
    assert!(
        admits(Some("bearer s3cret-admin-token")),
        "the scheme is case-insensitive"
    );
    for refused in [
        None,
        Some(""),
        Some("s3cret-admin-token"),
        Some("Basic s3cret-admin-token"),
        Some("Bearer s3cret-admin-toke"),
        Some("Bearer s3cret-admin-token-and-more"),
        Some("Bearer "),
    ] {
        assert!(!admits(refused), "{refused:?}");
    }

    std::fs::write(&path, "rotated\n").unwrap();
    assert!(!admits(Some("Bearer s3cret-admin-token")));
    assert!(admits(Some("Bearer rotated")));
}

#[test]
fn an_empty_or_missing_file_admits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-token");
    std::fs::write(&path, " \n").unwrap();
    assert!(matches!(
        AdminToken::from_file(&path),
        Err(AdminTokenError::Empty(_))
    ));
    std::fs::write(&path, "t").unwrap();
    let token = AdminToken::from_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let refused = token.admits(Some(&header("Bearer t"))).unwrap_err();
    assert!(
        matches!(refused, AdminTokenError::Read { .. }),
        "{refused:?}"
    );
    std::fs::write(&path, "\n").unwrap();
    assert!(matches!(
        token.admits(Some(&header("Bearer "))),
        Err(AdminTokenError::Empty(_))
    ));
}

#[test]
fn secrets_compare_equal_only_when_equal() {
    assert!(same_secret(b"abc", b"abc"));
    assert!(!same_secret(b"abc", b"abd"));
    assert!(!same_secret(b"abc", b"abcd"));
    assert!(!same_secret(b"", b"a"));
}
