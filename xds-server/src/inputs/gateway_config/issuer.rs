//! One `jwt[]` entry: issuer, key source, claim validation and mappings,
//! modelled on Kubernetes' structured `AuthenticationConfiguration`.

use super::read::Files;
use super::{ClaimMappings, IssuerConfig, KeySource, RemoteKeySource};
use crate::inputs::keys;
use crate::inputs::pem_material;
use crate::inputs::problems::{Fields, Problems, items};
use crate::inputs::yaml_tree::{Node, Value};

const ISSUER_KEYS: &[&str] = &[
    "url",
    "audiences",
    "audienceMatchPolicy",
    "jwks",
    "jwksFile",
    "publicKeyFile",
    "signerCertificateFile",
    "jwksURL",
    "discoveryURL",
    "discovery",
    "cluster",
    "certificateAuthorityFile",
    "certificateAuthority",
];

/// The key sources, as named in messages.
const SOURCES: &str = "jwks, jwksFile, publicKeyFile, signerCertificateFile, jwksURL, discoveryURL (or discovery: true), cluster";

pub fn read(p: &mut Problems, node: &Node, path: &str, files: &mut Files) -> Option<IssuerConfig> {
    let entry = Fields::new(
        p,
        node,
        path,
        &[
            "issuer",
            "claimValidationRules",
            "claimMappings",
            "userValidationRules",
        ],
    );
    if entry.has("userValidationRules") {
        p.add(
            entry.line_of("userValidationRules"),
            &entry.path_of("userValidationRules"),
            "CEL user validation rules are not supported",
        );
    }
    let Some(issuer_node) = entry.get("issuer") else {
        entry.missing(p, "issuer");
        return None;
    };
    let f = Fields::new(p, issuer_node, &entry.path_of("issuer"), ISSUER_KEYS);

    let url = f.req_str(p, "url");
    let audiences = audiences(p, &f);
    if let Some(policy) = f.str(p, "audienceMatchPolicy")
        && policy != "MatchAny"
    {
        p.add(
            f.line_of("audienceMatchPolicy"),
            &f.path_of("audienceMatchPolicy"),
            format!("`{policy}` is not supported; the only policy is MatchAny"),
        );
    }

    let keys = key_source(p, &f, files);
    let is_cluster = keys.as_ref().is_some_and(|k| k.cluster().is_some());
    if let Some(url) = &url {
        check_url(p, &f, "url", url, !is_cluster);
    }

    let claim_validation_rules = entry
        .get("claimValidationRules")
        .map(|n| validation_rules(p, n, &entry.path_of("claimValidationRules")))
        .unwrap_or_default();
    let claim_mappings = match entry.get("claimMappings") {
        Some(n) => claim_mappings(p, n, &entry.path_of("claimMappings")),
        None => ClaimMappings::default(),
    };
    Some(IssuerConfig {
        url: url?,
        audiences,
        keys: keys?,
        claim_mappings,
        claim_validation_rules,
    })
}

/// `audiences`: at least one, none empty.
fn audiences(p: &mut Problems, f: &Fields<'_>) -> Vec<String> {
    match f.str_list(p, "audiences") {
        Some(list) if !list.is_empty() => {
            for (i, (aud, line)) in list.iter().enumerate() {
                if aud.is_empty() {
                    p.add(
                        *line,
                        &format!("{}[{i}]", f.path_of("audiences")),
                        "must not be empty",
                    );
                }
            }
            list.into_iter().map(|(a, _)| a).collect()
        }
        Some(_) => {
            p.add(
                f.line_of("audiences"),
                &f.path_of("audiences"),
                "at least one audience is required",
            );
            Vec::new()
        }
        None => {
            if !f.has("audiences") {
                f.missing(p, "audiences");
            }
            Vec::new()
        }
    }
}

/// `https://` (unless `https_required` is false), no query, fragment or
/// credentials, as Kubernetes requires of issuer URLs.
fn check_url(p: &mut Problems, f: &Fields<'_>, key: &str, url: &str, https_required: bool) {
    let reason = if https_required && !url.starts_with("https://") {
        Some("must be an https:// URL".to_string())
    } else if !url.contains("://") {
        Some("must be an absolute URL".to_string())
    } else if url.contains(['?', '#']) {
        Some("must not have a query or fragment".to_string())
    } else if url
        .split("://")
        .nth(1)
        .is_some_and(|rest| rest.split('/').next().unwrap_or("").contains('@'))
    {
        Some("must not carry credentials".to_string())
    } else {
        None
    };
    if let Some(reason) = reason {
        p.add(f.line_of(key), &f.path_of(key), reason);
    }
}

/// The issuer's one key source: static keys (inline, a file), or where
/// to fetch them.
fn key_source(p: &mut Problems, f: &Fields<'_>, files: &mut Files) -> Option<KeySource> {
    let source = the_one_source(p, f)?;
    let ca_keys: Vec<&str> = ["certificateAuthorityFile", "certificateAuthority"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    let fetched = matches!(source, "jwksURL" | "discoveryURL" | "discovery");
    if !fetched && let Some(ca) = ca_keys.first() {
        p.add(
            f.line_of(ca),
            &f.path_of(ca),
            "only applies to jwksURL or discovery (keys fetched over https)",
        );
    }
    match source {
        "jwks" | "jwksFile" | "publicKeyFile" | "signerCertificateFile" => {
            static_source(p, f, files, source)
        }
        "jwksURL" | "discoveryURL" | "discovery" => fetched_source(p, f, files, source, &ca_keys),
        "cluster" => Some(KeySource::Remote(RemoteKeySource::Cluster {
            context: f.str(p, "cluster")?,
        })),
        _ => None,
    }
}

/// Which key source the entry sets; a problem unless exactly one.
fn the_one_source(p: &mut Problems, f: &Fields<'_>) -> Option<&'static str> {
    let discovery_flag = f.bool(p, "discovery");
    let mut given: Vec<&'static str> = [
        "jwks",
        "jwksFile",
        "publicKeyFile",
        "signerCertificateFile",
        "jwksURL",
        "discoveryURL",
        "cluster",
    ]
    .into_iter()
    .filter(|k| f.has(k))
    .collect();
    if discovery_flag == Some(true) && !given.contains(&"discoveryURL") {
        given.push("discovery");
    }
    match given.as_slice() {
        [] => {
            p.add(
                f.line,
                &f.path,
                format!("a key source is required: one of {SOURCES}"),
            );
            None
        }
        [one] => Some(*one),
        many => {
            p.add(
                f.line_of(many[1]),
                &f.path,
                format!(
                    "exactly one key source is allowed, found {}: choose one of {SOURCES}",
                    many.join(" and ")
                ),
            );
            None
        }
    }
}

/// Keys known now: inline `jwks`, `jwksFile`, `publicKeyFile`, `signerCertificateFile`.
fn static_source(
    p: &mut Problems,
    f: &Fields<'_>,
    files: &mut Files,
    source: &str,
) -> Option<KeySource> {
    let (result, origin) = match source {
        "jwks" => {
            let json = to_json(f.get("jwks")?);
            (
                keys::from_jwks(&json.to_string()),
                "inline jwks".to_string(),
            )
        }
        "jwksFile" => {
            let (path, text) = files.read(p, f, source)?;
            (
                keys::from_jwks(&text),
                format!("jwksFile {}", path.display()),
            )
        }
        _ => {
            let (path, text) = files.read(p, f, source)?;
            if source == "signerCertificateFile" && !text.contains("-----BEGIN CERTIFICATE-----") {
                p.add(
                    f.line_of(source),
                    &f.path_of(source),
                    format!(
                        "{} holds no CERTIFICATE; use publicKeyFile for a bare public key",
                        path.display()
                    ),
                );
                return None;
            }
            (
                keys::from_pem(&text),
                format!("{source} {}", path.display()),
            )
        }
    };
    let problem = match result {
        Ok(keys) if !keys.is_empty() => return Some(KeySource::Static { keys, origin }),
        Ok(_) => format!("{origin} holds no signing keys"),
        Err(e) => format!("{origin}: {e}"),
    };
    p.add(f.line_of(source), &f.path_of(source), problem);
    None
}

/// Keys fetched over https: `jwksURL`, `discoveryURL`, `discovery: true`.
fn fetched_source(
    p: &mut Problems,
    f: &Fields<'_>,
    files: &mut Files,
    source: &str,
    ca_keys: &[&str],
) -> Option<KeySource> {
    let ca_pem = fetch_ca(p, f, files, ca_keys);
    let url = if source == "discovery" {
        let issuer = f.str(p, "url")?;
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    } else {
        let url = f.str(p, source)?;
        check_url(p, f, source, &url, true);
        url
    };
    Some(KeySource::Remote(if source == "jwksURL" {
        RemoteKeySource::JwksUrl { url, ca_pem }
    } else {
        RemoteKeySource::Discovery { url, ca_pem }
    }))
}

/// The CA for https fetches: a file or inline PEM, not both.
fn fetch_ca(p: &mut Problems, f: &Fields<'_>, files: &mut Files, given: &[&str]) -> Option<String> {
    if given.len() > 1 {
        p.add(
            f.line_of(given[1]),
            &f.path,
            "set certificateAuthorityFile or certificateAuthority, not both",
        );
        return None;
    }
    let key = *given.first()?;
    let (origin, pem) = if key == "certificateAuthorityFile" {
        let (path, text) = files.read(p, f, key)?;
        (format!("{}: ", path.display()), text)
    } else {
        (String::new(), f.str(p, key)?)
    };
    match pem_material::check_certificates(&pem) {
        Ok(_) => Some(pem),
        Err(r) => {
            p.add(f.line_of(key), &f.path_of(key), format!("{origin}{r}"));
            None
        }
    }
}

fn validation_rules(p: &mut Problems, node: &Node, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (item_path, item) in items(p, node, path) {
        let f = Fields::new(
            p,
            item,
            &item_path,
            &["claim", "requiredValue", "expression", "message"],
        );
        if f.has("expression") || f.has("message") {
            p.add(
                f.line_of(if f.has("expression") {
                    "expression"
                } else {
                    "message"
                }),
                &item_path,
                "CEL expressions are not supported; use claim and requiredValue",
            );
            continue;
        }
        let claim = f.req_str(p, "claim");
        let value = if f.has("requiredValue") {
            f.str(p, "requiredValue")
        } else {
            f.missing(p, "requiredValue");
            None
        };
        if let (Some(claim), Some(value)) = (claim, value) {
            out.push((claim, value));
        }
    }
    out
}

fn claim_mappings(p: &mut Problems, node: &Node, path: &str) -> ClaimMappings {
    let f = Fields::new(p, node, path, &["username", "groups", "uid", "extra"]);
    let (username_claim, username_prefix) =
        prefixed(p, &f, "username").unwrap_or_else(|| ("sub".to_string(), String::new()));
    let (groups_claim, groups_prefix) =
        prefixed(p, &f, "groups").unwrap_or_else(|| ("groups".to_string(), String::new()));
    let uid_claim = f.get("uid").and_then(|n| {
        let uid = Fields::new(p, n, &f.path_of("uid"), &["claim", "expression"]);
        no_expression(p, &uid);
        uid.req_str(p, "claim")
    });
    let mut extra: Vec<(String, String)> = Vec::new();
    if let Some(list) = f.get("extra") {
        for (item_path, item) in items(p, list, &f.path_of("extra")) {
            let e = Fields::new(p, item, &item_path, &["key", "claim", "valueExpression"]);
            if e.has("valueExpression") {
                p.add(
                    e.line_of("valueExpression"),
                    &e.path_of("valueExpression"),
                    "CEL expressions are not supported; use claim",
                );
            }
            let key = e.req_str(p, "key");
            let claim = e.req_str(p, "claim");
            let Some(key) = key else { continue };
            if let Err(reason) = check_extra_key(&key) {
                p.add(e.line_of("key"), &e.path_of("key"), reason);
                continue;
            }
            if extra.iter().any(|(k, _)| *k == key) {
                p.add(
                    e.line_of("key"),
                    &e.path_of("key"),
                    format!("duplicate extra key `{key}`"),
                );
                continue;
            }
            if let Some(claim) = claim {
                extra.push((key, claim));
            }
        }
    }
    ClaimMappings {
        username_claim,
        username_prefix,
        groups_claim,
        groups_prefix,
        uid_claim,
        extra,
    }
}

/// `{claim, prefix}`. Like Kubernetes, a mapped claim needs an explicit
/// prefix (`""` for none), and `system:` prefixes are reserved.
fn prefixed(p: &mut Problems, parent: &Fields<'_>, key: &str) -> Option<(String, String)> {
    let node = parent.get(key)?;
    let f = Fields::new(
        p,
        node,
        &parent.path_of(key),
        &["claim", "prefix", "expression"],
    );
    no_expression(p, &f);
    let claim = f.req_str(p, "claim");
    let prefix = if f.has("prefix") || f.entry("prefix").is_some() {
        f.str(p, "prefix").or(Some(String::new()))
    } else {
        p.add(
            f.line,
            &f.path_of("prefix"),
            "required when claim is set; use prefix: \"\" for none (as in Kubernetes)",
        );
        None
    };
    if let Some(prefix) = &prefix
        && (prefix.starts_with([' ', '\t']) || !prefix.bytes().all(|b| (0x20..0x7f).contains(&b)))
    {
        // the filter refuses every identity not in this form (a cluster
        // could read it differently): better said here, once
        p.add(
            f.line_of("prefix"),
            &f.path_of("prefix"),
            "a prefix must be visible ASCII (spaces allowed, but not first)",
        );
    } else if let Some(prefix) = &prefix
        && prefix.starts_with("system:")
    {
        p.add(
            f.line_of("prefix"),
            &f.path_of("prefix"),
            "the system: prefix is reserved for Kubernetes identities",
        );
    }
    Some((claim?, prefix?))
}

fn no_expression(p: &mut Problems, f: &Fields<'_>) {
    if f.has("expression") {
        p.add(
            f.line_of("expression"),
            &f.path_of("expression"),
            "CEL expressions are not supported; use claim",
        );
    }
}

/// Kubernetes' rule for extra keys: lower-case, domain-prefixed path
/// (`example.com/tenant`), not in the reserved kubernetes.io / k8s.io domains.
fn check_extra_key(key: &str) -> Result<(), String> {
    if key != key.to_lowercase() {
        return Err(format!("extra key `{key}` must be lower-case"));
    }
    let Some((domain, name)) = key.split_once('/') else {
        return Err(format!(
            "extra key `{key}` must be domain-prefixed, e.g. example.com/{key}"
        ));
    };
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !domain_ok {
        return Err(format!("extra key `{key}`: `{domain}` is not a DNS domain"));
    }
    if name.is_empty() {
        return Err(format!("extra key `{key}` needs a name after the domain"));
    }
    for reserved in ["kubernetes.io", "k8s.io"] {
        if domain == reserved || domain.ends_with(&format!(".{reserved}")) {
            return Err(format!(
                "extra key `{key}`: the {reserved} domain is reserved"
            ));
        }
    }
    Ok(())
}

/// An inline YAML JWKS as JSON.
fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => i64::try_from(*i).map_or_else(|_| i.to_string().into(), Into::into),
        Value::Float(x) => {
            serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s) => s.clone().into(),
        Value::Seq(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|e| (e.key.clone(), to_json(&e.value)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}
