use serde_json::json;

use super::*;
use crate::config::Config;
use crate::mint::{self, NOW, RustCryptoVerifier, Signer, mint, mint_with};
use crate::signature::Hash;

fn config() -> Config {
    Config::compile(&mint::config()).unwrap()
}

fn verify_with(config: &Config, token: &str) -> Result<VerifiedToken, TokenError> {
    verify(config, token, NOW, &RustCryptoVerifier)
}

fn check(token: &str) -> Result<VerifiedToken, TokenError> {
    verify_with(&config(), token)
}

fn with(edit: impl Fn(&mut serde_json::Value)) -> serde_json::Value {
    let mut c = mint::claims();
    edit(&mut c);
    c
}

#[test]
fn rs256_es256_es384_eddsa_verify() {
    for (signer, kid) in [
        (Signer::Rsa, "rsa"),
        (Signer::P256, "p256"),
        (Signer::P384, "p384"),
        (Signer::Ed25519, "ed"),
    ] {
        let v = check(&mint(signer, Some(kid), &mint::claims()))
            .unwrap_or_else(|e| panic!("{signer:?}: {e}"));
        assert_eq!(v.identity.user, "alice");
        assert_eq!(v.identity.groups, vec!["dev", "ops"]);
        assert_eq!(v.issuer, mint::ISSUER);
        assert_eq!(v.jti.as_deref(), Some("jti-1"));
        assert_eq!(v.exp, NOW + 3600);
        assert_eq!(v.ctx, None);
    }
}

#[test]
fn rs384_and_rs512_verify() {
    for alg in ["RS384", "RS512"] {
        let t = mint_with(
            Signer::Rsa,
            &json!({"alg": alg, "kid": "rsa"}),
            &mint::claims(),
        );
        check(&t).unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn no_kid_tries_every_key() {
    for signer in [Signer::Rsa, Signer::P256, Signer::Ed25519] {
        check(&mint(signer, None, &mint::claims())).unwrap();
    }
}

#[test]
fn tampered_payload_fails_the_signature() {
    let t = mint(Signer::Rsa, Some("rsa"), &mint::claims());
    let parts: Vec<&str> = t.split('.').collect();
    let forged = mint::b64(with(|c| c["sub"] = json!("mallory")).to_string().as_bytes());
    let t2 = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let err = check(&t2).unwrap_err();
    assert_eq!(err, TokenError::BadSignature(mint::ISSUER.into()));
    assert_eq!(
        err.to_string(),
        "token signature is invalid (issuer \"https://issuer.example\")"
    );
    assert_eq!(err.reason(), "bad_signature");
}

#[test]
fn tampered_ecdsa_and_eddsa_signatures_fail() {
    for (signer, kid) in [(Signer::P256, "p256"), (Signer::Ed25519, "ed")] {
        let t = mint(signer, Some(kid), &mint::claims());
        let (head, sig) = t.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[10] ^= 1;
        let err = check(&format!("{head}.{}", mint::b64(&raw))).unwrap_err();
        assert!(
            matches!(err, TokenError::BadSignature(_)),
            "{signer:?}: {err}"
        );
    }
}

#[test]
fn wrong_key_fails() {
    let t = mint(Signer::RsaOther, Some("rsa"), &mint::claims());
    assert!(matches!(check(&t), Err(TokenError::BadSignature(_))));
}

#[test]
fn key_type_must_match_alg() {
    // An ES256 token naming the RSA key's kid: no key can verify it.
    let t = mint(Signer::P256, Some("rsa"), &mint::claims());
    assert_eq!(
        check(&t).unwrap_err().to_string(),
        "issuer \"https://issuer.example\" has no key that verifies ES256 tokens (keys from inline JWKS)"
    );
    // An RS256 signature presented as ES256 against the EC key.
    let rs = mint(Signer::Rsa, Some("rsa"), &mint::claims());
    let (_, sig) = rs.rsplit_once('.').unwrap();
    let h = mint::b64(
        json!({"alg": "ES256", "kid": "p256"})
            .to_string()
            .as_bytes(),
    );
    let p = mint::b64(mint::claims().to_string().as_bytes());
    assert!(matches!(
        check(&format!("{h}.{p}.{sig}")),
        Err(TokenError::BadSignature(_))
    ));
}

#[test]
fn pinned_alg_is_enforced() {
    let mut pb = mint::config();
    pb.issuers[0].keys[0].alg = "RS512".into();
    let c = Config::compile(&pb).unwrap();
    let t = mint(Signer::Rsa, Some("rsa"), &mint::claims());
    assert!(matches!(
        verify_with(&c, &t),
        Err(TokenError::NoKeyForAlg { alg: "RS256", .. })
    ));
    let t = mint_with(
        Signer::Rsa,
        &json!({"alg": "RS512", "kid": "rsa"}),
        &mint::claims(),
    );
    verify_with(&c, &t).unwrap();
}

#[test]
fn unknown_kid_is_named() {
    let t = mint(Signer::Rsa, Some("k9"), &mint::claims());
    let err = check(&t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no key with kid \"k9\" for issuer \"https://issuer.example\" (keys from inline JWKS)"
    );
    assert_eq!(err.reason(), "key_not_found");
}

#[test]
fn kid_falls_back_to_kidless_keys() {
    // A PEM signer key has no kid; a token that carries one still verifies.
    let mut pb = mint::config();
    pb.issuers[0].keys = vec![mint::key(
        "",
        kubeplex_proto::filter::v1::KeyType::Rsa,
        mint::spki("rsa"),
    )];
    let c = Config::compile(&pb).unwrap();
    verify_with(&c, &mint(Signer::Rsa, Some("whatever"), &mint::claims())).unwrap();
}

#[test]
fn alg_none_and_hmac_are_refused() {
    let claims = mint::b64(mint::claims().to_string().as_bytes());
    let none = format!("{}.{claims}.", mint::b64(br#"{"alg":"none"}"#));
    assert_eq!(
        check(&none).unwrap_err().to_string(),
        "token algorithm \"none\" is not allowed"
    );
    for alg in ["HS256", "HS384", "HS512"] {
        let h = mint::b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes());
        let err = check(&format!("{h}.{claims}.c2ln")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "token algorithm \"{alg}\" is not allowed: kubeplex accepts only asymmetric signatures"
            )
        );
        assert_eq!(err.reason(), "algorithm_not_allowed");
    }
    let h = mint::b64(br#"{"alg":"PS256"}"#);
    assert!(matches!(
        check(&format!("{h}.{claims}.c2ln")),
        Err(TokenError::AlgUnsupported(a)) if a == "PS256"
    ));
    let h = mint::b64(br#"{"typ":"JWT"}"#);
    assert_eq!(check(&format!("{h}.{claims}.c2ln")), Err(TokenError::NoAlg));
}

#[test]
fn crit_is_refused() {
    let t = mint_with(
        Signer::Rsa,
        &json!({"alg": "RS256", "kid": "rsa", "crit": ["exp"]}),
        &mint::claims(),
    );
    assert_eq!(check(&t), Err(TokenError::Crit));
}

#[test]
fn malformed_tokens() {
    for (t, why) in [
        ("abc", "expected three dot-separated parts"),
        ("a.b.c.d", "expected three dot-separated parts"),
        (
            "!!!.e30.c2ln",
            "the header is not base64url-encoded JSON with unique member names",
        ),
        (
            "e30=.e30.c2ln",
            "the header is not base64url-encoded JSON with unique member names",
        ),
    ] {
        assert_eq!(check(t), Err(TokenError::Malformed(why)), "{t}");
    }
    let h = mint::b64(br#"{"alg":"RS256"}"#);
    assert_eq!(
        check(&format!("{h}.bm90IGpzb24.c2ln")),
        Err(TokenError::Malformed(
            "the payload is not base64url-encoded JSON with unique claim names"
        ))
    );
    let p = mint::b64(mint::claims().to_string().as_bytes());
    assert_eq!(
        check(&format!("{h}.{p}.***")),
        Err(TokenError::Malformed("the signature is not base64url"))
    );
}

/// `{"sub":"alice","sub":"admin"}` is alice to serde_json (last wins) and
/// admin to a first-wins parser: such a token means nothing, and is
/// refused even when its signature is good (the issuer signed ambiguity).
#[test]
fn duplicate_claims_or_header_members_are_refused() {
    let h = mint::b64(br#"{"alg":"ES256","kid":"p256"}"#);
    let claims = mint::claims().to_string();
    let doubled = claims.replacen(
        "\"sub\":\"alice\"",
        "\"sub\":\"alice\",\"sub\":\"admin\"",
        1,
    );
    assert_ne!(claims, doubled);
    let t = sign_p256(&format!("{h}.{}", mint::b64(doubled.as_bytes())));
    let err = check(&t).unwrap_err();
    assert_eq!(err.reason(), "token_malformed");
    let dup_header = mint::b64(br#"{"alg":"ES256","alg":"none","kid":"p256"}"#);
    let t = sign_p256(&format!("{dup_header}.{}", mint::b64(claims.as_bytes())));
    assert_eq!(check(&t).unwrap_err().reason(), "token_malformed");
}

fn sign_p256(input: &str) -> String {
    use p256::ecdsa::signature::Signer as _;
    let s: p256::ecdsa::Signature = mint::keys().p256.sign(input.as_bytes());
    format!("{input}.{}", mint::b64(&s.to_bytes()))
}

#[test]
fn untrusted_or_missing_issuer() {
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["iss"] = json!("https://evil.example")),
    );
    let err = check(&t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "issuer \"https://evil.example\" is not trusted"
    );
    assert_eq!(err.reason(), "issuer_untrusted");
    // exact match only: a trailing slash is another issuer
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["iss"] = json!("https://issuer.example/")),
    );
    assert!(matches!(check(&t), Err(TokenError::UntrustedIssuer(_))));
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| {
            c.as_object_mut()
                .unwrap()
                .remove("iss")
                .map(drop)
                .unwrap_or(())
        }),
    );
    assert_eq!(check(&t), Err(TokenError::NoIssuer));
}

#[test]
fn audience_string_or_list() {
    let ok = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["aud"] = json!(["x", "other"])),
    );
    check(&ok).unwrap();
    let bad = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["aud"] = json!(["x", "y"])),
    );
    let err = check(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token audience [\"x\",\"y\"] is not accepted by issuer \"https://issuer.example\""
    );
    assert_eq!(err.reason(), "audience_mismatch");
    let none = mint(Signer::Rsa, Some("rsa"), &with(|c| c["aud"] = json!(null)));
    assert_eq!(check(&none), Err(TokenError::NoAudience));
}

#[test]
fn expiry_with_skew() {
    // exp = now - 30: still inside the 30 s skew
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["exp"] = json!(NOW - 30)),
    );
    check(&t).unwrap();
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["exp"] = json!(NOW - 31)),
    );
    let err = check(&t).unwrap_err();
    assert_eq!(err.to_string(), "token expired at 2026-11-23T11:59:29Z");
    assert_eq!(err.reason(), "token_expired");
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| {
            c.as_object_mut()
                .unwrap()
                .remove("exp")
                .map(drop)
                .unwrap_or(())
        }),
    );
    assert_eq!(check(&t), Err(TokenError::NoExpiry));
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["exp"] = json!("tomorrow")),
    );
    assert_eq!(check(&t), Err(TokenError::BadTime("exp")));
    // fractional NumericDate
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["exp"] = json!((NOW + 10) as f64 + 0.5)),
    );
    assert_eq!(check(&t).unwrap().exp, NOW + 10);
}

#[test]
fn not_before_and_issued_at() {
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["nbf"] = json!(NOW + 30)),
    );
    check(&t).unwrap();
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["nbf"] = json!(NOW + 31)),
    );
    let err = check(&t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token is not valid before 2026-11-23T12:00:31Z"
    );
    assert_eq!(err.reason(), "token_not_yet_valid");
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["iat"] = json!(NOW + 31)),
    );
    assert_eq!(
        check(&t).unwrap_err().to_string(),
        "token was issued in the future (2026-11-23T12:00:31Z)"
    );
}

#[test]
fn claim_validation_rules() {
    let mut pb = mint::config();
    pb.issuers[0].claim_validation_rules = vec![kubeplex_proto::filter::v1::ClaimValidationRule {
        claim: "hd".into(),
        required_value: "example.com".into(),
    }];
    let c = Config::compile(&pb).unwrap();
    let ok = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["hd"] = json!("example.com")),
    );
    verify_with(&c, &ok).unwrap();
    let in_list = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["hd"] = json!(["a", "example.com"])),
    );
    verify_with(&c, &in_list).unwrap();
    let bad = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["hd"] = json!("evil.com")),
    );
    let err = verify_with(&c, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token claim \"hd\" must be \"example.com\""
    );
    assert_eq!(err.reason(), "claim_rule_failed");
    let missing = mint(Signer::Rsa, Some("rsa"), &mint::claims());
    assert!(matches!(
        verify_with(&c, &missing),
        Err(TokenError::ClaimRule { .. })
    ));
}

#[test]
fn ctx_claim_is_read() {
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["ctx"] = json!("dev-a")),
    );
    assert_eq!(check(&t).unwrap().ctx.as_deref(), Some("dev-a"));
    let t = mint(Signer::Rsa, Some("rsa"), &with(|c| c["ctx"] = json!(3)));
    assert_eq!(check(&t), Err(TokenError::NotAString("ctx")));
}

#[test]
fn reserved_identity_is_refused_after_signature() {
    let t = mint(
        Signer::Rsa,
        Some("rsa"),
        &with(|c| c["groups"] = json!(["system:masters"])),
    );
    let err = check(&t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "group \"system:masters\" is reserved: a token issuer may not assert \"system:\" groups"
    );
    assert_eq!(err.reason(), "reserved_identity");
}

#[test]
fn signature_is_checked_before_claims_are_judged() {
    // An expired token with a bad signature reports the signature, so an
    // attacker learns nothing about claim checks from forged tokens.
    let t = mint(
        Signer::RsaOther,
        Some("rsa"),
        &with(|c| c["exp"] = json!(NOW - 1000)),
    );
    assert!(matches!(check(&t), Err(TokenError::BadSignature(_))));
}

/// A host whose signature check fails (the call itself, not the
/// signature); `Some(key)` fails only for that key, so one key can fail
/// while another verifies.
struct FailingHost(Option<Vec<u8>>);

impl SignatureVerifier for FailingHost {
    fn verify(&self, h: Hash, k: &[u8], s: &[u8], t: &[u8]) -> Result<(), VerifyError> {
        match &self.0 {
            Some(failing) if failing != k => RustCryptoVerifier.verify(h, k, s, t),
            _ => Err(VerifyError::Host(
                "verify_signature failed: InternalFailure".into(),
            )),
        }
    }
}

#[test]
fn a_failing_host_check_is_not_a_bad_signature() {
    let t = mint(Signer::Rsa, Some("rsa"), &mint::claims());
    let err = verify(&config(), &t, NOW, &FailingHost(None)).unwrap_err();
    assert_eq!(
        err,
        TokenError::SignatureCheckFailed {
            issuer: mint::ISSUER.into(),
            source: VerifyError::Host("verify_signature failed: InternalFailure".into()),
        }
    );
    assert_eq!(err.reason(), "verifier_unavailable");
    assert_eq!(
        err.to_string(),
        "the gateway could not check the token's signature (issuer \"https://issuer.example\"): \
         its signature verifier failed; retry in a few seconds"
    );
    assert_eq!(
        std::error::Error::source(&err).map(|s| s.to_string()),
        Some("the signature check failed: verify_signature failed: InternalFailure".into())
    );
    // the signature checked in Rust (EdDSA) never involves the host
    verify(
        &config(),
        &mint(Signer::Ed25519, Some("ed"), &mint::claims()),
        NOW,
        &FailingHost(None),
    )
    .unwrap();
}

#[test]
fn without_a_kid_another_key_may_still_verify_past_a_host_failure() {
    let p256 = mint(Signer::P256, None, &mint::claims());
    // the RSA key is not tried for ES256; the P-256 one verifies
    verify(&config(), &p256, NOW, &FailingHost(Some(mint::spki("rsa")))).unwrap();

    // two RSA keys, the host fails on the first: the second verifies
    let mut pb = mint::config();
    let other = mint::spki("rsa-other");
    pb.issuers[0].keys.insert(
        0,
        mint::key("", kubeplex_proto::filter::v1::KeyType::Rsa, other.clone()),
    );
    let c = Config::compile(&pb).unwrap();
    let fails_first = FailingHost(Some(other));
    verify(
        &c,
        &mint(Signer::Rsa, None, &mint::claims()),
        NOW,
        &fails_first,
    )
    .unwrap();

    // a signature the other key does not verify either: the host failure
    // is the answer (the failing key might have verified it), not a bad
    // signature
    let t = mint(Signer::Rsa, None, &mint::claims());
    let parts: Vec<&str> = t.split('.').collect();
    let forged_claims = with(|c| c["sub"] = json!("mallory")).to_string();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        mint::b64(forged_claims.as_bytes()),
        parts[2]
    );
    let err = verify(&c, &forged, NOW, &fails_first).unwrap_err();
    assert!(
        matches!(err, TokenError::SignatureCheckFailed { .. }),
        "{err:?}"
    );
    // while with a healthy host it is one
    assert_eq!(
        verify(&c, &forged, NOW, &RustCryptoVerifier).unwrap_err(),
        TokenError::BadSignature(mint::ISSUER.into())
    );
}

#[test]
fn the_discovery_digest_is_the_identity_s_computed_once() {
    let identity = Identity {
        user: "alice".into(),
        groups: vec!["dev".into()],
        uid: Some("u-1".into()),
        extra: Vec::new(),
    };
    let token = VerifiedToken::new(identity.clone(), "i".into(), None, None, 0);
    let first = *token.identity_digest();
    assert_eq!(first, discovery_cache::identity_digest(&identity));
    assert!(std::ptr::eq(
        token.identity_digest(),
        token.identity_digest()
    ));
    let bob = Identity {
        user: "bob".into(),
        ..identity
    };
    assert_ne!(
        *VerifiedToken::new(bob, "i".into(), None, None, 0).identity_digest(),
        first
    );
}
