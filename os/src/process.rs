//! Child processes that do not outlive their parent.

use std::process::Command;

/// Have the kernel send SIGTERM to `command`'s child when the thread that
/// spawned it dies (Linux's PR_SET_PDEATHSIG; elsewhere nothing), so a
/// killed control plane leaves no Envoy behind. Build a
/// `tokio::process::Command` from the result with `From`.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook runs in the forked child before exec and calls
        // only prctl(2), which is async-signal-safe, takes no pointer (a
        // signal number and three unused zeros) and only sets this
        // process's own attribute: no allocation, no lock, no memory
        // shared with the parent.
        unsafe {
            command.pre_exec(|| {
                // prctl(2) with PR_SET_PDEATHSIG takes a signal number and
                // three unused zeros; it only sets this process's own
                // attribute.
                let status = libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                if status != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

#[cfg(test)]
mod tests;
