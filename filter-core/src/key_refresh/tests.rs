use super::*;

#[test]
fn one_call_per_issuer_per_interval() {
    let mut l = RefreshLimiter::default();
    let t0 = 1_000_000;
    assert!(l.allow("https://a", t0));
    assert!(!l.allow("https://a", t0), "same instant");
    assert!(!l.allow("https://a", t0 + 1));
    assert!(!l.allow("https://a", t0 + MIN_INTERVAL_MS - 1));
    // another issuer has its own budget
    assert!(l.allow("https://b", t0 + 1));
    assert!(!l.allow("https://b", t0 + 2));
    // the interval has passed
    assert!(l.allow("https://a", t0 + MIN_INTERVAL_MS));
    assert!(!l.allow("https://a", t0 + MIN_INTERVAL_MS + 500));
    assert!(l.allow("https://a", t0 + 2 * MIN_INTERVAL_MS + 1));
}

#[test]
fn a_flood_yields_one_call_per_interval() {
    let mut l = RefreshLimiter::default();
    // 10 s of requests every 10 ms
    let allowed = (0..1_000u64)
        .filter(|i| l.allow("https://a", 5_000 + i * 10))
        .count() as u64;
    assert_eq!(allowed, 10_000 / MIN_INTERVAL_MS);
}

#[test]
fn clock_going_backwards_does_not_block_forever() {
    let mut l = RefreshLimiter::default();
    assert!(l.allow("https://a", 10_000));
    assert!(l.allow("https://a", 1_000), "clock stepped back");
    assert!(!l.allow("https://a", 1_500));
}

#[test]
fn request_encoding_and_kid_cap() {
    let r = KeyRefresh {
        issuer: "https://issuer.example".into(),
        kid: "k1".into(),
    };
    let decoded = RefreshKeysRequest::decode(r.encode().as_slice()).unwrap();
    assert_eq!(decoded.issuer, "https://issuer.example");
    assert_eq!(decoded.kid, "k1");

    let long = KeyRefresh {
        issuer: "i".into(),
        // multi-byte characters straddling the cap
        kid: "é".repeat(MAX_KID_LEN),
    };
    let decoded = RefreshKeysRequest::decode(long.encode().as_slice()).unwrap();
    assert!(decoded.kid.len() <= MAX_KID_LEN);
    assert!(decoded.kid.len() >= MAX_KID_LEN - 1);
    assert!(decoded.kid.chars().all(|c| c == 'é'));
}
