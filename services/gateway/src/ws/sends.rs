//! A connection's sends: the ones the client sent while a batch was in
//! flight queue up and go out together as the next [`SendBatch`], once the
//! previous batch is answered. One replica commits a batch in order, so one
//! connection's messages are committed (and shown everywhere) in the order
//! the client sent them, with any number of chat-persistence replicas.
use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use futures_util::{StreamExt, stream::FuturesOrdered};
use shared::{
    ids::{micros, new_id, uuid_bytes, uuid_from},
    proto::chat::v1::{SendBatch, SendBatchReply, SendReply, SendRequest, send_reply},
    subjects,
};

use super::connection::Peer;
use crate::{
    state::AppState,
    wire::{Outbound, client::PrivateMessage, server},
};

/// A send waiting for its batch.
struct Queued {
    /// The request.
    req: SendRequest,
    /// The client's idempotency key, echoed in the ack or error.
    client_msg_id: Option<String>,
}

/// What came back for one send.
pub(super) enum Answer {
    /// Durable: the ack, and the message's position in the sender's stream and id.
    Ack { out: Outbound, seq: u64, id: u128 },
    /// Not stored (validation, or `unavailable`: resend).
    Error(Outbound),
}

type Batch = Pin<Box<dyn Future<Output = Vec<Answer>>>>;

/// Queued sends and the batch in flight.
#[derive(Default)]
pub(super) struct Sends {
    queued: Vec<Queued>,
    in_flight_len: usize,
    /// The batch in flight (at most one).
    in_flight: FuturesOrdered<Batch>,
}

impl Sends {
    /// Sends queued or in flight.
    pub(super) fn len(&self) -> usize {
        self.queued.len() + self.in_flight_len
    }

    /// Whether a batch is in flight.
    pub(super) fn waiting(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The answers to the batch in flight (`None` when there is none).
    pub(super) fn next(&mut self) -> impl Future<Output = Option<Vec<Answer>>> + '_ {
        self.in_flight.next()
    }

    /// Queues a message with a new id (returned); it leaves at once when no batch is in flight.
    pub(super) fn push(&mut self, peer: &Peer, m: PrivateMessage<'_>) -> u128 {
        let id = new_id();
        let req = SendRequest {
            id: uuid_bytes(id),
            sender_id: uuid_bytes(peer.user),
            receiver_id: uuid_bytes(m.receiver_id),
            content: m.content.into_owned(),
            client_msg_id: m.client_msg_id.clone().unwrap_or_default(),
            message_type: m.message_type as i32,
            timestamp_micros: micros(chrono::Utc::now()),
        };
        metrics::counter!("gateway_messages_in_total").increment(1);
        self.queued.push(Queued { req, client_msg_id: m.client_msg_id });
        if self.in_flight.is_empty() {
            self.launch(&peer.state);
        }
        id.as_u128()
    }

    /// The batch in flight was answered: the next one leaves.
    pub(super) fn answered(&mut self, peer: &Peer) {
        self.in_flight_len = 0;
        if !self.queued.is_empty() {
            self.launch(&peer.state);
        }
    }

    fn launch(&mut self, state: &Arc<AppState>) {
        let queued = std::mem::take(&mut self.queued);
        self.in_flight_len = queued.len();
        let state = state.clone();
        self.in_flight.push_back(Box::pin(async move {
            let started = Instant::now();
            let (reqs, ids): (Vec<SendRequest>, Vec<Option<String>>) =
                queued.into_iter().map(|q| (q.req, q.client_msg_id)).unzip();
            let batch = SendBatch { sends: reqs };
            let reply: Result<SendBatchReply, _> =
                shared::nats::request(&state.nats, state.subjects.get(subjects::CHAT_SEND), &batch)
                    .await;
            metrics::histogram!("gateway_send_seconds").record(started.elapsed().as_secs_f64());
            let mut replies = reply.map(|r| r.replies).unwrap_or_default().into_iter();
            ids.iter().map(|c| answer(replies.next(), c.as_deref())).collect()
        }));
    }
}

fn answer(reply: Option<SendReply>, client_msg_id: Option<&str>) -> Answer {
    match reply {
        Some(SendReply { result: Some(send_reply::Result::Message(m)), duplicate }) => {
            let id = uuid_from(&m.id).map(|u| u.as_u128()).unwrap_or_default();
            Answer::Ack { out: server::message_ack(client_msg_id, &m, duplicate), seq: m.seq, id }
        }
        Some(SendReply { result: Some(send_reply::Result::Error(e)), .. }) => {
            Answer::Error(server::error(e.error_code().wire_name(), &e.message, client_msg_id))
        }
        _ => Answer::Error(server::error(
            "unavailable",
            "message not stored; resend with the same client_msg_id",
            client_msg_id,
        )),
    }
}
