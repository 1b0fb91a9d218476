//! The kubeplex schemas, generated from `proto/kubeplex/**.proto`.
//!
//! - [`filter::v1`]: what the control plane pushes to the wasm filter.
//! - [`admin::v1`]: the control plane's admin API (with the `grpc` feature,
//!   also the tonic client and server).
#![forbid(unsafe_code)]

pub mod filter {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/kubeplex.filter.v1.rs"));
    }
}

/// The admin API messages are always available (the filter sends
/// `RefreshKeysRequest`); the tonic client and server need `grpc`.
pub mod admin {
    pub mod v1 {
        #[cfg(feature = "grpc")]
        include!(concat!(env!("OUT_DIR"), "/kubeplex.admin.v1.rs"));
        #[cfg(not(feature = "grpc"))]
        include!(concat!(env!("OUT_DIR"), "/messages/kubeplex.admin.v1.rs"));
    }
}
