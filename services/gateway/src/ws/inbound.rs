//! Client frames: the checks that depend on the connection (the frame size
//! limit, the user's rates, a message to oneself) around the pure
//! [`client::parse`], and what a typing or read receipt frame starts
//! (typing is published straight to the receiver's subject, a receipt goes
//! to chat-persistence as work in flight).
use std::{future::Future, pin::Pin};

use shared::{
    ids::uuid_bytes,
    limits::{WS_RATE_STRIKES_MAX, WS_SIZE_STRIKES_MAX},
    proto::{
        chat::v1::{ReadReply, ReadRequest, read_reply},
        gateway::v1::{Typing, UserEvent, user_event},
    },
    subjects,
};
use uuid::Uuid;

use super::{connection::Peer, socket::Close};
use crate::wire::{
    Outbound,
    client::{self, ClientFrame, FrameKind},
    server,
};

/// Work in flight whose answer is frames to write (a read receipt's error, if any).
pub(super) type Work = Pin<Box<dyn Future<Output = Vec<Outbound>>>>;

/// A frame refused before it was acted on.
pub(super) enum Refused {
    /// Answer it, and go on.
    Reply(Outbound),
    /// Write this error, then close.
    Close(Outbound, Close),
}

/// The strikes a connection earned: consecutive oversized or rate-limited frames.
#[derive(Default)]
pub(super) struct Inbound {
    size_strikes: u32,
    rate_strikes: u32,
}

impl Inbound {
    /// Checks a text frame (its size, its fields, the user's rates) and
    /// returns it parsed, or how it is refused.
    pub(super) fn admit<'a>(
        &mut self,
        peer: &Peer,
        text: &'a str,
    ) -> Result<ClientFrame<'a>, Refused> {
        if text.len() > peer.state.settings.max_frame_bytes {
            self.size_strikes += 1;
            if self.size_strikes >= WS_SIZE_STRIKES_MAX {
                let out = server::error("too_large", "frames keep exceeding the size limit", None);
                return Err(Refused::Close(
                    out,
                    Close { code: Close::TOO_BIG, reason: "frame too large" },
                ));
            }
            return Err(Refused::Reply(server::error(
                "too_large",
                "frame exceeds the size limit",
                None,
            )));
        }
        self.size_strikes = 0;
        let parsed = client::parse(text);
        let (kind, client_msg_id) = match &parsed {
            Ok(ClientFrame::PrivateMessage(m)) => {
                (Some(FrameKind::PrivateMessage), m.client_msg_id.as_deref())
            }
            Ok(frame) => (Some(frame.kind()), None),
            Err(e) => (e.kind, e.client_msg_id.as_deref()),
        };
        if let Some(kind) = kind
            && kind != FrameKind::Ping
            && !self.within_rate(peer, kind)
        {
            if self.rate_strikes >= WS_RATE_STRIKES_MAX {
                let out = server::error("rate_limited", "rate limit exceeded repeatedly", None);
                let close = Close { code: Close::POLICY, reason: "rate limit exceeded" };
                return Err(Refused::Close(out, close));
            }
            let out = server::error("rate_limited", "slow down: frame dropped", client_msg_id);
            return Err(Refused::Reply(out));
        }
        let frame = parsed.map_err(|e| Refused::Reply(server::frame_error(&e)))?;
        if let ClientFrame::PrivateMessage(m) = &frame
            && m.receiver_id == peer.user
        {
            let c = m.client_msg_id.as_deref();
            let out = server::error("invalid_argument", "cannot send a message to yourself", c);
            return Err(Refused::Reply(out));
        }
        Ok(frame)
    }

    /// Takes a frame from the user's frame budget, then from the budget of
    /// its type; counts a strike when either is spent.
    fn within_rate(&mut self, peer: &Peer, kind: FrameKind) -> bool {
        let actions = &peer.state.actions;
        let action = match kind {
            FrameKind::PrivateMessage => &actions.sends,
            FrameKind::Typing => &actions.typing,
            FrameKind::ReadReceipt => &actions.receipts,
            FrameKind::Sync | FrameKind::Ping => &actions.syncs,
        };
        if peer.state.limiter.check_key(&peer.user).is_err()
            || action.check_key(&peer.user).is_err()
        {
            self.rate_strikes += 1;
            metrics::counter!("gateway_rate_limited_total").increment(1);
            return false;
        }
        self.rate_strikes = 0;
        true
    }
}

/// Tells `receiver` the user is typing.
pub(super) async fn typing(peer: &Peer, receiver: Uuid) {
    let event = UserEvent {
        event: Some(user_event::Event::Typing(Typing { user_id: uuid_bytes(peer.user) })),
    };
    // Boxed (a publish is a large future; typing is not the hot path).
    let subject = peer.state.subjects.deliver(receiver);
    Box::pin(shared::nats::publish(&peer.state.nats, subject, &event)).await;
}

/// Stores a read receipt; the work answers with an error frame when it was not stored.
pub(super) fn read_receipt(peer: &Peer, message: Uuid) -> Work {
    let req = ReadRequest { reader_id: uuid_bytes(peer.user), message_id: uuid_bytes(message) };
    let state = peer.state.clone();
    Box::pin(async move {
        let subject = state.subjects.get(subjects::CHAT_READ);
        let reply: Result<ReadReply, _> = shared::nats::request(&state.nats, subject, &req).await;
        match reply {
            Ok(ReadReply { result: Some(read_reply::Result::Receipt(_)) }) => vec![],
            Ok(ReadReply { result: Some(read_reply::Result::Error(e)) }) => {
                vec![server::error(e.error_code().wire_name(), &e.message, None)]
            }
            _ => vec![server::error("unavailable", "read receipt not stored; retry", None)],
        }
    })
}
