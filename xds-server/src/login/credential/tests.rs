use super::*;

#[test]
fn the_exec_credential_is_what_kubectl_reads() {
    let tokens = Tokens {
        id_token: "h.p.s".into(),
        refresh_token: None,
        expires_at: 1_700_000_000,
        issued_at: 1_699_996_400,
    };
    let v: serde_json::Value = serde_json::from_str(&exec_credential(&tokens)).unwrap();
    assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(v["kind"], "ExecCredential");
    assert_eq!(v["status"]["token"], "h.p.s");
    assert_eq!(v["status"]["expirationTimestamp"], "2023-11-14T22:13:20Z");
}

#[test]
fn only_an_interactive_exec_info_allows_a_new_sign_in() {
    let info = |interactive: bool| {
        format!(
            r#"{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{{"interactive":{interactive}}}}}"#
        )
    };
    assert_eq!(
        interaction_from_exec_info(Some(&info(true))),
        Interaction::Allowed
    );
    assert_eq!(
        interaction_from_exec_info(Some(&info(false))),
        Interaction::Never
    );
    assert_eq!(interaction_from_exec_info(None), Interaction::Never);
    assert_eq!(interaction_from_exec_info(Some("{")), Interaction::Never);
}

#[tokio::test]
async fn a_fresh_cached_token_is_used_without_the_provider_and_none_is_not_logged_in() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_path_buf());
    let key = SessionKey {
        gateway: "https://gw".into(),
        // Unreachable on purpose: a fresh token must not need it.
        issuer: "https://127.0.0.1:1".into(),
        client_id: "kubeplex".into(),
    };
    let never = |_: Session, _: Provider| async {
        Err::<TokenResponse, _>(LoginError::Browser("not expected".into()))
    };
    let e = fresh_tokens(&cache, &key, || 100, Interaction::Never, never)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("run `kubeplex login --gateway https://gw`"),
        "{e}"
    );
    cache
        .write(&crate::login::cache::tests::session(key.clone(), 1_000, 0))
        .unwrap();
    let (session, how) = fresh_tokens(&cache, &key, || 100, Interaction::Never, never)
        .await
        .unwrap();
    assert_eq!(how, Freshness::Cached);
    assert_eq!(session.tokens.id_token, "a.b.c");
}
