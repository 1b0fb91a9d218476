//! Streaming subresources (work in progress).
#![allow(dead_code, unused_imports)]

pub mod log_buffer;
pub mod pod_fs;
pub mod process;
pub mod shell;
pub mod spdy;
pub mod tar;
pub mod terminal;
