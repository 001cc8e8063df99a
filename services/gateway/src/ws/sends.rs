//! A connection's sends: the ones the client sent while a batch was in
//! flight queue up and go out together as the next [`SendBatch`], once the
//! previous batch is answered. One replica commits a batch in order, so one
//! connection's messages are committed (and shown everywhere) in the order
//! the client sent them, with any number of chat-persistence replicas.
use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use futures_util::stream::FuturesOrdered;
use shared::{
    ids::uuid_from,
    proto::chat::v1::{SendBatch, SendBatchReply, SendReply, SendRequest, send_reply},
    subjects,
};

use crate::{registry::Outbound, state::AppState, ws::frames};

/// A send waiting for its batch.
pub(super) struct Queued {
    /// The request.
    pub req: SendRequest,
    /// The client's idempotency key, echoed in the ack or error.
    pub client_msg_id: Option<String>,
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
    pub in_flight: FuturesOrdered<Batch>,
}

impl Sends {
    /// Sends queued or in flight.
    pub fn len(&self) -> usize {
        self.queued.len() + self.in_flight_len
    }

    /// Queues a send; it leaves at once when no batch is in flight.
    pub fn push(&mut self, state: &Arc<AppState>, send: Queued) {
        self.queued.push(send);
        if self.in_flight.is_empty() {
            self.launch(state);
        }
    }

    /// The batch in flight was answered: the next one leaves.
    pub fn answered(&mut self, state: &Arc<AppState>) {
        self.in_flight_len = 0;
        if !self.queued.is_empty() {
            self.launch(state);
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
            Answer::Ack { out: frames::message_ack(client_msg_id, &m, duplicate), seq: m.seq, id }
        }
        Some(SendReply { result: Some(send_reply::Result::Error(e)), .. }) => {
            Answer::Error(frames::error(e.error_code().wire_name(), &e.message, client_msg_id))
        }
        _ => Answer::Error(frames::error(
            "unavailable",
            "message not stored; resend with the same client_msg_id",
            client_msg_id,
        )),
    }
}
