//! The `message` object: a chat message as the WebSocket frames and the
//! REST API show it.
use serde::Serialize;
use shared::{
    ids::{rfc3339, uuid_from},
    proto::chat::v1::{ChatMessage, MessageType},
};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// A chat message (the `message` object of the WebSocket frames and of the
/// chat routes; schemathesis checks every response against its schema).
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageJson<'a> {
    id: Uuid,
    sender_id: Uuid,
    receiver_id: Uuid,
    /// The plain text (empty when `undecryptable`).
    content: &'a str,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    timestamp: String,
    read: bool,
    #[schema(value_type = MessageKind)]
    message_type: &'static str,
    /// Present (true) when the stored form could not be decrypted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(value_type = Option<bool>, required = false, nullable = false)]
    undecryptable: bool,
    /// Its position in the caller's stream.
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(value_type = Option<u64>, required = false, nullable = false)]
    seq: u64,
}

/// A chat message's type.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MessageKind {
    /// Text.
    Text,
    /// An image.
    Image,
    /// A video.
    Video,
    /// Audio.
    Audio,
    /// A file.
    File,
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
