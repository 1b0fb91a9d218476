use serde_json::json;

use crate::apiserver::patch::{
    PatchError, PatchType, json_patch, merge_patch, strategic_merge_patch,
};

#[test]
fn merge_patch_follows_rfc_7386() {
    let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
    merge_patch(
        &mut doc,
        &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
    );
    assert_eq!(
        doc,
        json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
    );
}

#[test]
fn strategic_merge_patch_honours_directives() {
    let mut doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
    strategic_merge_patch(
        &mut doc,
        &json!({
            "$setElementOrder/containers": [{"name": "c"}],
            "metadata": {"labels": {"a": null, "c": "3"}},
            "data": {"$patch": "replace", "only": "this"},
        }),
    );
    assert_eq!(
        doc,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "data": {"only": "this"}})
    );
    let mut doc = json!({"spec": {"x": {"y": 1}}});
    strategic_merge_patch(&mut doc, &json!({"spec": {"x": {"$patch": "delete"}}}));
    assert_eq!(doc, json!({"spec": {}}));
}

#[test]
fn json_patch_operations() {
    let mut doc = json!({"data": {"a": "1"}, "list": [1, 3]});
    json_patch(
        &mut doc,
        &json!([
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "add", "path": "/list/1", "value": 2},
            {"op": "add", "path": "/list/-", "value": 4},
            {"op": "replace", "path": "/data/a", "value": "one"},
            {"op": "test", "path": "/data/a", "value": "one"},
            {"op": "copy", "from": "/data/a", "path": "/data/c"},
            {"op": "move", "from": "/data/b", "path": "/data/d~1e"},
            {"op": "remove", "path": "/list/0"},
        ]),
    )
    .unwrap();
    assert_eq!(
        doc,
        json!({"data": {"a": "one", "c": "one", "d/e": "2"}, "list": [2, 3, 4]})
    );
    let err = json_patch(
        &mut doc,
        &json!([{"op": "test", "path": "/data/a", "value": "x"}]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::TestFailed {
            path: "/data/a".into()
        }
    );
    assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    assert!(json_patch(&mut doc, &json!([{"op": "frobnicate", "path": "/a"}])).is_err());
    assert!(json_patch(&mut doc, &json!({"op": "add"})).is_err());
}

#[test]
fn patch_types_by_content_type() {
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json"),
        Some(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
        Some(PatchType::Strategic)
    );
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml"),
        Some(PatchType::Apply)
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
}
