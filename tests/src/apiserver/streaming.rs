//! Streaming subresources (work in progress).
#![allow(dead_code, unused_imports)]

pub mod spdy;
