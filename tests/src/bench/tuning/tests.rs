use std::path::Path;

use serde_json::Value;

use super::Change;
use crate::bench::bootstrap::{GatewayEnds, HttpFilter, gateway_bootstrap};
use crate::bench::filter_config::filter_config;
use crate::bench::keys::SigningKeys;

fn gateway() -> Value {
    let keys = SigningKeys::fixtures().unwrap();
    let config = filter_config(&keys, false);
    let ends = GatewayEnds {
        serving_cert: "cert",
        serving_key: "key",
        upstream: "127.0.0.1:6443".parse().unwrap(),
        upstream_ca: "ca",
        client_cert: "client cert",
        client_key: "client key",
    };
    gateway_bootstrap(
        HttpFilter::Kubeplex {
            wasm: Path::new("/tmp/filter.wasm"),
            config: &config,
        },
        &ends,
        Some(Path::new("/tmp/access.log")),
    )
}

fn hcm(b: &Value) -> &Value {
    &b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

#[test]
fn each_bootstrap_change_changes_the_bootstrap_and_the_others_do_not() {
    let base = gateway();
    for change in Change::ALL {
        let mut tuned = base.clone();
        change.apply(&mut tuned);
        let outside = matches!(
            change,
            Change::Again | Change::LogFlush10s | Change::ClientAes128
        );
        assert_eq!(tuned == base, outside, "{change:?}");
        assert_eq!(
            change.log_flush_ms().is_some(),
            change == Change::LogFlush10s
        );
    }
}

#[test]
fn the_gateway_router_is_tuned_as_translated_and_the_changes_revert_it() {
    let router = |b: &Value| {
        let filters = hcm(b)["http_filters"].as_array().unwrap().clone();
        let router = filters.last().unwrap().clone();
        assert_eq!(router["name"], "envoy.filters.http.router");
        router["typed_config"].clone()
    };
    let base = gateway();
    assert_eq!(router(&base)["dynamic_stats"], false);
    assert_eq!(router(&base)["suppress_envoy_headers"], true);
    let mut tuned = base.clone();
    Change::DynamicStats.apply(&mut tuned);
    Change::EnvoyHeaders.apply(&mut tuned);
    assert_eq!(router(&tuned)["dynamic_stats"], true);
    assert_eq!(router(&tuned)["suppress_envoy_headers"], false);
}

#[test]
fn ids_are_distinct() {
    let mut ids: Vec<&str> = Change::ALL.iter().map(|c| c.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), Change::ALL.len());
}
