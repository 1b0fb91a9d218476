use std::rc::Rc;

use super::*;
use crate::identity::Identity;

fn token(exp: i64, user: &str) -> Rc<VerifiedToken> {
    Rc::new(VerifiedToken::new(
        Identity {
            user: user.into(),
            ..Identity::default()
        },
        "i".into(),
        None,
        None,
        exp,
    ))
}

#[test]
fn hit_until_exp_plus_skew() {
    let mut c = TokenCache::new(4);
    c.insert("t", token(100, "a"), 0, 10);
    assert_eq!(c.get("t", 110, 10).unwrap().identity.user, "a");
    assert!(c.get("t", 111, 10).is_none());
    // the expired entry is gone
    assert!(c.is_empty());
    assert!(c.get("other", 0, 10).is_none());
}

#[test]
fn full_cache_drops_expired_entries_first() {
    let mut c = TokenCache::new(3);
    c.insert("old1", token(10, "x"), 0, 0);
    c.insert("live", token(1000, "y"), 0, 0);
    c.insert("old2", token(10, "z"), 0, 0);
    c.insert("new", token(1000, "w"), 50, 0);
    assert_eq!(c.len(), 2);
    assert!(c.get("live", 50, 0).is_some());
    assert!(c.get("new", 50, 0).is_some());
}

#[test]
fn full_of_live_tokens_keeps_the_newer_half() {
    let mut c = TokenCache::new(4);
    for i in 0..4 {
        c.insert(&format!("t{i}"), token(1000, "u"), 0, 0);
    }
    c.insert("t4", token(1000, "u"), 0, 0);
    assert!(c.len() <= 4, "bounded: {}", c.len());
    assert!(c.get("t0", 0, 0).is_none(), "oldest evicted");
    assert!(c.get("t3", 0, 0).is_some(), "newest kept");
    assert!(c.get("t4", 0, 0).is_some());
}

#[test]
fn stays_bounded_under_churn() {
    let mut c = TokenCache::new(100);
    for i in 0..10_000 {
        c.insert(&format!("t{i}"), token(1_000_000, "u"), 0, 0);
        assert!(c.len() <= 100);
    }
    assert!(c.get("t9999", 0, 0).is_some());
}

#[test]
fn reinserting_the_same_token_does_not_evict() {
    let mut c = TokenCache::new(2);
    c.insert("a", token(1000, "u"), 0, 0);
    c.insert("b", token(1000, "u"), 0, 0);
    c.insert("b", token(1000, "v"), 0, 0);
    assert_eq!(c.len(), 2);
    assert_eq!(c.get("b", 0, 0).unwrap().identity.user, "v");
}

#[test]
fn a_hit_needs_the_whole_token() {
    // same length, same tail (the signature), another payload: a forged
    // token must not reuse the genuine entry
    let genuine = format!("{}.{}", "a".repeat(100), "s".repeat(64));
    let forged = format!("{}.{}", "b".repeat(100), "s".repeat(64));
    assert_eq!(index(&genuine), index(&forged));
    let mut c = TokenCache::new(4);
    c.insert(&genuine, token(1000, "alice"), 0, 0);
    assert!(c.get(&forged, 0, 0).is_none());
    assert_eq!(c.get(&genuine, 0, 0).unwrap().identity.user, "alice");
    // and a colliding insert replaces, never merges
    c.insert(&forged, token(1000, "mallory"), 0, 0);
    assert_eq!(c.len(), 1);
    assert!(c.get(&genuine, 0, 0).is_none());
    assert_eq!(c.get(&forged, 0, 0).unwrap().identity.user, "mallory");
}

#[test]
fn short_tokens_are_indexed_whole() {
    let mut c = TokenCache::new(4);
    c.insert("x", token(1000, "a"), 0, 0);
    c.insert("y", token(1000, "b"), 0, 0);
    assert_eq!(c.get("x", 0, 0).unwrap().identity.user, "a");
    assert_eq!(c.get("y", 0, 0).unwrap().identity.user, "b");
    assert!(c.get("", 0, 0).is_none());
}
