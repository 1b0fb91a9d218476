use std::time::{Duration, Instant};

use super::*;

// A real line's shape, with a command name holding spaces and ")".
const STAT: &str = "4242 (my (odd) prog) S 17 4242 4242 0 -1 4194560 1043 0 0 0 \
                    1234 567 0 0 20 0 9 0 1186 123456789 4321 18446744073709551615";

#[test]
fn stat_fields_are_counted_after_the_command_name() {
    assert_eq!(parse_stat_ticks(STAT), Some(1234 + 567));
    assert_eq!(parse_stat_ppid(STAT), Some(17));
    assert_eq!(parse_stat_ticks("4242 (x) S 1 2"), None);
    assert_eq!(parse_stat_ticks("garbage"), None);
}

#[test]
fn schedstat_first_field_is_nanoseconds() {
    assert_eq!(
        parse_schedstat_ns("187622310 6209213 2057\n"),
        Some(187_622_310)
    );
    assert_eq!(parse_schedstat_ns(""), None);
}

#[test]
fn burning_cpu_shows_up_in_both_counters() {
    let pid = std::process::id();
    let hz = clock_ticks_per_second();
    assert!(hz > 0);
    let before = CpuSample::read(pid).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut x = 0u64;
    let spent = loop {
        for i in 0..100_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        let spent = before.until(&CpuSample::read(pid).unwrap(), hz);
        if spent.seconds() >= 0.2 {
            break spent;
        }
        assert!(Instant::now() < deadline, "no CPU time seen: {spent:?}");
    };
    std::hint::black_box(x);
    assert!(
        spent.thread_seconds.is_some(),
        "schedstat is available here"
    );
    // ticks are 10 ms and lag a little; the process may also run other tests
    assert!(spent.ticks_seconds >= 0.1, "{spent:?}");
}

#[test]
fn children_are_found_by_parent_pid() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let found = children_of(std::process::id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(found.contains(&child.id()), "{found:?}");
}
