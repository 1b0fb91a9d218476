//! Kubernetes API test servers for kubeplex: in-process, TLS on 127.0.0.1,
//! shaped like a real kube-apiserver where it matters to `kubectl` and to a
//! gateway, and recording every request that reached them.
//!
//! Used by the end-to-end tests and by kubeplex's demo mode; [`bench`] is
//! the benchmark behind `kubeplex-bench` (`make bench`).
#![forbid(unsafe_code)]

pub mod apiserver;
pub mod bench;
pub mod config_server;
pub mod idp;
pub mod kubectl;
pub mod pki;
pub mod projected_volume;
pub mod service;
