//! Token recipes: the corpus says which key signs, what the JOSE header
//! and the claims are (or their raw JSON text), and how to damage the
//! result after signing; this builds the string. Exotic shapes only:
//! ordinary tokens come from `kubeplex token mint` elsewhere.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use kubeplex_tests::bench::keys::{Alg as FixtureAlg, SigningKeys};

use crate::harness::{AUDIENCE, ISSUER};

/// The second trusted issuer of the corpus's gateway: same key as the
/// first, with claim mappings and a claim rule (see `MAPPED_ISSUER_YAML`).
pub const MAPPED_ISSUER: &str = "https://mapped.kubeplex.test";

/// Which key signs, and so the default `alg`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Key {
    /// The gateway's trusted issuer key (P-256): ES256, r‖s.
    #[default]
    Issuer,
    /// The issuer key, but the signature DER-encoded (not JWS's r‖s).
    IssuerDer,
    /// An untrusted P-256 key (the filter's test fixture): ES256.
    ForeignP256,
    /// An untrusted RSA-2048 key: RS256.
    ForeignRsa,
    /// An untrusted Ed25519 key: EdDSA.
    ForeignEd25519,
    /// HS256 keyed with the issuer's public key PEM text (alg confusion).
    HmacIssuerPem,
    /// HS256 keyed with the issuer's public key DER (SubjectPublicKeyInfo).
    HmacIssuerDer,
    /// HS256 with an empty secret.
    HmacEmpty,
    /// No signature at all (`alg: none` style: `header.payload.`).
    None,
    /// r = s = 0 (CVE-2022-21449, "psychic signatures").
    ZeroEcdsa,
    /// r = s = 2^256 - 1 (out of range for P-256).
    MaxEcdsa,
}

impl Key {
    fn default_alg(self) -> &'static str {
        match self {
            Key::Issuer | Key::IssuerDer | Key::ForeignP256 | Key::ZeroEcdsa | Key::MaxEcdsa => {
                "ES256"
            }
            Key::ForeignRsa => "RS256",
            Key::ForeignEd25519 => "EdDSA",
            Key::HmacIssuerPem | Key::HmacIssuerDer | Key::HmacEmpty => "HS256",
            Key::None => "none",
        }
    }
}

/// Damage done to the signed token (in order).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Replace the payload with the default claims merged with these;
    /// keep the header and the signature.
    SwapClaims(Map<String, Value>),
    /// Replace the header (default merged with these); keep the rest.
    SwapHeader(Map<String, Value>),
    /// Flip one bit in the middle of the signature.
    FlipSignature,
    /// Remove the signature, keep the trailing dot (`h.p.`).
    DropSignature,
    /// Remove the last segment and its dot (`h.p`).
    DropLastSegment,
    /// Drop this many characters from the end.
    Truncate(usize),
    /// Append this text.
    Append(String),
    /// Re-encode every segment with base64url *with* `=` padding.
    UrlPadded,
    /// Re-encode every segment with the standard alphabet (`+`, `/`) and
    /// padding.
    StdPadded,
    /// Re-encode every segment with the standard alphabet, no padding
    /// (rebuilt until some segment differs from base64url).
    StdAlphabet,
    /// Insert this text in the middle of the payload segment.
    InsertInPayload(String),
}

/// How to build one token.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub key: Key,
    /// Merged over `{"alg": <the key's>, "typ": "JWT"}`; null removes.
    #[serde(default)]
    pub header: Map<String, Value>,
    /// The header's exact JSON text instead (duplicate members...).
    pub header_json: Option<String>,
    /// Merged over the default claims (`iss`, `aud`, `sub`, `exp`, `iat`,
    /// `jti`); null removes. Strings `$NOW`, `$NOW+600`, `$NOW-600` become
    /// numbers; `$ISS`, `$MAPPED_ISS`, `$AUD` the issuer URLs/audience.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// The payload's exact JSON text instead (same `$` substitutions).
    pub payload_json: Option<String>,
    /// The payload's exact bytes, base64url (for bytes that are not UTF-8).
    pub payload_b64: Option<String>,
    /// Add a claim `pad` of this many characters (oversize tokens).
    pub pad_claim_bytes: Option<usize>,
    #[serde(default)]
    pub tamper: Vec<Tamper>,
    /// Not a JWT at all: this exact string.
    pub literal: Option<String>,
}

/// The keys a recipe may name.
pub struct Keys {
    issuer: p256::ecdsa::SigningKey,
    issuer_public_pem: String,
    issuer_public_der: Vec<u8>,
    fixtures: SigningKeys,
}

impl Keys {
    /// `issuer_key_pem`: the gateway issuer's PKCS#8 key;
    /// `issuer_public_pem`: its SubjectPublicKeyInfo PEM.
    pub fn new(issuer_key_pem: &str, issuer_public_pem: &str) -> Keys {
        use p256::pkcs8::DecodePrivateKey as _;
        let issuer = p256::ecdsa::SigningKey::from_pkcs8_pem(issuer_key_pem)
            .expect("the gateway issuer key is PKCS#8 P-256");
        let body: String = issuer_public_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        Keys {
            issuer,
            issuer_public_pem: issuer_public_pem.to_string(),
            issuer_public_der: STANDARD.decode(body).expect("issuer public key PEM"),
            fixtures: SigningKeys::fixtures().expect("the filter's fixture keys"),
        }
    }

    /// A public JWK of the foreign key of this algorithm (to embed as `jwk`).
    pub fn foreign_jwk(&self, alg: &str) -> Value {
        let alg = match alg {
            "RS256" => FixtureAlg::Rs256,
            "EdDSA" => FixtureAlg::EdDsa,
            _ => FixtureAlg::Es256,
        };
        let mut jwk = self.fixtures.jwk(alg);
        if let Some(o) = jwk.as_object_mut() {
            o.remove("kid");
        }
        jwk
    }

    fn sign(&self, key: Key, input: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match key {
            Key::Issuer => {
                let sig: p256::ecdsa::Signature = self.issuer.sign(input);
                sig.to_bytes().to_vec()
            }
            Key::IssuerDer => {
                let sig: p256::ecdsa::Signature = self.issuer.sign(input);
                sig.to_der().as_bytes().to_vec()
            }
            Key::ForeignP256 => self.fixtures.sign(FixtureAlg::Es256, input).unwrap(),
            Key::ForeignRsa => self.fixtures.sign(FixtureAlg::Rs256, input).unwrap(),
            Key::ForeignEd25519 => self.fixtures.sign(FixtureAlg::EdDsa, input).unwrap(),
            Key::HmacIssuerPem => hmac_sha256(self.issuer_public_pem.as_bytes(), input),
            Key::HmacIssuerDer => hmac_sha256(&self.issuer_public_der, input),
            Key::HmacEmpty => hmac_sha256(b"", input),
            Key::None => Vec::new(),
            Key::ZeroEcdsa => vec![0; 64],
            Key::MaxEcdsa => vec![0xff; 64],
        }
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// `$NOW±N`, `$ISS`, `$MAPPED_ISS`, `$AUD` in raw text.
pub fn substitute(text: &str, now: i64) -> String {
    let text = text
        .replace("$MAPPED_ISS", MAPPED_ISSUER)
        .replace("$ISS", ISSUER)
        .replace("$AUD", AUDIENCE);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("$NOW") {
        out.push_str(&rest[..at]);
        rest = &rest[at + 4..];
        let sign = rest.chars().next().filter(|c| *c == '+' || *c == '-');
        let mut value = now;
        if let Some(sign) = sign {
            let digits: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<i64>() {
                value = if sign == '+' { now + n } else { now - n };
                rest = &rest[1 + digits.len()..];
            }
        }
        out.push_str(&value.to_string());
    }
    out.push_str(rest);
    out
}

/// The same substitutions inside JSON values (`"$NOW+600"` → a number).
fn substitute_value(value: &Value, now: i64) -> Value {
    match value {
        Value::String(s) if s.starts_with("$NOW") => {
            let n = substitute(s, now);
            n.parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(n))
        }
        Value::String(s) if s.contains('$') => Value::String(substitute(s, now)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_value(v, now)).collect())
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute_value(v, now)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge(mut base: Map<String, Value>, over: &Map<String, Value>, now: i64) -> Map<String, Value> {
    for (k, v) in over {
        if v.is_null() {
            base.remove(k);
        } else {
            base.insert(k.clone(), substitute_value(v, now));
        }
    }
    base
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Recipe {
    /// The header JSON; a member whose value is `$JWK` becomes the public
    /// JWK of the signing key (foreign keys only: the attacker's own key).
    fn header(&self, keys: &Keys, now: i64) -> String {
        if let Some(text) = &self.header_json {
            return substitute(text, now);
        }
        let base = json!({"alg": self.key.default_alg(), "typ": "JWT"});
        let Value::Object(base) = base else {
            unreachable!()
        };
        let mut header = merge(base, &self.header, now);
        for v in header.values_mut() {
            if v == "$JWK" {
                *v = keys.foreign_jwk(self.key.default_alg());
            }
        }
        Value::Object(header).to_string()
    }

    fn claims(&self, jti: &str, now: i64, over: &Map<String, Value>) -> Map<String, Value> {
        let base = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "mallory",
            "exp": now + 600,
            "iat": now,
            "jti": jti,
        });
        let Value::Object(base) = base else {
            unreachable!()
        };
        let mut claims = merge(base, over, now);
        if let Some(n) = self.pad_claim_bytes {
            claims.insert("pad".into(), Value::String("x".repeat(n)));
        }
        claims
    }

    fn payload(&self, jti: &str, now: i64) -> String {
        if let Some(raw) = &self.payload_b64 {
            return raw.clone();
        }
        if let Some(text) = &self.payload_json {
            return b64(substitute(text, now).as_bytes());
        }
        b64(Value::Object(self.claims(jti, now, &self.claims))
            .to_string()
            .as_bytes())
    }

    /// Build the token; `jti` names it (the default claims' `jti`).
    pub fn build(&self, keys: &Keys, jti: &str, now: i64) -> String {
        if let Some(literal) = &self.literal {
            return literal.clone();
        }
        // StdAlphabet must change something: rebuild with another jti until
        // some segment has a '-' or '_' (a few tries at most).
        for attempt in 0.. {
            let jti = if attempt == 0 {
                jti.to_string()
            } else {
                format!("{jti}-{attempt}")
            };
            let token = self.build_once(keys, &jti, now);
            let needs_url_chars = self.tamper.contains(&Tamper::StdAlphabet);
            if !needs_url_chars || token.contains(['+', '/']) || attempt > 64 {
                return token;
            }
        }
        unreachable!()
    }

    fn build_once(&self, keys: &Keys, jti: &str, now: i64) -> String {
        let header = b64(self.header(keys, now).as_bytes());
        let payload = self.payload(jti, now);
        let input = format!("{header}.{payload}");
        let signature = b64(&keys.sign(self.key, input.as_bytes()));
        let mut token = format!("{input}.{signature}");
        for t in &self.tamper {
            token = apply(t, &token, self, keys, jti, now);
        }
        token
    }
}

fn reencode(token: &str, engine: &impl Engine) -> String {
    token
        .split('.')
        .map(|s| engine.encode(URL_SAFE_NO_PAD.decode(s).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(".")
}

fn apply(
    tamper: &Tamper,
    token: &str,
    recipe: &Recipe,
    keys: &Keys,
    jti: &str,
    now: i64,
) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    match tamper {
        Tamper::SwapClaims(over) => {
            let claims = recipe.claims(jti, now, &merge(recipe.claims.clone(), over, now));
            let payload = b64(Value::Object(claims).to_string().as_bytes());
            format!("{}.{payload}.{}", parts[0], parts[2..].join("."))
        }
        Tamper::SwapHeader(over) => {
            let base: Map<String, Value> =
                serde_json::from_str(&recipe.header(keys, now)).unwrap_or_default();
            let header = b64(Value::Object(merge(base, over, now)).to_string().as_bytes());
            format!("{header}.{}", parts[1..].join("."))
        }
        Tamper::FlipSignature => {
            let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
            let mid = sig.len() / 2;
            if let Some(b) = sig.get_mut(mid) {
                *b ^= 0x01;
            }
            format!("{}.{}.{}", parts[0], parts[1], b64(&sig))
        }
        Tamper::DropSignature => format!("{}.{}.", parts[0], parts[1]),
        Tamper::DropLastSegment => parts[..parts.len() - 1].join("."),
        Tamper::Truncate(n) => token[..token.len().saturating_sub(*n)].to_string(),
        Tamper::Append(text) => format!("{token}{text}"),
        Tamper::UrlPadded => reencode(token, &URL_SAFE),
        Tamper::StdPadded => reencode(token, &STANDARD),
        Tamper::StdAlphabet => reencode(token, &base64::engine::general_purpose::STANDARD_NO_PAD),
        Tamper::InsertInPayload(text) => {
            let p = parts[1];
            let mid = p.len() / 2;
            format!(
                "{}.{}{text}{}.{}",
                parts[0],
                &p[..mid],
                &p[mid..],
                parts[2..].join(".")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions() {
        assert_eq!(substitute("$NOW+600,$NOW-5,$NOW", 1000), "1600,995,1000");
        assert_eq!(
            substitute("\"$MAPPED_ISS\" \"$ISS\"", 0),
            format!("\"{MAPPED_ISSUER}\" \"{ISSUER}\"")
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
