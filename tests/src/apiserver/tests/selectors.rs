use serde_json::json;

use crate::apiserver::selectors::{FieldSelector, LabelSelector};

#[test]
fn label_selector_operators() {
    let labels = json!({"app": "web", "tier": "front"});
    let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&labels));
    assert!(m(""));
    assert!(m("app=web"));
    assert!(m("app==web"));
    assert!(!m("app!=web"));
    assert!(m("app!=db"));
    assert!(m("tier"));
    assert!(!m("missing"));
    assert!(m("!missing"));
    assert!(!m("!app"));
    assert!(m("app in (db, web)"));
    assert!(!m("app notin (db,web)"));
    assert!(m("app=web,tier=front"));
    assert!(!m("app=web,tier=back"));
    // Absent label: != and notin match, = does not.
    assert!(LabelSelector::parse("x!=1").unwrap().matches(None));
    assert!(!LabelSelector::parse("x=1").unwrap().matches(None));
    assert!(LabelSelector::parse("a in b").is_err());
    assert!(LabelSelector::parse("bad key=1").is_err());
}

#[test]
fn field_selector_on_dotted_paths() {
    let obj =
        json!({"metadata": {"name": "a", "namespace": "default"}, "status": {"phase": "Running"}});
    let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&obj);
    assert!(m("metadata.name=a"));
    assert!(m("metadata.name==a,metadata.namespace=default"));
    assert!(!m("metadata.name!=a"));
    assert!(m("status.phase=Running"));
    assert!(m("spec.nodeName="));
    assert!(FieldSelector::parse("metadata.name").is_err());
}
