#![allow(clippy::unwrap_used)]
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const U: &str = "0190e7b2-0000-7000-8000-000000000001";

fn uuid() -> Uuid {
    Uuid::parse_str(U).unwrap()
}

fn refused(frame: &Value) -> FrameError {
    parse(&frame.to_string()).unwrap_err()
}

fn code(frame: &Value) -> Code {
    refused(frame).code
}

#[test]
fn every_frame_type_is_read() {
    assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping);
    let m = json!({"type": "private_message", "receiver_id": U, "content": "hi"});
    assert_eq!(
        parse(&m.to_string()).unwrap(),
        ClientFrame::PrivateMessage(PrivateMessage {
            receiver_id: uuid(),
            content: Cow::Borrowed("hi"),
            client_msg_id: None,
            message_type: MessageType::Text,
        })
    );
    let m = json!({"type": "private_message", "receiver_id": U, "content": "a\nb",
        "client_msg_id": "c-1", "message_type": "image"});
    let text = m.to_string();
    let ClientFrame::PrivateMessage(m) = parse(&text).unwrap() else { panic!() };
    assert_eq!(m.content, "a\nb", "an escaped text is unescaped");
    assert_eq!(m.client_msg_id.as_deref(), Some("c-1"));
    assert_eq!(m.message_type, MessageType::Image);
    let typing = json!({"type": "typing", "receiver_id": U}).to_string();
    assert_eq!(parse(&typing).unwrap(), ClientFrame::Typing { receiver_id: uuid() });
    let read = json!({"type": "read_receipt", "message_id": U}).to_string();
    assert_eq!(parse(&read).unwrap(), ClientFrame::ReadReceipt { message_id: uuid() });
    let sync = json!({"type": "sync", "after": U}).to_string();
    assert_eq!(parse(&sync).unwrap(), ClientFrame::Sync(SyncFrom::Message(uuid())));
    let sync = json!({"type": "sync", "after": U, "after_seq": 7}).to_string();
    assert_eq!(parse(&sync).unwrap(), ClientFrame::Sync(SyncFrom::Seq(7)), "after_seq wins");
    let null_id = json!({"type": "private_message", "receiver_id": U, "content": "x",
        "client_msg_id": null});
    assert!(parse(&null_id.to_string()).is_ok(), "a null client_msg_id is no id");
}

#[test]
fn each_error_code_is_given_for_its_fault() {
    for text in ["", "not json", "[1]", "42", r#"{"type": 5}"#, r#"{"type":"ping","type":"ping"}"#]
    {
        let e = parse(text).unwrap_err();
        assert_eq!((e.code, e.kind), (Code::InvalidJson, None), "{text}");
    }
    assert_eq!(code(&json!({})), Code::MissingField);
    assert_eq!(code(&json!({"type": null})), Code::MissingField);
    let unknown = refused(&json!({"type": "shout"}));
    assert_eq!(
        (unknown.code, unknown.message.as_ref()),
        (Code::UnknownType, r#"unknown type "shout""#)
    );
    let pm = |extra: Value| {
        let mut m = json!({"type": "private_message", "receiver_id": U, "content": "hi"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                m.as_object_mut().unwrap().remove(k);
            } else {
                m[k] = v.clone();
            }
        }
        m
    };
    assert_eq!(code(&pm(json!({"receiver_id": null}))), Code::MissingField);
    assert_eq!(code(&pm(json!({"content": null}))), Code::MissingField);
    assert_eq!(code(&pm(json!({"receiver_id": "bob"}))), Code::InvalidUuid);
    assert_eq!(code(&pm(json!({"content": " \n\t"}))), Code::EmptyContent);
    let at_limit = "é".repeat(shared::limits::MESSAGE_CONTENT_MAX_BYTES / 2);
    assert!(parse(&pm(json!({ "content": at_limit })).to_string()).is_ok());
    let over = "a".repeat(shared::limits::MESSAGE_CONTENT_MAX_BYTES + 1);
    assert_eq!(code(&pm(json!({ "content": over }))), Code::TooLarge);
    assert_eq!(code(&pm(json!({"message_type": "gif"}))), Code::InvalidArgument);
    for bad in [json!(""), json!("a\u{0}b"), json!(5), json!("x".repeat(65))] {
        assert_eq!(code(&pm(json!({ "client_msg_id": bad }))), Code::InvalidArgument);
    }
    assert!(parse(&pm(json!({"client_msg_id": "é".repeat(64)})).to_string()).is_ok());
    assert_eq!(code(&json!({"type": "typing"})), Code::MissingField);
    assert_eq!(code(&json!({"type": "typing", "receiver_id": "x"})), Code::InvalidUuid);
    assert_eq!(code(&json!({"type": "read_receipt"})), Code::MissingField);
    assert_eq!(code(&json!({"type": "read_receipt", "message_id": 7})), Code::InvalidJson);
    assert_eq!(code(&json!({"type": "read_receipt", "message_id": "7"})), Code::InvalidUuid);
    assert_eq!(code(&json!({"type": "sync"})), Code::MissingField);
    assert_eq!(code(&json!({"type": "sync", "after": "x"})), Code::InvalidUuid);
    for bad in [json!(-1), json!(1.5), json!("5"), json!(true)] {
        assert_eq!(code(&json!({"type": "sync", "after_seq": bad})), Code::InvalidArgument);
    }
}

#[test]
fn an_error_names_the_frame_type_and_echoes_a_valid_client_msg_id() {
    let e = refused(&json!({"type": "private_message", "client_msg_id": "c-9", "content": "x"}));
    assert_eq!(e.kind, Some(FrameKind::PrivateMessage));
    assert_eq!(e.client_msg_id.as_deref(), Some("c-9"));
    assert_eq!(e.message, "receiver_id is required");
    let e = refused(&json!({"type": "private_message", "client_msg_id": 9}));
    assert_eq!(e.client_msg_id, None);
    assert_eq!(refused(&json!({"type": "sync"})).kind, Some(FrameKind::Sync));
    assert_eq!(refused(&json!({"type": "typing"})).kind, Some(FrameKind::Typing));
}

fn message_types() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        Just(MessageType::Text),
        Just(MessageType::Image),
        Just(MessageType::Video),
        Just(MessageType::Audio),
        Just(MessageType::File),
    ]
}

/// Every valid frame: ids of any value, content of any characters that is not blank.
fn frames() -> impl Strategy<Value = ClientFrame<'static>> {
    let id = any::<u128>().prop_map(Uuid::from_u128);
    let content = ("\\PC{0,40}", "[^\\s]", "\\PC{0,40}").prop_map(|(a, b, c)| a + &b + &c);
    let cmid = proptest::option::of("[^\\x00]{1,64}");
    let message = (id.clone(), content, cmid, message_types()).prop_map(|(r, c, cmid, t)| {
        ClientFrame::PrivateMessage(PrivateMessage {
            receiver_id: r,
            content: Cow::Owned(c),
            client_msg_id: cmid,
            message_type: t,
        })
    });
    prop_oneof![
        Just(ClientFrame::Ping),
        message,
        id.clone().prop_map(|receiver_id| ClientFrame::Typing { receiver_id }),
        id.clone().prop_map(|message_id| ClientFrame::ReadReceipt { message_id }),
        id.prop_map(|m| ClientFrame::Sync(SyncFrom::Message(m))),
        any::<u64>().prop_map(|s| ClientFrame::Sync(SyncFrom::Seq(s))),
    ]
}

/// JSON objects made of the frame's field names with values of any JSON type.
fn near_frames() -> impl Strategy<Value = String> {
    let names = prop_oneof![
        Just("type"),
        Just("receiver_id"),
        Just("content"),
        Just("message_id"),
        Just("client_msg_id"),
        Just("message_type"),
        Just("after"),
        Just("after_seq"),
    ];
    let values = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![Just("ping"), Just("private_message"), Just("typing"), Just("sync")]
            .prop_map(Value::from),
        Just(Value::from(U)),
        "\\PC{0,70}".prop_map(Value::from),
    ];
    proptest::collection::vec((names, values), 0..6).prop_map(|fields| {
        let body: Vec<String> =
            fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_frame_shaped_json_never_panics_and_refusals_are_coded(text in near_frames()) {
        if let Err(e) = parse(&text) {
            prop_assert!(!e.code.wire_name().is_empty() && !e.message.is_empty());
        }
    }

    #[test]
    fn valid_frames_round_trip(frame in frames()) {
        let text = frame.to_json();
        prop_assert_eq!(parse(&text).unwrap(), frame);
    }
}
