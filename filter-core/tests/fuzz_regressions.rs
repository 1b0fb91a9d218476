//! The fuzz targets' committed inputs, replayed natively (no fuzzer, no
//! instrumentation): the seed corpora and every input that once crashed
//! (`fuzz/regressions/<target>/`), through the same target functions and
//! invariants the fuzzer runs. See fuzz/README.md.

#[path = "../../fuzz/src/filter_targets.rs"]
mod filter_targets;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn token() {
    replay::replay("token", filter_targets::token);
}

#[test]
fn route() {
    replay::replay("route", filter_targets::route);
}

#[test]
fn request_info() {
    replay::replay("request_info", filter_targets::request_info);
}

#[test]
fn identity() {
    replay::replay("identity", filter_targets::identity);
}
