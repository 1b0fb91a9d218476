//! Exit statuses as the kubelet writes them, and resize decoding.

use super::{ResizeDecoder, TerminalSize, exit_status_legacy, exit_status_v4};

#[test]
fn exit_statuses_match_the_kubelet() {
    let argv = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
    assert_eq!(
        serde_json::to_string(&exit_status_v4(&argv, 0)).unwrap(),
        r#"{"metadata":{},"status":"Success"}"#
    );
    let failure = exit_status_v4(&argv, 3);
    assert_eq!(failure["status"], "Failure");
    assert_eq!(failure["reason"], "NonZeroExitCode");
    assert_eq!(
        failure["details"]["causes"],
        serde_json::json!([{"reason": "ExitCode", "message": "3"}])
    );
    assert_eq!(
        failure["message"],
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    );
    assert_eq!(exit_status_legacy(&argv, 0), None);
    assert_eq!(
        exit_status_legacy(&argv, 3).unwrap(),
        "error executing command [sh -c exit 3], exit code 3"
    );
}

#[test]
fn resize_events_are_decoded_across_chunks() {
    let mut d = ResizeDecoder::default();
    assert_eq!(d.feed(br#"{"Width":80,"#), vec![]);
    assert_eq!(
        d.feed(b"\"Height\":24}\n{\"Width\":100,\"Height\":30}\n"),
        vec![
            TerminalSize {
                width: 80,
                height: 24
            },
            TerminalSize {
                width: 100,
                height: 30
            }
        ]
    );
    // Garbage is dropped and decoding resumes.
    assert_eq!(d.feed(b"nonsense"), vec![]);
    assert_eq!(
        d.feed(br#"{"Width":1,"Height":2}"#),
        vec![TerminalSize {
            width: 1,
            height: 2
        }]
    );
}
