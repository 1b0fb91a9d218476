use super::*;

/// A throwaway workspace with `files` created (empty).
fn workspace_with(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }
    dir
}

#[test]
fn the_environment_variable_wins_over_the_build_output() {
    let ws = workspace_with(&["target/debug/kubeplex", "elsewhere/kubeplex"]);
    let chosen = ws.path().join("elsewhere/kubeplex");
    let found = Artifact::Kubeplex.find_in(Some(chosen.clone().into()), ws.path());
    assert_eq!(found.unwrap(), chosen);
}

#[test]
fn an_environment_variable_naming_no_file_is_an_error_not_a_fallback() {
    let ws = workspace_with(&["target/debug/kubeplex"]);
    let missing = ws.path().join("nope");
    let err = Artifact::Kubeplex
        .find_in(Some(missing.clone().into()), ws.path())
        .unwrap_err();
    assert!(matches!(&err, LocateError::NotAFile { path, .. } if *path == missing));
    assert!(err.to_string().contains("$KUBEPLEX_BIN"), "{err}");
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let ws = workspace_with(&["target/wasm32-wasip1/wasm/kubeplex_filter.wasm"]);
    let found = Artifact::FilterWasm.find_in(Some("".into()), ws.path());
    assert_eq!(
        found.unwrap(),
        ws.path()
            .join("target/wasm32-wasip1/wasm/kubeplex_filter.wasm")
    );
}

#[test]
fn envoy_is_found_under_any_python3_of_the_venv() {
    let ws = workspace_with(&[".venv/lib/python3.13/site-packages/envoy/_bin/envoy"]);
    let found = Artifact::Envoy.find_in(None, ws.path()).unwrap();
    assert_eq!(
        found,
        ws.path()
            .join(".venv/lib/python3.13/site-packages/envoy/_bin/envoy")
    );
}

#[test]
fn what_is_missing_says_which_make_target_builds_it() {
    let ws = workspace_with(&[]);
    for (artifact, command, var) in [
        (Artifact::Envoy, "make setup", "KUBEPLEX_ENVOY"),
        (Artifact::FilterWasm, "make build", "KUBEPLEX_FILTER_WASM"),
        (Artifact::Kubeplex, "make build", "KUBEPLEX_BIN"),
    ] {
        let err = artifact.find_in(None, ws.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("run `{command}`")), "{err}");
        assert!(err.contains(&format!("${var}")), "{err}");
        assert!(err.contains(&ws.path().display().to_string()), "{err}");
    }
}

#[test]
fn the_workspace_is_the_folder_with_the_makefile() {
    assert!(workspace().join("Makefile").is_file());
    assert!(workspace().join("test-support/Cargo.toml").is_file());
}
