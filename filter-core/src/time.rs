//! RFC 3339 formatting of Unix seconds without a date crate: the only times
//! the filter prints are token `exp`/`nbf`/`iat` values in refusal messages,
//! and the clock comes from the host (`get_current_time`), not from WASI.

/// Format Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC). Years outside
/// 0000–9999 are clamped to that range, which only matters for absurd
/// claims and keeps the output well-formed.
pub fn rfc3339(unix_seconds: i64) -> String {
    // 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
    let secs = unix_seconds.clamp(-62_167_219_200, 253_402_300_799);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (y, m, d)
/// in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
