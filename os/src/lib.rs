//! The control plane's direct calls into the C library, kept here so that
//! every other kubeplex crate can `#![forbid(unsafe_code)]`: one job (wrap
//! a libc call behind a safe function), each `unsafe` block with the reason
//! it is sound. Nothing else belongs in this crate.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod heap;
pub mod process;
