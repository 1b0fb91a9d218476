use std::time::Duration;

use super::ScriptedUser;
use super::grants::{GrantError, Grants, pkce_matches};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// RFC 7636 appendix B: the S256 challenge of `VERIFIER`.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn alice() -> ScriptedUser {
    ScriptedUser::new("alice", &["dev"])
}

#[test]
fn pkce_s256_matches_the_rfc_example_and_nothing_else() {
    assert!(pkce_matches(VERIFIER, CHALLENGE));
    assert!(!pkce_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
    assert!(!pkce_matches("short", CHALLENGE));
}

#[test]
fn a_code_is_redeemed_once_with_its_verifier_at_its_redirect_uri() {
    let mut grants = Grants::default();
    let uri = "http://127.0.0.1:5000/callback";
    let code = grants.issue_code(alice(), uri, CHALLENGE, Some("n".into()), true);
    let granted = grants.redeem_code(&code, uri, VERIFIER).unwrap();
    assert_eq!(granted.user, alice());
    assert_eq!(granted.nonce.as_deref(), Some("n"));
    assert!(granted.offline);
    assert_eq!(
        grants.redeem_code(&code, uri, VERIFIER).unwrap_err(),
        GrantError::InvalidGrant
    );
    // A wrong verifier or redirect URI burns the code too.
    let code = grants.issue_code(alice(), uri, CHALLENGE, None, false);
    assert!(
        grants
            .redeem_code(&code, "http://127.0.0.1:5001/callback", VERIFIER)
            .is_err()
    );
    assert!(grants.redeem_code(&code, uri, VERIFIER).is_err());
}

#[test]
fn refresh_tokens_rotate_and_revoke() {
    let mut grants = Grants::default();
    let first = grants.issue_refresh_token(alice());
    assert_eq!(grants.redeem_refresh_token(&first).unwrap(), alice());
    assert_eq!(
        grants.redeem_refresh_token(&first).unwrap_err(),
        GrantError::InvalidGrant
    );
    let second = grants.issue_refresh_token(alice());
    grants.issue_refresh_token(ScriptedUser::new("bob", &[]));
    assert_eq!(grants.revoke_subject("alice"), 1);
    assert!(grants.redeem_refresh_token(&second).is_err());
    assert_eq!(grants.live_refresh_tokens(), 1);
}

#[test]
fn a_device_grant_is_pending_until_decided_and_polling_fast_slows_down() {
    let mut grants = Grants::default();
    // Short, so the test waits one interval for real (what a client does).
    let interval = Duration::from_millis(50);
    let (device, user_code) = grants.start_device(true);
    assert_eq!(grants.pending_user_codes(), vec![user_code.clone()]);
    assert_eq!(
        grants.poll_device(&device, interval).unwrap_err(),
        GrantError::AuthorizationPending
    );
    assert_eq!(
        grants.poll_device(&device, interval).unwrap_err(),
        GrantError::SlowDown
    );
    assert!(grants.decide_device(&user_code.to_lowercase(), Some(alice())));
    std::thread::sleep(interval);
    let granted = grants.poll_device(&device, interval).unwrap();
    assert_eq!(granted.user, alice());
    assert!(grants.poll_device(&device, interval).is_err());

    let (device, user_code) = grants.start_device(false);
    assert!(grants.decide_device(&user_code, None));
    assert_eq!(
        grants.poll_device(&device, interval).unwrap_err(),
        GrantError::AccessDenied
    );
}
