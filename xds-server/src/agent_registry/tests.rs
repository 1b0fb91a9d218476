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

#[tokio::test]
async fn with_an_audit_store_the_agent_lines_are_stored_records_too() {
    use crate::audit::pipeline::{AuditPipeline, PipelineSettings, StoreSlot};
    use crate::audit::store::{SqliteStore, Store};
    use kubeplex_proto::admin::v1::AuditQuery;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::Sqlite(
        SqliteStore::open(&dir.path().join("audit.db")).unwrap(),
    ));
    let slot = Arc::new(StoreSlot::default());
    slot.set(Some(store.clone()));
    let pipeline =
        AuditPipeline::start(PipelineSettings::new(dir.path().join("spill")), slot).unwrap();
    let registry = AgentRegistry::default();
    registry.set_audit(AuditConfig {
        path: Some(dir.path().join("audit.log")),
        stdout: false,
        ..AuditConfig::default()
    });
    registry.set_audit_pipeline(pipeline.clone());
    registry.session_opened("edge", "192.0.2.1:4000");
    registry.heartbeat("edge", &beat(true));
    registry.session_closed("edge");
    registry.refused(
        "prod",
        "192.0.2.9:4001",
        "wrong token for agent cluster `prod`",
    );
    // `audit.store: none`: the file only.
    registry.set_audit(AuditConfig {
        path: Some(dir.path().join("audit.log")),
        stdout: false,
        store: StoreConfig::Disabled,
        ..AuditConfig::default()
    });
    registry.refused("prod", "192.0.2.9:4002", "not stored");

    let counters = pipeline.counters.clone();
    kubeplex_test_support::wait_for_async("3 records stored", Duration::from_secs(10), || {
        counters.stored.load(std::sync::atomic::Ordering::Relaxed) >= 3
    })
    .await;
    let found = store.query(&AuditQuery::default()).await.unwrap();
    let rows: Vec<(&str, &str, &str, &str, &str)> = found
        .records
        .iter()
        .map(|r| {
            (
                r.reason.as_str(),
                r.cluster.as_str(),
                r.decision.as_str(),
                r.source.as_str(),
                r.user_agent.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "agent_connected",
                "edge",
                "allow",
                "192.0.2.1:4000",
                "kubeplex-agent/1.2.3"
            ),
            (
                "agent_disconnected",
                "edge",
                "allow",
                "192.0.2.1:4000",
                "kubeplex-agent/1.2.3"
            ),
            ("agent_refused", "prod", "deny", "192.0.2.9:4001", ""),
        ]
    );
    assert_eq!(
        found.records[2].message,
        "wrong token for agent cluster `prod`"
    );
    let lines = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert_eq!(lines.lines().count(), 4, "the file has every line: {lines}");
}
