//! `kubectl kustomize`, bounded in time, and finding objects in its output.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// `deploy/kubernetes` in the workspace.
pub fn deploy_dir() -> PathBuf {
    kubeplex_test_support::workspace().join("deploy/kubernetes")
}

/// The objects `kubectl kustomize deploy/kubernetes/<dir>` renders.
pub fn kustomize(dir: &str) -> Vec<Value> {
    let path = deploy_dir().join(dir);
    let mut child = Command::new(kubeplex_tests::kubectl::binary())
        .arg("kustomize")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs (scripts/setup.sh installs it)");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let status = kubeplex_test_support::wait_exit(
        &mut child,
        format_args!("kubectl kustomize {}", path.display()),
        Duration::from_secs(60),
    );
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert!(
        status.success(),
        "kubectl kustomize {}: {err}",
        path.display()
    );
    let text = out.join().unwrap().unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("kustomize output of {dir} is not YAML: {e}"))
}

/// `Kind/name`, for messages.
pub fn id(o: &Value) -> String {
    format!(
        "{}/{}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The object of `kind` named `name` (panics when absent).
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
}

/// The objects of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    objects.iter().filter(move |o| o["kind"] == kind)
}
