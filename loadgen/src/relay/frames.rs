//! The relay's frames: parse one client frame, route it, render what goes out.
use std::borrow::Cow;

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{Registry, Tx, User};

/// Frames kept for a user with no connection (then dropped, oldest first).
const PENDING_MAX: usize = 4096;

#[derive(Deserialize)]
struct In<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    receiver_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_msg_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_type: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Msg<'a> {
    id: Uuid,
    sender_id: Uuid,
    receiver_id: Uuid,
    content: &'a str,
    timestamp: &'a str,
    read: bool,
    message_type: &'a str,
    seq: u64,
}

#[derive(Serialize)]
struct Update<'a> {
    post_id: Uuid,
    user_id: Uuid,
    update_type: &'a str,
    timestamp: &'a str,
    likes_count: u64,
    comments_count: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    MessageAck {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
        message: Msg<'a>,
    },
    PrivateMessage {
        message: Msg<'a>,
    },
    FeedUpdate {
        update: Update<'a>,
    },
    PostAck {
        post_id: Uuid,
    },
    Typing {
        user_id: Uuid,
    },
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
}

fn frame(out: &Out<'_>) -> Message {
    match serde_json::to_string(out) {
        Ok(s) => Message::text(s),
        Err(_) => Message::text(r#"{"type":"error","code":"internal","message":"serialise"}"#),
    }
}

pub(super) fn error(tx: &Tx, code: &str, message: &str, client_msg_id: Option<&str>) {
    let _ = tx.send(frame(&Out::Error { code, message, client_msg_id }));
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sends `m` to every connection of `user` but `except`; a user with no
/// connection keeps it until one connects.
fn to_user(user: &mut User, m: &Message, except: u64) {
    if user.conns.is_empty() {
        if user.pending.len() >= PENDING_MAX {
            user.pending.pop_front();
        }
        user.pending.push_back(m.clone());
        return;
    }
    for (id, tx) in &user.conns {
        if *id != except {
            let _ = tx.send(m.clone());
        }
    }
}

fn private_message(reg: &Registry, me: Uuid, conn: u64, tx: &Tx, f: &In<'_>) {
    let cid = f.client_msg_id.as_deref();
    let Some(to) = f.receiver_id.as_deref() else {
        return error(tx, "missing_field", "receiver_id is required", cid);
    };
    let Ok(to) = Uuid::parse_str(to) else {
        return error(tx, "invalid_uuid", "receiver_id must be a UUID", cid);
    };
    let content = f.content.as_deref().unwrap_or_default();
    if content.trim().is_empty() {
        return error(tx, "empty_content", "content is empty", cid);
    }
    if to == me {
        return error(tx, "invalid_argument", "messages to yourself are refused", cid);
    }
    let id = Uuid::now_v7();
    let timestamp = now();
    let message_type = f.message_type.as_deref().unwrap_or("text");
    let msg = |seq| Msg {
        id,
        sender_id: me,
        receiver_id: to,
        content,
        timestamp: &timestamp,
        read: false,
        message_type,
        seq,
    };
    let mut users = reg.lock();
    let r = users.entry(to).or_default();
    r.seq += 1;
    to_user(r, &frame(&Out::PrivateMessage { message: msg(r.seq) }), u64::MAX);
    if let Some(s) = users.get_mut(&me) {
        s.seq += 1;
        let seq = s.seq;
        if s.conns.len() > 1 {
            to_user(s, &frame(&Out::PrivateMessage { message: msg(seq) }), conn);
        }
        let _ = tx.send(frame(&Out::MessageAck { client_msg_id: cid, message: msg(seq) }));
    }
}

/// `post`: one `feed_update` (rendered once) to every connection of every
/// other user (the relay has no follow graph: in the fan-out scenario the
/// only other users connected are the followers), then `post_ack`.
fn post(reg: &Registry, me: Uuid, tx: &Tx) {
    let post_id = Uuid::now_v7();
    let timestamp = now();
    let update = Update {
        post_id,
        user_id: me,
        update_type: "newpost",
        timestamp: &timestamp,
        likes_count: 0,
        comments_count: 0,
    };
    let m = frame(&Out::FeedUpdate { update });
    for (user, u) in reg.lock().iter() {
        if *user != me {
            for (_, c) in &u.conns {
                let _ = c.send(m.clone());
            }
        }
    }
    let _ = tx.send(frame(&Out::PostAck { post_id }));
}

/// Handles one client frame.
pub(super) fn handle(reg: &Registry, me: Uuid, conn: u64, tx: &Tx, text: &str) {
    let Ok(f) = serde_json::from_str::<In<'_>>(text) else {
        return error(tx, "invalid_json", "not a JSON object with a type", None);
    };
    match f.ty.as_ref() {
        "private_message" => private_message(reg, me, conn, tx, &f),
        "ping" => {
            let _ = tx.send(frame(&Out::Pong));
        }
        "typing" => {
            if let Some(to) = f.receiver_id.as_deref().and_then(|s| Uuid::parse_str(s).ok())
                && let Some(r) = reg.lock().get_mut(&to)
                && !r.conns.is_empty()
            {
                to_user(r, &frame(&Out::Typing { user_id: me }), u64::MAX);
            }
        }
        "post" => post(reg, me, tx),
        // What was pending went out on connect, and nothing else is kept.
        "sync" => {}
        _ => error(tx, "unknown_type", "the bare relay does not implement this type", None),
    }
}
