//! The pushed [`FilterConfig`](crate::config_pb::FilterConfig), decoded,
//! validated and indexed once per config (issuers by URL, revoked JTIs,
//! contexts, compiled policy), so a request only does lookups.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::config_pb as pb;
use crate::policy::{Policy, PolicyError};
use crate::token::Alg;

/// Cached verified tokens when the config says 0.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 4096;
/// The context header when the config leaves it empty.
pub const DEFAULT_CONTEXT_HEADER: &str = kubeplex_proto::routing::CONTEXT_HEADER;

/// Why a pushed config is refused (`on_configure` then returns false and
/// Envoy keeps the previous one).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The bytes are not a serialized `FilterConfig`.
    #[error("filter config is not a serialized kubeplex.filter.v1.FilterConfig: {0}")]
    Decode(String),
    /// An issuer without a URL.
    #[error("issuer #{index} has an empty url")]
    EmptyIssuerUrl {
        /// Its position in the config.
        index: usize,
    },
    /// Two issuers with the same URL (a token could not say which it means).
    #[error("issuer {url:?} is listed twice")]
    DuplicateIssuer {
        /// The URL both have.
        url: String,
    },
    /// An issuer without audiences would refuse every token.
    #[error("issuer {url:?} has no audiences")]
    NoAudiences {
        /// The issuer.
        url: String,
    },
    /// A key whose type is unspecified or unknown.
    #[error("issuer {url:?}: key #{index} has no usable key_type")]
    KeyType {
        /// The issuer.
        url: String,
        /// The key's position in the issuer's list.
        index: usize,
    },
    /// A key whose bytes cannot be a key of its type.
    #[error("issuer {url:?}: key #{index} is not a valid {kind} public key")]
    KeyMaterial {
        /// The issuer.
        url: String,
        /// The key's position in the issuer's list.
        index: usize,
        /// The key type it claims to be.
        kind: &'static str,
    },
    /// A key pinned to an `alg` the filter does not know or its type cannot verify.
    #[error(
        "issuer {url:?}: key #{index} is pinned to alg {alg:?}, which a {kind} key cannot verify"
    )]
    KeyAlg {
        /// The issuer.
        url: String,
        /// The key's position in the issuer's list.
        index: usize,
        /// The pinned `alg`, as configured.
        alg: String,
        /// The key's type.
        kind: &'static str,
    },
    /// A claim mapping or validation rule naming an empty claim.
    #[error("issuer {url:?}: {what} names an empty claim")]
    EmptyClaim {
        /// The issuer.
        url: String,
        /// Which setting.
        what: &'static str,
    },
    /// An extra key that is not lower-case, or in the `kubernetes.io` /
    /// `k8s.io` domains, which only Kubernetes may assert.
    #[error(
        "issuer {url:?}: extra key {key:?} must be lower-case and outside the kubernetes.io and k8s.io domains"
    )]
    ExtraKey {
        /// The issuer.
        url: String,
        /// The extra key.
        key: String,
    },
    /// A context without a name.
    #[error("context #{index} has an empty name")]
    EmptyContext {
        /// Its position in the config.
        index: usize,
    },
    /// Two contexts claim the same TLS server name.
    #[error("contexts {first:?} and {second:?} have the same server name {server_name:?}")]
    DuplicateServerName {
        /// The server name, lower-case.
        server_name: String,
        /// The context listed first.
        first: String,
        /// The context listed second.
        second: String,
    },
    /// The context header is not a lower-case HTTP header name.
    #[error("context_header {0:?} is not a lower-case HTTP header name")]
    ContextHeader(String),
    /// The cluster path prefix does not start with `/`.
    #[error("cluster_path_prefix {0:?} must start with \"/\"")]
    PathPrefix(String),
    /// The policy does not compile.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// A verification key, ready to use.
#[derive(Clone)]
pub struct Key {
    /// JWK `kid`; empty for keys from a PEM file or certificate.
    pub kid: String,
    /// The key bytes, by family.
    pub material: KeyMaterial,
    /// The only alg this key verifies, when the issuer pinned one.
    pub alg: Option<Alg>,
}

/// Key bytes by family. RSA and EC keys stay DER SubjectPublicKeyInfo (the
/// host verifies them); Ed25519 is decompressed once here.
#[derive(Clone)]
pub enum KeyMaterial {
    /// An RSA key (DER SubjectPublicKeyInfo).
    Rsa(Vec<u8>),
    /// A P-256 key (DER SubjectPublicKeyInfo).
    EcP256(Vec<u8>),
    /// A P-384 key (DER SubjectPublicKeyInfo).
    EcP384(Vec<u8>),
    /// A P-521 key (DER SubjectPublicKeyInfo).
    EcP521(Vec<u8>),
    /// An Ed25519 key, decompressed.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl KeyMaterial {
    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyMaterial::Rsa(_) => "RSA",
            KeyMaterial::EcP256(_) => "P-256",
            KeyMaterial::EcP384(_) => "P-384",
            KeyMaterial::EcP521(_) => "P-521",
            KeyMaterial::Ed25519(_) => "Ed25519",
        }
    }

    /// Whether a key of this family can check `alg` signatures.
    pub fn verifies(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (KeyMaterial::Rsa(_), Alg::RS256 | Alg::RS384 | Alg::RS512)
                | (KeyMaterial::EcP256(_), Alg::ES256)
                | (KeyMaterial::EcP384(_), Alg::ES384)
                | (KeyMaterial::EcP521(_), Alg::ES512)
                | (KeyMaterial::Ed25519(_), Alg::EdDSA)
        )
    }
}

/// Claims → identity, with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMappings {
    /// The claim that names the user (default `sub`).
    pub username_claim: String,
    /// Put before the username.
    pub username_prefix: String,
    /// The claim that lists the groups (default `groups`).
    pub groups_claim: String,
    /// Put before each group.
    pub groups_prefix: String,
    /// The claim that holds the uid, if mapped.
    pub uid_claim: Option<String>,
    /// `(key, claim)`.
    pub extra: Vec<(String, String)>,
}

/// One trusted issuer.
#[derive(Clone)]
pub struct Issuer {
    /// The issuer URL, a token's `iss`.
    pub url: String,
    /// A token's `aud` must name one of these.
    pub audiences: Vec<String>,
    /// Its verification keys.
    pub keys: Vec<Key>,
    /// How its claims become an identity.
    pub claim_mappings: ClaimMappings,
    /// `(claim, required value)`.
    pub claim_validation_rules: Vec<(String, String)>,
    /// Where the keys came from, for messages.
    pub key_source: String,
    /// Map identities like Kubernetes maps ServiceAccount tokens.
    pub service_account: bool,
    /// The control plane fetches the keys: an unknown `kid` asks it to
    /// refetch them.
    pub remote_keys: bool,
}

/// The whole config, indexed.
pub struct Config {
    /// The control plane's version of this config (audit records carry it).
    pub version: String,
    /// Trusted issuers by URL (a token's `iss`).
    pub issuers: HashMap<String, Issuer>,
    /// jti → reason (possibly empty).
    pub revoked: HashMap<String, String>,
    /// Every context (cluster) requests may go to.
    pub contexts: HashSet<String>,
    /// Lower-case TLS server name (SNI) → context, for requests without
    /// the path prefix.
    pub contexts_by_server_name: HashMap<String, String>,
    /// The gateway RBAC; `None`: the gateway authorizes nothing itself.
    pub policy: Option<Policy>,
    /// Leeway for `exp`, `nbf`, `iat`.
    pub clock_skew_seconds: i64,
    /// Verified tokens cached per worker VM.
    pub token_cache_size: usize,
    /// The request header that names the chosen context to Envoy's routes.
    pub context_header: String,
    /// Empty: path-prefix cluster selection is off.
    pub cluster_path_prefix: String,
    /// How long past its token's `exp` a stream may run.
    pub stream_expiry_grace_seconds: i64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Summaries only: key material and revoked IDs stay out of logs.
        f.debug_struct("Config")
            .field("version", &self.version)
            .field("issuers", &self.issuers.len())
            .field("revoked", &self.revoked.len())
            .field("contexts", &self.contexts.len())
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl Config {
    /// Decode and compile the bytes Envoy hands to `on_configure`.
    pub fn decode(bytes: &[u8]) -> Result<Config, ConfigError> {
        let pb = pb::FilterConfig::decode(bytes).map_err(|e| ConfigError::Decode(e.to_string()))?;
        Config::compile(&pb)
    }

    /// Validate and index a decoded config.
    pub fn compile(pb: &pb::FilterConfig) -> Result<Config, ConfigError> {
        let mut issuers = HashMap::with_capacity(pb.issuers.len());
        for (index, issuer) in pb.issuers.iter().enumerate() {
            let compiled = compile_issuer(index, issuer)?;
            if issuers.contains_key(&compiled.url) {
                return Err(ConfigError::DuplicateIssuer { url: compiled.url });
            }
            issuers.insert(compiled.url.clone(), compiled);
        }

        let revoked = pb
            .revocations
            .iter()
            .map(|r| (r.jti.clone(), r.reason.clone()))
            .collect();

        let mut contexts = HashSet::with_capacity(pb.contexts.len());
        let mut contexts_by_server_name = HashMap::new();
        for (index, context) in pb.contexts.iter().enumerate() {
            if context.name.is_empty() {
                return Err(ConfigError::EmptyContext { index });
            }
            contexts.insert(context.name.clone());
            if !context.server_name.is_empty() {
                let server_name = context.server_name.to_ascii_lowercase();
                if let Some(first) =
                    contexts_by_server_name.insert(server_name.clone(), context.name.clone())
                {
                    return Err(ConfigError::DuplicateServerName {
                        server_name,
                        first,
                        second: context.name.clone(),
                    });
                }
            }
        }

        let context_header = if pb.context_header.is_empty() {
            DEFAULT_CONTEXT_HEADER.to_string()
        } else if is_lower_header_name(&pb.context_header) {
            pb.context_header.clone()
        } else {
            return Err(ConfigError::ContextHeader(pb.context_header.clone()));
        };

        let cluster_path_prefix = match pb.cluster_path_prefix.as_str() {
            "" => String::new(),
            p if !p.starts_with('/') => return Err(ConfigError::PathPrefix(p.to_string())),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };

        let policy = pb.policy.as_ref().map(Policy::compile).transpose()?;

        Ok(Config {
            version: pb.version.clone(),
            issuers,
            revoked,
            contexts,
            contexts_by_server_name,
            policy,
            clock_skew_seconds: i64::from(pb.clock_skew_seconds),
            token_cache_size: match pb.token_cache_size {
                0 => DEFAULT_TOKEN_CACHE_SIZE,
                n => n as usize,
            },
            context_header,
            cluster_path_prefix,
            stream_expiry_grace_seconds: i64::from(pb.stream_expiry_grace_seconds),
        })
    }
}
/// `kubernetes.io/…`, `k8s.io/…` and their subdomains (Kubernetes'
/// `isKubernetesDomainPrefix` in apiserver/pkg/apis/apiserver/validation).
fn is_kubernetes_domain(key: &str) -> bool {
    let domain = key.split_once('/').map_or(key, |(d, _)| d);
    ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|r| domain == *r || domain.strip_suffix(r).is_some_and(|d| d.ends_with('.')))
}

fn compile_issuer(index: usize, issuer: &pb::Issuer) -> Result<Issuer, ConfigError> {
    let url = issuer.url.clone();
    if url.is_empty() {
        return Err(ConfigError::EmptyIssuerUrl { index });
    }
    if issuer.audiences.iter().all(|a| a.is_empty()) {
        return Err(ConfigError::NoAudiences { url });
    }
    let keys = issuer
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| compile_key(&url, i, k))
        .collect::<Result<Vec<_>, _>>()?;

    let m = issuer.claim_mappings.clone().unwrap_or_default();
    let (username_claim, username_prefix) =
        m.username.map(|p| (p.claim, p.prefix)).unwrap_or_default();
    let (groups_claim, groups_prefix) = m.groups.map(|p| (p.claim, p.prefix)).unwrap_or_default();
    let mut extra = Vec::with_capacity(m.extra.len());
    for e in &m.extra {
        if e.claim.is_empty() || e.key.is_empty() {
            return Err(ConfigError::EmptyClaim {
                url,
                what: "an extra mapping",
            });
        }
        // The control plane refuses these; a config from elsewhere must not
        // let an identity provider assert Kubernetes' own extras (as
        // Kubernetes' AuthenticationConfiguration forbids), nor a key the
        // cluster would read in another case.
        if e.key != e.key.to_ascii_lowercase() || is_kubernetes_domain(&e.key) {
            return Err(ConfigError::ExtraKey {
                url,
                key: e.key.clone(),
            });
        }
        extra.push((e.key.clone(), e.claim.clone()));
    }
    let claim_mappings = ClaimMappings {
        username_claim: non_empty_or(username_claim, "sub"),
        username_prefix,
        groups_claim: non_empty_or(groups_claim, "groups"),
        groups_prefix,
        uid_claim: (!m.uid_claim.is_empty()).then_some(m.uid_claim),
        extra,
    };

    let mut rules = Vec::with_capacity(issuer.claim_validation_rules.len());
    for r in &issuer.claim_validation_rules {
        if r.claim.is_empty() {
            return Err(ConfigError::EmptyClaim {
                url,
                what: "a claim validation rule",
            });
        }
        rules.push((r.claim.clone(), r.required_value.clone()));
    }

    Ok(Issuer {
        audiences: issuer
            .audiences
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect(),
        keys,
        claim_mappings,
        claim_validation_rules: rules,
        key_source: issuer.key_source.clone(),
        service_account: issuer.service_account_issuer,
        remote_keys: issuer.remote_keys,
        url,
    })
}

fn compile_key(url: &str, index: usize, key: &pb::Key) -> Result<Key, ConfigError> {
    let bad = |kind| ConfigError::KeyMaterial {
        url: url.to_string(),
        index,
        kind,
    };
    let der = || -> Result<Vec<u8>, ConfigError> {
        // A DER SubjectPublicKeyInfo is a SEQUENCE; anything else is a
        // control-plane bug better caught here than per request.
        if key.public_key.first() == Some(&0x30) && key.public_key.len() > 16 {
            Ok(key.public_key.clone())
        } else {
            Err(bad(key_kind_name(key.key_type)))
        }
    };
    let material = match pb::KeyType::try_from(key.key_type) {
        Ok(pb::KeyType::Rsa) => KeyMaterial::Rsa(der()?),
        Ok(pb::KeyType::EcP256) => KeyMaterial::EcP256(der()?),
        Ok(pb::KeyType::EcP384) => KeyMaterial::EcP384(der()?),
        Ok(pb::KeyType::EcP521) => KeyMaterial::EcP521(der()?),
        Ok(pb::KeyType::Ed25519) => {
            let bytes: [u8; 32] = key
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| bad("Ed25519"))?;
            KeyMaterial::Ed25519(
                ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| bad("Ed25519"))?,
            )
        }
        _ => {
            return Err(ConfigError::KeyType {
                url: url.to_string(),
                index,
            });
        }
    };
    let alg = if key.alg.is_empty() {
        None
    } else {
        match Alg::from_name(&key.alg) {
            Some(alg) if material.verifies(alg) => Some(alg),
            _ => {
                return Err(ConfigError::KeyAlg {
                    url: url.to_string(),
                    index,
                    alg: key.alg.clone(),
                    kind: material.kind(),
                });
            }
        }
    };
    Ok(Key {
        kid: key.kid.clone(),
        material,
        alg,
    })
}

fn key_kind_name(key_type: i32) -> &'static str {
    match pb::KeyType::try_from(key_type) {
        Ok(pb::KeyType::Rsa) => "RSA",
        Ok(pb::KeyType::EcP256) => "P-256",
        Ok(pb::KeyType::EcP384) => "P-384",
        Ok(pb::KeyType::EcP521) => "P-521",
        Ok(pb::KeyType::Ed25519) => "Ed25519",
        _ => "unknown",
    }
}

fn non_empty_or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

/// RFC 7230 token characters, lower-case only (Envoy lower-cases names).
fn is_lower_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

#[cfg(test)]
mod tests;
