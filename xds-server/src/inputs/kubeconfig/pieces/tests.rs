//! The fast path must see exactly what the whole-text parse sees: the same
//! tree (lines aside) and the same kube `Kubeconfig`, or decline.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::*;
use crate::inputs::kubeconfig::{Loader, parse};
use crate::inputs::yaml_tree::deserializer::from_node;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data/kubeconfig")
}

/// Every fixture kubeconfig: valid ones and each kind of broken one.
fn fixtures() -> Vec<(PathBuf, String)> {
    let mut all: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    all.sort();
    assert!(all.len() >= 6, "fixtures: {all:?}");
    all
}

/// The tree without lines (the fast path's are relative to each piece).
fn without_lines(node: &Node) -> Node {
    Node {
        line: None,
        value: match &node.value {
            Value::Seq(items) => Value::Seq(items.iter().map(without_lines).collect()),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_line: None,
                        value: without_lines(&e.value),
                    })
                    .collect(),
            ),
            other => other.clone(),
        },
    }
}

/// The fast path's tree and kubeconfig equal the whole-text parse's, when
/// it takes the text; true when it did.
fn same_as_whole_parse(cache: &mut ParseCache, text: &str) -> bool {
    let Some(assembled) = cache.parse(text) else {
        return false;
    };
    let whole = yaml_tree::parse(text).expect("the fast path took text that does not parse");
    assert_eq!(
        without_lines(&assembled.root),
        without_lines(&whole),
        "{text}"
    );
    // kube reads the assembled tree as it reads the text, or refuses it.
    if let Ok(from_tree) = from_node::<Kubeconfig>(&assembled.root) {
        let kube = Kubeconfig::from_yaml(text).expect("kube parses what the fast path took");
        assert_eq!(
            serde_json::to_value(&from_tree).unwrap(),
            serde_json::to_value(&kube).unwrap(),
            "{text}"
        );
    }
    cache.put_back(assembled);
    true
}

/// `Loader::load` (first and second time, the second from its cache)
/// gives what `parse` gives: the same clusters and warnings, or the same
/// errors with the same lines.
fn loads_the_same(loader: &mut Loader, path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let slow = parse(text, path);
    for round in ["cold", "warm"] {
        assert_eq!(loader.load(path), slow, "{round}: {text}");
    }
}

#[test]
fn fixtures_parse_the_same_in_pieces() {
    let mut taken = 0;
    for (path, text) in fixtures() {
        let mut cache = ParseCache::default();
        if same_as_whole_parse(&mut cache, &text) {
            taken += 1;
            assert!(same_as_whole_parse(&mut cache, &text), "{path:?} again");
        }
    }
    // syntax.yaml has a flow mapping left open: only it is declined.
    assert_eq!(taken, fixtures().len() - 1);
}

#[test]
fn fixtures_load_the_same_errors_and_clusters() {
    for (path, text) in fixtures() {
        let mut loader = Loader::default();
        let slow = parse(&text, &path);
        assert_eq!(loader.load(&path), slow, "{path:?}");
        assert_eq!(loader.load(&path), slow, "{path:?} from the cache");
    }
}

/// A kubeconfig of `n` contexts in kubectl's layout, the CA inline.
fn generated(n: usize) -> String {
    let ca = std::fs::read_to_string(fixture_dir().join("pki/ca.pem")).unwrap();
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ca);
    let mut out = String::from("apiVersion: v1\nkind: Config\n# the clusters\nclusters:\n");
    for i in 0..n {
        out += &format!(
            "- name: c{i}\n  cluster:\n    server: https://c{i}.example.com\n    certificate-authority-data: {ca}\n"
        );
    }
    out += "users:\n- name: u\n  user:\n    token: t0\ncontexts:\n";
    for i in 0..n {
        out += &format!("- name: ctx{i}\n  context:\n    cluster: c{i}\n    user: u\n");
    }
    out + "current-context: ctx0\n"
}

#[test]
fn edits_valid_and_broken_load_the_same_as_the_whole_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let base = generated(4);
    let ca_line = base
        .lines()
        .find(|l| l.contains("certificate-authority-data"))
        .unwrap()
        .to_string();
    let edits: Vec<(&str, String)> = vec![
        ("unchanged", base.clone()),
        (
            "a context added",
            base.replace(
                "current-context",
                "- name: extra\n  context:\n    cluster: c1\n    user: u\ncurrent-context",
            ),
        ),
        (
            "a context removed",
            base.replace(
                "- name: ctx2\n  context:\n    cluster: c2\n    user: u\n",
                "",
            ),
        ),
        (
            "items indented",
            base.replace("\n- ", "\n  - ")
                .replace("\n  ", "\n    ")
                .replace("\n    - ", "\n  - "),
        ),
        (
            "a comment between items",
            base.replace("- name: c2\n", "# c2 next\n- name: c2\n"),
        ),
        (
            "bad base64",
            base.replacen(&ca_line, "    certificate-authority-data: not*base64", 1),
        ),
        (
            "unknown field",
            base.replace("    server: https://c3", "    sever: https://c3"),
        ),
        (
            "duplicate cluster",
            base.replace("- name: c3\n", "- name: c2\n"),
        ),
        (
            "missing cluster",
            base.replace("    cluster: c1\n", "    cluster: nowhere\n"),
        ),
        (
            "wrong type",
            base.replace("    token: t0", "    token: [t0]"),
        ),
        (
            "syntax error in a piece",
            base.replace("    user: u\n", "    user: [u\n"),
        ),
        (
            "bad indentation",
            base.replace("  context:\n    cluster: c0", "  context:\n   cluster: c0"),
        ),
        (
            "an anchor and its alias in two pieces",
            base.replace("    user: u\n", "    user: &u u\n")
                .replacen("&u u", "u", 1)
                .replace("cluster: c3\n    user: &u u", "cluster: c3\n    user: *u"),
        ),
        (
            "flow-style users",
            base.replace(
                "users:\n- name: u\n  user:\n    token: t0\n",
                "users: [{name: u, user: {token: t0}}]\n",
            ),
        ),
        (
            "lists given twice",
            base.clone() + "users:\n- name: v\n  user:\n    token: t1\n",
        ),
        ("a document marker", format!("---\n{base}")),
        ("CRLF", base.replace('\n', "\r\n")),
        (
            "a block scalar token",
            base.replace("    token: t0\n", "    token: |-\n      t0\n"),
        ),
        (
            "a quoted key",
            base.replace("current-context:", "\"current-context\":"),
        ),
        (
            "empty lists",
            "apiVersion: v1\nkind: Config\nclusters:\nusers:\ncontexts: []\n".to_string(),
        ),
        ("only a comment", "# nothing\n".to_string()),
        ("empty", String::new()),
    ];
    let mut loader = Loader::default();
    loads_the_same(&mut loader, &path, &base);
    for (what, text) in &edits {
        eprintln!("edit: {what}");
        loads_the_same(&mut loader, &path, text);
        // And back: the cache holds nothing the broken edit could spoil.
        loads_the_same(&mut loader, &path, &base);
        same_as_whole_parse(&mut ParseCache::default(), text);
    }
}

#[test]
fn the_cut_follows_kubectls_layout() {
    let text = "apiVersion: v1\nclusters:\n- name: a\n  cluster: {}\n# between\n- name: b\n  cluster:\n    server: x\nusers:\n  - name: u\n    user: {}\n  - name: v\ncontexts: []\n";
    assert_eq!(
        split(text),
        Some(vec![
            Section::Other("apiVersion: v1\n"),
            Section::List(
                "clusters",
                vec![
                    "- name: a\n  cluster: {}\n# between\n",
                    "- name: b\n  cluster:\n    server: x\n"
                ]
            ),
            Section::List(
                "users",
                vec!["  - name: u\n    user: {}\n", "  - name: v\n"]
            ),
            Section::Other("contexts: []\n"),
        ])
    );
    for declined in [
        "---\na: 1\n",
        "a: 1\n...\n",
        "%YAML 1.2\n---\na: 1\n",
        "\"a\": 1\n",
        "a: 1\r\n",
        "\ta: 1\n",
        "clusters:\n  - a\n - b\n",
        "clusters:\n- a\n-b\n",
        "[a, b]\n",
        "a:b\n",
    ] {
        assert_eq!(split(declined), None, "{declined:?}");
    }
}

#[test]
fn unchanged_pieces_are_reused_and_others_forgotten() {
    let mut cache = ParseCache::default();
    let base = generated(3);
    let assembled = cache.parse(&base).unwrap();
    cache.put_back(assembled);
    assert_eq!(cache.pieces.len(), 3 + 1 + 3);
    let edited = base.replace(
        "- name: ctx1\n  context:\n    cluster: c1\n    user: u\n",
        "",
    );
    let assembled = cache.parse(&edited).unwrap();
    cache.put_back(assembled);
    assert_eq!(cache.pieces.len(), 3 + 1 + 2);
}

/// Every string in `node` (mapping keys aside).
fn strings(node: &Node, out: &mut Vec<String>) {
    match &node.value {
        Value::Str(s) => out.push(s.clone()),
        Value::Seq(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Map(entries) => entries.iter().for_each(|e| strings(&e.value, out)),
        _ => {}
    }
}

#[test]
fn the_cache_keeps_no_long_scalar_and_puts_each_back() {
    let mut cache = ParseCache::default();
    let mut base = generated(3);
    // A single-quoted one (its text is its value: left out) and a
    // double-quoted one with an escaped line break (its text is not: kept).
    let wrapped = format!("  \"{}\\\n    {}\"", "A".repeat(100), "B".repeat(100));
    base = base.replace("    token: t0\n", &format!("    token: {wrapped}\n"));
    let quoted = format!("'{}'", "Q".repeat(200));
    base = base.replacen("https://c1.example.com", &quoted, 1);
    let whole = yaml_tree::parse(&base).unwrap();
    let mut expected = Vec::new();
    strings(&whole, &mut expected);
    for round in ["cold", "warm"] {
        let assembled = cache.parse(&base).unwrap();
        let mut found = Vec::new();
        strings(&assembled.root, &mut found);
        assert_eq!(found, expected, "{round}");
        cache.put_back(assembled);
        let mut kept = Vec::new();
        cache
            .pieces
            .values()
            .for_each(|piece| strings(&piece.node, &mut kept));
        let long: Vec<_> = kept.iter().filter(|s| s.len() >= LONG_SCALAR).collect();
        // Only the wrapped token, whose text is not its value.
        assert_eq!(long, [&format!("{}{}", "A".repeat(100), "B".repeat(100))]);
    }
}
