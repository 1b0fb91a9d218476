//! Unit tests: key ids, JWK and JWKS shapes, claims and header exactly as
//! Kubernetes writes them, signatures, and the token authenticator.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::authenticator::{self, LEEWAY_SECS, TokenError};
use super::claims::Claims;
use super::keys::{IssuerKey, key_id, rsa_public_numbers};
use super::{
    BoundObjects, IssuedToken, Issuer, IssuerDiscoveryAccess, ServiceAccountOptions,
    SigningAlgorithm, TokenSpec, ensure_service_account, jwt, unix,
};
use crate::apiserver::store::Store;
use crate::apiserver::well_known;

const SERVER: &str = "https://127.0.0.1:6443";

fn issuer(algorithm: SigningAlgorithm) -> Issuer {
    Issuer::new(
        None,
        SERVER,
        ServiceAccountOptions {
            algorithm,
            ..ServiceAccountOptions::default()
        },
    )
    .unwrap()
}

fn b64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

/// The decoded header and payload of a compact JWS.
fn decode(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    (
        serde_json::from_slice(&b64(parts[0])).unwrap(),
        serde_json::from_slice(&b64(parts[1])).unwrap(),
    )
}

/// Issues a token for `ns/name` in `store` at `now`.
fn issue(
    issuer: &Issuer,
    store: &Store,
    ns: &str,
    name: &str,
    audiences: &[&str],
    now: SystemTime,
    bound: BoundObjects,
) -> IssuedToken {
    let sa = ensure_service_account(store, ns, name).unwrap();
    let audiences: Vec<String> = audiences.iter().map(|s| s.to_string()).collect();
    issuer
        .issue(&TokenSpec {
            service_account: &sa,
            audiences: &audiences,
            ttl: Duration::from_secs(3600),
            now,
            bound,
        })
        .unwrap()
}

#[test]
fn es256_kid_is_base64url_sha256_of_the_pkix_der() {
    let key = IssuerKey::generate(SigningAlgorithm::Es256).unwrap();
    // The same SPKI as p256 encodes it (Go's MarshalPKIXPublicKey is the
    // standard encoding).
    let jwk = key.jwk();
    let mut point = vec![4u8];
    point.extend(b64(jwk.x.as_deref().unwrap()));
    point.extend(b64(jwk.y.as_deref().unwrap()));
    let public = p256::PublicKey::from_sec1_bytes(&point).unwrap();
    let der = public.to_public_key_der().unwrap();
    assert_eq!(key.spki_der(), der.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(der.as_bytes()));
    assert_eq!(key.kid(), expected);
    assert_eq!(key.kid().len(), 43);
    // Fresh keys differ.
    let other = IssuerKey::generate(SigningAlgorithm::Es256).unwrap();
    assert_ne!(key.kid(), other.kid());
}

#[test]
fn es256_jwk_is_shaped_like_go_jose() {
    let key = IssuerKey::generate(SigningAlgorithm::Es256).unwrap();
    let text = serde_json::to_string(&key.jwk()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut in_text_order = names.clone();
    in_text_order.sort_by_key(|k| text.find(&format!("\"{k}\":")).unwrap());
    assert_eq!(in_text_order, ["use", "kty", "kid", "crv", "alg", "x", "y"]);
    assert_eq!(v["use"], "sig");
    assert_eq!(v["kty"], "EC");
    assert_eq!(v["crv"], "P-256");
    assert_eq!(v["alg"], "ES256");
    assert_eq!(v["kid"], key.kid());
    assert_eq!(b64(v["x"].as_str().unwrap()).len(), 32);
    assert_eq!(b64(v["y"].as_str().unwrap()).len(), 32);
}

fn fixture_spkis() -> Vec<Vec<u8>> {
    use x509_cert::der::{DecodePem, Encode};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/service_accounts");
    (0..12)
        .map(|i| {
            let pem = std::fs::read_to_string(format!("{dir}/rsa-{i}.pub.pem")).unwrap();
            x509_cert::spki::SubjectPublicKeyInfoOwned::from_pem(pem.as_bytes())
                .unwrap()
                .to_der()
                .unwrap()
        })
        .collect()
}

#[test]
fn rs256_pool_keys_match_openssl_and_publish_n_and_e() {
    let key = IssuerKey::generate(SigningAlgorithm::Rs256).unwrap();
    // The SPKI DER (hence the kid) is byte for byte what openssl writes.
    assert!(fixture_spkis().iter().any(|s| s == key.spki_der()));
    assert_eq!(key.kid(), key_id(key.spki_der()));
    let text = serde_json::to_string(&key.jwk()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_by_key(|k| text.find(&format!("\"{k}\":")).unwrap());
    assert_eq!(names, ["use", "kty", "kid", "alg", "n", "e"]);
    assert_eq!(v["kty"], "RSA");
    assert_eq!(v["alg"], "RS256");
    assert_eq!(v["e"], "AQAB");
    let n = b64(v["n"].as_str().unwrap());
    assert_eq!(n.len(), 256, "2048-bit modulus, no leading zero");
    assert_ne!(n[0], 0);
    // n as in the SPKI.
    let spki = x509_cert::spki::SubjectPublicKeyInfoRef::try_from(key.spki_der()).unwrap();
    let (spki_n, _) = rsa_public_numbers(spki.subject_public_key.raw_bytes()).unwrap();
    assert_eq!(spki_n, n);
}

#[test]
fn live_rs256_keys_never_share_a_pool_key() {
    let keys: Vec<IssuerKey> = (0..3)
        .map(|_| IssuerKey::generate(SigningAlgorithm::Rs256).unwrap())
        .collect();
    let mut kids: Vec<&str> = keys.iter().map(IssuerKey::kid).collect();
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), 3);
}

#[test]
fn signatures_verify_and_tampering_fails() {
    for (alg, len) in [
        (SigningAlgorithm::Es256, 64),
        (SigningAlgorithm::Rs256, 256),
    ] {
        let key = IssuerKey::generate(alg).unwrap();
        let sig = key.sign(b"header.payload").unwrap();
        assert_eq!(sig.len(), len, "{alg:?}");
        assert!(key.verify(b"header.payload", &sig), "{alg:?}");
        assert!(!key.verify(b"header.payloaD", &sig), "{alg:?}");
        let mut bad = sig.clone();
        bad[len / 2] ^= 1;
        assert!(!key.verify(b"header.payload", &bad), "{alg:?}");
        let other = IssuerKey::generate(alg).unwrap();
        assert!(!other.verify(b"header.payload", &sig), "{alg:?}");
    }
}

#[test]
fn token_header_and_claims_are_shaped_like_kubernetes() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    let sa = ensure_service_account(&store, "team-a", "builder").unwrap();
    let now = SystemTime::now();
    let bound = BoundObjects {
        pod: Some(("builder-7d9".into(), "pod-uid-1".into())),
        node: Some(("node-1".into(), String::new())),
        secret: None,
    };
    let issued = issue(
        &issuer,
        &store,
        "team-a",
        "builder",
        &["kubeplex"],
        now,
        bound,
    );
    let parts: Vec<&str> = issued.token.split('.').collect();
    // Header: exactly {"alg","kid"}, no typ.
    let header = String::from_utf8(b64(parts[0])).unwrap();
    let kid = issuer.key_ids().pop().unwrap();
    assert_eq!(header, format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#));
    // Payload: go-jose's sorted keys, aud a list even with one audience.
    let payload = String::from_utf8(b64(parts[1])).unwrap();
    let t = unix(now);
    let sa_uid = sa["metadata"]["uid"].as_str().unwrap();
    assert!(!sa_uid.is_empty());
    let expected = format!(
        concat!(
            r#"{{"aud":["kubeplex"],"exp":{exp},"iat":{t},"iss":"{iss}","jti":"{jti}","#,
            r#""kubernetes.io":{{"namespace":"team-a","node":{{"name":"node-1"}},"#,
            r#""pod":{{"name":"builder-7d9","uid":"pod-uid-1"}},"#,
            r#""serviceaccount":{{"name":"builder","uid":"{sa_uid}"}}}},"#,
            r#""nbf":{t},"sub":"system:serviceaccount:team-a:builder"}}"#
        ),
        exp = t + 3600,
        t = t,
        iss = SERVER,
        jti = issued.jti,
        sa_uid = sa_uid,
    );
    assert_eq!(payload, expected);
    assert_eq!(issued.expires_at, t + 3600);
    // jti is a UUID v4.
    let jti: Vec<&str> = issued.jti.split('-').collect();
    assert_eq!(
        jti.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(jti[2].starts_with('4'));
    // Every token gets its own jti.
    let again = issue(
        &issuer,
        &store,
        "team-a",
        "builder",
        &["a", "b"],
        now,
        BoundObjects::default(),
    );
    assert_ne!(again.jti, issued.jti);
    let (_, claims) = decode(&again.token);
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "team-a", "serviceaccount": {"name": "builder", "uid": sa_uid}})
    );
}

#[test]
fn discovery_document_and_jwks_follow_the_published_keys() {
    let issuer = Issuer::new(
        Some("https://kubernetes.default.svc.cluster.local".into()),
        SERVER,
        ServiceAccountOptions::default(),
    )
    .unwrap();
    let doc = well_known::discovery_json(&issuer);
    assert_eq!(
        doc,
        json!({
            "issuer": "https://kubernetes.default.svc.cluster.local",
            "jwks_uri": format!("{SERVER}/openid/v1/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    );
    let first = issuer.key_ids();
    let second = issuer.rotate().unwrap();
    let jwks = well_known::jwks_json(&issuer);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [first[0].as_str(), second.as_str()]);
    // Still one algorithm, listed once.
    assert_eq!(
        well_known::discovery_json(&issuer)["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(issuer.retire_except_current(), 1);
    let jwks = well_known::jwks_json(&issuer);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], second.as_str());
    assert_eq!(issuer.retire_except_current(), 0);
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(authenticator::bearer("Bearer abc"), Some("abc"));
    assert_eq!(authenticator::bearer("bearer  abc "), Some("abc"));
    assert_eq!(authenticator::bearer("Basic abc"), None);
    assert_eq!(authenticator::bearer("Bearer "), None);
    assert_eq!(authenticator::bearer("Bearer"), None);
}

#[test]
fn own_tokens_authenticate_as_the_service_account() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    store
        .create(
            "pods",
            json!({"metadata": {"name": "web-0", "namespace": "default"},
                   "spec": {"serviceAccountName": "web", "nodeName": "node-7",
                            "containers": [{"name": "c", "image": "nginx"}]}}),
        )
        .unwrap();
    let pod = store.get("pods", "default", "web-0").unwrap();
    let pod_uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    let now = SystemTime::now();
    let bound = BoundObjects {
        pod: Some(("web-0".into(), pod_uid.clone())),
        node: Some(("node-7".into(), String::new())),
        secret: None,
    };
    let issued = issue(&issuer, &store, "default", "web", &[SERVER], now, bound);
    let user = authenticator::authenticate(&issuer, &issued.token, &store, unix(now)).unwrap();
    assert_eq!(user.username, "system:serviceaccount:default:web");
    assert_eq!(
        user.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ]
    );
    let sa = store.get("serviceaccounts", "default", "web").unwrap();
    assert_eq!(user.uid, sa["metadata"]["uid"].as_str().unwrap());
    let extra = |k: &str| user.extra[&format!("authentication.kubernetes.io/{k}")].clone();
    assert_eq!(extra("pod-name"), ["web-0"]);
    assert_eq!(extra("pod-uid"), [pod_uid]);
    assert_eq!(extra("node-name"), ["node-7"]);
    assert_eq!(extra("credential-id"), [format!("JTI={}", issued.jti)]);
    assert!(
        !user
            .extra
            .contains_key("authentication.kubernetes.io/node-uid")
    );

    // Deleting the pod invalidates its tokens.
    store.delete("pods", "default", "web-0").unwrap();
    assert_eq!(
        authenticator::authenticate(&issuer, &issued.token, &store, unix(now)),
        Err(TokenError::Invalidated(
            "service account token has been invalidated".into()
        ))
    );
}

#[test]
fn expiry_and_not_before_allow_a_minute_of_skew() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    let now = SystemTime::now();
    let t = unix(now);
    let issued = issue(
        &issuer,
        &store,
        "default",
        "sa",
        &[SERVER],
        now,
        BoundObjects::default(),
    );
    let at = |when: u64| authenticator::authenticate(&issuer, &issued.token, &store, when);
    assert!(at(t + 3600 + LEEWAY_SECS).is_ok());
    assert_eq!(at(t + 3600 + LEEWAY_SECS + 1), Err(TokenError::Expired));
    assert!(at(t - LEEWAY_SECS).is_ok());
    assert_eq!(at(t - LEEWAY_SECS - 1), Err(TokenError::NotYetValid));
}

#[test]
fn foreign_or_altered_tokens_are_refused() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    let now = SystemTime::now();
    let t = unix(now);
    // Audience the server does not accept.
    let issued = issue(
        &issuer,
        &store,
        "default",
        "sa",
        &["kubeplex"],
        now,
        BoundObjects::default(),
    );
    assert_eq!(
        authenticator::authenticate(&issuer, &issued.token, &store, t),
        Err(TokenError::Audience {
            token: vec!["kubeplex".into()],
            accepted: vec![SERVER.into()],
        })
    );
    // Another server's token (same names, other issuer and key).
    let other = Issuer::new(
        None,
        "https://127.0.0.1:7443",
        ServiceAccountOptions::default(),
    )
    .unwrap();
    let foreign = issue(
        &other,
        &store,
        "default",
        "sa",
        &[SERVER],
        now,
        BoundObjects::default(),
    );
    assert_eq!(
        authenticator::authenticate(&issuer, &foreign.token, &store, t),
        Err(TokenError::Issuer("https://127.0.0.1:7443".into()))
    );
    // Same issuer name but another key: the signature fails.
    let impostor = Issuer::new(
        Some(SERVER.into()),
        "https://127.0.0.1:7443",
        ServiceAccountOptions::default(),
    )
    .unwrap();
    let forged = issue(
        &impostor,
        &store,
        "default",
        "sa",
        &[SERVER],
        now,
        BoundObjects::default(),
    );
    assert_eq!(
        authenticator::authenticate(&issuer, &forged.token, &store, t),
        Err(TokenError::Signature)
    );
    // A payload edited after signing.
    let good = issue(
        &issuer,
        &store,
        "default",
        "sa",
        &[SERVER],
        now,
        BoundObjects::default(),
    );
    let parts: Vec<&str> = good.token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    claims["sub"] = json!("system:serviceaccount:kube-system:admin");
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    assert_eq!(
        authenticator::authenticate(&issuer, &edited, &store, t),
        Err(TokenError::Signature)
    );
    assert!(authenticator::authenticate(&issuer, &good.token, &store, t).is_ok());
    assert_eq!(
        authenticator::authenticate(&issuer, "not-a-jwt", &store, t),
        Err(TokenError::Malformed)
    );
}

#[test]
fn rotation_keeps_old_tokens_valid_until_retired() {
    for alg in [SigningAlgorithm::Es256, SigningAlgorithm::Rs256] {
        let store = Store::new();
        let issuer = issuer(alg);
        let now = SystemTime::now();
        let t = unix(now);
        let old = issue(
            &issuer,
            &store,
            "default",
            "sa",
            &[SERVER],
            now,
            BoundObjects::default(),
        );
        let new_kid = issuer.rotate().unwrap();
        let new = issue(
            &issuer,
            &store,
            "default",
            "sa",
            &[SERVER],
            now,
            BoundObjects::default(),
        );
        let (header, _) = decode(&new.token);
        assert_eq!(header["kid"], new_kid.as_str(), "{alg:?}");
        assert_eq!(header["alg"], alg.as_str());
        assert!(
            authenticator::authenticate(&issuer, &old.token, &store, t).is_ok(),
            "{alg:?}"
        );
        issuer.retire_except_current();
        assert_eq!(
            authenticator::authenticate(&issuer, &old.token, &store, t),
            Err(TokenError::Signature),
            "{alg:?}"
        );
        assert!(
            authenticator::authenticate(&issuer, &new.token, &store, t).is_ok(),
            "{alg:?}"
        );
    }
}

#[test]
fn a_recreated_service_account_invalidates_old_tokens() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    let now = SystemTime::now();
    let t = unix(now);
    let issued = issue(
        &issuer,
        &store,
        "default",
        "sa",
        &[SERVER],
        now,
        BoundObjects::default(),
    );
    store.delete("serviceaccounts", "default", "sa").unwrap();
    assert_eq!(
        authenticator::authenticate(&issuer, &issued.token, &store, t),
        Err(TokenError::Invalidated(
            "serviceaccounts \"sa\" not found".into()
        ))
    );
    let recreated = ensure_service_account(&store, "default", "sa").unwrap();
    let err = authenticator::authenticate(&issuer, &issued.token, &store, t).unwrap_err();
    let TokenError::Invalidated(message) = err else {
        panic!("{err:?}")
    };
    assert!(
        message.starts_with(&format!(
            "service account UID ({}) does not match claim",
            recreated["metadata"]["uid"].as_str().unwrap()
        )),
        "{message}"
    );
}

#[test]
fn ensure_service_account_creates_the_namespace_too() {
    let store = Store::new();
    assert!(store.get("namespaces", "", "fresh").is_none());
    let sa = ensure_service_account(&store, "fresh", "runner").unwrap();
    assert_eq!(sa["metadata"]["namespace"], "fresh");
    assert!(store.get("namespaces", "", "fresh").is_some());
    // Idempotent: the same object (uid) the second time.
    let again = ensure_service_account(&store, "fresh", "runner").unwrap();
    assert_eq!(again["metadata"]["uid"], sa["metadata"]["uid"]);
}

#[test]
fn api_audiences_default_to_the_issuer_and_can_be_set() {
    let default = issuer(SigningAlgorithm::Es256);
    assert_eq!(default.api_audiences(), [SERVER]);
    let custom = Issuer::new(
        None,
        SERVER,
        ServiceAccountOptions {
            api_audiences: vec!["api".into(), "kubeplex".into()],
            discovery_access: IssuerDiscoveryAccess::Anonymous,
            ..ServiceAccountOptions::default()
        },
    )
    .unwrap();
    assert_eq!(custom.api_audiences(), ["api", "kubeplex"]);
    assert_eq!(custom.issuer(), SERVER);
    assert_eq!(custom.jwks_uri(), format!("{SERVER}/openid/v1/jwks"));
}

#[test]
fn claims_round_trip_through_serde() {
    let store = Store::new();
    let issuer = issuer(SigningAlgorithm::Es256);
    let issued = issue(
        &issuer,
        &store,
        "default",
        "sa",
        &["x"],
        SystemTime::now(),
        BoundObjects::default(),
    );
    let parsed = jwt::parse(&issued.token).unwrap();
    let claims: Claims = serde_json::from_slice(&parsed.payload).unwrap();
    assert_eq!(serde_json::to_vec(&claims).unwrap(), parsed.payload);
}
