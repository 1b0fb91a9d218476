//! Shared by the tests of every kubeplex crate (and the benchmark, which
//! runs the same binaries): where the built artifacts are
//! ([`locate`]), a port to name in a config before its server binds it
//! ([`port`]), one bounded wait on a condition ([`wait`]), Envoy's own
//! check of a generated configuration ([`envoy_validate`]), and a real
//! PostgreSQL server ([`postgres`]).
//!
//! It depends on nothing of ours, so any crate can take it as a
//! dev-dependency without a cycle; the production binary never calls it.

pub mod envoy_validate;
pub mod locate;
pub mod port;
// Unix only (file modes, `su`): `make bench` also builds the filter's
// wasm example, whose dev-dependencies include this crate.
#[cfg(unix)]
pub mod postgres;
pub mod wait;

pub use envoy_validate::assert_envoy_accepts;
pub use locate::{
    Artifact, LocateError, empty_filter_wasm, envoy, filter_wasm, kubeplex_bin, workspace,
};
pub use port::free_port;
#[cfg(feature = "tokio")]
pub use wait::wait_for_async;
pub use wait::{Outcome, TimedOut, poll, wait_exit, wait_for};
