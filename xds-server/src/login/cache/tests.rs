use super::*;

fn key(gateway: &str) -> SessionKey {
    SessionKey {
        gateway: gateway.into(),
        issuer: "https://idp.example.com".into(),
        client_id: "kubeplex".into(),
    }
}

pub(crate) fn session(key: SessionKey, expires_at: i64, issued_at: i64) -> Session {
    Session {
        key,
        gateway_ca: None,
        settings: LoginSettings {
            issuer: "https://idp.example.com".into(),
            client_id: "kubeplex".into(),
            scopes: vec!["openid".into()],
            issuer_certificate_authority: None,
            context_server_name_suffix: None,
            gateway_certificate_authority: None,
            gateway_certificate_authority_fingerprint: None,
        },
        tokens: Tokens {
            id_token: "a.b.c".into(),
            refresh_token: Some("r1".into()),
            expires_at,
            issued_at,
        },
    }
}

#[test]
fn tokens_are_refreshed_a_minute_ahead_or_half_a_short_lifetime_ahead() {
    let hour = session(key("https://gw"), 10_000, 10_000 - 3600).tokens;
    assert!(!hour.needs_refresh(10_000 - 61));
    assert!(hour.needs_refresh(10_000 - 60));
    let short = session(key("https://gw"), 10_000, 10_000 - 10).tokens;
    assert!(!short.needs_refresh(10_000 - 6));
    assert!(short.needs_refresh(10_000 - 5));
    // No iat: refreshed only once expired.
    let unknown = session(key("https://gw"), 10_000, 10_000).tokens;
    assert!(!unknown.needs_refresh(9_999));
    assert!(unknown.needs_refresh(10_000));
}

#[test]
fn sessions_are_stored_per_gateway_owner_only_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("kubeplex"));
    let (a, b) = (key("https://gw-a"), key("https://gw-b"));
    assert_eq!(cache.read(&a).unwrap(), None);
    cache.write(&session(a.clone(), 1, 0)).unwrap();
    cache.write(&session(b.clone(), 2, 0)).unwrap();
    assert_ne!(cache.path(&a), cache.path(&b));
    assert_eq!(cache.read(&a).unwrap().unwrap().tokens.expires_at, 1);
    assert_eq!(cache.sessions().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache.path(&a)), 0o600);
        assert_eq!(mode(cache.path(&a).parent().unwrap()), 0o700);
    }
    drop(cache.lock(&a).unwrap());
    assert!(cache.remove(&a).unwrap());
    assert!(!cache.remove(&a).unwrap());
    let left: Vec<_> = std::fs::read_dir(cache.path(&a).parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left,
        vec![cache.path(&b)],
        "no token or lock file of a is left"
    );
}

#[test]
fn the_lock_is_held_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_path_buf());
    let a = key("https://gw");
    let held = cache.lock(&a).unwrap();
    let lock_path = cache.path(&a).with_extension("lock");
    // Another open file description of the same file cannot take it.
    let other = std::fs::File::open(&lock_path).unwrap();
    assert!(matches!(
        other.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop(held);
    other.try_lock().unwrap();
}

#[test]
fn a_corrupt_cache_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_path_buf());
    let a = key("https://gw");
    std::fs::create_dir_all(cache.path(&a).parent().unwrap()).unwrap();
    std::fs::write(cache.path(&a), "{").unwrap();
    let e = cache.read(&a).unwrap_err().to_string();
    assert!(e.contains("remove it and log in again"), "{e}");
}
