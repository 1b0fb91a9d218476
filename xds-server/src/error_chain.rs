//! One line for an error and its causes. Error types here keep their cause
//! as `source()` and do not repeat it in their own message, so where an
//! error becomes text for a person (a log line, `/status`, a gRPC status)
//! the whole chain is written out.

/// `error: cause: cause of the cause`, the way `anyhow` prints `{:#}`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
