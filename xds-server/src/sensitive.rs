//! A wrapper for secrets (private keys, bearer tokens) that never prints them.

use std::fmt;

/// A secret value. `Debug` and `Display` print `<redacted>`, so a secret can
/// sit inside structs that are logged without leaking.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    /// The secret itself; call sites are easy to audit with grep.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
