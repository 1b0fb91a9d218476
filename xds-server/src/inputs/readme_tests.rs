//! The README's configuration examples are what users copy: each must load
//! as written (with the files it names present).

use std::fs;

use super::{gateway_config, policy, revocations};

const README: &str = include_str!("../../../README.md");

/// The one ```yaml block of the README that contains `marker`.
fn yaml_block(marker: &str) -> String {
    let blocks: Vec<&str> = README
        .split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(blocks.len(), 1, "README yaml blocks containing {marker:?}");
    blocks[0].to_string()
}

#[test]
fn the_policy_example_loads() {
    let text = yaml_block("kind: GatewayPolicy");
    let policy = policy::parse(&text, "README.md".as_ref()).expect("README policy");
    assert_eq!(policy.roles.len(), 1);
    assert_eq!(policy.roles[0].rules.len(), 2);
    assert_eq!(policy.bindings.len(), 1);
}

#[test]
fn the_revocations_example_loads() {
    let text = yaml_block("revoked:\n");
    let list = revocations::parse(&text, "README.md".as_ref()).expect("README revocations");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].reason.as_deref(), Some("laptop stolen"));
}

#[test]
fn the_gateway_config_example_loads() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    fs::create_dir(&tls).unwrap();
    let (ca, _, _) = crate::local_setup::gateway_tls(&tls, &["gateway".into()]).unwrap();
    for name in ["clients-ca.pem", "idp-ca.pem", "audit-db-ca.pem"] {
        fs::copy(&ca, tls.join(name)).unwrap();
    }
    fs::write(dir.path().join("audit-db-password"), "secret\n").unwrap();
    fs::write(
        dir.path().join("rbac.yaml"),
        yaml_block("kind: GatewayPolicy"),
    )
    .unwrap();
    let path = dir.path().join("gateway.yaml");
    let text = yaml_block("kind: GatewayConfig");
    let config = gateway_config::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listener.port, 8443);
    assert!(config.listener.client_ca_pem.is_some());
    assert_eq!(
        config.listener.context_server_name_suffix.as_deref(),
        Some("clusters.gateway.example.com")
    );
    assert_eq!(config.issuers.len(), 2);
    let login = config.login.expect("the example has a login section");
    assert_eq!(login.issuer, "https://login.example.com");
    assert_eq!(
        login.scopes,
        ["openid", "offline_access", "email", "groups"]
    );
    assert_eq!(
        login.gateway_ca_pem.as_deref(),
        Some(fs::read_to_string(&ca).unwrap().as_str())
    );
    assert_eq!(config.clock_skew_seconds, 30);
    assert_eq!(config.token_cache_size, 4096);
    let super::gateway_config::StoreConfig::Postgres(store) = &config.audit.store else {
        panic!("the example's audit store: {:?}", config.audit.store)
    };
    assert_eq!(
        store.password.as_ref().map(|p| p.expose().as_str()),
        Some("secret")
    );
    assert!(store.ca_pem.is_some());
    assert_eq!(config.audit.retention.as_secs(), 90 * 86_400);
}
