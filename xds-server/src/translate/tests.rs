use std::sync::Arc;

use super::*;
use crate::translate::fixtures::target;

fn kubeconfig(targets: Vec<ClusterTarget>) -> Arc<LoadedKubeconfig> {
    Arc::new(LoadedKubeconfig {
        clusters: targets,
        warnings: vec![],
    })
}

#[test]
fn the_cluster_cache_translates_only_what_changed_and_equals_a_full_translation() {
    let options = Options::default();
    let checks = HealthChecks::default();
    let (a, b) = (
        target("a", "127.0.0.1", 6443),
        target("b", "127.0.0.1", 6444),
    );
    let mut cache = ClusterCache::default();
    let first = cache.clusters(&kubeconfig(vec![a.clone(), b.clone()]), &options, &checks);
    assert_eq!(first.len(), 4);

    let mut moved = b.clone();
    moved.server.port = 7000;
    let c = target("c", "127.0.0.1", 6445);
    let second_input = kubeconfig(vec![a.clone(), moved.clone(), c.clone()]);
    let second = cache.clusters(&second_input, &options, &checks);
    let fresh: Vec<Resource> = [&a, &moved, &c]
        .into_iter()
        .flat_map(|t| context_clusters(t, &options, &checks))
        .collect();
    assert_eq!(second, fresh, "the same as translating everything");
    assert!(Arc::ptr_eq(&first[0].body, &second[0].body), "a: reused");
    assert!(
        !Arc::ptr_eq(&first[2].body, &second[2].body),
        "b: translated again"
    );

    let slower = HealthChecks {
        interval_seconds: 30,
        idle_interval_seconds: 300,
    };
    let third = cache.clusters(&second_input, &options, &slower);
    assert_ne!(
        third[0].version, second[0].version,
        "new settings: every context again"
    );
}
