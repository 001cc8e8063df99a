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
    ids::{uuid_bytes, uuid_from},
    proto::chat::v1::{DeliveredNotice, MessagesReply, PendingRequest, messages_reply},
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
pub(super) const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Consecutive oversized frames before closing with 1009.
pub(super) const MAX_SIZE_STRIKES: u32 = 3;
/// Consecutive rate-limited frames before closing with 1008.
pub(super) const MAX_RATE_STRIKES: u32 = 20;
/// Pending messages asked for per request on connect (replies are also cut to fit NATS).
const PENDING_PAGE: u32 = 500;
/// The most pending messages written on connect (the rest come with `sync`).
const PENDING_MAX: usize = 10_000;

pub(super) type Work = Pin<Box<dyn Future<Output = Vec<Outbound>>>>;

pub(super) struct Conn {
    pub(super) state: Arc<AppState>,
    pub(super) user: Uuid,
    pub(super) session: Session,
    pub(super) seen: VecDeque<u128>,
    pub(super) drained: Option<HashSet<u128>>,
    pub(super) size_strikes: u32,
    pub(super) rate_strikes: u32,
}

pub(super) enum Flow {
    Continue,
    Close(CloseReason),
}

pub(super) fn close(code: CloseCode, description: &str) -> Flow {
    Flow::Close(CloseReason { code, description: Some(description.to_owned()) })
}

/// Runs a connection until it closes.
pub async fn run(
    state: Arc<AppState>,
    user: Uuid,
    registration: Registration,
    session: Session,
    mut stream: AggregatedMessageStream,
) {
    let Registration { handle, mut rx, overflow, subscription, .. } = registration;
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
    pub(super) async fn write(&mut self, out: &Outbound) -> bool {
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

    pub(super) fn remember(&mut self, id: u128) {
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

    pub(super) async fn reply(&mut self, out: Outbound) -> Flow {
        if self.write(&out).await { Flow::Continue } else { close(CloseCode::Away, "") }
    }
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
