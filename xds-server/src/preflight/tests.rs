use std::path::Path;

use super::*;
use crate::inputs::{gateway_config, kubeconfig};

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: 'https://127.0.0.1:6443'}
- name: b
  cluster: {server: 'https://127.0.0.1:6444'}
users:
- name: gw
  user: {token: t}
contexts:
- name: a
  context: {cluster: a, user: gw}
- name: b
  context: {cluster: b, user: gw}
";

fn gateway(jwt: &str) -> GatewayConfig {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = crate::test_files::gateway_config_text(d, jwt);
    gateway_config::parse(&text, &d.join("gateway.yaml")).unwrap()
}

fn clusters() -> Vec<ClusterTarget> {
    kubeconfig::parse(KUBECONFIG, Path::new("/k/config"))
        .unwrap()
        .clusters
}

fn names(reqs: &[Requirement]) -> Vec<String> {
    reqs.iter().map(Requirement::name).collect()
}

#[test]
fn an_idp_without_mappings_needs_users_and_groups() {
    let g = gateway(
        "- issuer:\n    url: https://idp.example\n    audiences: [k]\n    publicKeyFile: issuer.pub.pem\n",
    );
    let wanted = requirements(&clusters(), &g);
    assert_eq!(wanted.len(), 2);
    assert_eq!(
        names(&wanted[0].1),
        ["reachable", "impersonate users", "impersonate groups"]
    );
}

#[test]
fn mapped_uid_and_extras_are_asked_key_by_key() {
    let g = gateway(
        "- issuer:\n    url: https://idp.example\n    audiences: [k]\n    publicKeyFile: issuer.pub.pem\n  \
         claimMappings:\n    uid: {claim: oid}\n    extra:\n    - key: example.com/tenant\n      claim: t\n",
    );
    let wanted = requirements(&clusters(), &g);
    assert_eq!(
        names(&wanted[1].1),
        [
            "reachable",
            "impersonate users",
            "impersonate groups",
            "impersonate uids",
            "impersonate userextras/example.com/tenant"
        ]
    );
    // the fix names the literal key: real RBAC reads `userextras/*` literally
    let extra = wanted[1].1.last().unwrap();
    assert_eq!(
        extra.fix("gw"),
        "- apiGroups: [\"authentication.k8s.io\"]\n  resources: [\"userextras/example.com/tenant\"]\n  verbs: [impersonate]"
    );
}

#[test]
fn a_cluster_issuer_needs_service_account_rights_everywhere_and_its_keys_at_home() {
    let g = gateway(
        "- issuer:\n    url: https://kubernetes.default.svc\n    audiences: [k]\n    cluster: b\n",
    );
    let wanted = requirements(&clusters(), &g);
    let a = names(&wanted[0].1);
    let b = names(&wanted[1].1);
    for key in SERVICE_ACCOUNT_EXTRA_KEYS {
        assert!(
            a.contains(&format!("impersonate userextras/{key}")),
            "{a:?}"
        );
    }
    assert!(a.contains(&"impersonate serviceaccounts".to_string()));
    assert!(a.contains(&"impersonate uids".to_string()));
    assert!(!a.contains(&"read issuer keys".to_string()));
    assert_eq!(b.last().unwrap(), "read issuer keys");
    assert!(
        wanted[1].1.last().unwrap().fix("system:serviceaccount:kube-system:kubeplex")
            .contains("--clusterrole=system:service-account-issuer-discovery --user=system:serviceaccount:kube-system:kubeplex")
    );
}

#[test]
fn the_report_renders_a_table_and_the_rbac_to_add() {
    let row = |check: &str, outcome, fix: &str| Row {
        context: "prod".into(),
        check: check.into(),
        outcome,
        detail: "d".into(),
        fix: fix.into(),
    };
    let report = Report {
        checked_at: 0,
        rows: vec![
            row("reachable", Outcome::Ok, ""),
            row("impersonate userextras/k.io/x", Outcome::Missing, "- rule"),
        ],
    };
    assert!(!report.ok());
    let text = report.render();
    assert!(text.starts_with("CONTEXT  CHECK"), "{text}");
    assert!(
        text.contains("prod     impersonate userextras/k.io/x  MISSING  d"),
        "{text}"
    );
    assert!(text.ends_with("To fix prod:\n- rule\n"), "{text}");
}
