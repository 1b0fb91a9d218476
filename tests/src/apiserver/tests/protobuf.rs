use serde_json::json;

use crate::apiserver::protobuf::{ProtobufError, decode_object, unknown_fields};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/protobuf")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

#[test]
fn decodes_kubectl_create_configmap() {
    // `kubectl create configmap x --from-literal=a=c`, as kubectl 1.32 sent it.
    let obj = decode_object(&fixture("kubectl-create-configmap.pb")).unwrap();
    assert_eq!(obj["apiVersion"], "v1");
    assert_eq!(obj["kind"], "ConfigMap");
    assert_eq!(obj["metadata"]["name"], "x");
    assert_eq!(obj["data"], json!({"a": "c"}));
    // Go writes empty strings and zero times; JSON omits them.
    assert!(obj["metadata"].get("generateName").is_none());
    assert!(obj["metadata"].get("creationTimestamp").is_none());
}

#[test]
fn decodes_kubectl_create_deployment() {
    // `kubectl create deployment web --image=nginx:1.27 --replicas=2`.
    let obj = decode_object(&fixture("kubectl-create-deployment.pb")).unwrap();
    assert_eq!(obj["apiVersion"], "apps/v1");
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(
        obj["spec"]["selector"]["matchLabels"],
        json!({"app": "web"})
    );
    let container = &obj["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(unknown_fields("apps/v1", "Deployment", &obj), Some(vec![]));
}

#[test]
fn decodes_kubectl_auth_can_i() {
    // `kubectl auth can-i list configmaps -n kube-system`.
    let obj = decode_object(&fixture("kubectl-auth-can-i.pb")).unwrap();
    assert_eq!(obj["kind"], "SelfSubjectAccessReview");
    assert_eq!(
        obj["spec"]["resourceAttributes"],
        json!({"namespace": "kube-system", "verb": "list", "resource": "configmaps"})
    );
}

#[test]
fn rejects_non_protobuf_bodies() {
    assert_eq!(decode_object(b"{}"), Err(ProtobufError::BadMagic));
    assert!(matches!(
        decode_object(b"k8s\0\x0a\xff"),
        Err(ProtobufError::Malformed(_))
    ));
}

#[test]
fn unknown_fields_follow_the_real_schema() {
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"a": "b"}, "bogus": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}, "nope": true}]}}},
        "extra": {},
    });
    assert_eq!(
        unknown_fields("apps/v1", "Deployment", &obj).unwrap(),
        [
            "extra",
            "metadata.bogus",
            "spec.template.spec.containers[0].nope"
        ]
    );
    assert_eq!(unknown_fields("example.com/v1", "Widget", &obj), None);
}
