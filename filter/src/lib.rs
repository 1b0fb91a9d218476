#![forbid(unsafe_code)]
pub use kubeplex_proto::filter::v1 as config_pb;
