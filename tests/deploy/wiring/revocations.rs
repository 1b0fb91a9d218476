//! The revocation store: the gateway config's `revocation.store:
//! kubernetes` names a ConfigMap the install renders (without `data`, so
//! re-applying never resets the list), and the control plane's
//! ServiceAccount may do exactly what the store needs to that one object
//! and nothing else (README: "RBAC of the control plane").

use serde_json::Value;

use super::super::render::{find, id, of_kind};

/// The verbs the Kubernetes revocation store uses.
const STORE_VERBS: [&str; 4] = ["get", "list", "watch", "update"];

/// The rules of every Role bound to ServiceAccount `account`.
pub fn granted_rules<'a>(objects: &'a [Value], account: &str) -> Vec<&'a Value> {
    of_kind(objects, "RoleBinding")
        .filter(|b| {
            let subjects = b["subjects"].as_array().into_iter().flatten();
            subjects
                .clone()
                .any(|s| s["kind"] == "ServiceAccount" && s["name"] == account)
                && b["roleRef"]["kind"] == "Role"
        })
        .filter_map(|b| {
            of_kind(objects, "Role").find(|r| r["metadata"]["name"] == b["roleRef"]["name"])
        })
        .flat_map(|r| r["rules"].as_array().into_iter().flatten())
        .collect()
}

pub fn check(objects: &[Value]) -> Vec<String> {
    let mut p = Vec::new();
    let config = find(objects, "ConfigMap", "kubeplex-config");
    let gateway: Value = serde_saphyr::from_str(config["data"]["gateway.yaml"].as_str().unwrap())
        .expect("gateway.yaml is YAML");
    let revocation = &gateway["revocation"];
    if revocation["store"] != "kubernetes" {
        p.push(format!(
            "gateway.yaml: revocation.store must be kubernetes (several control planes share the list), found {revocation}"
        ));
        return p;
    }
    let name = revocation["configMap"]
        .as_str()
        .unwrap_or("kubeplex-revocations");
    match of_kind(objects, "ConfigMap").find(|c| c["metadata"]["name"] == name) {
        None => p.push(format!("the revocation ConfigMap {name} is not rendered")),
        Some(cm) if !cm["data"].is_null() || !cm["binaryData"].is_null() => p.push(format!(
            "{}: must ship without data: kubectl apply would reset the list",
            id(cm)
        )),
        Some(_) => {}
    }
    let control_plane =
        &find(objects, "Deployment", "kubeplex-control-plane")["spec"]["template"]["spec"];
    let account = control_plane["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    let rules = granted_rules(objects, account);
    let exact = |rule: &Value, key: &str, want: &[&str]| {
        let mut got: Vec<&str> = rule[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        got == want
    };
    let only_the_store = rules.len() == 1
        && exact(rules[0], "apiGroups", &[""])
        && exact(rules[0], "resources", &["configmaps"])
        && exact(rules[0], "resourceNames", &[name])
        && exact(rules[0], "verbs", &STORE_VERBS);
    if !only_the_store {
        p.push(format!(
            "ServiceAccount {account} must be granted exactly {STORE_VERBS:?} on configmaps/{name}, found {rules:?}"
        ));
    }
    p
}
