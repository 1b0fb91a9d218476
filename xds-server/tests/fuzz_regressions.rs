//! The fuzz targets' committed inputs, replayed natively (no fuzzer, no
//! instrumentation): the seed corpora and every input that once crashed
//! (`fuzz/regressions/<target>/`), through the same target functions and
//! invariants the fuzzer runs. See fuzz/README.md.

#[path = "../../fuzz/src/input_targets.rs"]
mod input_targets;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn kubeconfig() {
    replay::replay("kubeconfig", input_targets::kubeconfig);
}

#[test]
fn gateway_config() {
    replay::replay("gateway_config", input_targets::gateway_config);
}

#[test]
fn policy() {
    replay::replay("policy", input_targets::policy);
}
