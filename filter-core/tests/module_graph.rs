//! The crate's modules import each other without cycles (issue 10): each
//! module's `crate::<module>` references, outside its tests, form a DAG.
//! A cycle means two modules that can only be understood together; break
//! it by moving the shared piece into a module of its own (as `alg` and
//! `issuer` were).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `module → modules it names as crate::<module>`, from `src/*.rs`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(module) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rs"))
            .filter(|n| *n != "lib")
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        // the module's own code: its tests may use anything
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut uses = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != "config_pb" && name != module {
                uses.insert(name);
            }
        }
        graph.insert(module.to_string(), uses);
    }
    graph
}

#[test]
fn modules_form_a_dag() {
    let graph = graph();
    assert!(graph.contains_key("decision") && graph.contains_key("token"));
    for (module, uses) in &graph {
        for used in uses {
            assert!(graph.contains_key(used), "{module} uses unknown {used}");
        }
    }
    // Kahn: repeatedly remove modules that use nothing left
    let mut left = graph.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(!ready.is_empty(), "module cycle among {left:#?}");
        for m in ready {
            left.remove(&m);
        }
    }
}
