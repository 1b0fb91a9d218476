use crate::routing::{ClusterKind, cluster_name};

#[test]
fn a_contexts_clusters_are_named_by_kind() {
    assert_eq!(cluster_name("dev-a", ClusterKind::Ordinary), "ctx/dev-a");
    assert_eq!(
        cluster_name("dev-a", ClusterKind::Upgrade),
        "ctx/dev-a/upgrade"
    );
    assert_eq!(
        cluster_name("dev-a", ClusterKind::Discovery),
        "ctx/dev-a/discovery"
    );
}

#[test]
fn no_context_name_is_another_contexts_cluster() {
    // `a`'s upgrade cluster and a context literally named `a/upgrade`
    assert_eq!(
        cluster_name("a/upgrade", ClusterKind::Ordinary),
        "ctx/a%2Fupgrade"
    );
    assert_ne!(
        cluster_name("a/upgrade", ClusterKind::Ordinary),
        cluster_name("a", ClusterKind::Upgrade)
    );
    // and the encoding itself cannot be forged with a literal `%2F`
    assert_eq!(cluster_name("a%2Fb", ClusterKind::Ordinary), "ctx/a%252Fb");
    assert_ne!(
        cluster_name("a%2Fb", ClusterKind::Ordinary),
        cluster_name("a/b", ClusterKind::Ordinary)
    );
    assert_eq!(
        cluster_name("arn:aws:eks:eu-west-1:1:cluster/prod", ClusterKind::Upgrade),
        "ctx/arn:aws:eks:eu-west-1:1:cluster%2Fprod/upgrade"
    );
}
