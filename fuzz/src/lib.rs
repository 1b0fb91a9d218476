//! kubeplex's fuzz targets (libFuzzer through cargo-fuzz, on stable Rust:
//! see README.md). The functions here hold the targets and their
//! invariants; `fuzz_targets/*.rs` are one-line libFuzzer entry points, and
//! the owning crates' `tests/fuzz_regressions.rs` replay the committed
//! inputs through the same functions natively.

pub mod filter_targets;
pub mod input_targets;
pub mod replay;
