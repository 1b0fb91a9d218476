use super::*;

fn beat(tunnel: bool) -> Heartbeat {
    Heartbeat {
        version: "1.2.3".into(),
        tunnel,
    }
}

#[tokio::test]
async fn connected_needs_an_open_session_and_a_tunnel() {
    let registry = AgentRegistry::default();
    assert_eq!(
        registry.state("edge").not_connected_message("edge"),
        "cluster \"edge\" is not connected (agent never seen)"
    );
    registry.session_opened("edge", "192.0.2.1");
    registry.heartbeat("edge", &beat(false));
    assert!(!registry.state("edge").connected, "no tunnel yet");
    registry.heartbeat("edge", &beat(true));
    let state = registry.state("edge");
    assert!(state.connected);
    assert_eq!(state.agent_version, "1.2.3");
    assert_eq!(state.source, "192.0.2.1");
    registry.session_closed("edge");
    let state = registry.state("edge");
    assert!(!state.connected);
    let message = state.not_connected_message("edge");
    assert!(
        message.starts_with("cluster \"edge\" is not connected (agent last seen 20"),
        "{message}"
    );
}

#[tokio::test]
async fn a_second_session_keeps_the_agent_connected_when_the_first_ends() {
    let registry = AgentRegistry::default();
    registry.session_opened("edge", "a");
    registry.heartbeat("edge", &beat(true));
    registry.session_opened("edge", "b");
    registry.session_closed("edge");
    assert!(registry.state("edge").connected);
    registry.session_closed("edge");
    assert!(!registry.state("edge").connected);
}

#[tokio::test]
async fn connection_changes_and_refusals_are_audit_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let registry = AgentRegistry::default();
    registry.set_audit(AuditConfig {
        path: Some(path.clone()),
        stdout: false,
        ..AuditConfig::default()
    });
    registry.session_opened("edge", "192.0.2.1");
    registry.heartbeat("edge", &beat(true));
    registry.heartbeat("edge", &beat(true));
    registry.session_closed("edge");
    registry.refused("prod", "192.0.2.9", "wrong token for agent cluster `prod`");
    let events: Vec<(String, String)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["event"].as_str().unwrap().into(),
                v["cluster"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("agent_connected", "edge"),
        ("agent_disconnected", "edge"),
        ("agent_refused", "prod"),
    ]
    .iter()
    .map(|(e, c)| (e.to_string(), c.to_string()))
    .collect();
    assert_eq!(events, expected);
}
