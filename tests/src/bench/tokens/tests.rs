use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::*;

fn part(token: &str, i: usize) -> Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[test]
fn a_token_carries_what_the_filter_and_jwt_authn_check() {
    let keys = SigningKeys::fixtures().unwrap();
    let now = 1_795_435_200;
    for alg in Alg::ALL {
        let token = mint(&keys, alg, "jti-7", now).unwrap();
        assert_eq!(token.split('.').count(), 3);
        let header = part(&token, 0);
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["kid"], alg.kid());
        let claims = part(&token, 1);
        assert_eq!(claims["iss"], alg.issuer());
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["sub"], SUBJECT);
        assert_eq!(claims["jti"], "jti-7");
        assert_eq!(claims["exp"], now + 3600);
        assert!(claims["nbf"].as_i64().unwrap() < now);
        // the signature is over `header.payload`
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let again = keys.sign(alg, input.as_bytes()).unwrap();
        if alg != Alg::Es256 {
            // RSA PKCS#1 v1.5 and Ed25519 are deterministic
            assert_eq!(sig, again, "{alg:?}");
        } else {
            assert_eq!(sig.len(), again.len());
        }
    }
}

#[test]
fn mint_many_gives_unique_jtis_in_order_on_any_thread_count() {
    let keys = SigningKeys::fixtures().unwrap();
    for threads in [1, 3, 16] {
        let tokens = mint_many(&keys, Alg::EdDsa, "p", 10, 1_795_435_200, threads).unwrap();
        assert_eq!(tokens.len(), 10, "threads={threads}");
        let jtis: Vec<String> = tokens
            .iter()
            .map(|t| part(t, 1)["jti"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..10).map(|i| format!("p-{i}")).collect();
        assert_eq!(jtis, want, "threads={threads}");
    }
    assert!(
        mint_many(&keys, Alg::EdDsa, "p", 0, 0, 4)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn unix_now_is_now() {
    // after 2025-01-01 and before 2100
    let now = unix_now();
    assert!(now > 1_735_689_600 && now < 4_102_444_800, "{now}");
}
