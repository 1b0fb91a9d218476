//! Unit tests of the test apiserver's parts.

mod authz;
mod impersonation;
mod patch;
mod protobuf;
mod request_info;
mod selectors;
mod store;
mod table;
