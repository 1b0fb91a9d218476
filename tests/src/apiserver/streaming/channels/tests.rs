//! The channel.k8s.io message codecs.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;

use super::{ERROR, Incoming, PROTOCOLS, STDIN, STDOUT, by_name, names};

#[test]
fn binary_messages_carry_the_stream_in_the_first_byte() {
    let v5 = by_name(Some("v5.channel.k8s.io")).unwrap();
    assert_eq!(
        v5.encode(STDOUT, b"hi"),
        Message::Binary(Bytes::from_static(b"\x01hi"))
    );
    assert_eq!(
        v5.decode(&Message::Binary(Bytes::from_static(b"\x00typed"))),
        Some(Incoming::Data(STDIN, Bytes::from_static(b"typed")))
    );
    // The close signal exists from v5 on; before, 255 is just a stream id.
    let close = Message::Binary(Bytes::from_static(&[255, 0]));
    assert_eq!(v5.decode(&close), Some(Incoming::Close(STDIN)));
    let v4 = by_name(Some("v4.channel.k8s.io")).unwrap();
    assert_eq!(
        v4.decode(&close),
        Some(Incoming::Data(255, Bytes::from_static(&[0])))
    );
    assert_eq!(v5.decode(&Message::Binary(Bytes::new())), None);
    assert_eq!(v5.decode(&Message::Text("0aGk=".into())), None);
}

#[test]
fn base64_messages_use_a_digit_and_base64() {
    let b64 = by_name(Some("base64.channel.k8s.io")).unwrap();
    assert_eq!(
        b64.encode(ERROR, b"oops"),
        Message::Text("3b29wcw==".into())
    );
    assert_eq!(
        b64.decode(&Message::Text("0aGk=".into())),
        Some(Incoming::Data(STDIN, Bytes::from_static(b"hi")))
    );
    assert_eq!(b64.decode(&Message::Text("0!!".into())), None);
}

#[test]
fn protocols_are_newest_first_and_none_means_v1() {
    assert_eq!(names()[0], "v5.channel.k8s.io");
    assert!(PROTOCOLS.windows(2).all(|w| w[0].version >= w[1].version));
    let none = by_name(None).unwrap();
    assert_eq!((none.version, none.base64), (1, false));
    assert_eq!(by_name(Some("v6.channel.k8s.io")), None);
}
