use super::*;

#[test]
fn known_instants_format_like_envoy() {
    assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
    // date -u -d @1779271872 → 2026-05-20 10:11:12
    assert_eq!(
        format_unix_ms(1_779_271_872_345),
        "2026-05-20T10:11:12.345Z"
    );
    assert_eq!(format_unix_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(format_unix_ms(-1), "1969-12-31T23:59:59.999Z");
}

#[test]
fn parse_is_the_inverse_of_format() {
    for ms in [
        0,
        1,
        951_782_400_000,
        1_779_271_872_345,
        4_102_444_799_999,
        -86_400_001,
    ] {
        assert_eq!(parse_unix_ms(&format_unix_ms(ms)), Some(ms), "{ms}");
    }
    // every day of a leap and a common year
    for day in 0..(366 + 365) {
        let ms = 946_684_800_000 + day * DAY_MS + 12_345;
        assert_eq!(parse_unix_ms(&format_unix_ms(ms)), Some(ms));
    }
}

#[test]
fn anything_else_is_refused() {
    for bad in [
        "",
        "2026-05-20T10:11:12Z",
        "2026-05-20 10:11:12.345Z",
        "2026-02-30T10:11:12.345Z",
        "2026-13-01T10:11:12.345Z",
        "2026-05-20T24:00:00.000Z",
        "2026-05-20T10:11:12.345+",
        "+026-05-20T10:11:12.345Z",
        "2026-05-20T10:11:12.3a5Z",
    ] {
        assert_eq!(parse_unix_ms(bad), None, "{bad:?}");
    }
}
