use super::*;

/// A child spawned by a thread is terminated by SIGTERM when that thread
/// ends (the kernel's parent-death signal), not left running.
#[cfg(target_os = "linux")]
#[test]
fn the_child_gets_sigterm_when_its_spawning_thread_ends() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::thread::spawn(|| {
        let mut command = Command::new("sleep");
        command.arg("30");
        die_with_parent(&mut command);
        command.spawn().expect("sleep starts")
    })
    .join()
    .expect("the spawning thread");
    // Bounded: sleep ends by itself after 30 s if the signal never came.
    let status = child.wait().expect("wait for sleep");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

/// The hook does not stop the child from running normally.
#[test]
fn the_child_runs_normally_with_the_hook() {
    let mut command = Command::new("sh");
    command.arg("-c").arg("echo ran");
    die_with_parent(&mut command);
    let output = command.output().expect("sh runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ran");
}
