//! Client frames: parsing, validation, rate limiting, and what each frame
//! type does (sends queue for the connection's next batch, receipts go to
//! chat-persistence as in-flight work, `sync` fetches the stream, typing is
//! published straight to the receiver's subject).
use actix_ws::CloseCode;
use futures_util::stream::FuturesOrdered;
use shared::{
    ids::{micros, new_id, uuid_bytes},
    proto::{
        chat::v1::{ReadReply, ReadRequest, SendRequest, read_reply},
        common::v1::ErrorReply,
        gateway::v1::{Typing, UserEvent, user_event},
    },
    subjects,
};
use uuid::Uuid;

use super::{
    catchup::Start,
    connection::{Conn, Flow, MAX_CONTENT_BYTES, MAX_RATE_STRIKES, MAX_SIZE_STRIKES, Work, close},
    frames,
    sends::Queued,
};
use crate::registry::Outbound;

impl Conn {
    pub(super) async fn on_text(
        &mut self,
        text: &str,
        in_flight: &mut FuturesOrdered<Work>,
    ) -> Flow {
        if text.len() > self.state.settings.max_frame_bytes {
            self.size_strikes += 1;
            if self.size_strikes >= MAX_SIZE_STRIKES {
                let _ = self
                    .write(&frames::error(
                        "too_large",
                        "frames keep exceeding the size limit",
                        None,
                    ))
                    .await;
                return close(CloseCode::Size, "frame too large");
            }
            return self
                .reply(frames::error("too_large", "frame exceeds the size limit", None))
                .await;
        }
        self.size_strikes = 0;
        let frame: frames::RawFrame<'_> = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(_) => {
                return self
                    .reply(frames::error("invalid_json", "frame is not a JSON object", None))
                    .await;
            }
        };
        let Some(kind) = frame.kind.as_deref() else {
            return self.reply(frames::error("missing_field", "type is required", None)).await;
        };
        if kind == "ping" {
            return self.reply(frames::pong()).await;
        }
        if !matches!(kind, "private_message" | "typing" | "read_receipt" | "sync") {
            return self
                .reply(frames::error("unknown_type", &format!("unknown type {kind:?}"), None))
                .await;
        }
        let actions = &self.state.actions;
        let action = match kind {
            "private_message" => &actions.sends,
            "typing" => &actions.typing,
            "read_receipt" => &actions.receipts,
            _ => &actions.syncs,
        };
        // The frame budget first, then the action's own limit.
        if self.state.limiter.check_key(&self.user).is_err()
            || action.check_key(&self.user).is_err()
        {
            self.rate_strikes += 1;
            metrics::counter!("gateway_rate_limited_total").increment(1);
            if self.rate_strikes >= MAX_RATE_STRIKES {
                let _ = self
                    .write(&frames::error("rate_limited", "rate limit exceeded repeatedly", None))
                    .await;
                return close(CloseCode::Policy, "rate limit exceeded");
            }
            let cmid = match &frame.client_msg_id {
                Some(serde_json::Value::String(c)) => Some(c.as_str()),
                _ => None,
            };
            return self
                .reply(frames::error("rate_limited", "slow down: frame dropped", cmid))
                .await;
        }
        self.rate_strikes = 0;
        match kind {
            "private_message" => self.on_private_message(frame).await,
            "typing" => self.on_typing(frame).await,
            "read_receipt" => self.on_read_receipt(frame, in_flight).await,
            _ => self.on_sync(frame).await,
        }
    }

    async fn on_private_message(&mut self, f: frames::RawFrame<'_>) -> Flow {
        let cmid = match &f.client_msg_id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s))
                if !s.is_empty() && s.chars().count() <= 64 && !s.contains('\0') =>
            {
                Some(s.clone())
            }
            Some(_) => {
                return self
                    .reply(frames::error(
                        "invalid_argument",
                        "client_msg_id must be a string of 1 to 64 characters, without NUL",
                        None,
                    ))
                    .await;
            }
        };
        let c = cmid.as_deref();
        let receiver = match f.receiver_id.as_deref().map(Uuid::parse_str) {
            None => {
                return self
                    .reply(frames::error("missing_field", "receiver_id is required", c))
                    .await;
            }
            Some(Err(_)) => {
                return self
                    .reply(frames::error("invalid_uuid", "receiver_id must be a UUID", c))
                    .await;
            }
            Some(Ok(r)) => r,
        };
        let Some(content) = f.content.as_deref() else {
            return self.reply(frames::error("missing_field", "content is required", c)).await;
        };
        if content.trim().is_empty() {
            return self
                .reply(frames::error("empty_content", "content must not be empty", c))
                .await;
        }
        if content.len() > MAX_CONTENT_BYTES {
            return self.reply(frames::error("too_large", "content exceeds 16 KiB", c)).await;
        }
        let message_type = match f.message_type.as_deref() {
            None => shared::proto::chat::v1::MessageType::Text,
            Some(t) => match frames::parse_message_type(t) {
                Some(t) => t,
                None => {
                    return self
                        .reply(frames::error(
                            "invalid_argument",
                            "message_type must be text, image, video, audio or file",
                            c,
                        ))
                        .await;
                }
            },
        };
        if receiver == self.user {
            return self
                .reply(frames::error("invalid_argument", "cannot send a message to yourself", c))
                .await;
        }
        let id = new_id();
        // The echo of this message to the user's devices is not written back here.
        self.cursor.own(id.as_u128());
        let req = SendRequest {
            id: uuid_bytes(id),
            sender_id: uuid_bytes(self.user),
            receiver_id: uuid_bytes(receiver),
            content: content.to_owned(),
            client_msg_id: cmid.clone().unwrap_or_default(),
            message_type: message_type as i32,
            timestamp_micros: micros(chrono::Utc::now()),
        };
        metrics::counter!("gateway_messages_in_total").increment(1);
        self.sends.push(&self.state, Queued { req, client_msg_id: cmid });
        Flow::Continue
    }

    async fn on_typing(&mut self, f: frames::RawFrame<'_>) -> Flow {
        let receiver = match f.receiver_id.as_deref().map(Uuid::parse_str) {
            None => {
                return self
                    .reply(frames::error("missing_field", "receiver_id is required", None))
                    .await;
            }
            Some(Err(_)) => {
                return self
                    .reply(frames::error("invalid_uuid", "receiver_id must be a UUID", None))
                    .await;
            }
            Some(Ok(r)) => r,
        };
        let event = UserEvent {
            event: Some(user_event::Event::Typing(Typing { user_id: uuid_bytes(self.user) })),
        };
        // Boxed (a publish is a large future; typing is not the hot path).
        Box::pin(shared::nats::publish(
            &self.state.nats,
            self.state.subjects.deliver(receiver),
            &event,
        ))
        .await;
        Flow::Continue
    }

    async fn on_read_receipt(
        &mut self,
        f: frames::RawFrame<'_>,
        in_flight: &mut FuturesOrdered<Work>,
    ) -> Flow {
        let message = match f.message_id.as_deref().map(Uuid::parse_str) {
            None => {
                return self
                    .reply(frames::error("missing_field", "message_id is required", None))
                    .await;
            }
            Some(Err(_)) => {
                return self
                    .reply(frames::error("invalid_uuid", "message_id must be a UUID", None))
                    .await;
            }
            Some(Ok(m)) => m,
        };
        // The receipt comes back in this user's stream for their other devices.
        self.cursor.reading(message.as_u128());
        let req = ReadRequest { reader_id: uuid_bytes(self.user), message_id: uuid_bytes(message) };
        let state = self.state.clone();
        in_flight.push_back(Box::pin(async move {
            let reply: Result<ReadReply, _> =
                shared::nats::request(&state.nats, state.subjects.get(subjects::CHAT_READ), &req)
                    .await;
            match reply {
                Ok(ReadReply { result: Some(read_reply::Result::Receipt(_)) }) => vec![],
                Ok(ReadReply { result: Some(read_reply::Result::Error(e)) }) => {
                    vec![remote_error(&e, None)]
                }
                _ => vec![frames::error("unavailable", "read receipt not stored; retry", None)],
            }
        }));
        Flow::Continue
    }

    async fn on_sync(&mut self, f: frames::RawFrame<'_>) -> Flow {
        let start = match (f.after.as_deref(), &f.after_seq) {
            (_, Some(serde_json::Value::Number(n))) => match n.as_u64() {
                Some(seq) => Start::Seq(seq),
                None => {
                    return self
                        .reply(frames::error(
                            "invalid_argument",
                            "after_seq must be a position (a non-negative integer)",
                            None,
                        ))
                        .await;
                }
            },
            (_, Some(_)) => {
                return self
                    .reply(frames::error(
                        "invalid_argument",
                        "after_seq must be a position (a non-negative integer)",
                        None,
                    ))
                    .await;
            }
            (None, None) => {
                return self
                    .reply(frames::error("missing_field", "after or after_seq is required", None))
                    .await;
            }
            (Some(after), None) => match Uuid::parse_str(after) {
                Ok(id) => Start::Message(id),
                Err(_) => {
                    return self
                        .reply(frames::error("invalid_uuid", "after must be a message id", None))
                        .await;
                }
            },
        };
        if self.sync(start).await { Flow::Continue } else { close(CloseCode::Away, "") }
    }
}

fn remote_error(e: &ErrorReply, client_msg_id: Option<&str>) -> Outbound {
    frames::error(e.error_code().wire_name(), &e.message, client_msg_id)
}
