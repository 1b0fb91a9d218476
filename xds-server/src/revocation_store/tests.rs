use super::*;

fn revoked(jti: &str, expires_at: Option<i64>) -> Revocation {
    Revocation {
        jti: jti.to_string(),
        reason: None,
        expires_at,
        revoked_at: Some(100),
    }
}

#[test]
fn adding_appends_prunes_expired_entries_and_skips_a_listed_token() {
    let list = vec![revoked("old", Some(50)), revoked("kept", Some(500))];
    let added = with_added(list.clone(), revoked("new", None), 100).unwrap();
    let jtis: Vec<&str> = added.iter().map(|r| r.jti.as_str()).collect();
    assert_eq!(jtis, ["kept", "new"]);
    assert_eq!(with_added(list, revoked("kept", None), 100), None);
}

#[tokio::test]
async fn the_file_store_writes_before_it_answers_and_never_overwrites_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("revoked.yaml");
    let store = RevocationStore::File(path.clone());
    assert_eq!(store.current().unwrap().unwrap(), vec![], "missing file");
    assert!(store.add(revoked("a", None), 0).await.unwrap());
    assert!(!store.add(revoked("a", None), 0).await.unwrap(), "twice");
    let on_disk = revocations::load(&path).unwrap();
    assert_eq!(on_disk, vec![revoked("a", None)]);
    assert_eq!(store.current().unwrap().unwrap(), on_disk);

    std::fs::write(&path, "revoked:\n- jti: a\n- jti: a\n").unwrap();
    let err = store.add(revoked("b", None), 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Read(_)), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "revoked:\n- jti: a\n- jti: a\n"
    );
    let status = store.status();
    assert_eq!((status.kind, status.up), ("file", true));
}
