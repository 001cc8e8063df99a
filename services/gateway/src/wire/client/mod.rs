//! Client frames (SPEC §2): [`parse`] turns the text of one frame into a
//! checked [`ClientFrame`] or the [`FrameError`] the client is answered
//! with. It is a pure function of the text: what depends on the
//! connection (the frame size limit, rate limits, a message to oneself) is
//! checked by the connection.
use std::borrow::Cow;

use serde::Deserialize;
use shared::{
    limits::{self, MessageContentError},
    proto::chat::v1::MessageType,
};
use uuid::Uuid;

pub use error::{Code, FrameError};

use super::message::message_type_name;

mod error;

/// A checked client frame; text fields borrow from the frame where they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// `{"type":"ping"}`: answered with `pong`.
    Ping,
    /// A message to send.
    PrivateMessage(PrivateMessage<'a>),
    /// The user is typing to `receiver_id`.
    Typing {
        /// Who is told.
        receiver_id: Uuid,
    },
    /// The user read a message.
    ReadReceipt {
        /// The message read.
        message_id: Uuid,
    },
    /// The user asks for their stream after a point.
    Sync(SyncFrom),
}

/// A `private_message` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMessage<'a> {
    /// The recipient.
    pub receiver_id: Uuid,
    /// The text: not blank, at most [`limits::MESSAGE_CONTENT_MAX_BYTES`].
    pub content: Cow<'a, str>,
    /// The sender's idempotency key: 1 to 64 characters, no NUL.
    pub client_msg_id: Option<String>,
    /// Text unless the frame says otherwise.
    pub message_type: MessageType,
}

/// Where a `sync` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFrom {
    /// After this message (`after`).
    Message(Uuid),
    /// After this position of the user's stream (`after_seq`).
    Seq(u64),
}

/// A frame's type, as far as it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `ping`.
    Ping,
    /// `private_message`.
    PrivateMessage,
    /// `typing`.
    Typing,
    /// `read_receipt`.
    ReadReceipt,
    /// `sync`.
    Sync,
}

impl ClientFrame<'_> {
    /// The frame's type.
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Ping => FrameKind::Ping,
            Self::PrivateMessage(_) => FrameKind::PrivateMessage,
            Self::Typing { .. } => FrameKind::Typing,
            Self::ReadReceipt { .. } => FrameKind::ReadReceipt,
            Self::Sync(_) => FrameKind::Sync,
        }
    }

    /// Renders the frame as a client sends it (`parse` reads it back as it was).
    pub fn to_json(&self) -> String {
        let value = match self {
            Self::Ping => serde_json::json!({"type": "ping"}),
            Self::PrivateMessage(m) => serde_json::json!({
                "type": "private_message",
                "receiver_id": m.receiver_id,
                "content": m.content,
                "client_msg_id": m.client_msg_id,
                "message_type": message_type_name(m.message_type as i32),
            }),
            Self::Typing { receiver_id } => {
                serde_json::json!({"type": "typing", "receiver_id": receiver_id})
            }
            Self::ReadReceipt { message_id } => {
                serde_json::json!({"type": "read_receipt", "message_id": message_id})
            }
            Self::Sync(SyncFrom::Message(after)) => {
                serde_json::json!({"type": "sync", "after": after})
            }
            Self::Sync(SyncFrom::Seq(seq)) => serde_json::json!({"type": "sync", "after_seq": seq}),
        };
        value.to_string()
    }
}

/// A client frame as received: every field optional so that a missing one
/// gets its own error code.
#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    receiver_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message_id: Option<Cow<'a, str>>,
    #[serde(default)]
    client_msg_id: Option<serde_json::Value>,
    #[serde(borrow, default)]
    message_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    after: Option<Cow<'a, str>>,
    #[serde(default)]
    after_seq: Option<serde_json::Value>,
}

/// Parses and checks one client frame.
pub fn parse(text: &str) -> Result<ClientFrame<'_>, FrameError> {
    let Ok(raw) = serde_json::from_str::<RawFrame<'_>>(text) else {
        return Err(FrameError::new(None, Code::InvalidJson, "frame is not a JSON object"));
    };
    let Some(kind) = raw.kind.as_deref() else {
        return Err(FrameError::new(None, Code::MissingField, "type is required"));
    };
    match kind {
        "ping" => Ok(ClientFrame::Ping),
        "private_message" => private_message(raw).map(ClientFrame::PrivateMessage),
        "typing" => {
            let receiver_id = id(raw.receiver_id, FrameKind::Typing, RECEIVER, None)?;
            Ok(ClientFrame::Typing { receiver_id })
        }
        "read_receipt" => {
            let message_id = id(raw.message_id, FrameKind::ReadReceipt, MESSAGE, None)?;
            Ok(ClientFrame::ReadReceipt { message_id })
        }
        "sync" => sync(&raw).map(ClientFrame::Sync),
        other => Err(FrameError {
            message: Cow::Owned(format!("unknown type {other:?}")),
            ..FrameError::new(None, Code::UnknownType, "")
        }),
    }
}

/// Parses a message type name.
fn parse_message_type(s: &str) -> Option<MessageType> {
    Some(match s {
        "text" => MessageType::Text,
        "image" => MessageType::Image,
        "video" => MessageType::Video,
        "audio" => MessageType::Audio,
        "file" => MessageType::File,
        _ => return None,
    })
}

/// An id field's messages: when absent, when not a UUID.
struct IdField(&'static str, &'static str);

const RECEIVER: IdField = IdField("receiver_id is required", "receiver_id must be a UUID");
const MESSAGE: IdField = IdField("message_id is required", "message_id must be a UUID");

fn id(
    value: Option<Cow<'_, str>>,
    kind: FrameKind,
    field: IdField,
    client_msg_id: Option<&str>,
) -> Result<Uuid, FrameError> {
    let kind = Some(kind);
    let value = value
        .ok_or_else(|| FrameError::new(kind, Code::MissingField, field.0).about(client_msg_id))?;
    Uuid::parse_str(&value)
        .map_err(|_| FrameError::new(kind, Code::InvalidUuid, field.1).about(client_msg_id))
}

fn private_message(raw: RawFrame<'_>) -> Result<PrivateMessage<'_>, FrameError> {
    let kind = Some(FrameKind::PrivateMessage);
    let client_msg_id = match raw.client_msg_id {
        None => None,
        Some(serde_json::Value::String(s)) if limits::client_msg_id_ok(&s) => Some(s),
        Some(_) => {
            return Err(FrameError::new(
                kind,
                Code::InvalidArgument,
                "client_msg_id must be a string of 1 to 64 characters, without NUL",
            ));
        }
    };
    let c = client_msg_id.as_deref();
    let receiver_id = id(raw.receiver_id, FrameKind::PrivateMessage, RECEIVER, c)?;
    let refuse = |code, message| Err(FrameError::new(kind, code, message).about(c));
    let Some(content) = raw.content else {
        return refuse(Code::MissingField, "content is required");
    };
    match limits::message_content_ok(&content) {
        Ok(()) => {}
        Err(MessageContentError::Empty) => {
            return refuse(Code::EmptyContent, "content must not be empty");
        }
        Err(MessageContentError::TooLarge) => {
            return refuse(Code::TooLarge, "content exceeds 16 KiB");
        }
    }
    let message_type = match raw.message_type.as_deref().map(parse_message_type) {
        None => MessageType::Text,
        Some(Some(t)) => t,
        Some(None) => {
            return refuse(
                Code::InvalidArgument,
                "message_type must be text, image, video, audio or file",
            );
        }
    };
    Ok(PrivateMessage { receiver_id, content, client_msg_id, message_type })
}

fn sync(raw: &RawFrame<'_>) -> Result<SyncFrom, FrameError> {
    let refuse = |code, message| Err(FrameError::new(Some(FrameKind::Sync), code, message));
    match (raw.after.as_deref(), &raw.after_seq) {
        (_, Some(seq)) => match seq.as_u64() {
            Some(seq) => Ok(SyncFrom::Seq(seq)),
            None => refuse(
                Code::InvalidArgument,
                "after_seq must be a position (a non-negative integer)",
            ),
        },
        (None, None) => refuse(Code::MissingField, "after or after_seq is required"),
        (Some(after), None) => match Uuid::parse_str(after) {
            Ok(id) => Ok(SyncFrom::Message(id)),
            Err(_) => refuse(Code::InvalidUuid, "after must be a message id"),
        },
    }
}

#[cfg(test)]
mod tests;
