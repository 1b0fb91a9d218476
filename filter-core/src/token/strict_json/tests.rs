use super::*;

#[test]
fn parses_ordinary_claims() {
    let m = object_from_slice(br#"{"sub":"a","n":1,"f":1.5,"l":[1,{"x":null}],"b":true}"#).unwrap();
    assert_eq!(m["sub"], "a");
    assert_eq!(m["l"][1]["x"], Value::Null);
    assert_eq!(m["f"], 1.5);
}

#[test]
fn refuses_duplicates_at_any_depth() {
    assert!(object_from_slice(br#"{"sub":"alice","sub":"admin"}"#).is_none());
    assert!(object_from_slice(br#"{"kubernetes.io":{"namespace":"a","namespace":"b"}}"#).is_none());
    assert!(object_from_slice(br#"{"l":[{"k":1,"k":2}]}"#).is_none());
    // equal after unescaping is a duplicate too
    assert!(object_from_slice(br#"{"sub":"a","s\u0075b":"b"}"#).is_none());
}

#[test]
fn refuses_non_objects_and_trailing_data() {
    assert!(object_from_slice(b"[1]").is_none());
    assert!(object_from_slice(b"{} {}").is_none());
    assert!(object_from_slice(b"").is_none());
}
