use std::ffi::OsString;

use super::browser_available_with;

fn with(vars: &[(&str, &str)]) -> bool {
    browser_available_with(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| OsString::from(v))
    })
}

#[test]
fn over_ssh_the_device_grant_is_chosen_even_with_a_forwarded_display() {
    let ssh = ("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22");
    assert!(!with(&[ssh, ("DISPLAY", "localhost:10.0")]));
    assert!(!with(&[
        ("SSH_CLIENT", "10.0.0.2 51000 22"),
        ("BROWSER", "firefox")
    ]));
    assert!(!with(&[
        ("SSH_TTY", "/dev/pts/3"),
        ("WAYLAND_DISPLAY", "wayland-0")
    ]));
    // An empty variable is not a session (a shell that cleared it).
    assert!(with(&[("SSH_CONNECTION", ""), ("DISPLAY", ":0")]));
}

#[test]
fn a_local_display_or_browser_opens_the_browser() {
    assert!(with(&[("DISPLAY", ":0")]));
    assert!(with(&[("WAYLAND_DISPLAY", "wayland-0")]));
    assert!(with(&[("BROWSER", "w3m")]));
    let headless = with(&[]);
    assert_eq!(
        headless,
        cfg!(any(target_os = "macos", target_os = "windows")),
        "a Linux box without a display signs in on another device"
    );
}
