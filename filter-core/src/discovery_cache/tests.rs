use super::*;

fn identity(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        uid: None,
        extra: Vec::new(),
    }
}

/// The key of `identity`, its digest computed as the token cache does.
fn key_for(scope: &CacheScope, context: &str, identity: &Identity) -> String {
    cache_key(scope, context, &identity_digest(identity))
}

fn scope(shared: bool) -> CacheScope {
    CacheScope {
        scope: "s1".into(),
        shared,
    }
}

#[test]
fn discovery_paths_are_cacheable() {
    for path in [
        "/api",
        "/api/",
        "/api/v1",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/openapi/v2",
        "/openapi/v2?timeout=32s",
        "/openapi/v3",
        "/openapi/v3/api/v1?hash=ABC",
        "/openapi/v3/apis/apps/v1?hash=0123",
    ] {
        assert!(is_discovery("GET", path), "{path}");
    }
}

#[test]
fn lists_gets_watches_and_other_methods_are_not() {
    for path in [
        "/api/v1/pods",
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/watch/deployments",
        "/version",
        "/healthz",
        "/openapi/v4",
        "/openapi",
        "/api//v1",
        "/apis/apps//",
        "/openapi/v3/apis/apps/v1/extra",
        "/",
    ] {
        assert!(!is_discovery("GET", path), "{path}");
    }
    assert!(!is_discovery("POST", "/api"));
    assert!(!is_discovery("HEAD", "/apis"));
}

#[test]
fn every_part_of_the_identity_changes_the_key() {
    let base = identity("alice", &["dev"]);
    let key = key_for(&scope(false), "a", &base);
    assert_eq!(key.len(), 64);
    let mut uid = base.clone();
    uid.uid = Some("u1".into());
    let mut empty_uid = base.clone();
    empty_uid.uid = Some(String::new());
    let mut extra = base.clone();
    extra.extra = vec![("example.com/tenant".into(), vec!["t1".into()])];
    let mut extra2 = base.clone();
    extra2.extra = vec![("example.com/tenant".into(), vec!["t2".into()])];
    let others = [
        identity("bob", &["dev"]),
        identity("alice", &[]),
        identity("alice", &["dev", "ops"]),
        // a group boundary moved: must not collide
        identity("alice", &["de", "v"]),
        uid,
        empty_uid,
        extra,
        extra2,
    ];
    let mut keys = std::collections::HashSet::from([key.clone()]);
    for other in &others {
        assert!(keys.insert(key_for(&scope(false), "a", other)), "{other:?}");
    }
    // the context and the scope are in the key too
    assert_ne!(key_for(&scope(false), "b", &base), key);
    let rescoped = CacheScope {
        scope: "s2".into(),
        shared: false,
    };
    assert_ne!(key_for(&rescoped, "a", &base), key);
}

#[test]
fn a_shared_key_ignores_the_identity_but_not_the_cluster() {
    let alice = key_for(&scope(true), "a", &identity("alice", &["dev"]));
    assert_eq!(alice, key_for(&scope(true), "a", &identity("bob", &[])));
    assert_ne!(
        alice,
        key_for(&scope(true), "b", &identity("alice", &["dev"]))
    );
    assert_ne!(
        alice,
        key_for(&scope(false), "a", &identity("alice", &["dev"]))
    );
}

#[test]
fn the_key_is_lower_case_hex_of_the_digest() {
    let digest = identity_digest(&identity("alice", &["dev"]));
    let key = cache_key(&scope(false), "a", &digest);
    assert_eq!(key.len(), 64);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{key}"
    );
    let bytes = [0x00, 0x0f, 0xa5, 0xff];
    assert_eq!(hex(&bytes), "000fa5ff");
}
