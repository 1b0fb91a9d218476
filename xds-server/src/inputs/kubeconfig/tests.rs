use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/kubeconfig")
        .join(name)
}

fn pki(name: &str) -> String {
    std::fs::read_to_string(fixture("pki").join(name)).unwrap()
}

/// `(line, field, reason)` of every error, in order.
fn errors(name: &str) -> Vec<(Option<u64>, String, String)> {
    let err = load(&fixture(name)).expect_err(name);
    err.0
        .into_iter()
        .map(|e| {
            assert_eq!(e.file, fixture(name));
            (e.line, e.field.unwrap_or_default(), e.reason)
        })
        .collect()
}

fn row(line: u64, field: &str, reason: &str) -> (Option<u64>, String, String) {
    (Some(line), field.to_string(), reason.to_string())
}

fn server(scheme: &str, host: &str, port: u16, path: &str) -> ServerUrl {
    ServerUrl {
        scheme: scheme.into(),
        host: host.into(),
        port,
        path: path.into(),
    }
}

#[test]
fn embedded_data_and_path_prefix() {
    let loaded = load(&fixture("embedded.yaml")).unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let names: Vec<_> = loaded.clusters.iter().map(|c| c.context.as_str()).collect();
    assert_eq!(names, ["plain", "rancher-a"], "sorted by context name");
    let rancher = &loaded.clusters[1];
    assert_eq!(
        rancher.server,
        server("https", "rancher.example.com", 443, "/k8s/clusters/c-abc12")
    );
    assert_eq!(
        rancher.tls_server_name.as_deref(),
        Some("api.rancher.internal")
    );
    assert_eq!(rancher.ca_pem.as_deref(), Some(pki("ca.pem").as_str()));
    assert_eq!(
        rancher.client_cert_pem.as_deref(),
        Some(pki("client.pem").as_str())
    );
    assert_eq!(
        rancher.client_key_pem.as_ref().map(|k| &**k.expose()),
        Some(pki("client-key.pem").as_str())
    );
    assert!(rancher.bearer_token.is_none());
    assert!(!rancher.insecure_skip_tls_verify);
    assert_eq!(
        loaded.clusters[0].server,
        server("https", "plain.example.com", 443, "")
    );
}

#[test]
fn files_tokens_ipv6_and_shared_clusters() {
    let loaded = load(&fixture("files.yaml")).unwrap();
    let by_name = |n: &str| loaded.clusters.iter().find(|c| c.context == n).unwrap();
    let names: Vec<_> = loaded.clusters.iter().map(|c| c.context.as_str()).collect();
    assert_eq!(names, ["dev-admin", "dev-ci", "edge", "lab"]);

    let admin = by_name("dev-admin");
    assert_eq!(admin.server, server("https", "fd00::10", 6443, ""));
    assert_eq!(admin.ca_pem.as_deref(), Some(pki("ca.pem").as_str()));
    assert_eq!(
        admin.client_cert_pem.as_deref(),
        Some(pki("client.pem").as_str())
    );

    // Two contexts share the `dev` cluster with different users.
    let ci = by_name("dev-ci");
    assert_eq!(ci.server, admin.server);
    assert_eq!(ci.ca_pem, admin.ca_pem);
    assert_eq!(
        ci.bearer_token.as_ref().map(|t| t.expose().as_str()),
        Some("eyJhbGciOiJSUzI1NiJ9.ci-token"),
        "tokenFile read and trimmed"
    );
    assert!(ci.client_cert_pem.is_none());

    let lab = by_name("lab");
    assert_eq!(lab.server, server("http", "10.0.0.7", 8080, ""));
    assert_eq!(
        lab.bearer_token.as_ref().map(|t| t.expose().as_str()),
        Some("static-token-123")
    );
    let edge = by_name("edge");
    assert_eq!(
        edge.server,
        server("https", "10.0.0.9", 6443, ""),
        "no scheme = https"
    );
    assert!(edge.insecure_skip_tls_verify);

    assert_eq!(
        loaded.warnings,
        [
            "context `lab`: cluster `lab` is reached over plain http; credentials and impersonated requests cross the network unencrypted",
            "context `edge`: cluster `edge` has insecure-skip-tls-verify: its server certificate is not verified",
            "context `prod-eks` skipped: user `eks` uses an exec credential plugin (`aws`): plugins run inside client libraries and kubeplex needs a static credential for Envoy (a client certificate or a token)",
            "context `gke` skipped: user `gke-legacy` uses auth-provider `gcp`, which Kubernetes removed; use a client certificate or a token",
            "context `old` skipped: user `basic` uses username/password (basic auth), which Kubernetes removed in 1.19; use a client certificate or a token",
        ]
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let loaded = load(&fixture("files.yaml")).unwrap();
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("static-token-123"));
    assert!(!debug.contains("ci-token"));
    assert!(!debug.contains("PRIVATE KEY"));
    assert!(debug.contains("<redacted>"));
}

#[test]
fn bad_data_files_and_pairs_are_all_reported() {
    let missing = fixture("pki/missing-ca.pem");
    assert_eq!(
        errors("bad-data.yaml"),
        [
            row(
                7,
                "clusters[0].cluster.certificate-authority-data",
                "not a PEM CA certificate bundle: no PEM CERTIFICATE block found"
            ),
            row(
                11,
                "clusters[1].cluster.certificate-authority",
                &format!(
                    "cannot read {}: No such file or directory (os error 2)",
                    missing.display()
                ),
            ),
            row(
                19,
                "users[1].user.client-key-data",
                "not valid base64: Invalid symbol 33, offset 12."
            ),
            row(
                22,
                "users[2].user.client-certificate",
                "a client certificate needs its key: set client-key-data or client-key"
            ),
            row(
                25,
                "users[3].user.client-key",
                "a client key needs its certificate: set client-certificate-data or client-certificate"
            ),
            row(
                29,
                "users[4].user.client-key",
                "this key does not belong to the client certificate"
            ),
            row(
                32,
                "users[5].user.client-certificate",
                "not a PEM client certificate: PEM block 1 is a PRIVATE KEY, expected only CERTIFICATE blocks"
            ),
        ]
    );
}

#[test]
fn bad_references_urls_and_duplicates_are_all_reported() {
    assert_eq!(
        errors("bad-refs.yaml"),
        [
            row(
                6,
                "clusters[0].cluster.server",
                "unsupported URL scheme `ftp` in `ftp://a.example.com` (use https)"
            ),
            row(
                7,
                "clusters[1].name",
                "duplicate cluster name `a` (also clusters[0])"
            ),
            row(
                12,
                "clusters[2].cluster.server",
                "invalid port `99999` in `https://b.example.com:99999`"
            ),
            row(
                16,
                "clusters[3].cluster.insecure-skip-tls-verify",
                "cannot be combined with certificate-authority: either verify with the CA or skip verification"
            ),
            row(
                24,
                "contexts[0].context.cluster",
                "cluster `nowhere` is not defined in clusters"
            ),
            row(
                26,
                "contexts[1].context.user",
                "user `nobody` is not defined in users"
            ),
            row(
                27,
                "contexts[2].name",
                "duplicate context name `one` (also contexts[0])"
            ),
            row(
                29,
                "contexts[3].name",
                "context name `has/slash` contains '/'; it becomes a URL path segment, so use letters, digits and - _ . @ : + ~"
            ),
        ]
    );
}

#[test]
fn unknown_fields_in_known_sections_are_errors() {
    assert_eq!(
        errors("unknown-fields.yaml"),
        [
            row(
                3,
                "clusterz",
                "unknown field `clusterz`; did you mean `clusters`?"
            ),
            row(
                9,
                "clusters[0].extra",
                "unknown field `extra`; expected one of: name, cluster"
            ),
            row(
                8,
                "clusters[0].cluster.certificate-authority-dta",
                "unknown field `certificate-authority-dta`; did you mean `certificate-authority-data`?"
            ),
            row(
                13,
                "users[0].user.tokn",
                "unknown field `tokn`; did you mean `token`?"
            ),
            row(
                14,
                "users[0].user.client-key-data",
                "expected a string, found an integer"
            ),
            row(
                20,
                "contexts[0].context.namespce",
                "unknown field `namespce`; did you mean `namespace`?"
            ),
        ]
    );
}

#[test]
fn yaml_syntax_errors_carry_a_line() {
    assert_eq!(
        errors("syntax.yaml"),
        [(
            Some(5),
            String::new(),
            "invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"
                .to_string()
        )]
    );
}

#[test]
fn missing_server_and_wrong_kind() {
    let text = "apiVersion: v2\nkind: Configuration\nclusters:\n- name: a\n  cluster:\n    insecure-skip-tls-verify: true\n";
    let err = parse(text, Path::new("/etc/kubeplex/kc.yaml")).unwrap_err();
    let got: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "/etc/kubeplex/kc.yaml:2: kind: expected `Config`, found `Configuration`",
            "/etc/kubeplex/kc.yaml:1: apiVersion: expected `v1`, found `v2`",
            "/etc/kubeplex/kc.yaml:5: clusters[0].cluster.server: required field is missing",
        ]
    );
}

#[test]
fn an_empty_kubeconfig_has_no_clusters() {
    let loaded = parse("", Path::new("kc.yaml")).unwrap();
    assert!(loaded.clusters.is_empty());
}

#[test]
fn server_urls() {
    let ok = [
        ("https://10.0.0.1", server("https", "10.0.0.1", 443, "")),
        ("http://api:80/", server("http", "api", 80, "")),
        ("HTTPS://[::1]", server("https", "::1", 443, "")),
        (
            "https://[2001:db8::1]:6443/a/b/",
            server("https", "2001:db8::1", 6443, "/a/b"),
        ),
        (
            "api.example.com:6443",
            server("https", "api.example.com", 6443, ""),
        ),
    ];
    for (url, want) in ok {
        assert_eq!(server_url::parse(url), Ok(want), "{url}");
    }
    let bad = [
        ("", "server URL is empty"),
        (
            "unix:///run/k8s.sock",
            "unsupported URL scheme `unix` in `unix:///run/k8s.sock` (use https)",
        ),
        (
            "https://[::1",
            "unclosed `[` in IPv6 host in `https://[::1`",
        ),
        (
            "https://[zz]:1",
            "`zz` is not an IPv6 address in `https://[zz]:1`",
        ),
        ("https://::1:6443", "missing host in `https://::1:6443`"),
        (
            "https://fd00::1",
            "IPv6 hosts must be in brackets, e.g. https://[::1]:6443 in `https://fd00::1`",
        ),
        ("https://a:0", "invalid port `0` in `https://a:0`"),
        (
            "https://u:p@a",
            "server URL `https://u:p@a` must not carry credentials; use the user entry",
        ),
        (
            "https://a/?x=1",
            "server URL `https://a/?x=1` must not have a query or fragment",
        ),
        (
            "https://a b",
            "`a b` is not a valid host name in `https://a b`",
        ),
    ];
    for (url, want) in bad {
        assert_eq!(server_url::parse(url), Err(want.to_string()), "{url}");
    }
}

/// Values Envoy's config validation refuses (a route's header values and
/// prefix_rewrite: no CR, LF or NUL, at most 16384 bytes; an SNI: at most
/// 255 bytes): refused here with their line and field, as Envoy would
/// otherwise NACK the whole route table while `kubeplex check` passed.
/// (Found by the fuzzer's kubeconfig target: fuzz/regressions/kubeconfig.)
#[test]
fn values_envoy_would_refuse_are_refused_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = |server: &str, cluster_extra: &str, user: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n{cluster_extra}\
             users:\n- name: u\n  user:\n{user}contexts:\n- name: x\n  context: {{cluster: c, user: u}}\n"
        )
    };
    let reason = |text: String| -> String {
        let e = parse(&text, &dir.path().join("config")).expect_err(&text);
        e.0.iter()
            .map(|e| format!("{}: {}", e.field.clone().unwrap_or_default(), e.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let ok_user = "    token: abc\n";
    let r = reason(kubeconfig(
        "https://h",
        "",
        "    token: \"abc\\r\\nx-injected: 1\"\n",
    ));
    assert!(
        r.contains("token: the token contains control characters"),
        "{r}"
    );
    let long = "t".repeat(16378);
    let r = reason(kubeconfig("https://h", "", &format!("    token: {long}\n")));
    assert!(
        r.contains("the token has 16378 bytes (at most 16377)"),
        "{r}"
    );
    let r = reason(kubeconfig("\"https://h/k8s\\r\\nx: y\"", "", ok_user));
    assert!(
        r.contains("clusters[0].cluster.server") && r.contains("percent-encode it"),
        "{r}"
    );
    let r = reason(kubeconfig(
        &format!("https://{}.example", "a".repeat(250)),
        "",
        ok_user,
    ));
    assert!(
        r.contains("host name of 258 characters (at most 253)"),
        "{r}"
    );
    let r = reason(kubeconfig(
        "https://h",
        &format!("    tls-server-name: {}\n", "s".repeat(300)),
        ok_user,
    ));
    assert!(r.contains("tls-server-name: must be a DNS name"), "{r}");
    // a token of exactly the limit is fine
    let ok = "t".repeat(16377);
    parse(
        &kubeconfig("https://h", "", &format!("    token: {ok}\n")),
        &dir.path().join("config"),
    )
    .unwrap();
}

/// A file a kubeconfig names is read only if it is a regular file of at
/// most 4 MiB: `/dev/zero` never ends (the fuzzer ran out of memory on
/// it), a FIFO blocks the reload until someone writes to it.
#[test]
fn referenced_files_must_be_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big-token");
    std::fs::write(
        &big,
        vec![b't'; (crate::inputs::MAX_REFERENCED_BYTES + 1) as usize],
    )
    .unwrap();
    for (file, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (dir.path().to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 4194304 bytes"),
    ] {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://h'}}\n\
             users:\n- name: u\n  user: {{tokenFile: '{file}'}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\n"
        );
        let e = parse(&text, &dir.path().join("config")).expect_err(file);
        assert!(e.to_string().contains(why), "{file}: {e}");
    }
}

/// 20,000 contexts (~330,000 YAML nodes) load: serde-saphyr's default
/// budget (250,000 nodes) refused both our parse and kube's above ~15,000.
#[test]
fn twenty_thousand_contexts_are_not_refused_for_their_size() {
    let mut text = String::from(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n",
    );
    for i in 0..20_000 {
        text.push_str(&format!(
            "- name: ctx-{i}\n  context:\n    cluster: c\n    user: u\n"
        ));
    }
    let loaded = parse(&text, Path::new("big.yaml")).expect("20,000 contexts load");
    assert_eq!(loaded.clusters.len(), 20_000);
}

/// Identical PEM texts in different entries (two cluster entries with the
/// same CA, one user for both contexts) are held once: every target
/// shares one copy instead of a copy per context.
#[test]
fn identical_pem_texts_are_held_once() {
    use base64::Engine;
    let b64 = |name: &str| base64::engine::general_purpose::STANDARD.encode(pki(name));
    let (ca, cert, key) = (b64("ca.pem"), b64("client.pem"), b64("client-key.pem"));
    let cluster = |name: &str, port: u16| {
        format!(
            "- name: {name}\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca}\n"
        )
    };
    let context =
        |name: &str| format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{}{}users:\n- name: u\n  user:\n    \
         client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n{}{}",
        cluster("a", 6443),
        cluster("b", 6444),
        context("a"),
        context("b"),
    );
    let loaded = parse(&text, Path::new("shared.yaml")).expect("loads");
    let [a, b] = &loaded.clusters[..] else {
        panic!("two targets: {:?}", loaded.clusters);
    };
    let same = |x: &Option<std::sync::Arc<str>>, y: &Option<std::sync::Arc<str>>| {
        std::sync::Arc::ptr_eq(x.as_ref().expect("a PEM"), y.as_ref().expect("a PEM"))
    };
    assert_eq!(a.ca_pem.as_deref(), Some(pki("ca.pem").as_str()));
    assert!(same(&a.ca_pem, &b.ca_pem), "one CA text");
    assert!(
        same(&a.client_cert_pem, &b.client_cert_pem),
        "one certificate text"
    );
    let key = |t: &ClusterTarget| t.client_key_pem.as_ref().map(|k| k.expose().clone());
    assert!(same(&key(a), &key(b)), "one key text");
}
