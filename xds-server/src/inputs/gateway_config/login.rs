//! `login`: how users sign in with `kubeplex login`.
//!
//! ```yaml
//! login:
//!   issuer: https://login.example.com   # one of jwt[].issuer.url
//!   clientID: kubeplex                  # a public client; one of that issuer's audiences
//!   scopes: [openid, offline_access, email, groups]   # default [openid, offline_access]
//!   gatewayCertificateAuthorityFile: tls/ca.pem   # optional: published with its fingerprint
//! ```

use super::read::Files;
use super::{IssuerConfig, KeySource, LoginConfig, RemoteKeySource};
use crate::inputs::pem_material;
use crate::inputs::problems::{Fields, Problems};
use crate::inputs::yaml_tree::Node;

/// Scopes asked for when the config names none: an ID token, and a refresh
/// token so users are not sent back to the browser every hour.
const DEFAULT_SCOPES: [&str; 2] = ["openid", "offline_access"];

/// The `login` section, checked against the trusted `issuers`.
pub fn read(
    p: &mut Problems,
    node: &Node,
    issuers: &[IssuerConfig],
    files: &mut Files,
) -> Option<LoginConfig> {
    let f = Fields::new(
        p,
        node,
        "login",
        &[
            "issuer",
            "clientID",
            "scopes",
            "gatewayCertificateAuthorityFile",
        ],
    );
    let issuer_url = f.req_str(p, "issuer");
    let client_id = f.req_str(p, "clientID");
    let scopes: Vec<String> = match f.str_list(p, "scopes") {
        Some(scopes) => scopes.into_iter().map(|(scope, _)| scope).collect(),
        None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
    };
    check_scopes(p, &f, &scopes);
    let gateway_ca_pem = gateway_ca(p, &f, files);
    let (issuer_url, client_id) = (issuer_url?, client_id?);
    if client_id.is_empty() {
        p.add(
            f.line_of("clientID"),
            &f.path_of("clientID"),
            "must not be empty",
        );
    }
    let Some(issuer) = issuers.iter().find(|i| i.url == issuer_url) else {
        p.add(
            f.line_of("issuer"),
            &f.path_of("issuer"),
            format!("`{issuer_url}` is not one of the issuers in jwt (the gateway must trust the tokens users sign in for)"),
        );
        return None;
    };
    if issuer.keys.cluster().is_some() {
        p.add(
            f.line_of("issuer"),
            &f.path_of("issuer"),
            "a cluster's ServiceAccount issuer signs no one in: name an OpenID Connect provider",
        );
    }
    if !issuer.audiences.contains(&client_id) {
        p.add(
            f.line_of("clientID"),
            &f.path_of("clientID"),
            format!(
                "`{client_id}` is not among the audiences of issuer `{issuer_url}` ({}): ID tokens carry the client ID as their aud, so the gateway would refuse them",
                issuer.audiences.join(", ")
            ),
        );
    }
    Some(LoginConfig {
        issuer: issuer_url,
        client_id,
        scopes,
        issuer_ca_pem: issuer_ca(&issuer.keys),
        gateway_ca_pem,
    })
}

/// `gatewayCertificateAuthorityFile`: PEM certificates, when given.
fn gateway_ca(p: &mut Problems, f: &Fields<'_>, files: &mut Files) -> Option<String> {
    const KEY: &str = "gatewayCertificateAuthorityFile";
    if !f.has(KEY) {
        return None;
    }
    let (path, pem) = files.read(p, f, KEY)?;
    match pem_material::check_certificates(&pem) {
        Ok(_) => Some(pem),
        Err(reason) => {
            p.add(
                f.line_of(KEY),
                &f.path_of(KEY),
                format!("{}: {reason}", path.display()),
            );
            None
        }
    }
}

/// `openid` is what makes it OpenID Connect (an ID token); a scope is one
/// token with no spaces.
fn check_scopes(p: &mut Problems, f: &Fields<'_>, scopes: &[String]) {
    if !scopes.iter().any(|s| s == "openid") {
        p.add(
            f.line_of("scopes"),
            &f.path_of("scopes"),
            "must include openid (kubeplex uses the ID token)",
        );
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        p.add(
            f.line_of("scopes"),
            &f.path_of("scopes"),
            format!("{bad:?} is not a scope (one word each)"),
        );
    }
}

fn issuer_ca(keys: &KeySource) -> Option<String> {
    match keys {
        KeySource::Remote(
            RemoteKeySource::Discovery { ca_pem, .. } | RemoteKeySource::JwksUrl { ca_pem, .. },
        ) => ca_pem.clone(),
        _ => None,
    }
}
