//! The strict pass: every key in the sections kubeplex reads must be one
//! the kubeconfig format defines, with the right type. kubectl ignores
//! unknown keys, but a misspelt `certificate-authority-dta` would silently
//! drop the CA, so kubeplex rejects it with its line.

use crate::inputs::problems::{Fields, Problems, items};
use crate::inputs::yaml_tree::Node;

const TOP: &[&str] = &[
    "apiVersion",
    "kind",
    "preferences",
    "clusters",
    "users",
    "contexts",
    "current-context",
    "extensions",
];
const PREFERENCES: &[&str] = &["colors", "extensions"];
const NAMED_CLUSTER: &[&str] = &["name", "cluster"];
const CLUSTER: &[&str] = &[
    "server",
    "tls-server-name",
    "insecure-skip-tls-verify",
    "certificate-authority",
    "certificate-authority-data",
    "proxy-url",
    "disable-compression",
    "extensions",
];
const NAMED_USER: &[&str] = &["name", "user"];
const USER: &[&str] = &[
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "as",
    "as-uid",
    "as-groups",
    "as-user-extra",
    "username",
    "password",
    "auth-provider",
    "exec",
    "extensions",
];
const NAMED_CONTEXT: &[&str] = &["name", "context"];
const CONTEXT: &[&str] = &["cluster", "user", "namespace", "extensions"];
const NAMED_EXTENSION: &[&str] = &["name", "extension"];

/// Check the document's shape; problems go to `p`.
pub fn check(p: &mut Problems, root: &Node) {
    let top = Fields::new(p, root, "", TOP);
    for (key, expected) in [("kind", "Config"), ("apiVersion", "v1")] {
        let found = top.str(p, key);
        top.expect_value(p, key, found, expected);
    }
    top.str(p, "current-context");
    if let Some(prefs) = top.get("preferences") {
        let prefs = Fields::new(p, prefs, "preferences", PREFERENCES);
        prefs.bool(p, "colors");
        extensions(p, &prefs);
    }
    extensions(p, &top);
    section(
        p,
        &top,
        "clusters",
        NAMED_CLUSTER,
        "cluster",
        CLUSTER,
        cluster,
    );
    section(p, &top, "users", NAMED_USER, "user", USER, user);
    section(
        p,
        &top,
        "contexts",
        NAMED_CONTEXT,
        "context",
        CONTEXT,
        |p, f| {
            for key in ["cluster", "user", "namespace"] {
                f.str(p, key);
            }
        },
    );
}

/// A cluster's typed fields.
fn cluster(p: &mut Problems, f: &Fields<'_>) {
    for key in [
        "server",
        "tls-server-name",
        "certificate-authority",
        "certificate-authority-data",
        "proxy-url",
    ] {
        f.str(p, key);
    }
    f.bool(p, "insecure-skip-tls-verify");
    f.bool(p, "disable-compression");
}

/// A user's typed fields. `exec`, `auth-provider` and `as-user-extra`
/// belong to client libraries; kubeplex only needs to know they are there.
fn user(p: &mut Problems, f: &Fields<'_>) {
    for key in [
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "token",
        "tokenFile",
        "as",
        "as-uid",
        "username",
        "password",
    ] {
        f.str(p, key);
    }
    f.str_list(p, "as-groups");
}

/// `clusters`/`users`/`contexts`: a list of `{name, <inner>: {...}}`.
fn section(
    p: &mut Problems,
    top: &Fields<'_>,
    list: &str,
    named_keys: &[&str],
    inner: &str,
    inner_keys: &[&str],
    check_inner: impl Fn(&mut Problems, &Fields<'_>),
) {
    let Some(node) = top.get(list) else {
        return;
    };
    for (path, item) in items(p, node, list) {
        let named = Fields::new(p, item, &path, named_keys);
        named.req_str(p, "name");
        match named.get(inner) {
            Some(body) => {
                let body = Fields::new(p, body, &named.path_of(inner), inner_keys);
                extensions(p, &body);
                check_inner(p, &body);
            }
            None => named.missing(p, inner),
        }
    }
}

/// `extensions: [{name, extension}]`: allowed anywhere, contents free.
fn extensions(p: &mut Problems, fields: &Fields<'_>) {
    let Some(node) = fields.get("extensions") else {
        return;
    };
    for (path, item) in items(p, node, &fields.path_of("extensions")) {
        let ext = Fields::new(p, item, &path, NAMED_EXTENSION);
        ext.req_str(p, "name");
    }
}
