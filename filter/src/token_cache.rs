//! Verified tokens, kept until their `exp` so the asymmetric check is paid
//! once per token per worker VM. Bounded: when full, expired entries go
//! first, then the older half. Keyed by the whole token string (a key
//! derived from only part of it, e.g. the signature, would let a forged
//! payload reuse a genuine signature's cache entry). One cache per root
//! context: a new config starts empty, as keys may have changed.

use std::collections::HashMap;
use std::rc::Rc;

use crate::token::VerifiedToken;

struct Entry {
    token: Rc<VerifiedToken>,
    /// Insertion order, for evicting the older half.
    seq: u64,
}

/// The cache.
pub struct TokenCache {
    entries: HashMap<String, Entry>,
    capacity: usize,
    next_seq: u64,
}

impl TokenCache {
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
        let entry = self.entries.get(token)?;
        if now > entry.token.exp.saturating_add(skew) {
            self.entries.remove(token);
            return None;
        }
        Some(Rc::clone(&entry.token))
    }

    /// Remember a verified token.
    pub fn insert(&mut self, token: &str, verified: Rc<VerifiedToken>, now: i64, skew: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(token) {
            self.make_room(now, skew);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            token.to_string(),
            Entry {
                token: verified,
                seq,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

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
