//! Everything that can stop a benchmark run.

use std::path::PathBuf;

/// Why the benchmark could not produce a number.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A required input (Envoy binary, wasm module, `kubeplex` binary) is
    /// missing.
    #[error("{0}: no such file (run `make build`, or pass the path)")]
    Missing(PathBuf),
    /// No path given, and nothing where `make` builds it (the error says
    /// which `make` target does).
    #[error(transparent)]
    NotBuilt(#[from] kubeplex_test_support::LocateError),
    /// Envoy (or `kubeplex up`) exited while we waited for it.
    #[error("{what} exited ({status}); its log ends with:\n{log_tail}")]
    Exited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What never happened.
        what: String,
        /// How long we waited.
        seconds: u64,
    },
    /// `/proc/<pid>/stat` or `schedstat` could not be read or parsed.
    #[error("reading the CPU time of pid {pid}: {reason}")]
    CpuTime {
        /// The process.
        pid: u32,
        /// What went wrong.
        reason: String,
    },
    /// The load client could not connect or a request failed at the HTTP
    /// level.
    #[error("load client: {0}")]
    Client(String),
    /// A response had another status than the scenario expects (the filter
    /// refused a token, a route is missing...): the numbers would be
    /// meaningless.
    #[error("{scenario}: got HTTP {status} where {expected} was expected: {body}")]
    UnexpectedStatus {
        /// The scenario.
        scenario: String,
        /// What came back.
        status: u16,
        /// What should have come back.
        expected: u16,
        /// The start of the response body.
        body: String,
    },
    /// After the runs, a filter's own counters disagree with what the client
    /// saw (e.g. the kubeplex filter did not allow every request as
    /// `cluster="bench"`): its numbers would not measure the intended path.
    #[error("{scenario}: {reason}")]
    Verification {
        /// The scenario.
        scenario: String,
        /// What disagreed.
        reason: String,
    },
    /// Keys, certificates or a TLS configuration could not be built.
    #[error("crypto setup: {0}")]
    Crypto(String),
    /// The Kubernetes API test server or the gateway could not be set up.
    #[error("gateway setup: {0}")]
    Gateway(String),
}

impl BenchError {
    /// An [`BenchError::Io`] with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}
