use super::*;

#[test]
fn max_age_is_read_and_bounded() {
    assert_eq!(
        parse_max_age("public, max-age=3600"),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        parse_max_age("max-age=\"60\", must-revalidate"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
    assert_eq!(parse_max_age("public"), None);
    assert_eq!(
        refresh_after(Some(Duration::from_secs(86400 * 7))),
        MAX_REFRESH
    );
    assert_eq!(refresh_after(Some(Duration::ZERO)), MIN_REFRESH);
    assert_eq!(
        refresh_after(Some(Duration::from_secs(120))),
        Duration::from_secs(120)
    );
    assert_eq!(refresh_after(None), DEFAULT_REFRESH);
}
