//! One trusted issuer, compiled from the pushed config: its audiences, its
//! verification keys (ready to use), how its claims map to an identity,
//! and the claim rules its tokens must meet.

use crate::alg::Alg;
use crate::config_pb as pb;

/// Why an issuer of a pushed config is refused (and with it the config).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IssuerError {
    /// An issuer without a URL.
    #[error("issuer #{index} has an empty url")]
    EmptyIssuerUrl {
        /// Its position in the config.
        index: usize,
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

/// `kubernetes.io/…`, `k8s.io/…` and their subdomains (Kubernetes'
/// `isKubernetesDomainPrefix` in apiserver/pkg/apis/apiserver/validation).
fn is_kubernetes_domain(key: &str) -> bool {
    let domain = key.split_once('/').map_or(key, |(d, _)| d);
    ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|r| domain == *r || domain.strip_suffix(r).is_some_and(|d| d.ends_with('.')))
}

impl Issuer {
    /// Validate and compile issuer number `index` of a pushed config.
    pub fn compile(index: usize, issuer: &pb::Issuer) -> Result<Issuer, IssuerError> {
        let url = issuer.url.clone();
        if url.is_empty() {
            return Err(IssuerError::EmptyIssuerUrl { index });
        }
        if issuer.audiences.iter().all(|a| a.is_empty()) {
            return Err(IssuerError::NoAudiences { url });
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
        let (groups_claim, groups_prefix) =
            m.groups.map(|p| (p.claim, p.prefix)).unwrap_or_default();
        let mut extra = Vec::with_capacity(m.extra.len());
        for e in &m.extra {
            if e.claim.is_empty() || e.key.is_empty() {
                return Err(IssuerError::EmptyClaim {
                    url,
                    what: "an extra mapping",
                });
            }
            // The control plane refuses these; a config from elsewhere must not
            // let an identity provider assert Kubernetes' own extras (as
            // Kubernetes' AuthenticationConfiguration forbids), nor a key the
            // cluster would read in another case.
            if e.key != e.key.to_ascii_lowercase() || is_kubernetes_domain(&e.key) {
                return Err(IssuerError::ExtraKey {
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
                return Err(IssuerError::EmptyClaim {
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
}

fn compile_key(url: &str, index: usize, key: &pb::Key) -> Result<Key, IssuerError> {
    let bad = |kind| IssuerError::KeyMaterial {
        url: url.to_string(),
        index,
        kind,
    };
    let der = || -> Result<Vec<u8>, IssuerError> {
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
            return Err(IssuerError::KeyType {
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
                return Err(IssuerError::KeyAlg {
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
