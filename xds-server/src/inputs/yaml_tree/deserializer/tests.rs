use kube::config::Kubeconfig;

use super::*;
use crate::inputs::yaml_tree::parse;

/// kube's `Kubeconfig` from the tree is the one kube reads from the text.
#[test]
fn kubeconfigs_read_from_the_tree_equal_kubes_own_parse() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data/kubeconfig");
    let mut read = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (Ok(tree), Ok(kube)) = (parse(&text), Kubeconfig::from_yaml(&text)) else {
            continue;
        };
        // unknown-fields.yaml has `client-key-data: 42`, which kube reads
        // as the string "42" from the text and the tree refuses (the
        // strict pass refuses it too).
        let Ok(from_tree) = from_node::<Kubeconfig>(&tree) else {
            assert!(path.ends_with("unknown-fields.yaml"), "{path:?}");
            continue;
        };
        assert_eq!(
            serde_json::to_value(&from_tree).unwrap(),
            serde_json::to_value(&kube).unwrap(),
            "{path:?}"
        );
        read += 1;
    }
    assert!(read >= 4, "{read}");
}

#[test]
fn what_the_text_would_convert_is_refused() {
    let tree = parse("clusters:\n- name: 123\n  cluster: {server: x}\n").unwrap();
    assert!(from_node::<Kubeconfig>(&tree).is_err());
    let tree = parse(
        "users:\n- name: u\n  user:\n    exec:\n      command: c\n      interactiveMode: Never\n",
    )
    .unwrap();
    let kc: Kubeconfig = from_node(&tree).unwrap();
    let exec = kc.auth_infos[0]
        .auth_info
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(exec.command.as_deref(), Some("c"));
}
