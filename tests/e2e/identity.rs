//! Identity at production grade (issue 3): several issuers with claim
//! mappings, keys from a JWKS URL and from OIDC discovery, key rotation,
//! ServiceAccount tokens from a trusted cluster, revocation.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, IssuerDiscoveryAccess};

use crate::harness::*;

/// A signing key of the given algorithm in `dir`: (private key, public PEM).
fn key(
    dir: &std::path::Path,
    name: &str,
    alg: &'static rcgen::SignatureAlgorithm,
) -> (PathBuf, PathBuf) {
    let k = rcgen::KeyPair::generate_for(alg).unwrap();
    let (private, public) = (
        dir.join(format!("{name}-key.pem")),
        dir.join(format!("{name}.pub.pem")),
    );
    std::fs::write(&private, k.serialize_pem()).unwrap();
    std::fs::write(&public, k.public_key_pem()).unwrap();
    (private, public)
}

/// A test cluster that also acts as an OIDC provider anyone may read.
async fn oidc_provider(pki: &Pki, name: &str, max_age: Duration) -> ApiServer {
    let mut config = ApiServerConfig::new(
        name,
        pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
    );
    config.client_ca_pem = Some(pki.cluster_ca.cert_pem().to_string());
    config.service_accounts.discovery_access = IssuerDiscoveryAccess::Anonymous;
    config.service_accounts.discovery_max_age = max_age;
    ApiServer::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_issuers_at_once_with_their_claim_mappings() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let dir = tempfile::tempdir().unwrap();
    let (login_key, login_pub) = key(dir.path(), "login", &rcgen::PKCS_ED25519);
    let extra_jwt = format!(
        "- issuer:\n    url: https://login.example.test\n    audiences: [kubeplex]\n    publicKeyFile: {}\n  \
         claimMappings:\n    username: {{claim: email, prefix: \"login:\"}}\n    groups: {{claim: roles, prefix: \"login:\"}}\n    \
         uid: {{claim: uid}}\n    extra:\n    - key: example.com/tenant\n      claim: tenant\n",
        login_pub.display()
    );
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);

    // The default issuer (ES256), default mappings.
    let alice = gw.mint(&["--sub", "alice", "--group", "dev"]);
    gw.kubectl(&alice, &["a"]).ok(&["get", "configmaps"]);
    // The second issuer (EdDSA), mapped claims.
    let bob = mint_token(
        &login_key,
        &[
            "--issuer",
            "https://login.example.test",
            "--sub",
            "ignored",
            "--claims",
            r#"{"email":"bob@example.com","roles":["admin","dev"],"uid":"u-123","tenant":"blue"}"#,
        ],
    );
    let whoami = gw
        .kubectl(&bob, &["a"])
        .ok(&["auth", "whoami", "-o", "json"]);
    let review: serde_json::Value = serde_json::from_str(&whoami).unwrap();
    let info = &review["status"]["userInfo"];
    assert_eq!(info["username"], "login:bob@example.com", "{whoami}");
    assert_eq!(info["uid"], "u-123");
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(
        groups.contains(&"login:admin") && groups.contains(&"login:dev"),
        "{groups:?}"
    );
    assert_eq!(
        info["extra"]["example.com/tenant"],
        serde_json::json!(["blue"])
    );

    let seen = a.forwarded();
    let by_alice = seen
        .iter()
        .find(|r| r.header("impersonate-user") == Some("alice"))
        .expect("alice's request");
    assert_eq!(by_alice.header_all("impersonate-group"), vec!["dev"]);
    let by_bob = seen
        .iter()
        .find(|r| r.header("impersonate-user") == Some("login:bob@example.com"))
        .expect("bob's request");
    assert_eq!(
        by_bob.header_all("impersonate-group"),
        vec!["login:admin", "login:dev"]
    );
    assert_eq!(by_bob.header("impersonate-uid"), Some("u-123"));
    // Kubernetes' extra-key encoding: lower-case, '/' percent-encoded.
    assert_eq!(
        by_bob.header("impersonate-extra-example.com%2ftenant"),
        Some("blue"),
        "{by_bob:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_from_a_jwks_url_and_from_oidc_discovery() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let via_discovery = oidc_provider(&pki, "idp-discovery", Duration::from_secs(3600)).await;
    let via_jwks = oidc_provider(&pki, "idp-jwks", Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.cluster_ca.write_cert_to(dir.path(), "idp-ca").unwrap();
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [kubeplex]\n    discovery: true\n    certificateAuthorityFile: {ca}\n  \
         claimMappings:\n    username: {{claim: sub, prefix: \"oidc:\"}}\n\
         - issuer:\n    url: {}\n    audiences: [kubeplex]\n    jwksURL: {}/openid/v1/jwks\n    certificateAuthorityFile: {ca}\n  \
         claimMappings:\n    username: {{claim: sub, prefix: \"jwks:\"}}\n",
        via_discovery.service_account_issuer(),
        via_jwks.service_account_issuer(),
        via_jwks.url(),
        ca = ca.display()
    );
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);

    let t1 = via_discovery.mint_service_account_token(
        "apps",
        "ci",
        &["kubeplex"],
        Duration::from_secs(600),
        None,
    );
    let t2 = via_jwks.mint_service_account_token(
        "apps",
        "ci",
        &["kubeplex"],
        Duration::from_secs(600),
        None,
    );
    gw.kubectl(&t1, &["a"]).ok(&["get", "configmaps"]);
    gw.kubectl(&t2, &["a"]).ok(&["get", "configmaps"]);
    let users: Vec<String> = a
        .forwarded()
        .iter()
        .filter_map(|r| r.header("impersonate-user").map(String::from))
        .collect();
    assert!(
        users.contains(&"oidc:system:serviceaccount:apps:ci".to_string()),
        "{users:?}"
    );
    assert!(
        users.contains(&"jwks:system:serviceaccount:apps:ci".to_string()),
        "{users:?}"
    );
    assert!(via_discovery.jwks_fetch_count() >= 1 && via_jwks.jwks_fetch_count() >= 1);
    let status = gw.status();
    let remote = status["remote_keys"].as_array().unwrap();
    assert_eq!(remote.len(), 2, "{status}");
    assert!(
        remote
            .iter()
            .all(|r| r["keys"].as_u64() >= Some(1) && r["last_error"].is_null()),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_keys_are_picked_up_and_retired_keys_refused() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    // The issuer says its keys may be cached 5 s (kubeplex's lower bound).
    let idp = oidc_provider(&pki, "idp", Duration::from_secs(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.cluster_ca.write_cert_to(dir.path(), "idp-ca").unwrap();
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [kubeplex]\n    discovery: true\n    certificateAuthorityFile: {}\n  \
         claimMappings:\n    username: {{claim: sub, prefix: \"oidc:\"}}\n",
        idp.service_account_issuer(),
        ca.display()
    );
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);
    let mint = || {
        idp.mint_service_account_token("apps", "ci", &["kubeplex"], Duration::from_secs(600), None)
    };

    let old = mint();
    gw.kubectl(&old, &["a"]).ok(&["get", "configmaps"]);

    // The issuer rotates: tokens signed with the new key work within seconds.
    idp.rotate_service_account_key();
    let new = mint();
    let rotated = Instant::now();
    let k_new = gw.kubectl(&new, &["a"]);
    k_new.eventually_ok(&["get", "configmaps"], Duration::from_secs(10));
    eprintln!(
        "a token with the new key was accepted {:?} after the rotation",
        rotated.elapsed()
    );
    // The old key is still published: its tokens still work.
    gw.kubectl(&old, &["a"]).ok(&["get", "configmaps"]);

    // The issuer stops publishing the old key: its tokens are refused.
    idp.retire_service_account_keys_except_current();
    let k_old = gw.kubectl(&old, &["a"]);
    let err = wait_for(
        "the retired key to be refused",
        Duration::from_secs(20),
        || {
            let r = k_old.run(&["get", "configmaps"]);
            (!r.ok).then_some(r.stderr)
        },
    );
    assert!(err.contains("no key with kid"), "{err}");
    k_new.ok(&["get", "configmaps"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_account_tokens_of_a_trusted_cluster_reach_another_cluster() {
    let pki = Pki::new();
    let (a, b, c) = (
        pki.cluster("a").await,
        pki.cluster("b").await,
        pki.cluster("c").await,
    );
    // Cluster a's ServiceAccount issuer is trusted (discovered through a,
    // with the gateway's kubeconfig credentials for a); c's is not.
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [kubeplex]\n    cluster: a\n",
        a.service_account_issuer()
    );
    let mut spec = GatewaySpec::new(
        &pki,
        vec![
            ClusterEntry::new("a", &a),
            ClusterEntry::new("b", &b),
            ClusterEntry::new("c", &c),
        ],
    );
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);

    // A pod's projected token from cluster a, audience = the gateway's.
    let token = a.mint_service_account_token(
        "team-a",
        "builder",
        &["kubeplex"],
        Duration::from_secs(600),
        Some("builder-7f9c"),
    );
    let k = gw.kubectl(&token, &["b"]);
    k.ok(&["get", "configmaps"]);
    let r = b
        .forwarded()
        .into_iter()
        .find(|r| r.header("impersonate-user").is_some())
        .expect("b was reached");
    assert_eq!(
        r.header("impersonate-user"),
        Some("system:serviceaccount:team-a:builder")
    );
    assert_eq!(
        r.header_all("impersonate-group"),
        vec!["system:serviceaccounts", "system:serviceaccounts:team-a"]
    );
    assert!(
        r.header("impersonate-uid").is_some_and(|u| !u.is_empty()),
        "the ServiceAccount's uid: {r:?}"
    );
    assert_eq!(
        r.header("impersonate-extra-authentication.kubernetes.io%2fpod-name"),
        Some("builder-7f9c"),
        "{r:?}"
    );
    let whoami = k.ok(&["auth", "whoami"]);
    assert!(
        whoami.contains("system:serviceaccount:team-a:builder"),
        "{whoami}"
    );

    // Cluster c is not a trusted issuer.
    let from_c = c.mint_service_account_token(
        "team-c",
        "builder",
        &["kubeplex"],
        Duration::from_secs(600),
        None,
    );
    let err = gw.kubectl(&from_c, &["b"]).fails(&["get", "configmaps"]);
    assert!(
        err.contains(&format!(
            "issuer \"{}\" is not trusted",
            c.service_account_issuer()
        )),
        "{err}"
    );
    // A token of cluster a meant for a itself (its own audience) is refused.
    let own = a.mint_service_account_token(
        "team-a",
        "builder",
        &[&a.service_account_issuer()],
        Duration::from_secs(600),
        None,
    );
    let err = gw.kubectl(&own, &["b"]).fails(&["get", "configmaps"]);
    assert!(err.contains("audience"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubeplex_revoke_refuses_within_a_second_and_survives_a_restart() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let mut gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let doomed = gw.mint(&["--sub", "mallory", "--jti", "laptop-42"]);
    let other = gw.mint(&["--sub", "alice"]);
    let k = gw.kubectl(&doomed, &["a"]);
    k.ok(&["get", "configmaps"]);

    let admin = gw.admin.trim_start_matches("http://").to_string();
    let out = Command::new(kubeplex_bin())
        .args([
            "revoke",
            "--admin-addr",
            &admin,
            "--jti",
            "laptop-42",
            "--reason",
            "laptop stolen",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked_at = Instant::now();
    let err = wait_for(
        "the revoked token to be refused",
        Duration::from_secs(1),
        || {
            let r = k.run(&["get", "configmaps"]);
            (!r.ok).then_some(r.stderr)
        },
    );
    eprintln!(
        "refused {:?} after `kubeplex revoke` returned",
        revoked_at.elapsed()
    );
    assert!(
        err.contains(r#"token "laptop-42" has been revoked: laptop stolen"#),
        "{err}"
    );
    let file = std::fs::read_to_string(&gw.revocations).unwrap();
    assert!(
        file.contains("laptop-42") && file.contains("laptop stolen"),
        "{file}"
    );
    gw.kubectl(&other, &["a"]).ok(&["get", "configmaps"]);

    // Nothing lost when the control plane restarts.
    gw.restart();
    let err = gw.kubectl(&doomed, &["a"]).fails(&["get", "configmaps"]);
    assert!(err.contains("has been revoked"), "{err}");
    gw.kubectl(&other, &["a"]).ok(&["get", "configmaps"]);
    let admin = gw.admin.trim_start_matches("http://").to_string();
    let again = Command::new(kubeplex_bin())
        .args(["revoke", "--admin-addr", &admin, "--jti", "laptop-42"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already revoked"));
}
