use super::rfc3339;

#[test]
fn epoch() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
}

#[test]
fn known_instants() {
    // `date -u -d @1795435200 +%FT%TZ`
    assert_eq!(rfc3339(1_795_435_200), "2026-11-23T12:00:00Z");
    // leap day
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    // end of a year
    assert_eq!(rfc3339(1_704_067_199), "2023-12-31T23:59:59Z");
    // before the epoch
    assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
}

#[test]
fn clamps_absurd_values() {
    assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
    assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
}
