use super::*;

#[test]
fn the_port_is_below_the_ephemeral_range_and_free() {
    let port = free_port().unwrap();
    assert!((FIRST..ephemeral_start()).contains(&port), "{port}");
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn a_port_in_use_is_skipped() {
    let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let taken = held.local_addr().unwrap().port();
    let found = first_free(taken..taken.saturating_add(50), 0).unwrap();
    assert_ne!(found, taken);
    assert!(found > taken && found < taken.saturating_add(50), "{found}");
}

#[test]
fn the_search_wraps_around_the_range() {
    let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let taken = held.local_addr().unwrap().port();
    // start at the last port (taken), wrap to the first
    let range = taken - 10..taken + 1;
    let found = first_free(range.clone(), range.len() - 1).unwrap();
    assert!(found < taken, "{found}");
}

#[test]
fn calls_start_in_different_places() {
    let starts: std::collections::HashSet<usize> = (0..20).map(|_| spread(10_000)).collect();
    assert!(starts.len() > 10, "{starts:?}");
}
