use super::*;

#[test]
fn since_moves_only_when_the_state_flips_and_removed_contexts_go() {
    let health = Health::default();
    health.record(vec![("a".into(), Ok(())), ("b".into(), Ok(()))], 100);
    health.record(
        vec![
            ("a".into(), Ok(())),
            ("b".into(), Err("connection refused".into())),
        ],
        105,
    );
    let all = health.all();
    assert_eq!(
        all["a"],
        ClusterHealth {
            healthy: true,
            since: 100,
            last_check: 105,
            detail: "/readyz 200".into()
        }
    );
    assert_eq!((all["b"].healthy, all["b"].since), (false, 105));
    assert_eq!(all["b"].detail, "connection refused");

    health.record(vec![("b".into(), Err("connection refused".into()))], 110);
    let all = health.all();
    assert_eq!((all["b"].since, all["b"].last_check), (105, 110));
    assert!(
        !all.contains_key("a"),
        "a context no longer configured is gone"
    );

    health.record(vec![("b".into(), Ok(()))], 115);
    assert_eq!(
        (health.all()["b"].healthy, health.all()["b"].since),
        (true, 115)
    );
}
