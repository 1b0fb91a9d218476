//! Fuzz targets for the control plane's input readers (crate `kubeplex`):
//! the kubeconfig, the gateway config and the policy file. They read
//! operator-written files and the files those name, so whatever the text,
//! they must return a value or errors naming the file, never panic, hang
//! or accept something the next stage cannot use.
//!
//! Relative file names resolve against the repository's own fixture
//! directories (`xds-server/test_data/<kind>/`, read only: the readers never
//! write), so the fuzzer reaches the code behind real certificates, keys
//! and JWKS files.
//!
//! This file is also compiled into `xds-server/tests/fuzz_regressions.rs`
//! (by `#[path]`): it may only name crates `kubeplex` itself depends on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubeplex::inputs::gateway_config::{self, GatewayConfig};
use kubeplex::inputs::kubeconfig::{self, LoadedKubeconfig};
use kubeplex::inputs::{InputErrors, policy};
use kubeplex_filter_core::config_pb as pb;

/// `xds-server/test_data/<kind>/fuzz-input.yaml`: where the fuzzed text
/// "lives" (the file itself never exists).
fn input_path(kind: &str) -> &'static Path {
    static PATHS: OnceLock<[(String, PathBuf); 3]> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        // CARGO_MANIFEST_DIR is fuzz/ or xds-server/: both one level down.
        let data = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../xds-server/test_data")
            .canonicalize()
            .expect("xds-server/test_data exists");
        ["kubeconfig", "gateway", "policy"]
            .map(|k| (k.to_string(), data.join(k).join("fuzz-input.yaml")))
    });
    &paths
        .iter()
        .find(|(k, _)| k == kind)
        .expect("known input kind")
        .1
}

/// Errors must name the file, a field or line where known, and a reason.
fn check_errors(path: &Path, errors: &InputErrors) {
    assert!(!errors.0.is_empty(), "an error result with no problems");
    for e in &errors.0 {
        assert_eq!(e.file, path, "problem {e} names another file");
        assert!(!e.reason.is_empty(), "problem without a reason: {e:?}");
        assert!(e.line.is_none_or(|l| l >= 1), "line 0 in {e}");
    }
    assert!(!errors.to_string().is_empty());
}

/// Kubeconfig text → clusters.
pub fn kubeconfig(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = input_path("kubeconfig");
    match kubeconfig::parse(&text, path) {
        Ok(loaded) => check_kubeconfig(&loaded),
        Err(errors) => check_errors(path, &errors),
    }
}

fn check_context_name(name: &str) {
    assert!(
        !name.is_empty()
            && name != "."
            && name != ".."
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '+' | '~')
            }),
        "accepted context name {name:?}, which is not a plain URL path segment"
    );
}

/// What can be sent as an HTTP header value (Envoy refuses the rest).
fn header_value_ok(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0'))
}

fn check_kubeconfig(loaded: &LoadedKubeconfig) {
    for pair in loaded.clusters.windows(2) {
        assert!(
            pair[0].context < pair[1].context,
            "clusters not sorted by unique context name: {:?}, {:?}",
            pair[0].context,
            pair[1].context
        );
    }
    for c in &loaded.clusters {
        check_context_name(&c.context);
        let s = &c.server;
        assert!(
            s.scheme == "https" || s.scheme == "http",
            "scheme {:?}",
            s.scheme
        );
        assert!(!s.host.is_empty(), "{}: empty host", c.context);
        assert!(
            s.host.parse::<std::net::Ipv6Addr>().is_ok()
                || s.host
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_')),
            "{}: host {:?}",
            c.context,
            s.host
        );
        assert_ne!(s.port, 0, "{}: port 0", c.context);
        assert!(
            s.path.is_empty() || (s.path.starts_with('/') && !s.path.ends_with('/')),
            "{}: server path {:?}",
            c.context,
            s.path
        );
        assert!(
            !s.path.contains(['?', '#']),
            "{}: path {:?}",
            c.context,
            s.path
        );
        assert!(
            !(c.insecure_skip_tls_verify && c.ca_pem.is_some()),
            "{}: insecure-skip-tls-verify together with a CA",
            c.context
        );
        assert_eq!(
            c.client_cert_pem.is_some(),
            c.client_key_pem.is_some(),
            "{}: a client certificate without its key or the reverse",
            c.context
        );
        if let Some(token) = &c.bearer_token {
            assert!(
                !token.expose().is_empty(),
                "{}: empty bearer token",
                c.context
            );
        }
        assert!(c.tls_server_name.as_deref() != Some(""));
        if let Some(problem) = envoy_limits_problem(c) {
            panic!("{}: the reader accepted {problem}", c.context);
        }
    }
}

/// A value the translation puts where Envoy's proto validation refuses it,
/// so Envoy would NACK the config that `kubeplex check` passed: the
/// `authorization: Bearer <token>` header value and the server path's
/// `prefix_rewrite` (HTTP_HEADER_VALUE: no NUL, CR or LF; a header value
/// at most 16384 bytes) and the upstream SNI (`tls-server-name`, else the
/// host; at most 255 bytes).
pub fn envoy_limits_problem(c: &kubeconfig::ClusterTarget) -> Option<String> {
    if let Some(token) = &c.bearer_token {
        let value = format!("Bearer {}", token.expose());
        if !header_value_ok(&value) {
            return Some(format!(
                "a bearer token that cannot be an HTTP header value: {:?}",
                token.expose()
            ));
        }
        if value.len() > 16384 {
            return Some(format!(
                "a bearer token of {} bytes (Envoy's header values: at most 16384)",
                token.expose().len()
            ));
        }
    }
    if !header_value_ok(&c.server.path) {
        return Some(format!(
            "a server path that cannot be a prefix_rewrite: {:?}",
            c.server.path
        ));
    }
    let sni = c.tls_server_name.as_deref().unwrap_or(&c.server.host);
    if sni.len() > 255 {
        return Some(format!(
            "a TLS server name of {} bytes (Envoy's sni: at most 255)",
            sni.len()
        ));
    }
    None
}

/// Gateway config text → listener, issuers, files.
pub fn gateway_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = input_path("gateway");
    match gateway_config::parse(&text, path) {
        Ok(config) => check_gateway_config(&config),
        Err(errors) => check_errors(path, &errors),
    }
}

fn check_gateway_config(config: &GatewayConfig) {
    let l = &config.listener;
    assert!(
        l.address.parse::<std::net::IpAddr>().is_ok(),
        "listener address {:?}",
        l.address
    );
    assert_ne!(l.port, 0);
    if let Some(suffix) = &l.context_server_name_suffix {
        assert!(
            !suffix.is_empty()
                && suffix.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                }),
            "context server name suffix {suffix:?} is not a lower-case DNS name"
        );
    }
    assert!(!config.issuers.is_empty(), "a config without issuers");
    let mut urls = HashSet::new();
    for issuer in &config.issuers {
        assert!(urls.insert(&issuer.url), "issuer {:?} twice", issuer.url);
        assert!(
            issuer.url.contains("://") && !issuer.url.contains(['?', '#']),
            "issuer url {:?}",
            issuer.url
        );
        assert!(
            !issuer.audiences.is_empty() && issuer.audiences.iter().all(|a| !a.is_empty()),
            "issuer {:?} audiences {:?}",
            issuer.url,
            issuer.audiences
        );
        let m = &issuer.claim_mappings;
        assert!(!m.username_claim.is_empty() && !m.groups_claim.is_empty());
        for prefix in [&m.username_prefix, &m.groups_prefix] {
            assert!(
                prefix.bytes().all(|b| (0x20..0x7f).contains(&b))
                    && !prefix.starts_with(' ')
                    && !prefix.starts_with("system:"),
                "issuer {:?}: accepted claim prefix {prefix:?}",
                issuer.url
            );
        }
        for (key, claim) in &m.extra {
            assert!(!claim.is_empty(), "extra {key:?} without a claim");
            assert!(
                !key.is_empty() && *key == key.to_ascii_lowercase() && key.contains('/'),
                "extra key {key:?}"
            );
        }
        for (claim, _) in &issuer.claim_validation_rules {
            assert!(!claim.is_empty(), "a claim rule naming no claim");
        }
    }
    assert!(config.clock_skew_seconds <= 3600);
    assert!(config.token_cache_size <= 10_000_000);
    let files: HashSet<_> = config.referenced_files.iter().collect();
    assert_eq!(
        files.len(),
        config.referenced_files.len(),
        "referenced files repeated"
    );
    for f in config
        .referenced_files
        .iter()
        .chain(config.revocation_file().map(Path::to_path_buf).as_ref())
        .chain(&config.policy_file)
    {
        assert!(f.is_absolute(), "relative file {f:?}");
    }
}

/// Policy text → the filter's policy message, which the filter must
/// compile: a policy the control plane accepts but the filter refuses would
/// make the filter refuse the whole config push.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = input_path("policy");
    match policy::parse(&text, path) {
        Ok(policy) => check_policy(&policy),
        Err(errors) => check_errors(path, &errors),
    }
}

fn check_policy(policy: &pb::Policy) {
    if let Err(e) = kubeplex_filter_core::policy::Policy::compile(policy) {
        panic!("the control plane accepted a policy the filter refuses: {e} ({policy:?})");
    }
    let mut names = HashSet::new();
    for role in &policy.roles {
        assert!(!role.name.is_empty(), "a role without a name");
        assert!(names.insert(&role.name), "role {:?} twice", role.name);
        assert!(!role.rules.is_empty(), "role {:?} without rules", role.name);
    }
    for binding in &policy.bindings {
        assert!(
            names.contains(&binding.role),
            "binding to {:?}",
            binding.role
        );
        for subject in binding.users.iter().chain(&binding.groups) {
            assert!(!subject.is_empty(), "an empty user or group");
        }
    }
}
