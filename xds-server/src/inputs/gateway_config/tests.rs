use std::path::{Path, PathBuf};

use kubeplex_proto::filter::v1 as pb;

use super::*;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(data().join(rel)).unwrap()
}

fn key_types(source: &KeySource) -> Vec<pb::KeyType> {
    match source {
        KeySource::Static { keys, .. } => keys.iter().map(|k| k.key_type).collect(),
        other => panic!("not static: {other:?}"),
    }
}

#[test]
fn the_documented_config_loads() {
    let config = load(&data().join("gateway/good.yaml")).unwrap();
    let l = &config.listener;
    assert_eq!((l.address.as_str(), l.port), ("0.0.0.0", 9443));
    assert_eq!(l.certificate_pem, read("gateway/tls/gateway.pem"));
    assert_eq!(l.key_pem.expose(), &read("gateway/tls/gateway-key.pem"));
    assert_eq!(
        l.client_ca_pem.as_deref(),
        Some(read("gateway/tls/clients-ca.pem").as_str())
    );
    assert!(
        !format!("{config:?}").contains("PRIVATE KEY"),
        "key redacted in Debug"
    );

    let urls: Vec<_> = config.issuers.iter().map(|i| i.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://login.example.com",
            "https://multikube.example.com",
            "https://pem.example.com",
            "https://inline.example.com",
            "https://accounts.example.com/",
            "https://keys.example.com",
            "https://kubernetes.default.svc.cluster.local",
        ]
    );
    let login = &config.issuers[0];
    assert_eq!(login.audiences, ["kubeplex"]);
    assert_eq!(
        key_types(&login.keys),
        [
            pb::KeyType::Rsa,
            pb::KeyType::EcP256,
            pb::KeyType::EcP384,
            pb::KeyType::EcP521,
            pb::KeyType::Ed25519
        ]
    );
    assert_eq!(
        login.claim_mappings,
        ClaimMappings {
            username_claim: "email".into(),
            username_prefix: "oidc:".into(),
            groups_claim: "roles".into(),
            groups_prefix: String::new(),
            uid_claim: Some("uid".into()),
            extra: vec![("example.com/tenant".into(), "tenant".into())],
        }
    );
    assert_eq!(
        login.claim_validation_rules,
        [("hd".to_string(), "example.com".to_string())]
    );

    let multikube = &config.issuers[1];
    assert_eq!(key_types(&multikube.keys), [pb::KeyType::EcP521]);
    assert_eq!(multikube.audiences, ["multikube", "kubeplex"]);
    assert_eq!(
        multikube.claim_mappings.username_claim, "sub",
        "default mapping"
    );
    assert_eq!(multikube.claim_mappings.groups_claim, "groups");
    match &multikube.keys {
        KeySource::Static { origin, keys } => {
            assert_eq!(
                origin,
                &format!(
                    "signerCertificateFile {}",
                    data().join("keys/p521.cert.pem").display()
                )
            );
            assert_eq!(
                keys[0].public_key,
                std::fs::read(data().join("keys/p521.pub.der")).unwrap()
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(key_types(&config.issuers[2].keys), [pb::KeyType::Rsa]);
    assert_eq!(key_types(&config.issuers[3].keys), [pb::KeyType::Ed25519]);
    assert_eq!(
        config.issuers[4].keys,
        KeySource::Remote(RemoteKeySource::Discovery {
            url: "https://accounts.example.com/.well-known/openid-configuration".into(),
            ca_pem: Some(read("gateway/tls/clients-ca.pem")),
        })
    );
    assert_eq!(
        config.issuers[5].keys,
        KeySource::Remote(RemoteKeySource::JwksUrl {
            url: "https://keys.example.com/jwks".into(),
            ca_pem: None
        })
    );
    assert_eq!(
        config.issuers[6].keys,
        KeySource::Remote(RemoteKeySource::Cluster {
            context: "prod-a".into()
        })
    );

    let gw = data().join("gateway");
    assert_eq!(
        config.revocation_file(),
        Some(gw.join("state/revoked.yaml").as_path())
    );
    assert_eq!(config.policy_file, Some(data().join("policy/good.yaml")));
    assert_eq!(
        config.audit,
        AuditConfig {
            path: Some(gw.join("audit/audit.log")),
            stdout: true,
            ..AuditConfig::default()
        }
    );
    assert_eq!(
        (config.clock_skew_seconds, config.token_cache_size),
        (10, 100)
    );
    assert_eq!(
        config.referenced_files,
        [
            gw.join("tls/gateway.pem"),
            gw.join("tls/gateway-key.pem"),
            gw.join("tls/clients-ca.pem"),
            data().join("keys/jwks.json"),
            data().join("keys/p521.cert.pem"),
            data().join("keys/rsa.pkcs1.pub.pem"),
            gw.join("state/revoked.yaml"),
            data().join("policy/good.yaml"),
        ]
    );
}

#[test]
fn defaults_apply() {
    let text = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: tls/gateway-key.pem\njwt:\n- issuer: {url: 'https://x.example.com', audiences: [a], jwksFile: ../keys/jwks.json}\n";
    let config = parse(text, &data().join("gateway/inline.yaml")).unwrap();
    assert_eq!(
        (config.listener.address.as_str(), config.listener.port),
        ("0.0.0.0", 8443)
    );
    assert_eq!(
        (config.clock_skew_seconds, config.token_cache_size),
        (30, 4096)
    );
    assert_eq!(config.audit, AuditConfig::default());
    assert_eq!((config.revocation, config.policy_file), (None, None));
    assert_eq!(config.listener.client_ca_pem, None);
}

#[test]
fn every_problem_is_reported_with_line_and_field() {
    let gw = data().join("gateway");
    let err = load(&gw.join("bad.yaml")).unwrap_err();
    for e in &err.0 {
        assert_eq!(e.file, gw.join("bad.yaml"));
    }
    let got = err.lines_fields_reasons();
    let sources = "jwks, jwksFile, publicKeyFile, signerCertificateFile, jwksURL, discoveryURL (or discovery: true), cluster";
    let keys = data().join("keys");
    assert_eq!(
        got,
        [
            "4: listener.address: `localhost` is not an IP address (Envoy binds an address, e.g. 0.0.0.0 or ::)".to_string(),
            "5: listener.port: 70000 is out of range 1..=65535".to_string(),
            format!("6: listener.certificateFile: {}: PEM block 1 is a PRIVATE KEY, expected only CERTIFICATE blocks", gw.join("tls/gateway-key.pem").display()),
            "11: jwt[0].issuer.audiences: at least one audience is required".to_string(),
            format!("13: jwt[0].issuer: exactly one key source is allowed, found jwksFile and cluster: choose one of {sources}"),
            "10: jwt[0].issuer.url: must be an https:// URL".to_string(),
            format!("15: jwt[1].issuer: a key source is required: one of {sources}"),
            "18: jwt[1].claimMappings.username.prefix: required when claim is set; use prefix: \"\" for none (as in Kubernetes)".to_string(),
            "19: jwt[1].claimMappings.groups.prefix: the system: prefix is reserved for Kubernetes identities".to_string(),
            "21: jwt[1].claimMappings.extra[0].key: extra key `Example.com/Tenant` must be lower-case".to_string(),
            "23: jwt[1].claimMappings.extra[1].key: extra key `tenant` must be domain-prefixed, e.g. example.com/tenant".to_string(),
            "25: jwt[1].claimMappings.extra[2].key: extra key `kubernetes.io/x`: the kubernetes.io domain is reserved".to_string(),
            "31: jwt[2].issuer.certificateAuthorityFile: only applies to jwksURL or discovery (keys fetched over https)".to_string(),
            format!("30: jwt[2].issuer.jwksFile: jwksFile {}: key 0 (kid \"hmac\"): symmetric (oct) keys are never accepted; publish a public key", keys.join("jwks-oct.json").display()),
            format!("35: jwt[3].issuer.publicKeyFile: cannot read {}: No such file or directory (os error 2)", keys.join("missing.pem").display()),
            "37: jwt[3].claimValidationRules[0]: CEL expressions are not supported; use claim and requiredValue".to_string(),
            "33: jwt[3].issuer.url: issuer `https://b.example.com` is already configured in jwt[2]".to_string(),
            "39: tokens.clockSkew: unknown field `clockSkew`; expected one of: clockSkewSeconds, cacheSize".to_string(),
        ]
    );
}

#[test]
fn policy_and_revocation_files_are_separate_inputs() {
    // Their content has its own last good version in the control plane: a
    // broken policy edit must not also freeze edits of the gateway config.
    let dir = tempfile::tempdir().unwrap();
    let gw = data().join("gateway");
    for f in ["gateway.pem", "gateway-key.pem"] {
        std::fs::copy(gw.join("tls").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("revoked.yaml"),
        "revoked:\n- jti: a\n- jti: a\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("rbac.yaml"), "roles: 3\n").unwrap();
    let text = format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: gateway.pem\n  keyFile: gateway-key.pem\njwt:\n- issuer: {{url: 'https://x.example.com', audiences: [a], jwksFile: {}}}\nrevocation: {{file: revoked.yaml}}\npolicy: {{file: rbac.yaml}}\n",
        data().join("keys/jwks.json").display()
    );
    let config = parse(&text, &dir.path().join("gateway.yaml")).expect("loads");
    assert_eq!(
        config.policy_file.as_deref(),
        Some(dir.path().join("rbac.yaml").as_path())
    );
    assert_eq!(
        config.revocation_file(),
        Some(dir.path().join("revoked.yaml").as_path())
    );
    assert!(
        config
            .referenced_files
            .contains(&dir.path().join("rbac.yaml"))
    );
    assert!(
        config
            .referenced_files
            .contains(&dir.path().join("revoked.yaml"))
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_rejected() {
    let gw = data().join("gateway");
    let text = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: ../kubeconfig/pki/other-key.pem\njwt:\n- issuer: {url: 'https://x.example.com', audiences: [a], cluster: c}\n";
    let err = parse(text, &gw.join("x.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:5: listener.keyFile: this key does not belong to the certificate in certificateFile",
            gw.join("x.yaml").display()
        )
    );
}

#[test]
fn syntax_errors_and_missing_sections() {
    let err = parse("kind: [", Path::new("g.yaml")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].reason.starts_with("invalid YAML"), "{err}");
    let err = parse("apiVersion: v1\nkind: GatewayConfig\n", Path::new("g.yaml")).unwrap_err();
    let got: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        [
            "g.yaml:1: apiVersion: expected `kubeplex.io/v1alpha1`, found `v1`",
            "g.yaml:1: listener: required field is missing",
            "g.yaml:1: jwt: required field is missing",
        ]
    );
}

/// The files a gateway config names are read only if they are small
/// regular files (`certificateFile: /dev/zero` ran the fuzzer out of memory).
#[test]
fn referenced_files_must_be_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: /dev/zero\n  keyFile: /dev/zero\njwt: []\n";
    let e = parse(text, &dir.path().join("gateway.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read /dev/zero: not a regular file"),
        "{e}"
    );
}

/// A config whose `jwt` has an OIDC issuer (discovery, with a CA), a
/// static one and a cluster issuer, then `login` as given.
fn with_login(login: &str) -> Result<GatewayConfig, InputErrors> {
    let gw = data().join("gateway");
    let text = format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: tls/gateway-key.pem\n\
         jwt:\n- issuer: {{url: 'https://idp.example.com', audiences: [kubeplex], discovery: true, certificateAuthorityFile: tls/clients-ca.pem}}\n\
         - issuer: {{url: 'https://sa.example.com', audiences: [kubeplex], cluster: c}}\n{login}"
    );
    parse(&text, &gw.join("x.yaml"))
}

#[test]
fn the_login_section_publishes_a_trusted_issuer_and_its_ca() {
    let config =
        with_login("login:\n  issuer: https://idp.example.com\n  clientID: kubeplex\n").unwrap();
    let login = config.login.unwrap();
    assert_eq!(login.client_id, "kubeplex");
    assert_eq!(login.scopes, ["openid", "offline_access"]);
    assert_eq!(
        login.issuer_ca_pem.as_deref(),
        Some(read("gateway/tls/clients-ca.pem").as_str())
    );
    let config = with_login(
        "login:\n  issuer: https://idp.example.com\n  clientID: kubeplex\n  scopes: [openid, groups]\n",
    )
    .unwrap();
    assert_eq!(config.login.unwrap().scopes, ["openid", "groups"]);
    assert_eq!(with_login("").unwrap().login, None);
}

#[test]
fn the_login_section_can_publish_the_gateway_ca() {
    let login = |file: &str| {
        with_login(&format!(
            "login:\n  issuer: https://idp.example.com\n  clientID: kubeplex\n  gatewayCertificateAuthorityFile: {file}\n"
        ))
    };
    let config = login("tls/clients-ca.pem").unwrap();
    assert_eq!(
        config.login.unwrap().gateway_ca_pem.as_deref(),
        Some(read("gateway/tls/clients-ca.pem").as_str())
    );
    assert!(
        config
            .referenced_files
            .iter()
            .any(|f| f.ends_with("tls/clients-ca.pem")),
        "watched like every file the config names"
    );
    let e = login("tls/gateway-key.pem").unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(
        e.0[0].field.as_deref(),
        Some("login.gatewayCertificateAuthorityFile")
    );
    assert!(
        e.0[0].reason.contains("expected only CERTIFICATE blocks"),
        "{e}"
    );
}

#[test]
fn a_login_section_the_gateway_could_not_honour_is_rejected() {
    let problems = |login: &str| -> Vec<String> {
        with_login(login)
            .unwrap_err()
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field.as_deref().unwrap_or_default(), e.reason))
            .collect()
    };
    assert_eq!(
        problems("login:\n  issuer: https://other.example.com\n  clientID: kubeplex\n"),
        [
            "login.issuer: `https://other.example.com` is not one of the issuers in jwt (the gateway must trust the tokens users sign in for)"
        ]
    );
    assert_eq!(
        problems("login:\n  issuer: https://idp.example.com\n  clientID: cli\n"),
        [
            "login.clientID: `cli` is not among the audiences of issuer `https://idp.example.com` (kubeplex): ID tokens carry the client ID as their aud, so the gateway would refuse them"
        ]
    );
    assert_eq!(
        problems("login:\n  issuer: https://sa.example.com\n  clientID: kubeplex\n"),
        [
            "login.issuer: a cluster's ServiceAccount issuer signs no one in: name an OpenID Connect provider"
        ]
    );
    assert_eq!(
        problems(
            "login:\n  issuer: https://idp.example.com\n  clientID: kubeplex\n  scopes: [email, 'a b']\n"
        ),
        [
            "login.scopes: must include openid (kubeplex uses the ID token)",
            "login.scopes: \"a b\" is not a scope (one word each)"
        ]
    );
    assert_eq!(
        problems("login:\n  issuer: https://idp.example.com\n  clientID: kubeplex\n  secret: x\n")
            .len(),
        1,
        "unknown fields are errors"
    );
}

/// A valid config with `audit` set to `audit` (YAML, indented by 2).
fn with_audit(audit: &str) -> String {
    format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: tls/gateway-key.pem\njwt:\n- issuer: {{url: 'https://x.example.com', audiences: [a], jwksFile: ../keys/jwks.json}}\naudit:\n{audit}"
    )
}

#[test]
fn the_audit_store_and_retention() {
    use super::{PostgresConfig, StoreConfig};
    use std::time::Duration;
    let gw = data().join("gateway");
    let parse_audit =
        |audit: &str| parse(&with_audit(audit), &gw.join("inline.yaml")).map(|c| c.audit);
    let sqlite =
        parse_audit("  store: {sqlite: {path: state/audit.db}}\n  retention: 30d\n").unwrap();
    assert_eq!(
        sqlite.store,
        StoreConfig::Sqlite {
            path: Some(gw.join("state/audit.db"))
        }
    );
    assert_eq!(sqlite.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(
        parse_audit("  store: {sqlite: {}}\n").unwrap().store,
        StoreConfig::Sqlite { path: None }
    );
    assert_eq!(
        parse_audit("  store: none\n").unwrap().store,
        StoreConfig::Disabled
    );
    let pg = parse_audit(
        "  store:\n    postgres:\n      url: postgres://kubeplex@db.example.com/audit?sslmode=require\n      passwordFile: tls/gateway.pem\n      caFile: tls/clients-ca.pem\n",
    )
    .unwrap();
    let StoreConfig::Postgres(PostgresConfig {
        url,
        password,
        ca_pem,
    }) = pg.store
    else {
        panic!("postgres: {:?}", pg.store)
    };
    assert_eq!(
        url.expose(),
        "postgres://kubeplex@db.example.com/audit?sslmode=require"
    );
    assert_eq!(
        password.unwrap().expose(),
        read("gateway/tls/gateway.pem").trim_end()
    );
    assert_eq!(ca_pem.unwrap(), read("gateway/tls/clients-ca.pem"));
    assert_eq!(pg.retention, DEFAULT_RETENTION);

    let err = parse_audit(
        "  store:\n    postgres: {url: 'host=x port=notaport'}\n    sqlite: {}\n  retention: 90 days\n",
    )
    .unwrap_err();
    assert_eq!(
        err.lines_fields_reasons(),
        [
            "10: audit.store: name one store: sqlite or postgres".to_string(),
            "12: audit.retention: `90 days` is not a duration like 90d, 12h, 30m or 45s"
                .to_string(),
        ]
    );
    let err =
        parse_audit("  store:\n    postgres: {url: 'host=x port=notaport'}\n  retention: 0s\n")
            .unwrap_err();
    let got = err.lines_fields_reasons();
    assert!(
        got[0].starts_with("10: audit.store.postgres.url: not a PostgreSQL URL"),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        "11: audit.retention: `0s`: the retention must be at least 1s"
    );
    let err = parse_audit("  store: sqlite\n").unwrap_err();
    assert_eq!(
        err.lines_fields_reasons(),
        [
            "9: audit.store: expected `none`, `sqlite: {...}` or `postgres: {...}`, found `sqlite`"
                .to_string()
        ]
    );
}

#[test]
fn durations() {
    use std::time::Duration;
    assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
    assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(7_776_000)));
    for bad in [
        "",
        "d",
        "1.5h",
        "-1d",
        "1w",
        "99999999999999999999d",
        "40000d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

const MINIMAL: &str = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: tls/gateway-key.pem\njwt:\n- issuer: {url: 'https://x.example.com', audiences: [a], jwksFile: ../keys/jwks.json}\n";

#[test]
fn the_agents_section_names_clusters_and_their_token_digests() {
    let digest = "ab".repeat(32);
    let text = format!(
        "{MINIMAL}agents:\n  listener: {{address: 127.0.0.1, port: 9444}}\n  certificateLifetimeSeconds: 900\n  \
         certificateAuthority: {{certificateFile: tls/gateway.pem, keyFile: tls/gateway-key.pem}}\n  \
         clusters:\n  - name: edge-1\n    tokenSHA256: {digest}\n"
    );
    let config = parse(&text, &data().join("gateway/inline.yaml")).unwrap();
    let agents = config.agents.unwrap();
    assert_eq!((agents.address.as_str(), agents.port), ("127.0.0.1", 9444));
    assert_eq!(agents.certificate_lifetime_seconds, 900);
    assert_eq!(agents.ca_certificate_pem, read("gateway/tls/gateway.pem"));
    assert_eq!(agents.clusters.len(), 1);
    assert_eq!(agents.clusters[0].name, "edge-1");
    assert_eq!(agents.clusters[0].token_sha256, [0xab; 32]);
    assert!(
        config
            .referenced_files
            .contains(&data().join("gateway/tls/gateway-key.pem"))
    );
    // Without the section: no agent listener at all.
    assert_eq!(
        parse(MINIMAL, &data().join("gateway/inline.yaml"))
            .unwrap()
            .agents,
        None
    );
}

#[test]
fn agent_cluster_problems_are_reported_with_line_and_field() {
    let digest = "ab".repeat(32);
    let text = format!(
        "{MINIMAL}agents:\n  certificateAuthority: {{certificateFile: tls/gateway.pem, keyFile: tls/gateway-key.pem}}\n  \
         clusters:\n  - name: Edge_1\n    tokenSHA256: xyz\n  - name: edge-2\n    tokenSHA256: {digest}\n  \
         - name: edge-2\n    tokenSHA256: {digest}\n"
    );
    let err = parse(&text, &data().join("gateway/inline.yaml")).unwrap_err();
    let got = err.lines_fields_reasons();
    for expected in [
        "11: agents.clusters[0].name: `Edge_1` is not a DNS label",
        "12: agents.clusters[0].tokenSHA256: expected 64 hex digits",
        "15: agents.clusters[2].name: agent cluster `edge-2` is listed twice",
    ] {
        assert!(
            got.iter().any(|l| l.starts_with(expected)),
            "{expected} not in {got:#?}"
        );
    }
    let missing_ca = format!("{MINIMAL}agents:\n  clusters: []\n");
    let got = parse(&missing_ca, &data().join("gateway/inline.yaml"))
        .unwrap_err()
        .lines_fields_reasons();
    assert!(
        got.iter().any(|l| l.contains("certificateAuthority")),
        "{got:#?}"
    );
}

#[test]
fn the_revocation_store_is_a_file_or_a_configmap() {
    let gw = data().join("gateway");
    let with = |revocation: &str| {
        format!(
            "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener: {{certificateFile: tls/gateway.pem, keyFile: tls/gateway-key.pem}}\n\
             jwt:\n- issuer: {{url: 'https://x.example.com', audiences: [a], cluster: c}}\nrevocation:\n{revocation}"
        )
    };
    let parsed = |revocation: &str| parse(&with(revocation), &gw.join("g.yaml"));
    assert_eq!(
        parsed("  store: kubernetes\n").unwrap().revocation,
        Some(RevocationStoreConfig::Kubernetes(KubernetesStoreConfig {
            config_map: "kubeplex-revocations".into(),
            namespace: None,
            kubeconfig: None,
        }))
    );
    let explicit = parsed(
        "  store: kubernetes\n  configMap: gw.revoked\n  namespace: gateway\n  kubeconfig: ../api.kubeconfig\n",
    )
    .unwrap();
    assert_eq!(
        explicit.revocation,
        Some(RevocationStoreConfig::Kubernetes(KubernetesStoreConfig {
            config_map: "gw.revoked".into(),
            namespace: Some("gateway".into()),
            kubeconfig: Some(data().join("api.kubeconfig")),
        }))
    );
    assert_eq!(
        parsed("  store: file\n  file: revoked.yaml\n")
            .unwrap()
            .revocation_file(),
        Some(gw.join("revoked.yaml").as_path())
    );
    let problems = |revocation: &str| parsed(revocation).unwrap_err().lines_fields_reasons();
    assert_eq!(
        problems(
            "  store: kubernetes\n  file: revoked.yaml\n  namespace: Gateway_1\n  configMap: -x\n"
        ),
        [
            "8: revocation.file: unknown field `file`; expected one of: store, configMap, namespace, kubeconfig",
            "10: revocation.configMap: `-x` is not a Kubernetes name (at most 253 lower-case letters, digits, `-` or `.`, starting and ending with a letter or digit)",
            "9: revocation.namespace: `Gateway_1` is not a Kubernetes name (at most 63 lower-case letters, digits or `-`, starting and ending with a letter or digit)",
        ]
    );
    assert_eq!(
        problems("  store: etcd\n"),
        ["7: revocation.store: `etcd` is not a revocation store (file or kubernetes)"]
    );
    assert_eq!(
        problems("  configMap: x\n"),
        [
            "7: revocation.configMap: unknown field `configMap`; expected one of: store, file",
            "7: revocation.file: required field is missing",
        ]
    );
}

/// A valid config with a `cache` section (YAML, indented by 2).
fn with_cache(cache: &str) -> Result<GatewayConfig, InputErrors> {
    let text = format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: tls/gateway.pem\n  keyFile: tls/gateway-key.pem\njwt:\n- issuer: {{url: 'https://x.example.com', audiences: [a], jwksFile: ../keys/jwks.json}}\ncache:\n{cache}"
    );
    parse(&text, &data().join("gateway/inline.yaml"))
}

#[test]
fn the_discovery_cache_section() {
    let full = with_cache(
        "  discovery:\n    directory: /var/cache/kubeplex\n    ttl: 2m\n    maxBytes: 10485760\n    maxEntries: 50\n    shared: true\n    clusters:\n      private-one: {shared: false}\n",
    )
    .unwrap()
    .discovery_cache
    .unwrap();
    assert_eq!(full.directory, PathBuf::from("/var/cache/kubeplex"));
    assert_eq!(
        (full.ttl_seconds, full.max_bytes, full.max_entries),
        (120, 10 << 20, 50)
    );
    assert!(full.shared("any") && !full.shared("private-one"));

    let defaults = with_cache("  discovery: {directory: cache}\n")
        .unwrap()
        .discovery_cache
        .unwrap();
    assert_eq!(defaults.directory, data().join("gateway/cache"));
    assert_eq!(
        (
            defaults.ttl_seconds,
            defaults.max_bytes,
            defaults.max_entries
        ),
        (DEFAULT_TTL_SECONDS, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES)
    );
    assert!(!defaults.shared("a"), "per caller unless configured");
    assert_eq!(with_cache("  {}\n").unwrap().discovery_cache, None);

    let err = with_cache(
        "  discovery:\n    ttl: 2d\n    maxBytes: 10\n    shared: maybe\n    clusters: [a]\n",
    )
    .unwrap_err();
    assert_eq!(
        err.lines_fields_reasons(),
        [
            "10: cache.discovery.directory: required field is missing".to_string(),
            "10: cache.discovery.ttl: at most 24h".to_string(),
            "11: cache.discovery.maxBytes: 10 is out of range 1048576..=1099511627776".to_string(),
            "12: cache.discovery.shared: expected true or false, found a string".to_string(),
            "13: cache.discovery.clusters: expected a mapping of context names, found a list"
                .to_string(),
        ]
    );
}

#[test]
fn health_checks_default_to_every_5_s_and_can_be_slowed_or_turned_off() {
    let checks = |section: &str| {
        parse(
            &format!("{MINIMAL}{section}"),
            &data().join("gateway/inline.yaml"),
        )
        .map(|c| c.health_checks)
    };
    let five = HealthChecks {
        interval_seconds: 5,
        idle_interval_seconds: 5,
    };
    assert_eq!(checks("").unwrap(), five);
    assert_eq!(
        checks("healthChecks:\n  intervalSeconds: 10\n  idleIntervalSeconds: 300\n").unwrap(),
        HealthChecks {
            interval_seconds: 10,
            idle_interval_seconds: 300
        }
    );
    assert_eq!(
        checks("healthChecks:\n  intervalSeconds: 20\n")
            .unwrap()
            .idle_interval_seconds,
        20,
        "idle contexts as often as busy ones unless told"
    );
    assert_eq!(
        checks("healthChecks: {intervalSeconds: 0}\n")
            .unwrap()
            .interval_seconds,
        0
    );
    let e = checks("healthChecks:\n  intervalSeconds: -1\n").unwrap_err();
    assert_eq!(
        e.0[0].field.as_deref(),
        Some("healthChecks.intervalSeconds"),
        "{e}"
    );
}
