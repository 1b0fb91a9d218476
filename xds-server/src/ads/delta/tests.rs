use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::rpc::Status as RpcStatus;

use super::*;
use crate::translate::Resources;
use crate::translate::fixtures::resource;

/// Clusters `a` (content `a`) and those given, one route config, one filter
/// config, one listener.
fn snapshot(a: &str, more: &[&str]) -> Snapshot {
    let mut clusters = vec![resource("ctx/a", a)];
    clusters.extend(more.iter().map(|n| resource(&format!("ctx/{n}"), n)));
    Snapshot::new(&Resources {
        clusters,
        routes: vec![resource("kubeplex-routes", "r")],
        extension_configs: vec![resource("kubeplex.filter", "f")],
        listeners: vec![resource("kubeplex-https", "l")],
    })
}

fn request(type_url: &str, subscribe: &[&str], nonce: &str) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest {
        node: Some(Node {
            id: "envoy-1".into(),
            ..Default::default()
        }),
        type_url: type_url.into(),
        resource_names_subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        response_nonce: nonce.into(),
        ..Default::default()
    }
}

fn sent(events: &[Event<DeltaDiscoveryResponse>]) -> Vec<&DeltaDiscoveryResponse> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Send(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn names(r: &DeltaDiscoveryResponse) -> Vec<&str> {
    r.resources.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn only_what_changed_is_sent_once_the_last_push_is_acked() {
    let mut stream = DeltaStream::new();
    let first = snapshot("1", &["b", "c"]);
    let events = stream.on_request(request(type_urls::CLUSTER, &[], ""), &first);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        names(r),
        ["ctx/a", "ctx/b", "ctx/c"],
        "wildcard: everything"
    );
    assert_eq!(
        r.system_version_info,
        first.get(type_urls::CLUSTER).unwrap().version
    );
    let nonce = r.nonce.clone();

    // A change while the first push is in flight waits for its ACK.
    let second = snapshot("2", &["b"]);
    assert!(sent(&stream.on_snapshot(&second)).is_empty());
    let events = stream.on_request(request(type_urls::CLUSTER, &[], &nonce), &second);
    assert!(matches!(events[0], Event::Ack { .. }), "{events:?}");
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["ctx/a"], "only the changed cluster");
    assert_eq!(r.removed_resources, ["ctx/c"]);
    let version = second.get(type_urls::CLUSTER).unwrap().version.clone();
    assert_eq!(stream.status()[type_urls::CLUSTER].sent_version, version);
    let events = stream.on_request(request(type_urls::CLUSTER, &[], &r.nonce.clone()), &second);
    assert!(sent(&events).is_empty(), "nothing more to say");
    assert_eq!(stream.status()[type_urls::CLUSTER].acked_version, version);

    // A change to another type leaves clusters alone.
    assert!(sent(&stream.on_snapshot(&second)).is_empty());
}

#[test]
fn named_subscriptions_reconnects_and_nacks() {
    let snap = snapshot("1", &["b"]);
    let mut stream = DeltaStream::new();
    let events = stream.on_request(request(type_urls::ROUTE, &["kubeplex-routes"], ""), &snap);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["kubeplex-routes"]);

    // A reconnecting Envoy that has `ctx/a` at its version gets only `ctx/b`.
    let mut again = DeltaStream::new();
    let mut req = request(type_urls::CLUSTER, &[], "");
    let a = &snap.get(type_urls::CLUSTER).unwrap().resources["ctx/a"];
    req.initial_resource_versions = [("ctx/a".to_string(), a.version.clone())].into();
    let events = again.on_request(req, &snap);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["ctx/b"]);

    // A NACK is recorded; the rejected version is not sent again.
    let mut nack = request(type_urls::CLUSTER, &[], &r.nonce.clone());
    nack.error_detail = Some(RpcStatus {
        message: "bad cluster".into(),
        ..Default::default()
    });
    let events = again.on_request(nack, &snap);
    assert!(
        matches!(&events[..], [Event::Nack { error, .. }] if error == "bad cluster"),
        "{events:?}"
    );
    assert!(sent(&again.on_snapshot(&snap)).is_empty());
    let next = snapshot("2", &["b"]);
    let events = again.on_snapshot(&next);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["ctx/a"]);
}

#[test]
fn an_empty_wildcard_type_is_still_answered_once() {
    let snap = Snapshot::new(&Resources::default());
    let mut stream = DeltaStream::new();
    let events = stream.on_request(request(type_urls::CLUSTER, &[], ""), &snap);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert!(r.resources.is_empty() && r.removed_resources.is_empty());
}

#[test]
fn a_large_push_goes_in_parts_each_after_the_last_is_acked() {
    let many: Vec<String> = (0..MAX_RESOURCES_PER_RESPONSE + 10)
        .map(|i| format!("c{i:04}"))
        .collect();
    let snap = snapshot("1", &many.iter().map(String::as_str).collect::<Vec<_>>());
    let version = snap.get(type_urls::CLUSTER).unwrap().version.clone();
    let mut stream = DeltaStream::new();
    let events = stream.on_request(request(type_urls::CLUSTER, &[], ""), &snap);
    let [first] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(first.resources.len(), MAX_RESOURCES_PER_RESPONSE);
    assert_ne!(
        stream.status()[type_urls::CLUSTER].sent_version,
        version,
        "not all sent yet"
    );
    let events = stream.on_request(
        request(type_urls::CLUSTER, &[], &first.nonce.clone()),
        &snap,
    );
    assert_eq!(
        stream.status()[type_urls::CLUSTER].acked_version,
        "",
        "a part is not the version"
    );
    let [rest] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(rest.resources.len(), 11, "the rest, `ctx/a` included");
    assert_eq!(stream.status()[type_urls::CLUSTER].sent_version, version);
    stream.on_request(request(type_urls::CLUSTER, &[], &rest.nonce.clone()), &snap);
    assert_eq!(stream.status()[type_urls::CLUSTER].acked_version, version);
}
