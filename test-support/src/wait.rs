//! One bounded wait on a condition, for every test that waits for
//! something to happen (a file to appear, a process to exit, a config to
//! reach Envoy): poll, and fail naming what never happened, with the last
//! reason the check gave, once the time is up. No test sleeps and hopes.

use std::fmt::Display;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Pause between two checks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What one check returned: done (with a value), or not yet (with, maybe,
/// why not: shown when the wait times out).
///
/// `Option<T>`: `Some` is done. `bool`: `true` is done. `Result<T, E>`: `Ok`
/// is done, `Err` is not yet and its text is the reason (a check that
/// returns `Result<Option<T>, E>` is done on `Ok(None)`: unwrap it first).
pub trait Outcome {
    /// What the wait returns when the check is done.
    type Value;
    /// `Ok` when done, else the reason it is not, if the check gave one.
    fn into_result(self) -> Result<Self::Value, Option<String>>;
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl Outcome for bool {
    type Value = ();
    fn into_result(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T, E: Display> Outcome for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// A wait that ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {timeout:?}{}", last.as_deref().map(|l| format!("; last: {l}")).unwrap_or_default())]
pub struct TimedOut {
    /// How long it waited.
    pub timeout: Duration,
    /// The reason the last check gave, if any.
    pub last: Option<String>,
}

/// Run `check` every [`POLL_INTERVAL`] until it is done, for at most
/// `timeout` (it always runs at least once, and once more at the deadline).
pub fn poll<O: Outcome>(
    timeout: Duration,
    mut check: impl FnMut() -> O,
) -> Result<O::Value, TimedOut> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().into_result() {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(TimedOut { timeout, last });
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// [`poll`], failing the test with `what` (and the check's last reason)
/// when the time is up.
#[track_caller]
pub fn wait_for<O: Outcome>(
    what: impl Display,
    timeout: Duration,
    check: impl FnMut() -> O,
) -> O::Value {
    match poll(timeout, check) {
        Ok(value) => value,
        Err(e) => panic!("waiting for {what}: {e}"),
    }
}

/// [`wait_for`] inside a tokio test: the runtime keeps running between
/// checks (so a test server on the same runtime can make the check true).
#[cfg(feature = "tokio")]
pub async fn wait_for_async<O: Outcome>(
    what: impl Display,
    timeout: Duration,
    mut check: impl FnMut() -> O,
) -> O::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().into_result() {
            Ok(value) => return value,
            Err(last) => last,
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            panic!("waiting for {what}: {}", TimedOut { timeout, last });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

/// Wait for `child` to exit, at most `timeout`; past it the child is
/// killed and reaped (no test leaves a process behind) and the test fails.
#[track_caller]
pub fn wait_exit(child: &mut Child, what: impl Display, timeout: Duration) -> ExitStatus {
    match poll(timeout, || {
        child.try_wait().expect("wait for a child process")
    }) {
        Ok(status) => status,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("waiting for {what} to exit: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
