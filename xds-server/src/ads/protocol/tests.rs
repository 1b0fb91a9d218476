use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::rpc::Status as RpcStatus;

use super::*;
use crate::snapshot::Snapshot;
use crate::translate::Resources;
use crate::translate::fixtures::resource;

/// Two clusters, one secret, one route config, one filter config, one
/// listener;
/// `generation` changes the clusters' content.
fn snapshot(generation: &str) -> Snapshot {
    Snapshot::new(&Resources {
        clusters: vec![resource("ctx/a", generation), resource("ctx/b", "b")],
        routes: vec![
            resource("kubeplex-routes", "r"),
            resource("other-routes", "o"),
        ],
        extension_configs: vec![resource("kubeplex.filter", "f")],
        listeners: vec![resource("kubeplex-https", "l")],
        secrets: vec![resource("user/u", "u")],
    })
}

fn request(type_url: &str, names: &[&str], version: &str, nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(Node {
            id: "envoy-1".into(),
            ..Default::default()
        }),
        type_url: type_url.into(),
        resource_names: names.iter().map(|s| s.to_string()).collect(),
        version_info: version.into(),
        response_nonce: nonce.into(),
        ..Default::default()
    }
}

fn sent(events: &[Event]) -> Vec<&DiscoveryResponse> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Send(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn first_wildcard_request_gets_every_cluster() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let events = stream.on_request(request(type_urls::CLUSTER, &[], "", ""), &snap);
    let responses = sent(&events);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].resources.len(), 2);
    assert_eq!(
        responses[0].version_info,
        snap.get(type_urls::CLUSTER).unwrap().version
    );
    assert_eq!(stream.node_id(), Some("envoy-1"));
}

#[test]
fn ack_is_recorded_and_waits_for_news() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let first = stream.on_request(request(type_urls::CLUSTER, &[], "", ""), &snap);
    let r = sent(&first)[0].clone();
    let events = stream.on_request(
        request(type_urls::CLUSTER, &[], &r.version_info, &r.nonce),
        &snap,
    );
    assert_eq!(
        events,
        vec![Event::Ack {
            type_url: type_urls::CLUSTER.into(),
            version: r.version_info.clone()
        }]
    );
    assert_eq!(
        stream.status()[type_urls::CLUSTER].acked_version,
        r.version_info
    );

    // Unchanged snapshot: nothing to send.
    assert!(sent(&stream.on_snapshot(&snap)).is_empty());
    // New content: the open request is answered with the new version.
    let snap2 = snapshot("2");
    let events = stream.on_snapshot(&snap2);
    let responses = sent(&events);
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0].version_info,
        snap2.get(type_urls::CLUSTER).unwrap().version
    );
    assert_ne!(responses[0].nonce, r.nonce);
}

#[test]
fn stale_nonce_is_ignored() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let first = stream.on_request(request(type_urls::CLUSTER, &[], "", ""), &snap);
    let r = sent(&first)[0].clone();
    let events = stream.on_request(request(type_urls::CLUSTER, &[], "old", "999"), &snap);
    assert!(events.is_empty());
    assert_eq!(stream.status()[type_urls::CLUSTER].acked_version, "");
    // The real ACK still works afterwards.
    let events = stream.on_request(
        request(type_urls::CLUSTER, &[], &r.version_info, &r.nonce),
        &snap,
    );
    assert!(matches!(events[0], Event::Ack { .. }));
}

#[test]
fn nacked_version_is_not_resent_but_the_next_one_is() {
    let snap = snapshot("bad");
    let mut stream = Stream::new();
    let first = stream.on_request(request(type_urls::CLUSTER, &[], "", ""), &snap);
    let r = sent(&first)[0].clone();
    let mut nack = request(type_urls::CLUSTER, &[], "", &r.nonce);
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "invalid cluster".into(),
        details: vec![],
    });
    let events = stream.on_request(nack, &snap);
    assert_eq!(
        events,
        vec![Event::Nack {
            type_url: type_urls::CLUSTER.into(),
            version: r.version_info.clone(),
            error: "invalid cluster".into()
        }]
    );
    assert_eq!(
        stream.status()[type_urls::CLUSTER].nack_error.as_deref(),
        Some("invalid cluster")
    );
    assert!(
        sent(&stream.on_snapshot(&snap)).is_empty(),
        "the rejected version must not be resent"
    );

    let fixed = snapshot("good");
    let events = stream.on_snapshot(&fixed);
    let responses = sent(&events);
    assert_eq!(responses.len(), 1);
    let r2 = responses[0].clone();
    let events = stream.on_request(
        request(type_urls::CLUSTER, &[], &r2.version_info, &r2.nonce),
        &fixed,
    );
    assert!(matches!(events[0], Event::Ack { .. }));
    assert_eq!(stream.status()[type_urls::CLUSTER].nack_error, None);
}

#[test]
fn named_subscription_gets_only_named_resources_and_resubscription_resends() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let events = stream.on_request(
        request(type_urls::ROUTE, &["kubeplex-routes"], "", ""),
        &snap,
    );
    let r = sent(&events)[0].clone();
    assert_eq!(r.resources.len(), 1);
    assert_eq!(r.resources[0].value, b"r");

    // Same version, but the subscription now names two resources.
    let events = stream.on_request(
        request(
            type_urls::ROUTE,
            &["kubeplex-routes", "other-routes"],
            &r.version_info,
            &r.nonce,
        ),
        &snap,
    );
    let responses = sent(&events);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].resources.len(), 2);
}

#[test]
fn snapshot_change_waits_for_the_outstanding_ack() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let first = stream.on_request(request(type_urls::CLUSTER, &[], "", ""), &snap);
    let r = sent(&first)[0].clone();
    // Envoy has not answered yet: no second response in flight.
    let snap2 = snapshot("2");
    assert!(sent(&stream.on_snapshot(&snap2)).is_empty());
    // Its ACK of version 1 is answered at once with version 2.
    let events = stream.on_request(
        request(type_urls::CLUSTER, &[], &r.version_info, &r.nonce),
        &snap2,
    );
    assert!(matches!(events[0], Event::Ack { .. }));
    let responses = sent(&events);
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0].version_info,
        snap2.get(type_urls::CLUSTER).unwrap().version
    );
}

#[test]
fn snapshot_updates_go_out_clusters_first() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    for (t, names) in [
        (type_urls::LISTENER, vec![]),
        (type_urls::EXTENSION_CONFIG, vec!["kubeplex.filter"]),
        (type_urls::ROUTE, vec!["kubeplex-routes"]),
        (type_urls::SECRET, vec!["user/u"]),
        (type_urls::CLUSTER, vec![]),
    ] {
        let events = stream.on_request(request(t, &names, "", ""), &snap);
        let r = sent(&events)[0].clone();
        stream.on_request(request(t, &names, &r.version_info, &r.nonce), &snap);
    }
    // Everything changes at once.
    let snap2 = Snapshot::new(&Resources {
        clusters: vec![resource("ctx/c", "c")],
        secrets: vec![resource("user/u", "u2")],
        routes: vec![resource("kubeplex-routes", "r2")],
        extension_configs: vec![resource("kubeplex.filter", "f2")],
        listeners: vec![resource("kubeplex-https", "l2")],
    });
    let events = stream.on_snapshot(&snap2);
    let order: Vec<&str> = sent(&events).iter().map(|r| r.type_url.as_str()).collect();
    assert_eq!(order, type_urls::ALL.to_vec());
}

#[test]
fn unknown_type_is_left_open_without_answer() {
    let snap = snapshot("1");
    let mut stream = Stream::new();
    let events = stream.on_request(
        request(
            "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            &["x"],
            "",
            "",
        ),
        &snap,
    );
    assert!(events.is_empty());
}

#[test]
fn a_node_that_names_its_listener_address_gets_the_listener_there() {
    use envoy_types::pb::envoy::config::listener::v3::Listener;
    use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
    use prost::Message;

    let listener = Listener {
        name: "kubeplex-https".into(),
        address: Some(crate::translate::cluster::socket_address("0.0.0.0", 8443)),
        ..Listener::default()
    };
    let snap = Snapshot::new(&Resources {
        clusters: vec![resource("ctx/a", "a")],
        listeners: vec![crate::translate::Resource {
            name: "kubeplex-https".into(),
            body: std::sync::Arc::new(crate::translate::pack(&listener)),
            version: "l".into(),
        }],
        ..Resources::default()
    });
    let address_of = |events: &[Event]| {
        let body = &sent(events)[0].resources[0];
        Listener::decode(body.value.as_slice()).unwrap().address
    };
    let mut plain = Stream::new();
    let events = plain.on_request(request(type_urls::LISTENER, &[], "", ""), &snap);
    assert_eq!(address_of(&events), listener.address);

    let mut own = Stream::new();
    let mut req = request(type_urls::CLUSTER, &[], "", "");
    req.node.as_mut().unwrap().metadata = Some(Struct {
        fields: [(
            listener_address::METADATA_KEY.to_string(),
            Value {
                kind: Some(Kind::StringValue("127.0.0.1:20443".into())),
            },
        )]
        .into(),
    });
    let clusters = own.on_request(req, &snap);
    assert_eq!(
        sent(&clusters)[0].resources[0].value,
        b"a",
        "clusters as they are"
    );
    let events = own.on_request(request(type_urls::LISTENER, &[], "", ""), &snap);
    assert_eq!(
        address_of(&events),
        Some(crate::translate::cluster::socket_address(
            "127.0.0.1",
            20443
        ))
    );
    assert_eq!(own.listener_address_error(), None);
}

/// A snapshot with the secrets `cluster/<c>` for each of `cas` and
/// `user/u` (content `user`).
fn with_secrets(cas: &[&str], user: &str) -> Snapshot {
    Snapshot::new(&crate::translate::fixtures::contexts_with_secrets(
        cas, user,
    ))
}

/// State of the world: Envoy names every secret it wants in each request;
/// an answer without a secret of the snapshot (one Envoy has not asked for
/// yet: a new context's) is not the snapshot applied.
#[test]
fn secrets_go_by_name_and_count_as_accepted_only_when_all_are_had() {
    let mut stream = Stream::new();
    let acked = |s: &Stream| s.status()[type_urls::SECRET].acked_version.clone();
    let first = with_secrets(&["a"], "u1");
    let events = stream.on_request(
        request(type_urls::SECRET, &["cluster/a", "user/u"], "", ""),
        &first,
    );
    let r = sent(&events)[0].clone();
    assert_eq!(r.resources.len(), 2);
    let names = ["cluster/a", "user/u"];
    stream.on_request(
        request(type_urls::SECRET, &names, &r.version_info, &r.nonce),
        &first,
    );
    let first_version = first.get(type_urls::SECRET).unwrap().version.clone();
    assert_eq!(acked(&stream), first_version);

    // `b` arrives: the new version goes out to the names asked for, and
    // its ACK is not the new snapshot applied.
    let second = with_secrets(&["a", "b"], "u1");
    let events = stream.on_snapshot(&second);
    let r = sent(&events)[0].clone();
    assert_eq!(r.resources.len(), 2, "cluster/b was not asked for");
    stream.on_request(
        request(type_urls::SECRET, &names, &r.version_info, &r.nonce),
        &second,
    );
    assert_eq!(acked(&stream), first_version);
    // Envoy asks for `b`'s CA too: now all of it.
    let all = ["cluster/a", "cluster/b", "user/u"];
    let events = stream.on_request(
        request(type_urls::SECRET, &all, &r.version_info, ""),
        &second,
    );
    let r = sent(&events)[0].clone();
    assert_eq!(r.resources.len(), 3);
    stream.on_request(
        request(type_urls::SECRET, &all, &r.version_info, &r.nonce),
        &second,
    );
    assert_eq!(
        acked(&stream),
        second.get(type_urls::SECRET).unwrap().version
    );
}
