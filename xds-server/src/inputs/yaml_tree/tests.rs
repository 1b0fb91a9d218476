use super::*;

#[test]
fn nodes_know_their_lines() {
    let text = "a: 1\nb:\n  c: [x, 'y']\n  d: true\ne:\n- k: v\n  n: null\n";
    let root = parse(text).unwrap();
    let b = root.entry("b").unwrap();
    assert_eq!(b.key_line, Some(2));
    let c = b.value.entry("c").unwrap();
    assert_eq!(c.key_line, Some(3));
    assert_eq!(
        c.value.item(1).map(|n| (&n.value, n.line)),
        Some((&Value::Str("y".into()), Some(3)))
    );
    assert_eq!(b.value.entry("d").unwrap().value.value, Value::Bool(true));
    let e0 = root.entry("e").unwrap().value.item(0).unwrap();
    assert_eq!(e0.line, Some(6));
    assert_eq!(e0.entry("n").unwrap().key_line, Some(7));
    assert_eq!(e0.entry("n").unwrap().value.value, Value::Null);
    assert_eq!(root.entry("a").unwrap().value.value, Value::Int(1));
}

#[test]
fn quoted_numbers_stay_strings() {
    let root = parse("port: '8443'\nn: 8443\n").unwrap();
    assert_eq!(
        root.entry("port").unwrap().value.value,
        Value::Str("8443".into())
    );
    assert_eq!(root.entry("n").unwrap().value.value, Value::Int(8443));
}

#[test]
fn empty_document_is_null() {
    assert_eq!(parse("").unwrap().value, Value::Null);
    assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
}

#[test]
fn syntax_errors_carry_the_line() {
    let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    assert!(err.line.is_some(), "{err:?}");
    assert!(err.reason.starts_with("invalid YAML: "), "{err:?}");
}

#[test]
fn duplicate_keys_are_syntax_errors() {
    let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(err.line, Some(3), "{err:?}");
}

#[test]
fn yaml_1_1_booleans_are_plain_strings() {
    let root = parse(
        "n: yes
y: on
",
    )
    .unwrap();
    assert_eq!(
        root.entry("n").unwrap().value.value,
        Value::Str("yes".into())
    );
    assert_eq!(
        root.entry("y").unwrap().value.value,
        Value::Str("on".into())
    );
}

/// A text with more nodes than serde-saphyr's default budget (250,000)
/// parses: the budget grows with the text.
#[test]
fn more_nodes_than_the_default_budget_parse() {
    let text = "- a\n".repeat(300_000);
    let node = parse(&text).expect("300,000 scalars parse");
    match node.value {
        Value::Seq(items) => assert_eq!(items.len(), 300_000),
        other => panic!("not a sequence: {other:?}"),
    }
}

/// A limit that does not grow with the text (nesting depth) is reported
/// as a parse limit, with its line, and the parse returns instead of
/// overflowing the stack (serde-saphyr's default depth, 64, overflowed a
/// 2 MB test thread in a debug build at 50 levels; tokio's workers have
/// 2 MB too).
#[test]
fn a_reached_limit_is_named() {
    let text: String = (0..100)
        .map(|depth| format!("{}a:\n", "  ".repeat(depth)))
        .collect();
    let err = parse(&text).expect_err("100 levels deep");
    assert!(
        err.reason.starts_with("YAML beyond a parse limit"),
        "{err:?}"
    );
    assert!(err.line.is_some(), "{err:?}");
}
