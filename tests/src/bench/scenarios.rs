//! The filter scenarios, in report order, and which `jwt_authn` scenario
//! each kubeplex scenario is compared with.

use super::keys::Alg;

/// The HTTP filter a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// Router only: the baseline.
    None,
    /// A proxy-wasm filter that does nothing (the filter crate's
    /// `empty_filter` example): what any wasm filter costs in V8.
    EmptyWasm,
    /// The kubeplex wasm filter; `policy`: with the 100-role policy.
    Kubeplex {
        /// Whether the config carries the 100-role gateway policy.
        policy: bool,
    },
    /// Envoy's `jwt_authn`; `cache`: providers have a `jwt_cache_config`.
    JwtAuthn {
        /// Whether `jwt_cache_config` is set.
        cache: bool,
    },
}

/// The tokens a scenario sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// One token, on every request.
    Cached(Alg),
    /// A token never seen before on every request (unique `jti`).
    FirstSight(Alg),
}

impl TokenKind {
    /// The tokens' algorithm.
    pub fn alg(self) -> Alg {
        match self {
            TokenKind::Cached(a) | TokenKind::FirstSight(a) => a,
        }
    }
}

/// One row of the filter table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Short stable name (`kubeplex-first-rs256`).
    pub id: &'static str,
    /// The filter.
    pub filter: FilterKind,
    /// The tokens.
    pub tokens: TokenKind,
    /// The `jwt_authn` scenario whose added CPU this one is divided by.
    pub reference: Option<&'static str>,
}

/// The baseline's id.
pub const BASELINE: &str = "no-filter";
/// The empty wasm filter's id (run only when its module is built).
pub const EMPTY_WASM: &str = "empty-wasm";

impl Scenario {
    /// The row label.
    pub fn label(&self) -> String {
        let tokens = match self.tokens {
            TokenKind::Cached(a) => format!("one {} token (cached)", a.name()),
            TokenKind::FirstSight(a) => format!("new {} token each request", a.name()),
        };
        match self.filter {
            FilterKind::None => format!("no filter ({tokens}, ignored)"),
            FilterKind::EmptyWasm => format!("empty proxy-wasm filter ({tokens}, ignored)"),
            FilterKind::Kubeplex { policy: false } => format!("kubeplex filter, {tokens}"),
            FilterKind::Kubeplex { policy: true } => {
                format!("kubeplex filter + 100-role policy, {tokens}")
            }
            FilterKind::JwtAuthn { cache: true } => {
                format!("jwt_authn + jwt_cache_config, {tokens}")
            }
            FilterKind::JwtAuthn { cache: false } => format!("jwt_authn (no cache), {tokens}"),
        }
    }
}

/// Every scenario, in report order.
pub fn all() -> Vec<Scenario> {
    let cached = TokenKind::Cached(Alg::Rs256);
    let mut list = vec![
        Scenario {
            id: BASELINE,
            filter: FilterKind::None,
            tokens: cached,
            reference: None,
        },
        Scenario {
            id: EMPTY_WASM,
            filter: FilterKind::EmptyWasm,
            tokens: cached,
            reference: None,
        },
        Scenario {
            id: "kubeplex-cached",
            filter: FilterKind::Kubeplex { policy: false },
            tokens: cached,
            reference: Some("jwt_authn-cache-cached"),
        },
        Scenario {
            id: "kubeplex-policy-cached",
            filter: FilterKind::Kubeplex { policy: true },
            tokens: cached,
            reference: Some("jwt_authn-cache-cached"),
        },
        Scenario {
            id: "jwt_authn-cache-cached",
            filter: FilterKind::JwtAuthn { cache: true },
            tokens: cached,
            reference: None,
        },
        Scenario {
            id: "jwt_authn-nocache-cached",
            filter: FilterKind::JwtAuthn { cache: false },
            tokens: cached,
            reference: None,
        },
    ];
    for (alg, kubeplex, jwt_authn) in [
        (Alg::Rs256, "kubeplex-first-rs256", "jwt_authn-first-rs256"),
        (Alg::Es256, "kubeplex-first-es256", "jwt_authn-first-es256"),
        (Alg::EdDsa, "kubeplex-first-eddsa", "jwt_authn-first-eddsa"),
    ] {
        list.push(Scenario {
            id: kubeplex,
            filter: FilterKind::Kubeplex { policy: false },
            tokens: TokenKind::FirstSight(alg),
            reference: Some(jwt_authn),
        });
        list.push(Scenario {
            id: jwt_authn,
            filter: FilterKind::JwtAuthn { cache: false },
            tokens: TokenKind::FirstSight(alg),
            reference: None,
        });
    }
    list
}

/// The scenarios whose id is in `ids` (all when `ids` is empty), keeping
/// the baseline and every reference they need.
pub fn selected(ids: &[String]) -> Vec<Scenario> {
    let all = all();
    if ids.is_empty() {
        return all;
    }
    let wanted = |s: &Scenario| {
        s.id == BASELINE
            || ids.iter().any(|i| i == s.id)
            || all
                .iter()
                .any(|o| ids.iter().any(|i| i == o.id) && o.reference == Some(s.id))
    };
    all.iter().copied().filter(wanted).collect()
}

#[cfg(test)]
mod tests;
