use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use super::json_patch::diff;
use super::serve::{ca_bundle_patch, generate_serving_cert, serve};
use super::*;
use crate::inject::GatewayAddress;

fn config() -> InjectConfig {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/inject/golden");
    InjectConfig {
        gateway: GatewayAddress::parse("https://kubeplex.kubeplex.svc:8443").unwrap(),
        gateway_ca_pem: std::fs::read_to_string(golden.join("gateway-ca.pem")).unwrap(),
        audience: "kubeplex".into(),
        default_cluster: "home".into(),
        sidecar_image: "envoyproxy/envoy:v1.40-latest".into(),
        init_image: "kubeplex:0.1.0".into(),
        token_expiration_seconds: 3600,
        force: false,
    }
}

fn golden_pod() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/inject/golden/pod.in.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn review_of(object: &Value, namespace: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": object,
        },
    })
}

/// RFC 6902 `add`/`remove`/`replace`, written apart from [`diff`] so each
/// checks the other.
fn apply(document: &Value, patch: &[Value]) -> Value {
    let mut doc = document.clone();
    for op in patch {
        let pointer = op["path"].as_str().unwrap();
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        let key = last.replace("~1", "/").replace("~0", "~");
        let target = doc
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"));
        match (op["op"].as_str().unwrap(), target) {
            ("add" | "replace", Value::Object(map)) => {
                map.insert(key, op["value"].clone());
            }
            ("remove", Value::Object(map)) => {
                map.remove(&key).unwrap();
            }
            ("replace", Value::Array(items)) => {
                items[key.parse::<usize>().unwrap()] = op["value"].clone()
            }
            (other, target) => panic!("{other} at {pointer} in {target}"),
        }
    }
    doc
}

fn patch_of(answer: &Value) -> Vec<Value> {
    let response = &answer["response"];
    assert_eq!(response["patchType"], "JSONPatch", "{answer}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn the_patch_applied_to_the_pod_is_what_kubeplex_inject_writes() {
    let pod = golden_pod();
    let answer = review(&review_of(&pod, "team-a"), &config()).unwrap();
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(
        answer["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(answer["response"]["allowed"], true);
    let patched = apply(&pod, &patch_of(&answer));
    assert_eq!(
        patched,
        crate::inject::inject_object(&pod, &config()).unwrap()
    );

    // A pod of a controller: no name, no namespace in the object.
    let mut generated = pod.clone();
    let metadata = generated["metadata"].as_object_mut().unwrap();
    metadata.remove("name");
    metadata.remove("namespace");
    metadata.insert("generateName".into(), json!("builder-"));
    let answer = review(&review_of(&generated, "team-a"), &config()).unwrap();
    let patched = apply(&generated, &patch_of(&answer));
    assert_eq!(
        patched,
        crate::inject::inject_object(&generated, &config()).unwrap()
    );

    // The reinvoked webhook (or an injected manifest): nothing to change.
    let answer = review(&review_of(&patched, "team-a"), &config()).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"].get("patch").is_none(), "{answer}");
}

#[test]
fn a_pod_that_cannot_be_injected_is_refused_with_the_reason() {
    let mut pod = golden_pod();
    pod["metadata"].as_object_mut().unwrap().remove("name");
    pod["metadata"]["generateName"] = json!("builder-");
    pod["spec"]["hostNetwork"] = json!(true);
    let answer = review(&review_of(&pod, "team-a"), &config()).unwrap();
    let response = &answer["response"];
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("Pod team-a/builder-<generated>: hostNetwork"),
        "{message}"
    );
}

#[test]
fn other_requests_pass_and_non_reviews_are_errors() {
    let mut update = review_of(&golden_pod(), "team-a");
    update["request"]["operation"] = json!("UPDATE");
    let answer = review(&update, &config()).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"].get("patch").is_none());
    assert!(
        answer["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("UPDATE Pod")
    );
    assert!(review(&json!({"kind": "AdmissionReview"}), &config()).is_err());
}

#[test]
fn diff_escapes_keys_and_removes_what_is_gone() {
    let from = json!({"a/b": 1, "c~d": [1, 2], "gone": true, "same": {"x": 1}});
    let to = json!({"a/b": 2, "c~d": [1, 3], "same": {"x": 1}, "new": [1]});
    let patch = diff(&from, &to);
    assert!(
        patch.contains(&json!({"op": "replace", "path": "/a~1b", "value": 2})),
        "{patch:?}"
    );
    assert!(
        patch.contains(&json!({"op": "replace", "path": "/c~0d/1", "value": 3})),
        "{patch:?}"
    );
    assert!(
        patch.contains(&json!({"op": "remove", "path": "/gone"})),
        "{patch:?}"
    );
    assert_eq!(apply(&from, &patch), to);
    assert!(diff(&to, &to).is_empty());
}

#[test]
fn every_webhook_of_the_configuration_gets_the_ca_and_the_failure_policy() {
    let configuration = json!({"webhooks": [
        {"name": "pods.inject.kubeplex.io", "clientConfig": {"service": {"name": "w"}}},
        {"name": "namespaces.inject.kubeplex.io", "clientConfig": {"caBundle": "b2xk"}, "failurePolicy": "Fail"},
    ]});
    let patched = apply(
        &configuration,
        &ca_bundle_patch(&configuration, "PEM", "Ignore"),
    );
    for webhook in patched["webhooks"].as_array().unwrap() {
        assert_eq!(webhook["clientConfig"]["caBundle"], "UEVN");
        assert_eq!(webhook["failurePolicy"], "Ignore");
    }
}

#[tokio::test]
async fn the_server_answers_reviews_over_tls_with_its_own_certificate() {
    let cert = generate_serving_cert(&["127.0.0.1".into(), "kubeplex-webhook.kubeplex.svc".into()])
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let cert = cert.clone();
        async move {
            serve(listener, &cert, Arc::new(config()), async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let trust = crate::cluster_http::Credentials::with_ca(Some(cert.ca_pem.clone()));
    let body = serde_json::to_vec(&review_of(&golden_pod(), "team-a")).unwrap();
    let reply = crate::cluster_http::post_json(&format!("{url}/mutate"), &body, &trust)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    let bad = crate::cluster_http::post_json(&format!("{url}/mutate"), b"{}", &trust)
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    // Another CA is not trusted: the certificate is the webhook's own.
    let other = generate_serving_cert(&["127.0.0.1".into()]).unwrap();
    let untrusted = crate::cluster_http::Credentials::with_ca(Some(other.ca_pem));
    assert!(
        crate::cluster_http::get(&format!("{url}/healthz"), "*/*", &untrusted)
            .await
            .is_err()
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// What the fake Kubernetes API saw: method, path, content type, bearer, body.
type Seen = Arc<std::sync::Mutex<Vec<(String, String, String, String, Vec<u8>)>>>;

/// A Kubernetes API that serves one MutatingWebhookConfiguration (GET) and
/// accepts any PATCH of it, answering `patch_status`; it records requests.
async fn fake_kubernetes_api(patch_status: u16) -> (String, String, Seen) {
    use http_body_util::{BodyExt, Full};
    let cert = generate_serving_cert(&["127.0.0.1".into()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let chain =
        vec![rustls_pki_types::pem::PemObject::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
    let key = rustls_pki_types::pem::PemObject::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(stream) = acceptor.accept(tcp).await else {
                continue;
            };
            let recorder = recorder.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let recorder = recorder.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        let (method, path) = (
                            request.method().to_string(),
                            request.uri().path().to_string(),
                        );
                        let (content_type, auth) =
                            (header("content-type"), header("authorization"));
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes()
                            .to_vec();
                        recorder.lock().unwrap().push((
                            method.clone(),
                            path,
                            content_type,
                            auth,
                            body,
                        ));
                        let (status, body) = if method == "GET" {
                            (
                                200,
                                json!({"webhooks": [{"name": "a"}, {"name": "b"}]}).to_string(),
                            )
                        } else {
                            (
                                patch_status,
                                json!({"kind": "Status", "code": patch_status}).to_string(),
                            )
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(bytes::Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                },
            );
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .into_owned(),
            );
        }
    });
    (url, cert.ca_pem, seen)
}

fn publish_to(url: &str, ca_pem: &str) -> super::serve::Publish {
    super::serve::Publish {
        api_server: url.to_string(),
        credentials: crate::cluster_http::Credentials {
            bearer_token: Some("webhook-sa-token".into()),
            ..crate::cluster_http::Credentials::with_ca(Some(ca_pem.to_string()))
        },
        configuration: "kubeplex-inject".into(),
        failure_policy: "Fail".into(),
    }
}

#[tokio::test]
async fn the_ca_bundle_is_written_through_the_kubernetes_api() {
    let (url, api_ca, seen) = fake_kubernetes_api(200).await;
    super::serve::publish_ca_bundle(&publish_to(&url, &api_ca), "WEBHOOK CA")
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let path =
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kubeplex-inject";
    assert_eq!(seen.len(), 2, "a GET then a PATCH");
    assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("GET", path));
    let (method, patched, content_type, auth, body) = &seen[1];
    assert_eq!((method.as_str(), patched.as_str()), ("PATCH", path));
    assert_eq!(content_type, "application/json-patch+json");
    assert_eq!(auth, "Bearer webhook-sa-token");
    let patch: Vec<Value> = serde_json::from_slice(body).unwrap();
    let bundle = base64::engine::general_purpose::STANDARD.encode("WEBHOOK CA");
    assert_eq!(patch.len(), 4, "{patch:?}");
    assert!(patch.contains(
        &json!({"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": bundle})
    ));
    assert!(
        patch.contains(&json!({"op": "add", "path": "/webhooks/1/failurePolicy", "value": "Fail"}))
    );
}

#[tokio::test]
async fn a_refused_ca_bundle_update_says_what_the_api_answered() {
    let (url, api_ca, _) = fake_kubernetes_api(403).await;
    let err = super::serve::publish_ca_bundle(&publish_to(&url, &api_ca), "CA")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("answered 403") && text.contains("kubeplex-inject"),
        "{text}"
    );
}
