//! Replays committed fuzz inputs natively: every file of
//! `fuzz/corpus/<target>/` (the seeds) and `fuzz/regressions/<target>/`
//! (inputs that once crashed) through the target's function. Used by the
//! `#[test]`s in `filter-core/tests/fuzz_regressions.rs` and
//! `xds-server/tests/fuzz_regressions.rs`, which `make test` runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// `fuzz/`, from a crate one level below the repository root.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files replayed for `target`, sorted.
pub fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable fuzz directory").path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "README.md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Run every committed input of `target` through `run`; fail naming each
/// input that panics.
pub fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no seeds for fuzz target {target} in {}",
        fuzz_dir().join("corpus").join(target).display()
    );
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("readable fuzz input");
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failures.push(file.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz target {target}: {} of {} committed inputs fail (each panic is printed above):\n  {}",
        failures.len(),
        files.len(),
        failures.join("\n  ")
    );
}
