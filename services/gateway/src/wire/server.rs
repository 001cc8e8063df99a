//! Server frames (SPEC §2), each rendered once per event into an
//! [`Outbound`] that every connection it goes to shares.
use serde::Serialize;
use shared::{
    ids::{rfc3339, uuid_from},
    proto::{
        chat::v1::{ChatMessage, ReadReceipt, StreamEvent, stream_event},
        feed::v1::{FeedEvent, UpdateType},
        gateway::v1::{UserEvent, user_event},
    },
};

use super::{
    client::FrameError,
    message::MessageJson,
    outbound::{Kind, Outbound},
};

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

/// `error` answering a refused client frame.
pub fn frame_error(e: &FrameError) -> Outbound {
    error(e.code.wire_name(), &e.message, e.client_msg_id.as_deref())
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
