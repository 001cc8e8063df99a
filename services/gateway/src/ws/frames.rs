//! The JSON frames of SPEC §2: client frames parsed without copying where
//! possible, server frames rendered once per event.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use shared::{
    ids::{rfc3339, uuid_from},
    proto::{
        chat::v1::{ChatMessage, MessageType, ReadReceipt, StreamEvent, stream_event},
        feed::v1::{FeedEvent, UpdateType},
        gateway::v1::{UserEvent, user_event},
    },
};
use uuid::Uuid;

use crate::registry::{Kind, Outbound};

/// A client frame as received: every field optional so that a missing one
/// gets its own error code.
#[derive(Debug, Deserialize)]
pub struct RawFrame<'a> {
    /// The frame type.
    #[serde(rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// `private_message`, `typing`: the recipient.
    #[serde(borrow, default)]
    pub receiver_id: Option<Cow<'a, str>>,
    /// `private_message`: the text.
    #[serde(borrow, default)]
    pub content: Option<Cow<'a, str>>,
    /// `read_receipt`: the message read.
    #[serde(borrow, default)]
    pub message_id: Option<Cow<'a, str>>,
    /// `private_message`: the sender's idempotency key (string ≤ 64).
    #[serde(default)]
    pub client_msg_id: Option<serde_json::Value>,
    /// `private_message`: text, image, video, audio or file.
    #[serde(borrow, default)]
    pub message_type: Option<Cow<'a, str>>,
    /// `sync`: resume after this message id.
    #[serde(borrow, default)]
    pub after: Option<Cow<'a, str>>,
    /// `sync`: resume after this position of the user's stream (instead of `after`).
    #[serde(default)]
    pub after_seq: Option<serde_json::Value>,
}

/// Renders the wire name of a message type.
pub fn message_type_name(t: i32) -> &'static str {
    match MessageType::try_from(t).unwrap_or(MessageType::Text) {
        MessageType::Text => "text",
        MessageType::Image => "image",
        MessageType::Video => "video",
        MessageType::Audio => "audio",
        MessageType::File => "file",
    }
}

/// Parses a message type name.
pub fn parse_message_type(s: &str) -> Option<MessageType> {
    Some(match s {
        "text" => MessageType::Text,
        "image" => MessageType::Image,
        "video" => MessageType::Video,
        "audio" => MessageType::Audio,
        "file" => MessageType::File,
        _ => return None,
    })
}

/// The `message` object of `private_message` and `message_ack` frames.
#[derive(Serialize)]
pub struct MessageJson<'a> {
    id: Uuid,
    sender_id: Uuid,
    receiver_id: Uuid,
    content: &'a str,
    timestamp: String,
    read: bool,
    message_type: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    undecryptable: bool,
    #[serde(skip_serializing_if = "is_zero")]
    seq: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl<'a> MessageJson<'a> {
    /// Converts a protobuf message.
    pub fn from_proto(m: &'a ChatMessage) -> Self {
        Self {
            id: uuid_from(&m.id).unwrap_or_default(),
            sender_id: uuid_from(&m.sender_id).unwrap_or_default(),
            receiver_id: uuid_from(&m.receiver_id).unwrap_or_default(),
            content: &m.content,
            timestamp: rfc3339(m.timestamp_micros),
            read: m.read,
            message_type: message_type_name(m.message_type),
            undecryptable: m.undecryptable,
            seq: m.seq,
        }
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// `private_message` for a delivered message (at its position in the user's stream).
pub fn private_message(m: &ChatMessage) -> Outbound {
    let id = uuid_from(&m.id).map(|u| u.as_u128());
    let body = json(
        &serde_json::json!({"type": "private_message", "message": MessageJson::from_proto(m)}),
    );
    Outbound::new(body, id, Kind::Event).at(m.seq)
}

/// `message_ack` to the sender once the message is durable.
pub fn message_ack(client_msg_id: Option<&str>, m: &ChatMessage, duplicate: bool) -> Outbound {
    let id = uuid_from(&m.id).map(|u| u.as_u128());
    let mut v = serde_json::json!({
        "type": "message_ack",
        "client_msg_id": client_msg_id,
        "message": MessageJson::from_proto(m),
    });
    if duplicate {
        v["duplicate"] = serde_json::Value::Bool(true);
    }
    Outbound::new(json(&v), id, Kind::Reply)
}

/// `error` with a machine-readable code (and the `client_msg_id` it concerns, if any).
pub fn error(code: &str, message: &str, client_msg_id: Option<&str>) -> Outbound {
    let mut v = serde_json::json!({"type": "error", "code": code, "message": message});
    if let Some(c) = client_msg_id {
        v["client_msg_id"] = serde_json::Value::from(c);
    }
    Outbound::new(json(&v), None, Kind::Event)
}

/// `pong`.
pub fn pong() -> Outbound {
    Outbound::new(br#"{"type":"pong"}"#.to_vec(), None, Kind::Event)
}

fn update_type_name(t: i32) -> &'static str {
    match UpdateType::try_from(t).unwrap_or(UpdateType::Unspecified) {
        UpdateType::Newpost | UpdateType::Unspecified => "newpost",
        UpdateType::Newlike => "newlike",
        UpdateType::Newcomment => "newcomment",
        UpdateType::Postdeleted => "postdeleted",
    }
}

fn feed_update(e: &FeedEvent) -> Vec<u8> {
    json(&serde_json::json!({
        "type": "feed_update",
        "update": {
            "post_id": uuid_from(&e.post_id).unwrap_or_default(),
            "user_id": uuid_from(&e.user_id).unwrap_or_default(),
            "update_type": update_type_name(e.update_type),
            "timestamp": rfc3339(e.timestamp_micros),
            "likes_count": e.likes_count,
            "comments_count": e.comments_count,
        }
    }))
}

/// `read_receipt` (at its position in the user's stream).
pub fn read_receipt(r: &ReadReceipt) -> Outbound {
    let mut v = serde_json::json!({
        "type": "read_receipt",
        "message_id": uuid_from(&r.message_id).unwrap_or_default(),
        "reader_id": uuid_from(&r.reader_id).unwrap_or_default(),
        "read_at": rfc3339(r.read_at_micros),
    });
    if r.seq > 0 {
        v["seq"] = serde_json::Value::from(r.seq);
    }
    let id = uuid_from(&r.message_id).map(|u| u.as_u128());
    Outbound::new(json(&v), id, Kind::Receipt).at(r.seq)
}

/// Renders one event of a stream page.
pub fn stream_event(e: &StreamEvent) -> Option<Outbound> {
    Some(match e.event.as_ref()? {
        stream_event::Event::Message(m) => private_message(m),
        stream_event::Event::Receipt(r) => read_receipt(r),
    })
}

/// Renders an event for a user into its frame (once, shared by all their connections).
pub fn render(event: &UserEvent) -> Option<Outbound> {
    Some(match event.event.as_ref()? {
        user_event::Event::PrivateMessage(m) => private_message(m),
        user_event::Event::Typing(t) => Outbound::new(
            json(&serde_json::json!({"type": "typing", "user_id": uuid_from(&t.user_id)?})),
            None,
            Kind::Typing,
        ),
        user_event::Event::ReadReceipt(r) => read_receipt(r),
        user_event::Event::UserStatus(s) => Outbound::new(
            json(&serde_json::json!({
                "type": "user_status", "user_id": uuid_from(&s.user_id)?, "online": s.online
            })),
            None,
            Kind::Event,
        ),
        user_event::Event::FeedUpdate(e) => Outbound::new(feed_update(e), None, Kind::Event),
    })
}
