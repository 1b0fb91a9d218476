//! The agent's install (`deploy/kubernetes/agent`): valid Kubernetes, and
//! its pieces fit: the pod runs as the ServiceAccount the impersonation
//! role is bound to, and mounts the Secret the README tells users to make
//! under the file names its arguments read.

use super::{render, schema};

#[test]
fn the_agent_install_is_valid_and_fits_together() {
    let objects = render::kustomize("agent");
    let problems: Vec<String> = objects
        .iter()
        .flat_map(|o| {
            schema::check(o)
                .into_iter()
                .map(move |p| format!("{}: {p}", render::id(o)))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let deployment = render::find(&objects, "Deployment", "kubeplex-agent");
    let pod = &deployment["spec"]["template"]["spec"];
    let binding = render::find(
        &objects,
        "ClusterRoleBinding",
        "kubeplex-agent-impersonator",
    );
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        deployment["metadata"]["namespace"]
    );
    let role = render::find(&objects, "ClusterRole", "kubeplex-agent-impersonator");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    // Impersonation and nothing else.
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], serde_json::json!(["impersonate"]), "{rule}");
    }

    let secret_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == "kubeplex-agent")
        .expect("the agent Secret is mounted");
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == secret_volume["name"])
        .unwrap();
    let dir = mount["mountPath"].as_str().unwrap();
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "agent");
    for (flag, key) in [
        ("--token-file", "token"),
        ("--gateway-ca", "gateway-ca.crt"),
    ] {
        let expected = format!("{flag}={dir}/{key}");
        assert!(
            args.contains(&expected.as_str()),
            "{expected} not in {args:?}"
        );
    }
}
