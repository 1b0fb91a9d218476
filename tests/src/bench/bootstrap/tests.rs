use base64::Engine;

use super::*;
use crate::bench::filter_config::filter_config;

fn hcm(bootstrap: &Value) -> &Value {
    &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

fn variants(keys: &SigningKeys, config: &pb::FilterConfig) -> Vec<Value> {
    let log = Some(Path::new("/tmp/access.log"));
    let wasm = Path::new("/tmp/filter.wasm");
    vec![
        bootstrap(HttpFilter::None, log),
        bootstrap(HttpFilter::Kubeplex { wasm, config }, log),
        bootstrap(HttpFilter::EmptyWasm { wasm }, log),
        bootstrap(
            HttpFilter::JwtAuthn {
                keys,
                provider: Alg::Es256,
                cache: true,
            },
            log,
        ),
        bootstrap(
            HttpFilter::JwtAuthn {
                keys,
                provider: Alg::Rs256,
                cache: false,
            },
            log,
        ),
    ]
}

#[test]
fn every_scenario_has_the_same_listener_route_and_access_log() {
    let keys = SigningKeys::fixtures().unwrap();
    let config = filter_config(&keys, false);
    let all = variants(&keys, &config);
    let first = hcm(&all[0]);
    for b in &all {
        let h = hcm(b);
        assert_eq!(h["access_log"], first["access_log"]);
        assert_eq!(h["route_config"], first["route_config"]);
        assert_eq!(
            b["static_resources"]["listeners"][0]["address"],
            all[0]["static_resources"]["listeners"][0]["address"]
        );
        // the router is always last
        let filters = h["http_filters"].as_array().unwrap();
        assert_eq!(filters.last().unwrap()["name"], "envoy.filters.http.router");
    }
    assert_eq!(hcm(&all[0])["http_filters"].as_array().unwrap().len(), 1);
    let route = &first["route_config"]["virtual_hosts"][0]["routes"][0];
    assert_eq!(route["direct_response"]["status"], 200);
    assert_eq!(
        first["access_log"][0]["typed_config"]["log_format"]["text_format_source"]["inline_string"],
        AUDIT_LINE
    );
    assert_eq!(
        first["access_log"][0]["typed_config"]["path"],
        "/tmp/access.log"
    );
    let quiet = bootstrap(HttpFilter::None, None);
    assert_eq!(hcm(&quiet)["access_log"], json!([]));
}

#[test]
fn the_wasm_filter_gets_the_config_as_a_bytes_value() {
    let keys = SigningKeys::fixtures().unwrap();
    let config = filter_config(&keys, true);
    let b = bootstrap(
        HttpFilter::Kubeplex {
            wasm: Path::new("/x/kubeplex_filter.wasm"),
            config: &config,
        },
        Some(Path::new("/tmp/a.log")),
    );
    let wasm = &hcm(&b)["http_filters"][0]["typed_config"]["config"];
    assert_eq!(wasm["root_id"], "kubeplex");
    assert_eq!(wasm["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
    assert_eq!(
        wasm["vm_config"]["code"]["local"]["filename"],
        "/x/kubeplex_filter.wasm"
    );
    assert_eq!(
        wasm["configuration"]["@type"],
        "type.googleapis.com/google.protobuf.BytesValue"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(wasm["configuration"]["value"].as_str().unwrap())
        .unwrap();
    assert_eq!(pb::FilterConfig::decode(bytes.as_slice()).unwrap(), config);
}

#[test]
fn jwt_authn_has_one_provider_per_algorithm_and_requires_one() {
    let keys = SigningKeys::fixtures().unwrap();
    for cache in [true, false] {
        let b = bootstrap(
            HttpFilter::JwtAuthn {
                keys: &keys,
                provider: Alg::EdDsa,
                cache,
            },
            Some(Path::new("/tmp/a.log")),
        );
        let jwt = &hcm(&b)["http_filters"][0]["typed_config"];
        assert_eq!(jwt["rules"][0]["requires"]["provider_name"], "eddsa");
        let providers = jwt["providers"].as_object().unwrap();
        assert_eq!(providers.len(), 3);
        for alg in Alg::ALL {
            let p = &providers[&alg.provider()];
            assert_eq!(p["issuer"], alg.issuer());
            assert_eq!(p["forward"], false);
            assert_eq!(p.get("jwt_cache_config").is_some(), cache, "cache={cache}");
            let jwks: Value =
                serde_json::from_str(p["local_jwks"]["inline_string"].as_str().unwrap()).unwrap();
            assert_eq!(jwks["keys"][0]["kid"], alg.kid());
        }
    }
}

#[test]
#[ignore = "needs Envoy (make setup) and the wasm build"]
fn envoy_accepts_every_bootstrap() {
    let wasm = kubeplex_test_support::filter_wasm();
    let keys = SigningKeys::fixtures().unwrap();
    let config = filter_config(&keys, true);
    let dir = tempfile::tempdir().unwrap();
    let log = Some(dir.path().join("access.log"));
    let log = log.as_deref();
    let empty = kubeplex_test_support::empty_filter_wasm();
    let mut all = vec![
        bootstrap(HttpFilter::None, log),
        bootstrap(
            HttpFilter::Kubeplex {
                wasm: &wasm,
                config: &config,
            },
            log,
        ),
        bootstrap(
            HttpFilter::JwtAuthn {
                keys: &keys,
                provider: Alg::EdDsa,
                cache: true,
            },
            log,
        ),
    ];
    if empty.is_file() {
        all.push(bootstrap(HttpFilter::EmptyWasm { wasm: &empty }, log));
    }
    let pki = GatewayPki::new();
    let ends = pki.ends();
    all.push(gateway_bootstrap(HttpFilter::None, &ends, log));
    all.push(gateway_bootstrap(
        HttpFilter::Kubeplex {
            wasm: &wasm,
            config: &config,
        },
        &ends,
        log,
    ));
    // every change of the tuning run, each alone
    for change in super::super::tuning::Change::ALL {
        let mut tuned = gateway_bootstrap(
            HttpFilter::Kubeplex {
                wasm: &wasm,
                config: &config,
            },
            &ends,
            log,
        );
        change.apply(&mut tuned);
        all.push(tuned);
    }
    for (i, b) in all.iter().enumerate() {
        let path = dir.path().join(format!("b{i}.json"));
        std::fs::write(&path, b.to_string()).unwrap();
        kubeplex_test_support::assert_envoy_accepts(&path, &format!("bootstrap {i}"));
    }
}

/// Real certificates for the gateway-shaped bootstrap.
struct GatewayPki {
    serving: crate::pki::CertKey,
    client: crate::pki::CertKey,
    cluster_ca: crate::pki::Ca,
}

impl GatewayPki {
    fn new() -> GatewayPki {
        let cluster_ca = crate::pki::Ca::new("cluster");
        GatewayPki {
            serving: crate::pki::Ca::new("gateway").server_cert(&["127.0.0.1"]),
            client: cluster_ca.client_cert("gateway", &[]),
            cluster_ca,
        }
    }

    fn ends(&self) -> GatewayEnds<'_> {
        GatewayEnds {
            serving_cert: &self.serving.cert_pem,
            serving_key: &self.serving.key_pem,
            upstream: "127.0.0.1:6443".parse().unwrap(),
            upstream_ca: self.cluster_ca.cert_pem(),
            client_cert: &self.client.cert_pem,
            client_key: &self.client.key_pem,
        }
    }
}

#[test]
fn gateway_variants_differ_only_by_filter_and_who_strips_the_prefix() {
    let keys = SigningKeys::fixtures().unwrap();
    let config = filter_config(&keys, false);
    let pki = GatewayPki::new();
    let ends = pki.ends();
    let log = Some(Path::new("/tmp/access.log"));
    let wasm = Path::new("/tmp/filter.wasm");
    let none = gateway_bootstrap(HttpFilter::None, &ends, log);
    let jwt = gateway_bootstrap(
        HttpFilter::JwtAuthn {
            keys: &keys,
            provider: Alg::Rs256,
            cache: true,
        },
        &ends,
        log,
    );
    let ours = gateway_bootstrap(
        HttpFilter::Kubeplex {
            wasm,
            config: &config,
        },
        &ends,
        log,
    );
    let without = |b: &Value| {
        let mut b = b.clone();
        let hcm = &mut b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
        hcm["http_filters"] = Value::Null;
        hcm["route_config"] = Value::Null;
        b
    };
    assert_eq!(without(&none), without(&jwt));
    assert_eq!(without(&none), without(&ours));
    let route = |b: &Value| hcm(b)["route_config"]["virtual_hosts"][0]["routes"][0].clone();
    // without our filter the route strips the cluster prefix itself
    assert_eq!(route(&none)["match"]["prefix"], "/clusters/bench/");
    assert_eq!(route(&none)["route"]["prefix_rewrite"], "/");
    assert_eq!(route(&jwt), route(&none));
    assert_eq!(route(&ours)["match"]["prefix"], "/");
    assert!(route(&ours)["route"].get("prefix_rewrite").is_none());
    // HTTP/2 both ways, mTLS upstream, the audit log
    let listener = &none["static_resources"]["listeners"][0];
    let alpn = &listener["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
        ["alpn_protocols"];
    assert_eq!(alpn, &json!(["h2", "http/1.1"]));
    let cluster = &none["static_resources"]["clusters"][0];
    assert!(
        cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            ["explicit_http_config"]
            .get("http2_protocol_options")
            .is_some()
    );
    assert_eq!(
        hcm(&none)["access_log"][0]["name"],
        "envoy.access_loggers.file"
    );
    // the filter is in front of the router
    let filters = hcm(&ours)["http_filters"].as_array().unwrap();
    assert_eq!(filters.len(), 2);
    assert_eq!(filters[0]["name"], "kubeplex");
    assert_eq!(hcm(&none)["http_filters"].as_array().unwrap().len(), 1);
}
