//! One WebSocket connection: the pending drain on connect, then a loop over
//! client frames, the outbound queue, in-flight sends, protocol pings, queue
//! overflow and the gateway's drain signal.
use std::{
    collections::{HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Instant,
};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use futures_util::{StreamExt, stream::FuturesOrdered};
use shared::{
    ids::{micros, new_id, uuid_bytes, uuid_from},
    proto::{
        chat::v1::{
            DeliveredNotice, MessagesReply, PendingRequest, ReadReply, ReadRequest, SendReply,
            SendRequest, SyncRequest, messages_reply, read_reply, send_reply,
        },
        common::v1::ErrorReply,
        gateway::v1::{Typing, UserEvent, user_event},
    },
    subjects,
};
use uuid::Uuid;

use crate::{
    presence,
    registry::{Kind, Outbound, Registration},
    state::AppState,
    ws::{delivery, frames},
};

/// Most sends, read receipts and syncs in flight per connection; past it the
/// connection stops reading (back-pressure on the client).
const MAX_IN_FLIGHT: usize = 32;
/// Recently written message ids remembered per connection (de-duplication).
const SEEN: usize = 128;
/// Longest accepted message content, in bytes.
const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Consecutive oversized frames before closing with 1009.
const MAX_SIZE_STRIKES: u32 = 3;
/// Consecutive rate-limited frames before closing with 1008.
const MAX_RATE_STRIKES: u32 = 20;
/// Pending messages asked for per request on connect (replies are also cut to fit NATS).
const PENDING_PAGE: u32 = 500;
/// The most pending messages written on connect (the rest come with `sync`).
const PENDING_MAX: usize = 10_000;

type Work = Pin<Box<dyn Future<Output = Vec<Outbound>>>>;

struct Conn {
    state: Arc<AppState>,
    user: Uuid,
    session: Session,
    seen: VecDeque<u128>,
    drained: Option<HashSet<u128>>,
    size_strikes: u32,
    rate_strikes: u32,
}

enum Flow {
    Continue,
    Close(CloseReason),
}

fn close(code: CloseCode, description: &str) -> Flow {
    Flow::Close(CloseReason { code, description: Some(description.to_owned()) })
}

/// Runs a connection until it closes.
pub async fn run(
    state: Arc<AppState>,
    user: Uuid,
    session: Session,
    mut stream: AggregatedMessageStream,
) {
    let Registration { handle, mut rx, overflow, subscription, .. } = state.registry.register(user);
    let mut conn = Conn {
        state: state.clone(),
        user,
        session,
        seen: VecDeque::with_capacity(16),
        drained: None,
        size_strikes: 0,
        rate_strikes: 0,
    };
    let subscribed = {
        let mut guard = subscription.lock().await;
        if guard.is_none() {
            match delivery::subscribe(&state, user).await {
                Ok(task) => {
                    *guard = Some(task);
                    true
                }
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "failed to subscribe a user's events");
                    false
                }
            }
        } else {
            true
        }
    };
    let reason = if subscribed {
        presence::connection_opened(&state, user, &handle).await;
        conn.drain_pending().await;
        conn.serve(&mut stream, &mut rx, &overflow).await
    } else {
        Some(CloseReason { code: CloseCode::Again, description: Some("try again later".into()) })
    };
    tracing::debug!(%user, reason = ?reason, "connection closed");
    let last = state.registry.unregister(user, handle.id);
    presence::connection_closed(&state, user, last).await;
    let _ = conn.session.close(reason).await;
}

impl Conn {
    async fn write(&mut self, out: &Outbound) -> bool {
        if let Some(id) = out.message_id {
            let seen =
                self.seen.contains(&id) || self.drained.as_ref().is_some_and(|d| d.contains(&id));
            if seen && out.kind != Kind::Reply {
                return true;
            }
            if !seen {
                self.remember(id);
            }
        }
        metrics::counter!("gateway_frames_out_total").increment(1);
        self.session.text(out.frame.clone()).await.is_ok()
    }

    fn remember(&mut self, id: u128) {
        if self.seen.len() == SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
    }

    /// Writes the user's pending messages (oldest first), page by page, and
    /// confirms each page once written.
    async fn drain_pending(&mut self) {
        let mut drained = HashSet::new();
        let mut after = bytes::Bytes::new();
        while drained.len() < PENDING_MAX {
            let req = PendingRequest { user_id: uuid_bytes(self.user), limit: PENDING_PAGE, after };
            let subject = self.state.subjects.get(subjects::CHAT_PENDING);
            let reply: Result<MessagesReply, _> =
                shared::nats::request(&self.state.nats, subject, &req).await;
            let list = match reply {
                Ok(MessagesReply { result: Some(messages_reply::Result::Messages(list)) }) => list,
                other => {
                    // They stay pending: the next connect (or `sync`) brings them.
                    tracing::debug!(reply = ?other.err(), "pending drain unavailable");
                    break;
                }
            };
            let Some(last) = list.messages.last().map(|m| m.id.clone()) else { break };
            let mut ids = Vec::with_capacity(list.messages.len());
            for m in &list.messages {
                if !self.write(&frames::private_message(m)).await {
                    return;
                }
                if let Some(id) = uuid_from(&m.id) {
                    drained.insert(id.as_u128());
                }
                ids.push(m.id.clone());
            }
            let notice = DeliveredNotice { user_id: uuid_bytes(self.user), message_ids: ids };
            let subject = self.state.subjects.get(subjects::CHAT_DELIVERED);
            shared::nats::publish(&self.state.nats, subject, &notice).await;
            after = last;
        }
        if !drained.is_empty() {
            self.drained = Some(drained);
        }
    }

    async fn serve(
        &mut self,
        stream: &mut AggregatedMessageStream,
        rx: &mut tokio::sync::mpsc::Receiver<Outbound>,
        overflow: &crate::registry::Overflow,
    ) -> Option<CloseReason> {
        let mut draining = self.state.draining.clone();
        let mut in_flight: FuturesOrdered<Work> = FuturesOrdered::new();
        let mut ping = tokio::time::interval(self.state.settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();
        let idle = self.state.settings.idle_timeout;
        loop {
            tokio::select! {
                biased;
                _ = draining.wait_for(|d| *d) => {
                    // Finish what the client sent before telling it to reconnect elsewhere.
                    while let Some(outs) = in_flight.next().await {
                        for out in &outs {
                            self.write(out).await;
                        }
                    }
                    while let Ok(out) = rx.try_recv() {
                        self.write(&out).await;
                    }
                    return Some(CloseReason {
                        code: CloseCode::Restart,
                        description: Some("gateway restarting, reconnect".into()),
                    });
                }
                () = overflow.wait() => {
                    return Some(CloseReason {
                        code: CloseCode::Again,
                        description: Some("too slow; reconnect and sync".into()),
                    });
                }
                Some(outs) = in_flight.next(), if !in_flight.is_empty() => {
                    for out in &outs {
                        if !self.write(out).await {
                            return None;
                        }
                    }
                }
                out = rx.recv() => {
                    let out = out?;
                    if !self.write(&out).await {
                        return None;
                    }
                    if rx.is_empty() {
                        self.drained = None;
                    }
                }
                frame = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                    last_heard = Instant::now();
                    let flow = match frame {
                        None => return None,
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            metrics::counter!("gateway_frames_in_total").increment(1);
                            self.on_text(&text, &mut in_flight).await
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            self.reply(frames::error("invalid_json", "binary frames are not supported; send JSON text", None)).await
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() { return None }
                            Flow::Continue
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => Flow::Continue,
                        Some(Ok(AggregatedMessage::Close(_))) => return None,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "websocket protocol error");
                            return Some(protocol_close(&e));
                        }
                    };
                    if let Flow::Close(reason) = flow {
                        return Some(reason);
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        return Some(CloseReason { code: CloseCode::Normal, description: Some("idle timeout".into()) });
                    }
                    if self.session.ping(b"").await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    async fn reply(&mut self, out: Outbound) -> Flow {
        if self.write(&out).await { Flow::Continue } else { close(CloseCode::Away, "") }
    }

    async fn on_text(&mut self, text: &str, in_flight: &mut FuturesOrdered<Work>) -> Flow {
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
        if self.state.limiter.check_key(&self.user).is_err() {
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
            "private_message" => self.on_private_message(frame, in_flight).await,
            "typing" => self.on_typing(frame).await,
            "read_receipt" => self.on_read_receipt(frame, in_flight).await,
            _ => self.on_sync(frame, in_flight).await,
        }
    }

    async fn on_private_message(
        &mut self,
        f: frames::RawFrame<'_>,
        in_flight: &mut FuturesOrdered<Work>,
    ) -> Flow {
        let cmid = match &f.client_msg_id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if !s.is_empty() && s.chars().count() <= 64 => {
                Some(s.clone())
            }
            Some(_) => {
                return self
                    .reply(frames::error(
                        "invalid_argument",
                        "client_msg_id must be a string of 1 to 64 characters",
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
        // The echo of this message to the sender's devices must not come back here.
        self.remember(id.as_u128());
        let req = SendRequest {
            id: uuid_bytes(id),
            sender_id: uuid_bytes(self.user),
            receiver_id: uuid_bytes(receiver),
            content: content.to_owned(),
            client_msg_id: cmid.clone().unwrap_or_default(),
            message_type: message_type as i32,
            timestamp_micros: micros(chrono::Utc::now()),
        };
        let state = self.state.clone();
        metrics::counter!("gateway_messages_in_total").increment(1);
        in_flight.push_back(Box::pin(async move {
            let started = Instant::now();
            let reply: Result<SendReply, _> =
                shared::nats::request(&state.nats, state.subjects.get(subjects::CHAT_SEND), &req)
                    .await;
            metrics::histogram!("gateway_send_seconds").record(started.elapsed().as_secs_f64());
            let c = cmid.as_deref();
            vec![match reply {
                Ok(SendReply { result: Some(send_reply::Result::Message(m)), duplicate }) => {
                    frames::message_ack(c, &m, duplicate)
                }
                Ok(SendReply { result: Some(send_reply::Result::Error(e)), .. }) => {
                    remote_error(&e, c)
                }
                Ok(SendReply { result: None, .. }) => frames::error(
                    "unavailable",
                    "message not stored; resend with the same client_msg_id",
                    c,
                ),
                Err(_) => frames::error(
                    "unavailable",
                    "message not stored; resend with the same client_msg_id",
                    c,
                ),
            }]
        }));
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
        shared::nats::publish(&self.state.nats, self.state.subjects.deliver(receiver), &event)
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

    async fn on_sync(
        &mut self,
        f: frames::RawFrame<'_>,
        in_flight: &mut FuturesOrdered<Work>,
    ) -> Flow {
        let after = match f.after.as_deref().map(Uuid::parse_str) {
            None => {
                return self.reply(frames::error("missing_field", "after is required", None)).await;
            }
            Some(Err(_)) => {
                return self
                    .reply(frames::error("invalid_uuid", "after must be a message id", None))
                    .await;
            }
            Some(Ok(a)) => a,
        };
        let req =
            SyncRequest { user_id: uuid_bytes(self.user), after: uuid_bytes(after), limit: 1000 };
        let state = self.state.clone();
        in_flight.push_back(Box::pin(async move {
            let reply: Result<MessagesReply, _> =
                shared::nats::request(&state.nats, state.subjects.get(subjects::CHAT_SYNC), &req)
                    .await;
            match reply {
                Ok(MessagesReply { result: Some(messages_reply::Result::Messages(list)) }) => {
                    list.messages.iter().map(frames::private_message).collect()
                }
                Ok(MessagesReply { result: Some(messages_reply::Result::Error(e)) }) => {
                    vec![remote_error(&e, None)]
                }
                _ => vec![frames::error("unavailable", "sync failed; retry", None)],
            }
        }));
        Flow::Continue
    }
}

fn remote_error(e: &ErrorReply, client_msg_id: Option<&str>) -> Outbound {
    frames::error(e.error_code().wire_name(), &e.message, client_msg_id)
}

fn protocol_close(e: &actix_ws::ProtocolError) -> CloseReason {
    use actix_ws::ProtocolError;
    let (code, description) = match e {
        ProtocolError::Overflow => (CloseCode::Size, "frame too large"),
        ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (CloseCode::Invalid, "text frame is not valid UTF-8")
        }
        _ => (CloseCode::Protocol, "protocol error"),
    };
    CloseReason { code, description: Some(description.to_owned()) }
}
