//! A port for a server that must be named before it starts: the gateway's
//! listener is a number in its config file, bound later by Envoy.
//!
//! Asking the kernel (bind port 0, read it, release it) races with every
//! later bind to port 0, which the kernel serves from the same ephemeral
//! range: `kubeplex up` binds its xDS and admin servers that way and was
//! seen handed the gateway's port before Envoy bound it (Envoy then refused
//! the listener and kubectl met the gRPC server). So the port comes from
//! below the ephemeral range, which neither a bind to port 0 nor an
//! outgoing connection ever gets, and is checked free by binding it.

use std::net::TcpListener;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// The lowest port handed out (well above the well-known and most
/// registered service ports).
const FIRST: u16 = 20000;
/// Linux's default start of the ephemeral range, if it cannot be read.
const DEFAULT_EPHEMERAL_START: u16 = 32768;

/// A TCP port on 127.0.0.1 that is free now and that the kernel will not
/// hand to anyone who binds port 0 or connects out.
pub fn free_port() -> std::io::Result<u16> {
    let range = FIRST..ephemeral_start();
    if range.len() < 1000 {
        // an unusual ephemeral range: fall back to the kernel's choice
        return TcpListener::bind("127.0.0.1:0")?
            .local_addr()
            .map(|a| a.port());
    }
    first_free(range.clone(), spread(range.len()))
}

/// The first port of `range`, from `offset` on (wrapping), that binds.
fn first_free(range: Range<u16>, offset: usize) -> std::io::Result<u16> {
    let ports = range.clone().cycle().skip(offset).take(range.len());
    for port in ports {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free port in {range:?} on 127.0.0.1"),
    ))
}

/// Where to start looking: different in every process and every call, so
/// tests running at once (nextest runs each in its own process) rarely try
/// the same port.
fn spread(len: usize) -> usize {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let seed = (u64::from(std::process::id()) << 32)
        ^ nanos
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // a multiplicative hash spreads nearby seeds across the range
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % len
}

/// The start of the kernel's ephemeral port range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests;
