use std::collections::BTreeSet;
use std::path::Path;

use super::*;

#[test]
fn words_are_distinct_snake_case() {
    let words: BTreeSet<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(words.len(), DenyReason::ALL.len());
    assert!(
        !words.contains("ok"),
        "\"ok\" is the word of an allowed request"
    );
    for w in words {
        assert!(
            w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{w}"
        );
    }
}

#[test]
fn a_reason_equals_its_word() {
    assert_eq!(DenyReason::BadSignature, "bad_signature");
    assert_ne!(DenyReason::BadSignature, "bad_request");
    assert_eq!(DenyReason::NoConfig.to_string(), "no_config");
}

/// The backticked snake_case words of the paragraph after `Reasons:` in a
/// README.
fn documented_reasons(readme: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(readme);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("Reasons:").expect("a \"Reasons:\" list") + "Reasons:".len();
    let paragraph = text[start..].split("\n\n").next().unwrap_or_default();
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_string)
        .collect()
}

/// Operators read the reasons in the READMEs: every one, and no other.
#[test]
fn the_readmes_list_every_reason() {
    let mut want: BTreeSet<String> = DenyReason::ALL.iter().map(|r| r.to_string()).collect();
    want.insert("ok".to_string());
    for readme in ["../README.md", "../filter/README.md"] {
        assert_eq!(documented_reasons(readme), want, "{readme}");
    }
}
