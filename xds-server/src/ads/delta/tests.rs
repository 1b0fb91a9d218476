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
        ..Resources::default()
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

/// The contexts' secrets: `cluster/<c>` for each of `cas` and `user/u`
/// with content `user` (clusters `ctx/<c>` naming them).
fn with_secrets(cas: &[&str], user: &str) -> Snapshot {
    Snapshot::new(&crate::translate::fixtures::contexts_with_secrets(
        cas, user,
    ))
}

fn secrets_version(stream: &DeltaStream) -> Option<&str> {
    let status = stream.status().get(type_urls::SECRET)?;
    Some(status.acked_version.as_str())
}

/// Envoy asks for secrets by name as clusters naming them arrive: a new
/// context's secret is sent once asked for, and the type counts as
/// accepted only then; a rotated one goes out alone; one no longer in
/// the snapshot is removed.
#[test]
fn secrets_go_by_name_rotate_alone_and_count_as_accepted_only_when_all_are_had() {
    let mut stream = DeltaStream::new();
    let first = with_secrets(&["a"], "u1");
    let version = |s: &Snapshot| s.get(type_urls::SECRET).unwrap().version.clone();
    let events = stream.on_request(
        request(type_urls::SECRET, &["cluster/a", "user/u"], ""),
        &first,
    );
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["cluster/a", "user/u"]);
    stream.on_request(request(type_urls::SECRET, &[], &r.nonce.clone()), &first);
    assert_eq!(secrets_version(&stream), Some(version(&first).as_str()));

    // A context `b` arrives: its CA is not sent before Envoy asks for it,
    // and until then the secrets are not all applied.
    let second = with_secrets(&["a", "b"], "u1");
    assert!(sent(&stream.on_snapshot(&second)).is_empty());
    assert_eq!(secrets_version(&stream), Some(version(&first).as_str()));
    let events = stream.on_request(request(type_urls::SECRET, &["cluster/b"], ""), &second);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["cluster/b"]);
    stream.on_request(request(type_urls::SECRET, &[], &r.nonce.clone()), &second);
    assert_eq!(secrets_version(&stream), Some(version(&second).as_str()));

    // The user's certificate rotates: that secret alone.
    let rotated = with_secrets(&["a", "b"], "u2");
    let events = stream.on_snapshot(&rotated);
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert_eq!(names(r), ["user/u"]);
    assert!(r.removed_resources.is_empty());
    stream.on_request(request(type_urls::SECRET, &[], &r.nonce.clone()), &rotated);

    // `b` goes: its CA with it.
    let events = stream.on_snapshot(&with_secrets(&["a"], "u2"));
    let [r] = sent(&events)[..] else {
        panic!("{events:?}")
    };
    assert!(r.resources.is_empty());
    assert_eq!(r.removed_resources, ["cluster/b"]);
}
