use super::*;
use crate::inputs::yaml_tree;

fn fields_of(text: &str, known: &[&str]) -> (Problems, Node) {
    let node = yaml_tree::parse(text).unwrap();
    let mut p = Problems::new(Path::new("f.yaml"));
    Fields::new(&mut p, &node, "top", known);
    (p, node)
}

#[test]
fn unknown_keys_are_all_reported_with_lines_and_suggestions() {
    let (p, _) = fields_of("name: a\nnmae: b\nzzz: c\n", &["name", "value"]);
    let errors = p.into_errors().0;
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].line, Some(2));
    assert_eq!(errors[0].field.as_deref(), Some("top.nmae"));
    assert_eq!(
        errors[0].reason,
        "unknown field `nmae`; did you mean `name`?"
    );
    assert_eq!(errors[1].line, Some(3));
    assert_eq!(
        errors[1].reason,
        "unknown field `zzz`; expected one of: name, value"
    );
}

#[test]
fn typed_accessors_record_wrong_types() {
    let node = yaml_tree::parse("s: 1\nb: yes please\ni: '3'\nl: x\nok: [a, 2]\n").unwrap();
    let mut p = Problems::new(Path::new("f.yaml"));
    let f = Fields::new(&mut p, &node, "", &["s", "b", "i", "l", "ok"]);
    assert_eq!(f.str(&mut p, "s"), None);
    assert_eq!(f.bool(&mut p, "b"), None);
    assert_eq!(f.int(&mut p, "i", 0, 10), None);
    assert!(f.list(&mut p, "l").is_none());
    let ok = f.str_list(&mut p, "ok").unwrap();
    assert_eq!(ok, vec![("a".to_string(), Some(5))]);
    assert_eq!(f.req_str(&mut p, "absent"), None);
    let errors = p.into_errors().0;
    let summary: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        summary,
        vec![
            "f.yaml:1: s: expected a string, found an integer",
            "f.yaml:2: b: expected true or false, found a string",
            "f.yaml:3: i: expected an integer, found a string",
            "f.yaml:4: l: expected a list, found a string",
            "f.yaml:5: ok[1]: expected a string, found an integer",
            "f.yaml:1: absent: required field is missing",
        ]
    );
}

#[test]
fn edit_distance_counts_edits() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}
