use super::*;
use crate::translate::fixtures::resource;
use crate::translate::type_urls;

#[test]
fn versions_follow_content_per_type() {
    let a = Resources {
        clusters: vec![resource("c", "1")],
        routes: vec![resource("r", "1")],
        ..Default::default()
    };
    let b = Resources {
        clusters: vec![resource("c", "2")],
        routes: vec![resource("r", "1")],
        ..Default::default()
    };
    let (sa, sa2, sb) = (
        Snapshot::new(&a),
        Snapshot::new(&a.clone()),
        Snapshot::new(&b),
    );
    assert_eq!(sa.version, sa2.version, "same inputs, same version");
    assert_ne!(sa.version, sb.version);
    assert_ne!(
        sa.get(type_urls::CLUSTER).unwrap().version,
        sb.get(type_urls::CLUSTER).unwrap().version
    );
    assert_eq!(
        sa.get(type_urls::ROUTE).unwrap().version,
        sb.get(type_urls::ROUTE).unwrap().version
    );
}

#[test]
fn renaming_a_resource_changes_the_type_version() {
    let a = Resources {
        clusters: vec![resource("c1", "x")],
        ..Default::default()
    };
    let b = Resources {
        clusters: vec![resource("c2", "x")],
        ..Default::default()
    };
    assert_ne!(
        Snapshot::new(&a).get(type_urls::CLUSTER).unwrap().version,
        Snapshot::new(&b).get(type_urls::CLUSTER).unwrap().version
    );
}

/// Envoy asks for secrets only when a cluster names one: a snapshot
/// without secrets does not serve the type (else no Envoy would ever be
/// counted in sync with it), one with secrets does.
#[test]
fn the_secret_type_is_served_only_with_secrets() {
    let none = Snapshot::new(&Resources {
        clusters: vec![resource("c", "1")],
        ..Default::default()
    });
    assert!(none.get(type_urls::SECRET).is_none());
    assert!(none.get(type_urls::ROUTE).is_some(), "other types, empty");
    let some = Snapshot::new(&Resources {
        secrets: vec![resource("user/u", "1")],
        ..Default::default()
    });
    assert_eq!(some.get(type_urls::SECRET).unwrap().resources.len(), 1);
}
