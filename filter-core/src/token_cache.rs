//! Verified tokens, kept until their `exp` so the asymmetric check is paid
//! once per token per worker VM. Bounded: when full, expired entries go
//! first, then the older half. A hit needs the whole token string to be
//! equal (matching only part of it, e.g. the signature, would let a forged
//! payload reuse a genuine signature's cache entry); the map is indexed by
//! a hash of the token's tail only, because hashing a whole ~1 KB token on
//! every request costs more than the rest of the lookup. One cache per
//! root context: a new config starts empty, as keys may have changed.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use crate::token::VerifiedToken;

/// Bytes of the token's end (its signature) that index the map.
const INDEXED_TAIL: usize = 32;

struct Entry {
    /// The whole token: a hit must equal it.
    raw: String,
    token: Rc<VerifiedToken>,
    /// Insertion order, for evicting the older half.
    seq: u64,
}

/// The index of a token: its length and the hash of its tail. Two tokens
/// with the same index share one slot (the newer wins).
fn index(token: &str) -> u64 {
    let bytes = token.as_bytes();
    let mut h = DefaultHasher::new();
    bytes.len().hash(&mut h);
    bytes[bytes.len().saturating_sub(INDEXED_TAIL)..].hash(&mut h);
    h.finish()
}

/// The cache.
pub struct TokenCache {
    entries: HashMap<u64, Entry>,
    capacity: usize,
    next_seq: u64,
}

impl TokenCache {
    /// An empty cache holding at most `capacity` tokens (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        TokenCache {
            entries: HashMap::with_capacity(capacity.min(1024)),
            capacity,
            next_seq: 0,
        }
    }

    /// The verified token, unless absent or past `exp + skew` at `now`
    /// (an expired entry is dropped, so the caller re-verifies and gets the
    /// precise refusal).
    pub fn get(&mut self, token: &str, now: i64, skew: i64) -> Option<Rc<VerifiedToken>> {
        let key = index(token);
        let entry = self.entries.get(&key)?;
        if entry.raw != token {
            return None;
        }
        if now > entry.token.exp.saturating_add(skew) {
            self.entries.remove(&key);
            return None;
        }
        Some(Rc::clone(&entry.token))
    }

    /// Remember a verified token.
    pub fn insert(&mut self, token: &str, verified: Rc<VerifiedToken>, now: i64, skew: i64) {
        let key = index(token);
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.make_room(now, skew);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            key,
            Entry {
                raw: token.to_string(),
                token: verified,
                seq,
            },
        );
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: i64, skew: i64) {
        self.entries
            .retain(|_, e| now <= e.token.exp.saturating_add(skew));
        if self.entries.len() < self.capacity {
            return;
        }
        // Still full of live tokens: keep the newer half.
        let mut seqs: Vec<u64> = self.entries.values().map(|e| e.seq).collect();
        let mid = seqs.len() / 2;
        let (_, &mut cutoff, _) = seqs.select_nth_unstable(mid);
        self.entries.retain(|_, e| e.seq >= cutoff);
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(crate::config::DEFAULT_TOKEN_CACHE_SIZE)
    }
}

#[cfg(test)]
mod tests;
