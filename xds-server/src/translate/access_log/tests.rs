use super::*;

/// The mapper Envoy applies to its own replies with response flag `flag`.
fn mapper_for(flag: &str) -> ResponseMapper {
    local_reply_config()
        .mappers
        .into_iter()
        .find(|m| {
            matches!(
                &m.filter.as_ref().unwrap().filter_specifier,
                Some(access_log_filter::FilterSpecifier::ResponseFlagFilter(f)) if f.flags == [flag]
            )
        })
        .unwrap_or_else(|| panic!("no mapper for {flag}"))
}

fn text<'a>(body: &'a Struct, key: &str) -> &'a str {
    match &body.fields[key].kind {
        Some(Kind::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn envoys_own_overflow_is_a_429_status_with_retry_after_for_client_go() {
    let overflow = mapper_for("UO");
    assert_eq!(overflow.status_code, Some(UInt32Value { value: 429 }));
    let headers: Vec<(&str, &str)> = overflow
        .headers_to_add
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers, [("retry-after", "1")]);
    let format = overflow.body_format_override.unwrap();
    assert_eq!(format.content_type, "application/json");
    let Some(substitution_format_string::Format::JsonFormat(body)) = format.format else {
        panic!("not a JSON body");
    };
    assert_eq!(text(&body, "kind"), "Status");
    assert_eq!(text(&body, "reason"), "TooManyRequests");
    assert!(text(&body, "message").starts_with("too many concurrent requests to cluster"));
    // The other mapped failures carry no Retry-After: client-go would
    // retry them as if asked to.
    for flag in ["UT", "NC"] {
        assert!(mapper_for(flag).headers_to_add.is_empty(), "{flag}");
    }
}
