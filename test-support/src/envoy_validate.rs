//! Envoy's own check of a configuration we generate: `envoy --mode
//! validate` loads the bootstrap, builds every static resource and exits,
//! printing "OK" when it accepts it.

use std::path::Path;

use crate::locate::envoy;

/// Panics with Envoy's output unless it accepts the bootstrap in `config`
/// (YAML, JSON or binary protobuf, told apart by the file's extension);
/// `what` names the configuration in the failure.
#[track_caller]
pub fn assert_envoy_accepts(config: &Path, what: &str) {
    let out = std::process::Command::new(envoy())
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "warning",
            "-c",
        ])
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", envoy().display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "Envoy refused {what} ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
