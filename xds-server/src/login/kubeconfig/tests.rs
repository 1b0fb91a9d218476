use super::*;

fn key() -> SessionKey {
    SessionKey {
        gateway: "https://gw.example.com:8443".into(),
        issuer: "https://idp.example.com".into(),
        client_id: "kubeplex".into(),
    }
}

fn contexts<'a>(key: &'a SessionKey, clusters: &'a [String]) -> GatewayContexts<'a> {
    GatewayContexts {
        key,
        gateway_ca: Some("-----BEGIN CERTIFICATE-----\n"),
        clusters,
        server_name_suffix: None,
        command: "kubeplex",
    }
}

#[test]
fn login_adds_one_exec_context_per_cluster_and_keeps_the_users_others() {
    let mut config = Kubeconfig::from_yaml(
        "apiVersion: v1\nkind: Config\ncurrent-context: mine\nclusters:\n- name: mine\n  cluster: {server: https://mine}\nusers:\n- name: me\n  user: {token: t}\ncontexts:\n- name: mine\n  context: {cluster: mine, user: me}\n",
    )
    .unwrap();
    let key = key();
    let clusters = vec!["dev-a".to_string(), "dev-b".to_string()];
    assert!(merge(&mut config, &contexts(&key, &clusters)).is_empty());
    let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["mine", "dev-a", "dev-b"]);
    assert_eq!(config.current_context.as_deref(), Some("dev-a"));
    let server = config.clusters[1]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .as_deref();
    assert_eq!(server, Some("https://gw.example.com:8443/clusters/dev-a"));
    let exec = config.auth_infos[1]
        .auth_info
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(exec.api_version.as_deref(), Some(EXEC_API_VERSION));
    assert_eq!(exec.args.as_ref().unwrap()[0], "credential");
    assert!(matches!(
        exec.interactive_mode,
        Some(ExecInteractiveMode::IfAvailable)
    ));
    assert_eq!(
        current_session(&config).unwrap(),
        ("dev-a".to_string(), key.clone())
    );
    assert_eq!(session_of_context(&config, "mine"), None);

    // A later login where dev-b is no longer reachable removes it only.
    config.current_context = Some("mine".into());
    let clusters = vec!["dev-a".to_string()];
    assert_eq!(merge(&mut config, &contexts(&key, &clusters)), ["dev-b"]);
    let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["mine", "dev-a"]);
    assert_eq!(config.clusters.len(), 2);
    assert_eq!(config.auth_infos.len(), 2);
    assert_eq!(config.current_context.as_deref(), Some("dev-a"));
}

#[test]
fn the_kubeconfig_round_trips_through_the_file_kubectl_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let mut config = read(&path).unwrap();
    let key = key();
    let clusters = vec!["a".to_string()];
    merge(&mut config, &contexts(&key, &clusters));
    write(&path, &config).unwrap();
    let back = read(&path).unwrap();
    assert_eq!(current_session(&back).unwrap().1, key);
}
